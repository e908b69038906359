#include "shuffle/run.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "shuffle/reducer.h"
#include "shuffle/spill.h"

namespace wc::shuffle {
namespace {

constexpr uint32_t kParts = 3;

// Random words (NUL, 0xff, empty, long) with counts past 2^32, split by partition.
std::vector<WordTable> RandomPartitions(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  static const std::string alphabet("ab\0\xff c", 6);
  std::vector<WordTable> parts;
  for (uint32_t r = 0; r < kParts; ++r) parts.emplace_back(16);
  for (int i = 0; i < n; ++i) {
    std::string w(rng() % 41 > 30 ? rng() % 41 : rng() % 7, 'x');
    for (char& c : w) c = alphabet[rng() % alphabet.size()];
    uint64_t count = rng() % 5 == 0 ? (uint64_t{1} << 40) + rng() % 3 : 1 + rng() % 3;
    parts[PartitionOf(w, kParts)].AddUnpadded(w, count);
  }
  return parts;
}

std::vector<std::string> Encode(const std::vector<WordTable>& parts) {
  std::vector<std::string> runs;
  for (uint32_t r = 0; r < kParts; ++r)
    runs.push_back(EncodeRun(r, kParts, SortedByCount(parts[r])));
  return runs;
}

TEST(RunTest, RoundTripMergeAndCountsOrderAgreeWithTheProjectsSort) {
  for (uint64_t seed : {1, 2, 3}) {
    auto parts = RandomPartitions(seed, 3000);
    auto runs = Encode(parts);
    std::vector<DecodedRun> decoded;
    uint64_t total = 0;
    std::vector<WordCount> want;
    for (uint32_t r = 0; r < kParts; ++r) {
      decoded.push_back(DecodeRun(runs[r], r, kParts));
      EXPECT_EQ(decoded[r].records.size(), parts[r].size());
      total += decoded[r].total;
      parts[r].ForEach([&](std::string_view w, uint64_t c) { want.push_back({w, c}); });
    }
    std::vector<WordCount> merged = MergeRuns(decoded);
    ASSERT_EQ(merged.size(), want.size());
    // DUMP order: descending (count, word bytes), as redis::SortForZsetDump.
    for (size_t i = 1; i < merged.size(); ++i) {
      const auto &a = merged[i - 1], &b = merged[i];
      EXPECT_TRUE(a.count > b.count || (a.count == b.count && a.word > b.word)) << i;
    }
    uint64_t sum = 0;
    for (const auto& w : merged) sum += w.count;
    EXPECT_EQ(sum, total);
    DumpOrderToCountsOrder(merged);
    SortCounts(want);
    EXPECT_TRUE(merged == want);
  }
}

TEST(RunTest, AnEmptyPartitionIsAnEmptyRun) {
  std::string run = EncodeRun(1, kParts, {});
  DecodedRun d = DecodeRun(run, 1, kParts);
  EXPECT_TRUE(d.records.empty());
  EXPECT_EQ(d.total, 0u);
  EXPECT_TRUE(MergeRuns({d, d}).empty());
}

void ExpectRunError(const std::string& run, uint32_t part, const std::string& what) {
  try {
    DecodeRun(run, part, kParts);
    ADD_FAILURE() << "no error for " << what;
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("partition " + std::to_string(part)), std::string::npos)
        << e.what();
  }
}

TEST(RunTest, EveryKindOfDamageIsARunErrorNamingThePartition) {
  auto parts = RandomPartitions(7, 200);
  std::string run = EncodeRun(0, kParts, SortedByCount(parts[0]));
  for (size_t i : {size_t{0}, size_t{20}, run.size() / 2, run.size() - 1}) {
    std::string bad = run;
    bad[i] ^= 0x40;
    ExpectRunError(bad, 0, i == 0 ? "bad magic" : "checksum");
  }
  ExpectRunError(run.substr(0, 20), 0, "too short");
  ExpectRunError(run, 1, "another partition");
  // Well-formed runs of wrong content (the encoder does not check; the decoder does).
  std::string wrong_order = EncodeRun(0, 1, {{2, "a"}, {1, "b"}});
  try {
    DecodeRun(wrong_order, 0, 1);
    ADD_FAILURE() << "out of order run accepted";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("out of order"), std::string::npos) << e.what();
  }
  std::string repeated = EncodeRun(0, 1, {{1, "a"}, {1, "a"}});
  EXPECT_THROW(DecodeRun(repeated, 0, 1), RunError);
  std::string zero = EncodeRun(0, 1, {{0, "a"}});
  EXPECT_THROW(DecodeRun(zero, 0, 1), RunError);
  // A word that belongs to another partition.
  std::string other;
  for (int i = 0;; ++i) {
    other = "w" + std::to_string(i);
    if (PartitionOf(other, kParts) != 0) break;
  }
  ExpectRunError(EncodeRun(0, kParts, {{1, other}}), 0, "another partition");
}

}  // namespace
}  // namespace wc::shuffle

#include "shuffle/run.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <queue>

#include "shuffle/bytes.h"
#include "shuffle/spill.h"

namespace wc::shuffle {

namespace {

constexpr char kMagic[8] = {'W', 'C', 'R', 'U', 'N', '0', '0', '1'};
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

// Descending DUMP order: count, then word bytes (std::string_view compares bytes unsigned).
bool Before(const WordCount& a, const WordCount& b) {
  return a.count != b.count ? a.count > b.count : a.word > b.word;
}

}  // namespace

std::string EncodeRun(uint32_t part, uint32_t parts,
                      const std::vector<std::pair<uint64_t, std::string_view>>& ascending) {
  size_t bytes = kHeaderBytes + 8;
  uint64_t total = 0;
  for (const auto& [count, word] : ascending) {
    bytes += word.size() + 12;
    total += count;
  }
  std::string out;
  out.reserve(bytes);
  out.append(kMagic, sizeof kMagic);
  bytes::PutU32(out, part);
  bytes::PutU32(out, parts);
  bytes::PutU64(out, ascending.size());
  bytes::PutU64(out, total);
  for (auto it = ascending.rbegin(); it != ascending.rend(); ++it) {
    bytes::PutVarint(out, it->second.size());
    out.append(it->second);
    bytes::PutVarint(out, it->first);
  }
  bytes::PutU64(out, XXH3_64bits(out.data(), out.size()));
  return out;
}

DecodedRun DecodeRun(std::string_view run, uint32_t part, uint32_t parts) {
  auto bad = [&](std::string_view what) {
    return RunError(fmt::format("reduced run of partition {}: {}", part, what));
  };
  if (run.size() < kHeaderBytes + 8 || std::memcmp(run.data(), kMagic, sizeof kMagic) != 0)
    throw bad("not a run (bad magic or too short)");
  const size_t body = run.size() - 8;
  if (bytes::GetU64(run.data() + body) != XXH3_64bits(run.data(), body))
    throw bad("checksum mismatch");
  if (bytes::GetU32(run.data() + 8) != part || bytes::GetU32(run.data() + 12) != parts)
    throw bad("written for another partition");
  const uint64_t records = bytes::GetU64(run.data() + 16);
  const uint64_t total = bytes::GetU64(run.data() + 24);
  if (records > body) throw bad("record count larger than the run");
  DecodedRun out;
  out.records.reserve(records);
  const char* p = run.data() + kHeaderBytes;
  const char* end = run.data() + body;
  while (p < end) {
    uint64_t len = 0, count = 0;
    if (!internal::ReadVarint(&p, end, &len) || len > static_cast<uint64_t>(end - p))
      throw bad("malformed record");
    std::string_view word(p, len);
    p += len;
    if (!internal::ReadVarint(&p, end, &count) || count == 0) throw bad("malformed record");
    WordCount wc{word, count};
    if (!out.records.empty() && !Before(out.records.back(), wc))
      throw bad("records out of order or repeated");
    if (PartitionOf(word, parts) != part) throw bad("a word of another partition");
    if (count > total - std::min(total, out.total) || out.records.size() == records)
      throw bad("more records or words than the header says");
    out.total += count;
    out.records.push_back(wc);
  }
  if (out.records.size() != records || out.total != total)
    throw bad("fewer records or words than the header says");
  return out;
}

std::vector<WordCount> MergeRuns(const std::vector<DecodedRun>& runs) {
  size_t n = 0;
  for (const auto& r : runs) n += r.records.size();
  std::vector<WordCount> out;
  out.reserve(n);
  // (run, position) heads; the heap's top is the head that comes first in DUMP order.
  using Head = std::pair<size_t, size_t>;
  auto later = [&](const Head& a, const Head& b) {
    return Before(runs[b.first].records[b.second], runs[a.first].records[a.second]);
  };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
  for (size_t i = 0; i < runs.size(); ++i)
    if (!runs[i].records.empty()) heads.emplace(i, 0);
  while (!heads.empty()) {
    auto [i, k] = heads.top();
    heads.pop();
    out.push_back(runs[i].records[k]);
    if (k + 1 < runs[i].records.size()) heads.emplace(i, k + 1);
  }
  return out;
}

std::vector<WordCount> DecodeAndMergeRuns(const std::vector<std::string>& runs, uint64_t* total) {
  const auto parts = static_cast<uint32_t>(runs.size());
  std::vector<DecodedRun> decoded;
  decoded.reserve(parts);
  *total = 0;
  for (uint32_t r = 0; r < parts; ++r) {
    decoded.push_back(DecodeRun(runs[r], r, parts));
    *total += decoded.back().total;
  }
  return MergeRuns(decoded);
}

void DumpOrderToCountsOrder(std::vector<WordCount>& counts) {
  for (size_t lo = 0; lo < counts.size();) {
    size_t hi = lo + 1;
    while (hi < counts.size() && counts[hi].count == counts[lo].count) ++hi;
    std::reverse(counts.begin() + static_cast<ptrdiff_t>(lo),
                 counts.begin() + static_cast<ptrdiff_t>(hi));
    lo = hi;
  }
}

}  // namespace wc::shuffle

#include "job/results.h"

#include <fmt/format.h>

#include "shuffle/run.h"

namespace wc::job {

namespace {

// The way out of a damaged result: the job's record is kept, so only a replacement counts again.
constexpr const char* kCountAgain = " (`wordcount run --replace` counts the job again)";

// The counts of a shuffle job from its reduced runs; nullptr if they are not all there.
std::unique_ptr<ResultCounts> CountsFromRuns(JobStore& store, redis::Connection& c,
                                             const JobState& recorded) {
  const auto parts = static_cast<uint32_t>(recorded.Int("parts"));
  auto out = std::make_unique<ResultCounts>();
  try {
    out->runs = store.Runs(c, parts);
  } catch (const shuffle::RunError&) {
    return nullptr;  // released: read C instead
  }
  uint64_t total = 0;
  out->sorted = shuffle::DecodeAndMergeRuns(out->runs, &total);
  shuffle::DumpOrderToCountsOrder(out->sorted);
  return out;
}

}  // namespace

JobResult ReadResult(JobStore& store, redis::Connection& c, const JobState& recorded,
                     bool want_counts, int n) {
  JobResult r;
  for (auto& [key, message] : store.Failures(c)) {
    r.failure_keys.push_back(std::move(key));
    r.failures.push_back(std::move(message));
  }
  int64_t present = store.DistinctWords(c), distinct = recorded.Int("distinct");
  uint64_t words = 0;
  std::string bad_run;
  if (want_counts) {
    if (recorded.View().mode == Mode::kShuffle) {
      try {
        r.counts = CountsFromRuns(store, c, recorded);
      } catch (const shuffle::RunError& e) {
        bad_run = e.what();
      }
    }
    if (!r.counts && bad_run.empty())
      r.counts = std::make_unique<ResultCounts>(store.ReadCounts(c));
    if (r.counts)
      for (const WordCount& w : r.counts->sorted) words += w.count;
  } else {
    r.top = store.Top(c, n);
    // Not read: summed inside Redis (a count changed by another writer changes the total).
    auto [card, sum] = store.ResultSum(c);
    present = card;
    words = sum;
  }
  const uint64_t listed = r.counts ? r.counts->sorted.size() : static_cast<uint64_t>(present);
  bool words_differ = words != static_cast<uint64_t>(recorded.Int("words"));
  if (!bad_run.empty()) {
    r.mismatch = fmt::format("the job's {} in '{}' was written by someone else{}", bad_run,
                             store.keys().parts(), kCountAgain);
  } else if (present != distinct || listed != static_cast<uint64_t>(distinct) || words_differ) {
    r.mismatch = fmt::format(
        "the result in '{}' is not the one the job recorded: {} distinct words recorded, {} "
        "present{}; was it evicted, or written by someone else?{}",
        store.keys().counts, distinct, present,
        fmt::format(", {} words recorded, {} present", recorded.Int("words"), words), kCountAgain);
  }
  if (!r.mismatch.empty()) {
    r.counts.reset();
    r.top.clear();
  }
  return r;
}

}  // namespace wc::job

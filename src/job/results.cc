#include "job/results.h"

#include <fmt/format.h>

namespace wc::job {

JobResult ReadResult(JobStore& store, redis::Connection& c, const JobState& recorded,
                     bool want_counts, int n) {
  JobResult r;
  for (auto& [key, message] : store.Failures(c)) r.failures.push_back(std::move(message));
  int64_t present = store.DistinctWords(c), distinct = recorded.Int("distinct");
  uint64_t words = 0;
  if (want_counts) {
    r.counts = std::make_unique<WordTable>(store.Counts(c));
    r.counts->ForEach([&](std::string_view, uint64_t k) { words += k; });
  } else {
    r.top = store.Top(c, n);
  }
  bool words_differ = want_counts && words != static_cast<uint64_t>(recorded.Int("words"));
  if (present != distinct || words_differ) {
    r.mismatch = fmt::format(
        "the result in '{}' is not the one the job recorded: {} distinct words recorded, {} "
        "present{}; was it evicted, or written by someone else?",
        store.keys().counts, distinct, present,
        want_counts ? fmt::format(", {} words recorded, {} present", recorded.Int("words"), words)
                    : std::string());
    r.counts.reset();
    r.top.clear();
  }
  return r;
}

}  // namespace wc::job

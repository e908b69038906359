// A finished job's result, read from Redis and checked against what the job recorded
// atomically with its commits (the record's `distinct` and `words`): a result that an eviction
// or another writer changed is never handed out as the job's.
//
// Every count (want_counts, for --out) of a shuffle job comes from the reduced runs the job
// kept beside its record (P:parts, shuffle/run.h): the very data its publish task put into C,
// so C is not read back; C's cardinality is still checked. A job whose runs are gone (released
// by an earlier run) is read from C, like a direct job: pipelined pages in Redis's reverse
// order, put into counts-file order without a sort.
// Errors: one attempt on the connection; throws like JobStore.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "job/job_store.h"

namespace wc::job {

struct JobResult {
  std::vector<std::string> failures;      // failed tasks' messages
  std::vector<std::string> failure_keys;  // failures[i]'s field in P:failed: task:<n>, map:<n>
  WordCountPairs top;                     // without want_counts
  std::unique_ptr<ResultCounts> counts;   // with want_counts
  std::string mismatch;                   // non-empty: the result is not the recorded one (why)
};

// `recorded`: the job's state read before (its totals). With want_counts every count is read
// and the sum of all counts checked too; else the top n.
JobResult ReadResult(JobStore& store, redis::Connection& c, const JobState& recorded,
                     bool want_counts, int n);

}  // namespace wc::job

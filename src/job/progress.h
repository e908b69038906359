// A running job's progress as the coordinator sees it, and the observer it reports it to (the
// progress line of `run`, cli/run_command.cc).
//
// ProgressSnapshot::Of is pure. JobObserver's callbacks run on the coordinator's thread, inside
// its supervision loop: they must return quickly and not throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "job/config.h"
#include "job/job_spec.h"
#include "job/job_store.h"

namespace wc::job {

struct ProgressSnapshot {
  Mode mode = Mode::kDirect;
  std::string phase;        // the job's state: count, map, reduce, publish, done
  int64_t total_tasks = 0;  // count tasks, or maps + reduces
  int64_t done_tasks = 0;
  int64_t pending = 0;  // delivered, not finished
  uint64_t bytes = 0;   // input bytes of the whole job
  double seconds = 0;   // since the run started
  size_t workers = 0;   // local workers alive
  int redis_restarts = 0;
  // Set by the coordinator after Of:
  int64_t done_before = 0;    // tasks already done when this run began (a resumed job)
  bool already_done = false;  // the job was done before this run: its result is read back
  // Workers seen in Redis (consumers of the job's group) that showed a sign of life (read,
  // claimed or heartbeat) within the last `silent_after_ms`; -1: not known (not read yet).
  int64_t live_consumers = -1;
  int64_t silent_after_ms = 0;

  // The snapshot of the job of `spec` whose state in Redis is `s`.
  static ProgressSnapshot Of(const JobSpec& spec, const JobState& s, double seconds, size_t workers,
                             int redis_restarts);
};

// Callbacks from the coordinator's loop (on its thread). Default: nothing.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  // The embedded Redis runs; `url` (no password) is where `status --redis` reaches it.
  virtual void RedisStarted(const std::string& /*url*/) {}
  virtual void Tick(const ProgressSnapshot&) {}
};

}  // namespace wc::job

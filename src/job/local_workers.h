// The workers a run starts on this host, and when: the lab's mix once, workers killed by a
// signal replaced (job/worker_pool.h), and rounds of normal workers while the job is unfinished
// and every local worker has exited.
//
// WorkerMix and WorkerRounds are the plan, pure: the lab's mix starts its crashing and sleeping
// workers first (started after fast normal ones, they could find the stream already drained, and
// the faults they stand for would never happen); `run --workers N` starts N normal workers and no
// others. A round has as many workers as the normal ones (at least one); after kMaxRounds rounds
// the job is given up. A run that starts no local worker (remote workers only) starts no rounds.
// LocalWorkers runs the plan with a WorkerPool.
//
// Ownership: LocalWorkers owns its pool (and so the processes: Stop, or the destructor, ends
// them). Errors: WorkerRounds::Next and LocalWorkers::KeepUp throw JobIncomplete after kMaxRounds
// rounds; spawning throws like WorkerPool::Spawn. No I/O in the plan but the `job_incomplete`
// log event. Thread-safety: none.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "job/config.h"
#include "job/worker_options.h"
#include "job/worker_pool.h"

namespace wc::job {

// The job cannot be completed (every round of workers exited and tasks are left, or Redis says
// it failed).
class JobIncomplete : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WorkerSpec {
  std::string name;    // also its consumer name
  bool crash = false;  // the lab's crashing worker
  bool slow = false;   // the lab's sleeping worker
};

struct WorkerMix {
  int normal = 0, crashing = 0, sleeping = 0;

  // N_*_WORKERS of `c`, or `workers` normal workers only (--workers).
  static WorkerMix For(const JobConfig& c, std::optional<int> workers);
  int total() const { return normal + crashing + sleeping; }
  // The workers to start first: crash1.., sleep1.., then w1..
  std::vector<WorkerSpec> Initial() const;
};

class WorkerRounds {
 public:
  static constexpr int kMaxRounds = 20;
  explicit WorkerRounds(const WorkerMix& mix) : mix_(mix) {}

  // Every local worker has exited and the job is unfinished: the workers of the next round
  // (round<r>-w1..), none if the mix has no local worker. Throws JobIncomplete after kMaxRounds.
  std::vector<WorkerSpec> Next();
  int rounds() const { return rounds_; }

 private:
  WorkerMix mix_;
  int rounds_ = 0;
};

class LocalWorkers {
 public:
  // Workers of `options` (the job's: Redis, job id, spill root). Their Redis password reaches
  // them through the environment ($WC_REDIS_PASSWORD, set here), never their command line.
  LocalWorkers(std::string exe, const WorkerOptions& options, const WorkerMix& mix);

  // Starts the lab's mix (the first time only) and a new series of rounds.
  void Start();
  // Reaps exited workers and replaces those killed by a signal.
  WorkerPool::Reaped Reap() { return pool_.Reap(/*replace=*/true); }
  // The job is unfinished: starts the next round if no local worker is alive. Throws
  // JobIncomplete after kMaxRounds rounds since Start.
  void KeepUp();
  // Waits up to `grace` for the workers to exit by themselves, then stops them.
  void Stop(std::chrono::milliseconds grace) { pool_.Stop(grace); }

  size_t alive() const { return pool_.alive(); }
  int killed() const { return pool_.killed(); }
  int crashed() const { return pool_.crashed(); }

 private:
  void Spawn(const std::vector<WorkerSpec>& workers);

  WorkerPool pool_;
  WorkerMix mix_;
  WorkerRounds rounds_;
  bool started_ = false;
};

}  // namespace wc::job

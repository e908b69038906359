// The coordinator's local worker processes: spawned from one WorkerOptions template
// (job/worker_options.h), reaped, replaced when a signal killed them, stopped at the end.
//
// Ownership: owns the child processes; Stop() (and the destructor) end and reap every one.
// Children get PR_SET_PDEATHSIG (SIGTERM), so they never outlive the coordinator.
// Thread-safety: none. Errors: Spawn throws std::runtime_error if fork fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "job/worker_options.h"

namespace wc::job {

class WorkerPool {
 public:
  // `exe`: the wordcount binary; `base`: the options every worker gets (name, crash and slow
  // are set per worker).
  WorkerPool(std::string exe, WorkerOptions base) : exe_(std::move(exe)), base_(std::move(base)) {}
  ~WorkerPool() { Stop(std::chrono::milliseconds(0)); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Spawn(const std::string& name, bool crash, bool slow);

  struct Reaped {
    int killed = 0;              // by a signal (replaced unless replacing is off)
    bool redis_gave_up = false;  // a worker exited with kWorkerExitRedis
    // Its error, from its `exit` line in LOGFILE ("" if not found), as refused_error.
    std::string redis_error;
    bool output_failed = false;  // a worker exited with kWorkerExitOutput (e.g. spill dir full)
    bool usage_failed = false;   // kWorkerExitUsage: its environment (LOGFILE a link...) refused
    // kWorkerExitRefused (Redis's ACL denies it a command): true, and its error as its 'exit'
    // line in LOGFILE says it ("" if that cannot be read: not a regular file, not found).
    bool refused = false;
    std::string refused_error;
  };
  // Reaps exited workers; replaces those killed by a signal while `replace` (at most 1000).
  Reaped Reap(bool replace);
  // Waits up to `grace` for the workers to exit by themselves, then SIGTERM, then (after 5 s
  // more) SIGKILL; reaps all.
  void Stop(std::chrono::milliseconds grace);

  size_t alive() const { return workers_.size(); }
  int killed() const { return killed_; }
  // Workers that exited at the deliberate crash point (kWorkerExitCrashed).
  int crashed() const { return crashed_; }

 private:
  struct Proc {
    pid_t pid;
    std::string name;
    bool crash, slow;
  };
  std::string exe_;
  WorkerOptions base_;
  std::vector<Proc> workers_;
  int killed_ = 0;
  int crashed_ = 0;
};

}  // namespace wc::job

// CoordinatorRedis: the coordinator's Redis for one run, from its start to its end. It starts
// the server (job/redis_supervisor.h: an embedded redis-server in the job's private state
// directory, or an external one given by URL), reaches it through one session
// (job/redis_session.h) whose retries keep supervising it (a crash while the job is begun or its
// result read restarts the server like any other; no forced crash then), holds the job's
// durability (job/persistence.h), and at the end leaves Redis as the job's fate requires (Close).
//
// Ownership: owns the supervisor (and so the embedded server and its state directory), the
// session and the durability. The embedded server runs until Close, or the destructor, which
// stops it and keeps its state.
// Errors: the constructor throws like RedisSupervisor's: StateBusy (another run holds the job's
// state directory), UsageError (STATE_DIR unusable), or another std::exception (the server
// cannot start). Close swallows Redis errors: a save that fails leaves the last checkpoint
// standing, a lease left unreleased expires by itself.
// Thread-safety: none (the coordinator's loop).
#pragma once

#include <functional>
#include <string>

#include "job/config.h"
#include "job/persistence.h"
#include "job/redis_session.h"
#include "job/redis_supervisor.h"

namespace wc::job {

class CoordinatorRedis {
 public:
  // `url`: --redis; `sentinels`, `master_name`: --sentinel, --master-name (both empty and no
  // url: embedded, replicated if REDIS_HA says so); `state_root`: STATE_DIR; `digest`: the job's
  // (job/job_spec.h), whose first 16 characters name its state directory there.
  CoordinatorRedis(const JobConfig& c, const std::string& url, const std::string& sentinels,
                   const std::string& master_name, const std::string& state_root,
                   const std::string& digest);
  CoordinatorRedis(const CoordinatorRedis&) = delete;
  CoordinatorRedis& operator=(const CoordinatorRedis&) = delete;

  RedisSupervisor& server() { return server_; }
  RedisSession& session() { return session_; }
  Durability& durability() { return durability_; }

  // How a run leaves the job.
  enum class Ending {
    kOver,           // done, its result handed out
    kResultDamaged,  // done, but its result failed the check (exit 8): only --replace helps
    kKept,           // unfinished, for a rerun to resume
  };
  // Ends the run's use of Redis, one attempt each. If the job is over, `release` runs (the
  // lease, and what the job keeps only until then) and an external Redis saves the result (an
  // embedded one is removed with the job's state). A damaged result is released too (a rerun
  // with --replace counts again at once, not after the lease), its embedded state kept. Else an
  // embedded Redis saves what it has and keeps its state for a rerun to resume from, unless this
  // run never `held` the job and made that state: nothing it made is left behind then.
  void Close(Ending ending, bool held, const std::function<void(redis::Connection&)>& release);

 private:
  RedisSupervisor server_;
  RedisSession session_;
  Durability durability_;
};

}  // namespace wc::job

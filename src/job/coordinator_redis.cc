#include "job/coordinator_redis.h"

#include <algorithm>

#include "job/worker_options.h"
#include "redis/functions.h"
#include "util/signals.h"

namespace wc::job {

namespace {

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Whether the server answers a PING within a second (a stopped one does not).
bool Answers(redis::ConnectOptions o, const redis::SentinelOptions& sentinel) {
  o.connect_timeout = o.command_timeout = std::chrono::milliseconds(1000);
  try {
    redis::Connection c = redis::ConnectTo(o, sentinel);
    c.Command({"PING"});
    return true;
  } catch (const redis::RedisError&) {
    return false;
  }
}

}  // namespace

CoordinatorRedis::CoordinatorRedis(const JobConfig& c, const std::string& url,
                                   const std::string& sentinels, const std::string& master_name,
                                   const std::string& state_root, const std::string& digest)
    : server_(SupervisorOptions{.external_url = url,
                                .external_sentinel = SentinelOptionsFrom(sentinels, master_name),
                                .ha = c.redis_ha,
                                .replicas = c.redis_replicas,
                                .down_after = std::chrono::milliseconds(c.sentinel_down_after_ms),
                                .password = c.redis_password,
                                .state_root = state_root,
                                .state_key = digest.substr(0, 16),
                                .persistence = c.persistence,
                                .redis_args = c.redis_args,
                                .crash_interval = Ms(c.redis_restart_interval),
                                .downtime = Ms(c.redis_downtime),
                                .give_up_after = Ms(c.redis_retry_seconds)}),
      session_(
          SessionOptions{.redis = server_.connect_options(),
                         .sentinel = server_.sentinel(),
                         .retry_for = Ms(c.redis_retry_seconds),
                         .deadline_from_first_call = true,
                         .between_attempts = [this] { server_.Tick(/*crashes_allowed=*/false); },
                         // Another server process than before (an external Redis restarted)
                         // may lack the job: its generation grows, and the job is checked.
                         // Every connection (a restart may bring another build's library
                         // from its RDB: held-out pass 16) runs this build's functions.
                         .on_connect =
                             [this](redis::Connection& c) {
                               server_.Connected(c);
                               redis::EnsureLibrary(c);
                             }}),
      durability_(c.persistence, Ms(c.checkpoint_interval),
                  server_.embedded() ? Ms(c.redis_restart_interval) : Ms(0)) {
  if (server_.embedded()) durability_.SetDirectory(server_.state_path());
}

void CoordinatorRedis::Close(Ending ending, bool held,
                             const std::function<void(redis::Connection&)>& release) {
  const bool job_over = ending == Ending::kOver;
  try {
    if (ending == Ending::kResultDamaged) {
      session_.Once([&](redis::Connection& c) {
        release(c);
        return 0;
      });
    }
    if (job_over) {
      session_.Once([&](redis::Connection& c) {
        release(c);
        // Saved, the result survives a restart of an external Redis from here on. (An embedded
        // one is removed with the job's state directory: nothing to save. A result read before a
        // crash is exact either way: a rerun finds the job done, or resumes it from the last
        // checkpoint.)
        if (server_.embedded()) {
          durability_.NoteLastCheckpoint(c);  // a failed checkpoint is still reported
        } else {
          durability_.SaveNow(c);
        }
        return 0;
      });
    } else if (server_.embedded() &&
               (StopSignal() == 0 || Answers(server_.connect_options(), server_.sentinel()))) {
      // Kept for a rerun to resume from: save what the job has (no save points on shutdown).
      // After a stop, only if the server answers at once: a stopped or hung one must not hold
      // the stop (the last checkpoint stands).
      session_.Once([&](redis::Connection& c) {
        durability_.SaveNow(c);
        return 0;
      });
    }
  } catch (const redis::RedisError&) {
    // the lease expires by itself; the last checkpoint stands
  }
  server_.Stop(/*remove_state=*/job_over || (!held && server_.fresh_state()));
}

}  // namespace wc::job

// The coordinator's Redis: an embedded redis-server it owns (started in the job's private state
// directory, job/state_dir.h, from the checkpoint a killed coordinator left there; listening only
// on a unix socket there, so that no other local user can reach it; restarted when it dies;
// crashed on schedule for the lab's Redis fault tolerance), or an external one given by
// URL (nothing to supervise; its restarts are seen through the connections, Connected()). With
// REDIS_HA "sentinel" the embedded Redis is replicated and supervised by job/ha_redis.h
// instead; an external replicated one is given by its Sentinels (--sentinel, --master-name).
// Either way sentinel() tells clients where to ask for the primary.
//
// Ownership: owns the embedded server and its state directory; Stop() (and the destructor) stop
// the server; Stop(true) also removes the directory. Thread-safety: none.
// Errors: the constructor throws std::runtime_error if the embedded server cannot start
// (redis::RedisConfigError if it refused its options), and then removes the state directory if
// it made it; Tick()
// never throws (a failed restart is logged and tried again on the next tick).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "job/config.h"
#include "job/ha_redis.h"
#include "job/state_dir.h"
#include "redis/connection.h"
#include "redis/redis_server.h"
#include "redis/sentinel.h"

namespace wc::job {

struct SupervisorOptions {
  std::string external_url;  // non-empty: use this server, supervise nothing
  // Enabled: use the primary these Sentinels name, supervise nothing.
  redis::SentinelOptions external_sentinel;
  RedisHa ha = RedisHa::kNone;                 // embedded: one server, or a replicated one
  int replicas = 2;                            // REDIS_REPLICAS
  std::chrono::milliseconds down_after{2000};  // SENTINEL_DOWN_AFTER_MS
  std::string password;    // embedded: REDIS_PASSWORD (empty: a random one, kept in the state)
  std::string state_root;  // embedded: STATE_DIR
  std::string state_key;   // embedded: names the job's directory in it (job/state_dir.h)
  Persistence persistence = Persistence::kRdb;
  std::vector<std::string> redis_args;          // embedded: REDIS_ARGS
  std::chrono::milliseconds crash_interval{0};  // REDIS_RESTART_INTERVAL; 0 = no crashes
  std::chrono::milliseconds downtime{1000};     // REDIS_DOWNTIME
  // REDIS_RETRY_SECONDS: an embedded server that cannot be started again for this long is given
  // up on (RedisUnavailable).
  std::chrono::milliseconds give_up_after{60000};
};

class RedisSupervisor {
 public:
  explicit RedisSupervisor(const SupervisorOptions& options);
  ~RedisSupervisor();
  RedisSupervisor(const RedisSupervisor&) = delete;
  RedisSupervisor& operator=(const RedisSupervisor&) = delete;

  const redis::ConnectOptions& connect_options() const { return connect_; }
  // Enabled if clients must ask Sentinel for the primary (connect_options() then gives only the
  // password and timeouts).
  const redis::SentinelOptions& sentinel() const { return sentinel_; }
  bool embedded() const { return server_ != nullptr || ha_ != nullptr; }
  // Restarts a server that died or whose planned downtime is over; crashes it (SIGKILL) when
  // the crash interval has passed since it last started, if crashes_allowed.
  void Tick(bool crashes_allowed);
  // A forced crash (REDIS_RESTART_INTERVAL) of the one embedded server is due now.
  bool CrashDue() const;
  // Call when a call to the server timed out. An embedded (single) server that does not answer a
  // PING within a second either (stopped by SIGSTOP, hung) is taken for crashed: SIGKILL and
  // restart from its checkpoint (logged redis_unresponsive, counted as an unplanned restart).
  // Returns true if it was restarted. Never throws.
  bool Unanswered();
  // A planned crash is in progress (the server is down on purpose).
  bool down() const { return ha_ ? ha_->down() : down_; }
  // Call on every new connection: notes which server process answers (INFO server run_id).
  // For an external server a new run_id is a restart seen (its cause unknown). Returns true if
  // the server is not the one a previous connection reached. Throws RedisIoError like the
  // connection; a server that refuses INFO is taken for the same one.
  bool Connected(redis::Connection& c);
  // Grows by one at every restart (planned, unplanned, or seen on an external server) and
  // failover: a caller that read something across a change of generation cannot trust it.
  int generation() const {
    return ha_ ? ha_->generation() : forced_ + unplanned_ + seen_ + failovers_seen_;
  }
  int forced_restarts() const { return ha_ ? ha_->forced_restarts() : forced_; }
  int unplanned_restarts() const { return ha_ ? ha_->unplanned_restarts() : unplanned_; }
  // External server: restarts seen (a lower bound: two in a row between connections are one).
  int seen_restarts() const { return seen_; }
  // Failovers: made by the embedded replicated Redis, or seen (external, with Sentinel: a new
  // connection reached another server process at another address).
  int failovers() const { return ha_ ? ha_->failovers() : failovers_seen_; }  // (after Stop too)
  int port() const { return ha_ ? ha_->port() : connect_.port; }
  // Where clients reach the server (the primary's now), without the password: an embedded
  // server's unix socket (unix://STATE_DIR/job-<key>/redis.sock), redis://127.0.0.1:PORT of the
  // replicated one, or the external server's.
  std::string url() const;
  // Stops the embedded server; with remove_state, removes its state directory too (the job is
  // over), else keeps it for a rerun to resume from. Idempotent.
  void Stop(bool remove_state = false);
  // The state directory was made by this run (nothing to resume was there).
  bool fresh_state() const { return state_ && state_->fresh(); }
  // The embedded server's state directory (STATE_DIR/job-<key>); empty for an external one.
  std::string state_path() const { return state_ ? state_->path() : std::string(); }

 private:
  // Logs `aof_repaired` if the server's last start cut a torn block off its AOF.
  void NoteAofRepair();
  void Restart(const char* why);

  SupervisorOptions o_;
  std::unique_ptr<StateDir> state_;
  std::unique_ptr<redis::RedisServer> server_;
  std::unique_ptr<HaRedis> ha_;
  redis::ConnectOptions connect_;
  redis::SentinelOptions sentinel_;
  using Clock = std::chrono::steady_clock;
  Clock::time_point started_{}, down_until_{};
  Clock::time_point start_failing_since_{};  // the first failed restart in a row (epoch: none)
  bool down_ = false;
  int forced_ = 0, unplanned_ = 0, seen_ = 0, failovers_seen_ = 0;
  std::string run_id_;  // of the server the last connection reached
  redis::HostPort at_;  // and its address
};

}  // namespace wc::job

// The coordinator's replicated Redis (REDIS_HA "sentinel"): a redis::SentinelCluster in the
// job's private state directory - a primary, REDIS_REPLICAS replicas, three Sentinels, one
// password - supervised for the job.
//
// Supervision (Tick): a data server that died is started again after REDIS_DOWNTIME as a
// replica of the primary Sentinel names now (never as a primary by hand: if Sentinel still
// names the dead server, it waits for the failover; only if no failover comes for
// kNoFailoverLimit does it restart the server as the primary, from its own state). A Sentinel
// that died is restarted. Chaos: every REDIS_RESTART_INTERVAL, while crashes are allowed and
// every server is up, the current primary is SIGKILLed (`redis_crash role=primary`). When
// Sentinel names another primary that answers as one, `failover` is logged with the old and
// the new primary and how long no primary was there (`no_primary_s`, from the crash or the
// death seen). The endpoint file (job/state_dir.h) always names the current primary, for
// `status` and `top`; ha/sentinels lists the Sentinels ("host:port,..."), for `status`.
//
// AOF (PERSISTENCE aof, or --appendonly yes in REDIS_ARGS): every data server's AOF tail is
// repaired before each of its starts, as for the single embedded Redis (redis/aof_repair.h;
// `aof_repaired` is logged when a torn block was cut). A node started as the primary (the first
// start, a rerun, a restart without a failover) loads its own AOF; a replica's is replaced by
// its copy of the primary.
//
// Resuming: a coordinator SIGKILLed takes every server with it (PDEATHSIG); a rerun starts the
// primary from the node directory whose checkpoint is the newest (RDB or AOF), the replicas
// from it. Checkpoints are the coordinator's, as without HA (job/persistence.h), on whichever
// server is the primary.
//
// Ownership: owns the cluster; Stop() and the destructor stop every process.
// Thread-safety: none. Errors: the constructor throws std::runtime_error if the cluster does
// not form; Tick() never throws.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "job/config.h"
#include "job/state_dir.h"
#include "redis/sentinel_cluster.h"

namespace wc::job {

struct HaOptions {
  std::string password;
  int replicas = 2;
  std::chrono::milliseconds down_after{2000};
  std::vector<std::string> redis_args;          // every data server (REDIS_ARGS, AOF flags)
  std::chrono::milliseconds crash_interval{0};  // REDIS_RESTART_INTERVAL; 0 = no crashes
  std::chrono::milliseconds downtime{1000};     // REDIS_DOWNTIME
};

// The Sentinels ("host:port,...") of the embedded replicated Redis whose primary listens on
// `port`, from the state of its job under `root`; empty if there is none.
std::string EmbeddedSentinels(const std::string& root, int port);

class HaRedis {
 public:
  static constexpr std::chrono::seconds kNoFailoverLimit{20};
  static constexpr const char* kMasterName = "wordcount";

  HaRedis(const HaOptions& options, StateDir& state);
  ~HaRedis();
  HaRedis(const HaRedis&) = delete;
  HaRedis& operator=(const HaRedis&) = delete;

  redis::SentinelOptions sentinel_options() const { return cluster_->sentinel_options(); }
  // Password and timeouts; host and port are the primary's at start (Sentinel names it later).
  redis::ConnectOptions connect_options() const;
  void Tick(bool crashes_allowed);
  // No primary is known (it crashed and no failover was seen yet).
  bool down() const { return primary_ < 0; }
  // Grows at every crash of the primary and every failover.
  int generation() const { return forced_ + unplanned_ + failovers_; }
  int forced_restarts() const { return forced_; }
  int unplanned_restarts() const { return unplanned_; }
  int failovers() const { return failovers_; }
  int port() const;  // the current (or last) primary's
  // Stops every process; `discard`: their files are removed next, so SIGKILL (nothing to save).
  void Stop(bool discard = false);

 private:
  using Clock = std::chrono::steady_clock;
  void Lost(const char* why);
  void WatchPrimary(Clock::time_point now);
  void RestartDead(Clock::time_point now);
  void NoteAofRepair(size_t node);

  HaOptions o_;
  StateDir& state_;
  std::unique_ptr<redis::SentinelCluster> cluster_;
  int primary_ = -1, last_primary_ = -1;
  Clock::time_point primary_since_{}, lost_at_{}, next_poll_{};
  std::vector<Clock::time_point> dead_since_;  // per node; {} while it runs
  int forced_ = 0, unplanned_ = 0, failovers_ = 0;
};

}  // namespace wc::job

// A replicated Redis on this host, owned by this process: one primary, `replicas` replicas and
// `sentinels` Sentinels monitoring them, every one a redis::RedisServer on a free loopback port,
// all behind one password (requirepass, masterauth, Sentinel auth-pass, all in 0600 config
// files), each in a private directory of its own under `dir`: node<i>/ and sentinel<i>/. The
// embedded Redis of `wordcount run` with REDIS_HA "sentinel", and the test suite's fixture.
//
// Configuration, and why:
//   * data servers: `min-replicas-to-write 1`, `min-replicas-max-lag` (a primary cut off from
//     every replica refuses writes with NOREPLICAS instead of accepting writes a failover will
//     discard: no split brain), diskless replication without delay (a restarted node syncs at
//     once), `--save ""` (checkpoints are the owner's).
//   * Sentinels: quorum = a majority, `down-after-milliseconds` and `failover-timeout` from the
//     options; their configs are theirs (rewritten by them, kept across their restarts). Their
//     timers are set for three Sentinels on one host (SENTINEL DEBUG, after every start): hello
//     messages every 1 s instead of 2 s (they find each other, and the cluster forms, in ~1.2 s
//     instead of ~2.3 s); INFO every 1 s instead of 10 s (a demoted primary that is still up, or
//     back, is seen and turned into a replica after ~5 s instead of up to ~18 s); peers asked
//     about a primary's state every 200 ms instead of 1 s (the agreement that it is down comes
//     sooner); TILT (a Sentinel that was not scheduled for 2 s stops acting) lasts 5 s instead
//     of 30 s. Not faster hellos: a Sentinel that sees a replica report itself a primary turns
//     it back into a replica after 4 hello periods unless the new configuration reached it by
//     then, and the leader of a failover publishes it only after its next INFO of the promoted
//     replica (every 1 s): at 200 ms the others undid a forced failover (seen: SENTINEL FAILOVER
//     while the old primary was up).
//
// Ownership: owns every process; the destructor stops them all (also when the constructor
// throws halfway). Nodes keep their index and port for life: Kill(i) is a crash (SIGKILL),
// Start(i, replica_of) starts node i again on the same port and directory, as a replica of
// `replica_of` (or as a primary if empty). Thread-safety: none.
// Errors: std::runtime_error if a process cannot start or the cluster does not form in time.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis/connection.h"
#include "redis/redis_server.h"
#include "redis/sentinel.h"

namespace wc::redis {

struct SentinelClusterOptions {
  std::string dir;  // created if missing; node<i>/ and sentinel<i>/ are made 0700 in it
  std::string password;
  std::string master_name = "wordcount";
  int replicas = 2;
  int sentinels = 3;
  std::chrono::milliseconds down_after{1500};  // Sentinel: a primary silent this long is down
  // Sentinel: how long a failover may take, and - doubled - how long a Sentinel that led or
  // voted in one waits before it starts another for the same name (the next primary's crash
  // within that time waits for it). On loopback a failover takes well under a second.
  std::chrono::milliseconds failover_timeout{3000};
  int min_replicas_max_lag = 5;         // seconds (min-replicas-max-lag)
  std::vector<std::string> extra_args;  // for every data server
  // Data servers with --appendonly yes: repair the AOF's tail before every start
  // (redis/aof_repair.h).
  bool repair_aof_tail = false;
  // The node to start as the primary (its directory's dump.rdb or AOF is the state everyone
  // starts from: replicas sync from it).
  int initial_primary = 0;
  std::chrono::milliseconds form_timeout{30000};  // until every Sentinel knows everyone
};

class SentinelCluster {
 public:
  explicit SentinelCluster(SentinelClusterOptions options);
  ~SentinelCluster();
  SentinelCluster(const SentinelCluster&) = delete;
  SentinelCluster& operator=(const SentinelCluster&) = delete;

  // Where the Sentinels are, for clients (job/redis_session.h).
  SentinelOptions sentinel_options() const;
  // Password and timeouts for the data servers (host and port are Sentinel's to give).
  ConnectOptions base_options() const;

  size_t nodes() const { return nodes_.size(); }
  RedisServer& node(size_t i) { return *nodes_[i]; }
  RedisServer& sentinel(size_t i) { return *sentinels_[i]; }
  size_t sentinel_count() const { return sentinels_.size(); }
  // The node listening on `address`, or -1.
  int NodeAt(const HostPort& address) const;
  HostPort AddressOf(size_t node) const { return {"127.0.0.1", nodes_[node]->port()}; }

  // The node Sentinel names as primary if it answers ROLE as one; -1 otherwise (a failover is
  // under way, or no Sentinel answers).
  int Primary() const;
  // The node the Sentinels name (whether or not it is up); -1 if none answers.
  int NamedPrimary() const;

  void Kill(size_t node) { nodes_[node]->Kill(); }
  // Starts node i again: a replica of `replica_of` (a node index), or a primary if -1.
  void Start(size_t node, int replica_of);
  // Restarts Sentinels that died (never crashed on purpose). Returns how many it restarted.
  int ReviveSentinels();
  // SIGKILLs every process (Sentinels first): for a cluster whose files are removed next, which
  // has nothing to save (a graceful stop waits for each server's next tick, and a primary's
  // shutdown for its replicas, ~1 s in all).
  void KillAll();

 private:
  void WaitFormed();

  SentinelClusterOptions o_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace wc::redis

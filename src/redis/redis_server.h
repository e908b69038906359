// A redis-server process owned by this process: the embedded Redis of `wordcount run` and the
// per-test server of the test suite.
//
// It listens on 127.0.0.1 only (or, given unix_socket, on that unix-domain socket only, mode
// 0700, and on no TCP port at all), protected mode on, with the given password if any, keeps its
// dump.rdb (and log) in `dir`, and has no automatic save points (`--save ""`): checkpoints are
// driven by the coordinator. The child gets PR_SET_PDEATHSIG, so it never outlives its owner.
// The same class runs a replica (replica_of: `replicaof` and `masterauth`, the password, in the
// 0600 config file) and a Sentinel (`redis-server sentinel.conf --sentinel`: the config file is
// the Sentinel's own, written once and then rewritten by the Sentinel itself, so a restarted
// Sentinel keeps what it learnt).
//
// Ownership: the RedisServer owns the child process; the destructor stops it (SIGTERM, then
// SIGKILL after 5 s) and reaps it. Kill() is a crash (SIGKILL), Start() starts it again with the
// same port (or socket), directory and configuration, so it loads the last checkpoint.
// Thread-safety: none. Errors: std::runtime_error if the server cannot be started or does not
// answer in time (the message includes the tail of its log, and what it wrote on stderr, kept
// in <dir>/redis.stderr); RedisConfigError if it refused its configuration, RedisExitedAtStart
// if it exited before it answered.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "redis/aof_repair.h"
#include "redis/connection.h"

namespace wc::redis {

struct RedisServerOptions {
  std::string dir;  // working directory (created if missing)
  int port = 0;     // 0: pick a free loopback port
  // Non-empty: listen on this unix-domain socket (absolute, at most kMaxUnixSocketPath bytes;
  // mode 0700) and on no TCP port; `port` is unused. Not for a replica's primary or a Sentinel,
  // which reach each other over TCP.
  std::string unix_socket;
  std::string password;                 // empty: no password
  std::vector<std::string> extra_args;  // more redis-server options, e.g. {"--appendonly", "yes"}
  std::string executable = "redis-server";
  std::chrono::milliseconds start_timeout{15000};  // until PING answers (RDB loaded)
  // Before every start, cut a torn MULTI/EXEC block off the AOF's tail (redis/aof_repair.h).
  // For servers with --appendonly yes.
  bool repair_aof_tail = false;
  // More lines for the 0600 config file (secrets belong here, never in extra_args).
  std::vector<std::string> config_lines;
  // Start as a replica of this server ("host:port"; empty: a primary). A replica needs
  // `masterauth` in config_lines if the primary has a password.
  std::string replica_of;
  // Run as a Sentinel (config_lines hold its `sentinel monitor ...` lines).
  bool sentinel = false;
};

// redis-server refused its configuration at start (an unknown directive, a bad value): what()
// quotes its complaint, e.g. ">>> 'bogus "yes"' Bad directive or wrong number of arguments".
// Starting again cannot help.
class RedisConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// redis-server took its configuration but exited before it answered (e.g. TLS options without
// their certificates, a directory it cannot write): what() gives its log's tail and stderr.
class RedisExitedAtStart : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A redis.conf value: double-quoted, with \, " and newlines escaped.
std::string ConfQuoted(const std::string& value);

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options);  // starts it
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void Start();  // REQUIRES: not running. Repairs the AOF's tail first if so configured.
  // The next Start() starts a replica of `host_port` ("" : a primary).
  void set_replica_of(std::string host_port) { options_.replica_of = std::move(host_port); }
  const std::string& replica_of() const { return options_.replica_of; }
  void Stop();  // graceful; no-op if not running
  void Kill();  // SIGKILL and reap: a crash
  // True while the child runs; reaps it (and returns false) if it has died.
  bool Running();

  pid_t pid() const { return pid_; }
  int port() const { return options_.port; }  // 0 with a unix socket
  const std::string& dir() const { return options_.dir; }
  ConnectOptions connect_options() const;
  std::string url() const { return ToUrl(connect_options()); }
  // What the AOF repair before the last start did.
  const AofRepair& last_repair() const { return last_repair_; }

 private:
  void WaitReady();
  std::string LogTail() const;
  std::string StderrPath() const;
  std::string ConfigText() const;

  RedisServerOptions options_;
  pid_t pid_ = -1;
  AofRepair last_repair_;
};

// A free TCP port on 127.0.0.1 (bound and released; the usual small race applies).
int FreeLoopbackPort();

}  // namespace wc::redis

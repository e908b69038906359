// Finding the primary of a replicated Redis through Redis Sentinel.
//
// A SentinelClient asks the Sentinels it knows, in order, `SENTINEL get-master-addr-by-name
// NAME` (authenticated with the deployment's password: Sentinels and data servers share it),
// connects to the address the first answering Sentinel gives and checks with `ROLE` that the
// server there is a primary. Callers re-resolve (call ConnectPrimary again) whenever their
// connection is lost or a write is answered READONLY (a primary demoted under them) or
// NOREPLICAS (a primary cut off from its replicas, min-replicas-to-write); see
// job/redis_session.h, which does that for every process of the job.
//
// Ownership: a SentinelClient holds only options; every call makes its own short-lived
// connections (redis::Connection, which owns and frees its hiredis context) and returns a
// Connection the caller owns. Thread-safety: every method is const and shares nothing, so one
// client may be used from several threads. Errors: RedisIoError (retryable, `timeout()` false)
// when no Sentinel answers, none knows the name, the server named is not (yet) a primary, or
// none is a Sentinel (a plain Redis without the SENTINEL command: "the server at H:P is not a
// Sentinel"); RedisReplyError for a refused AUTH or another error reply.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "redis/connection.h"

namespace wc::redis {

struct HostPort {
  std::string host;
  int port = 0;
  std::string str() const;  // "host:port", "[::1]:port"
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port[,host:port...]" (no spaces; an IPv6 address in brackets, "[::1]:26379").
// Throws std::invalid_argument naming the bad entry, except that a list holding a user or
// password ('@') or a URL ("://") is refused without being echoed.
std::vector<HostPort> ParseHostPorts(const std::string& list);
// The inverse of ParseHostPorts.
std::string JoinHostPorts(const std::vector<HostPort>& list);

struct SentinelOptions {
  std::vector<HostPort> sentinels;  // empty: no Sentinel, connect directly
  std::string master_name;
  // Per Sentinel query: connecting and the reply.
  std::chrono::milliseconds timeout{1000};
  bool enabled() const { return !sentinels.empty(); }
};

// What `ROLE` says a server is.
enum class Role { kPrimary, kReplica, kSentinel, kUnknown };
Role RoleOf(Connection& c);
const char* ToString(Role r);

class SentinelClient {
 public:
  // REQUIRES: options.enabled() and a master name.
  explicit SentinelClient(SentinelOptions options);

  // The address the first answering Sentinel gives for the master name. `password` AUTHs to
  // the Sentinels.
  HostPort AskPrimary(const std::string& password) const;
  // A connection to the primary: `base` (password, timeouts) with the address a Sentinel names,
  // verified with ROLE; if it is not a primary (that Sentinel is behind, or cut off with an old
  // primary), the next Sentinel's answer is tried.
  Connection ConnectPrimary(const ConnectOptions& base) const;
  // The replicas the first answering Sentinel knows (SENTINEL replicas NAME) that it does not
  // flag as down or disconnected.
  std::vector<HostPort> Replicas(const std::string& password) const;

  const SentinelOptions& options() const { return o_; }

 private:
  template <class F>
  auto AskEach(const std::string& password, F&& f) const
      -> decltype(f(std::declval<Connection&>()));

  SentinelOptions o_;
};

// A connection to `base`, or, if `sentinel` is enabled, to the primary it names (with base's
// password and timeouts).
Connection ConnectTo(const ConnectOptions& base, const SentinelOptions& sentinel);

}  // namespace wc::redis

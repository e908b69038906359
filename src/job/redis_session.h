// The job's one retry policy for Redis.
//
// RetryClock is the rule: trouble that lasts `limit` since it began (without a success in
// between) becomes RedisUnavailable. RedisSession applies it to a connection: Run(f) calls
// f(connection) and, if the connection breaks or Redis answers BUSY/LOADING/MISCONF/TRYAGAIN
// (and, if `retry_missing_job`, NOGROUP/NOSTREAM: a Redis restarted without a checkpoint has lost
// the job until the coordinator re-creates it), calls the `between_attempts` hook, reconnects
// (a fresh Connection; hiredis contexts are never reused after an error) and calls f again,
// with capped exponential backoff (1 s; 200 ms with Sentinel). Once(f) makes one attempt without
// retry.
//
// With `sentinel` enabled (a replicated Redis, redis/sentinel.h), every (re)connect asks the
// Sentinels for the primary and checks its ROLE; READONLY (the primary was demoted under us),
// NOREPLICAS (it is cut off from its replicas) and UNBLOCKED (a blocking call, XREADGROUP BLOCK,
// ended unexecuted because the server turned into a replica meanwhile) are retried too, after
// dropping the connection so that the next attempt asks Sentinel again. When a reconnect lands
// on another primary than the last one, the first call that succeeds there logs `failover` with
// both addresses and how long this process's calls were refused (`refused_s`: from the first
// failed call to that success), and failovers() grows.
//
// A stop (util/signals.h: a signal to `run`, or RequestStop) ends Run's retries at once: it is
// polled between attempts and during the backoff, and while a call waits for its reply the
// connection's socket is the one the stop handler shuts down, so a stopped or silent server does
// not hold the stop for the reply timeout. Run then throws Interrupted. (Once is not
// interrupted between attempts: it makes one. The coordinator's end-of-run calls use it.)
//
// REQUIRES: f is safe to repeat. A repeated call may follow one whose reply was lost and that
// was applied anyway; the job's commands are designed for that (XACK-first commits, reads of
// the consumer's own pending history after a reconnect).
// Thread-safety: none (one session per thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "redis/connection.h"
#include "redis/sentinel.h"
#include "util/log.h"
#include "util/signals.h"

namespace wc::job {

class RedisUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A stop was requested (util/signals.h) while Run waited for Redis.
class Interrupted : public std::runtime_error {
 public:
  explicit Interrupted(int signal)
      : std::runtime_error(fmt::format("stopped by signal {}", signal)), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

class RetryClock {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryClock(std::chrono::milliseconds limit) : limit_(limit) {}

  void Ok() { since_ = {}; }
  // Notes trouble; throws RedisUnavailable once it has lasted `limit`. Returns true the first
  // time (since the last Ok), for logging. The trouble began at `began`: the moment the failed
  // call was made, for a deadline that counts the failed call's own wait (a call that timed out
  // after 3 s of a silent server used to start the clock only then, and the next one waited 3 s
  // more: 6 s for REDIS_RETRY_SECONDS 3).
  bool Trouble(const std::string& error, Clock::time_point began = Clock::now()) {
    auto now = Clock::now();
    bool first = since_ == Clock::time_point{};
    if (first) since_ = std::min(began, now);
    if (now - since_ >= limit_) {
      throw RedisUnavailable(fmt::format("Redis unavailable for {:.0f} s: {}",
                                         std::chrono::duration<double>(limit_).count(), error));
    }
    return first;
  }
  // How long the next call may wait: the rest of `limit` once in trouble (at least 1 ms), else
  // `limit`.
  std::chrono::milliseconds Left() const {
    if (since_ == Clock::time_point{}) return limit_;
    auto left =
        limit_ - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since_);
    return std::max(left, std::chrono::milliseconds(1));
  }

 private:
  std::chrono::milliseconds limit_;
  Clock::time_point since_{};
};

struct SessionOptions {
  redis::ConnectOptions redis;
  // Enabled: `redis` gives only password and timeouts; the primary is the one Sentinel names.
  redis::SentinelOptions sentinel;
  std::chrono::milliseconds retry_for{60000};
  bool retry_missing_job = false;  // NOGROUP/NOSTREAM are retried (workers)
  // The coordinator's deadline: Run's trouble counts from the start of the first failed call,
  // and each call in trouble (connecting, AUTH, its commands) waits at most the rest of
  // `retry_for`, so that Run gives up `retry_for` after the call that first failed began. (Not
  // for workers: their XREADGROUP BLOCK must be allowed its time, and a worker waits for the
  // coordinator to restart a silent embedded Redis.)
  bool deadline_from_first_call = false;
  std::function<void()> between_attempts;  // e.g. the coordinator supervising its Redis
  std::function<void()> on_reconnect;      // after every successful reconnect
  // After every successful connect (the first too), before anything else runs on the
  // connection; it may throw like the calls do (e.g. to see which server answered).
  std::function<void(redis::Connection&)> on_connect;
};

class RedisSession {
 public:
  // A call that gets no reply is Redis failing: no call waits longer than `retry_for`
  // (REDIS_RETRY_SECONDS, at least a second) for its reply, whatever `redis` allows, so that a
  // silent server (SIGSTOP) ends in a restart or exit 4 in time (held-out pass 17: a worker
  // waited 30 s per call).
  explicit RedisSession(SessionOptions options) : o_(std::move(options)) {
    o_.redis.command_timeout =
        std::min(o_.redis.command_timeout, std::max(std::chrono::milliseconds(1000), o_.retry_for));
  }

  // `budget`: the longest any wait of this call may be (connecting, AUTH, each reply), within
  // the connection's own timeouts.
  template <class F>
  auto Once(F&& f, std::chrono::milliseconds budget = kNoBudget)
      -> decltype(f(std::declval<redis::Connection&>())) {
    try {
      ClearOnSuccess ok{*this};
      StopCuts cut;
      return f(Connected(budget));
    } catch (const redis::RedisIoError&) {
      Dropped();
      throw;
    } catch (const redis::RedisReplyError& e) {
      if (Demoted(e)) Dropped();
      throw;
    }
  }

  template <class F>
  auto Run(F&& f) -> decltype(f(std::declval<redis::Connection&>())) {
    RetryClock clock(o_.retry_for);
    std::chrono::milliseconds backoff{50};
    for (;;) {
      std::string error;
      const auto began = Clock::now();
      try {
        ClearOnSuccess ok{*this};
        StopCuts cut;
        return f(Connected(o_.deadline_from_first_call ? clock.Left() : kNoBudget));
      } catch (const redis::RedisIoError& e) {
        error = e.what();
        Dropped();
      } catch (const redis::RedisReplyError& e) {
        if (!Retryable(e)) throw;
        error = e.what();
        if (Demoted(e)) Dropped();
      }
      if (int sig = StopSignal()) throw Interrupted(sig);
      if (clock.Trouble(error, o_.deadline_from_first_call ? began : Clock::now()))
        Log::Warn("redis_retry", "error=\"{}\"", error);
      if (o_.between_attempts) o_.between_attempts();
      if (SleepUnlessStopped(backoff)) throw Interrupted(StopSignal());
      // With Sentinel a new primary is usually there within seconds: ask more often (a question
      // to Sentinel is cheap), so that a failover costs no extra second of waiting.
      backoff =
          std::min(backoff * 2, std::chrono::milliseconds(o_.sentinel.enabled() ? 200 : 1000));
    }
  }

  bool Retryable(const redis::RedisReplyError& e) const {
    return e.transient() || Demoted(e) ||
           (o_.retry_missing_job && (e.prefix() == "NOGROUP" || e.prefix() == "NOSTREAM" ||
                                     // a blocked XREADGROUP whose stream was deleted (FLUSHALL):
                                     // the job is being made again (held-out pass 21)
                                     e.prefix() == "UNBLOCKED"));
  }
  // With Sentinel: the server is no longer (or cannot act as) the primary; ask Sentinel again.
  // Each of these replies comes before the command ran: repeating it is always safe.
  bool Demoted(const redis::RedisReplyError& e) const {
    return o_.sentinel.enabled() &&
           (e.prefix() == "READONLY" || e.prefix() == "NOREPLICAS" || e.prefix() == "UNBLOCKED");
  }

  const redis::ConnectOptions& connect_options() const { return o_.redis; }
  std::chrono::milliseconds retry_for() const { return o_.retry_for; }
  const redis::SentinelOptions& sentinel() const { return o_.sentinel; }
  // How many connections this session has made: equal before and after some calls means they
  // all ran on one connection, i.e. on one server.
  int connections() const { return connections_; }
  // With Sentinel: how many times a call succeeded on another primary than the one before.
  int failovers() const { return failovers_; }

 private:
  using Clock = std::chrono::steady_clock;
  // While a call runs, its socket is the one a stop shuts down (util/signals.h; Connected()
  // names it).
  struct StopCuts {
    StopCuts() = default;
    ~StopCuts() { SetStopSocket(-1); }
    StopCuts(const StopCuts&) = delete;
    StopCuts& operator=(const StopCuts&) = delete;
  };

  // Forgets the trouble when the call it guards returns (not when it throws).
  struct ClearOnSuccess {
    RedisSession& s;
    int exceptions = std::uncaught_exceptions();
    ~ClearOnSuccess() {
      if (std::uncaught_exceptions() == exceptions) s.Succeeded();
    }
  };

  // A call succeeded: the trouble is over; on a new primary, the failover is logged.
  void Succeeded() {
    if (!moved_from_.empty()) {
      ++failovers_;
      double refused = trouble_since_ == Clock::time_point{}
                           ? 0
                           : std::chrono::duration<double>(Clock::now() - trouble_since_).count();
      Log::Event("failover", "old={} new={} refused_s={:.3f}", moved_from_, primary_.str(),
                 refused);
      moved_from_.clear();
    }
    trouble_since_ = {};
  }

  // The connection is gone (or useless): the next attempt connects again, through Sentinel.
  void Dropped() {
    conn_.reset();
    if (trouble_since_ == Clock::time_point{}) trouble_since_ = Clock::now();
  }

  static constexpr std::chrono::milliseconds kNoBudget = std::chrono::milliseconds::max();

  // The session's connection, made if needed; its waits bounded by `budget` too.
  redis::Connection& Connected(std::chrono::milliseconds budget) {
    auto bounded = [&](std::chrono::milliseconds t) { return std::min(t, budget); };
    if (!conn_ || conn_->broken()) {
      redis::ConnectOptions o = o_.redis;
      o.connect_timeout = bounded(o.connect_timeout);
      o.command_timeout = bounded(o.command_timeout);
      conn_ = std::make_unique<redis::Connection>(redis::ConnectTo(o, o_.sentinel));
      SetStopSocket(conn_->fd());  // on_connect may wait for replies too
      ++connections_;
      if (o_.sentinel.enabled()) {
        redis::HostPort now{conn_->options().host, conn_->options().port};
        // Logged by the first call that succeeds here (it may still be refused: NOREPLICAS
        // until Sentinel has given the new primary a replica).
        if (primary_.port != 0 && !(primary_ == now) && moved_from_.empty())
          moved_from_ = primary_.str();
        if (moved_from_ == now.str()) moved_from_.clear();  // back where it was
        primary_ = now;
      }
      if (o_.on_connect) o_.on_connect(*conn_);
      // conn_ was reset after an I/O error, so remember whether this is a *re*connect.
      if (std::exchange(connected_before_, true)) {
        // The server reached (via Sentinel: the primary, not the address configured).
        Log::Event("reconnect", "redis={}", conn_->options().address());
        if (o_.on_reconnect) o_.on_reconnect();
      }
    }
    if (conn_->options().command_timeout != bounded(o_.redis.command_timeout))
      conn_->SetCommandTimeout(bounded(o_.redis.command_timeout));
    SetStopSocket(conn_->fd());
    return *conn_;
  }

  SessionOptions o_;
  std::unique_ptr<redis::Connection> conn_;
  bool connected_before_ = false;
  int connections_ = 0;
  redis::HostPort primary_;  // with Sentinel: the primary of the last connection
  std::string moved_from_;   // the primary before, until a call succeeds on primary_
  int failovers_ = 0;
  Clock::time_point trouble_since_{};  // since when no call succeeded (for `failover`)
};

}  // namespace wc::job

// The job's one retry policy for Redis.
//
// RetryClock is the rule: trouble that lasts `limit` since it began (without a success in
// between) becomes RedisUnavailable. RedisSession applies it to a connection: Run(f) calls
// f(connection) and, if the connection breaks or Redis answers BUSY/LOADING/MISCONF/TRYAGAIN
// (and, if `retry_missing_job`, NOGROUP/NOSTREAM: a Redis restarted without a checkpoint has lost
// the job until the coordinator re-creates it), calls the `between_attempts` hook, reconnects
// (a fresh Connection; hiredis contexts are never reused after an error) and calls f again,
// with capped exponential backoff. Once(f) makes one attempt without retry.
//
// REQUIRES: f is safe to repeat. A repeated call may follow one whose reply was lost and that
// was applied anyway; the job's commands are designed for that (XACK-first commits, reads of
// the consumer's own pending history after a reconnect).
// Thread-safety: none (one session per thread).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "redis/connection.h"
#include "util/log.h"

namespace wc::job {

class RedisUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RetryClock {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryClock(std::chrono::milliseconds limit) : limit_(limit) {}

  void Ok() { since_ = {}; }
  // Notes trouble; throws RedisUnavailable once it has lasted `limit`. Returns true the first
  // time (since the last Ok), for logging.
  bool Trouble(const std::string& error) {
    auto now = Clock::now();
    bool first = since_ == Clock::time_point{};
    if (first) since_ = now;
    if (now - since_ >= limit_) {
      throw RedisUnavailable(fmt::format("Redis unavailable for {:.0f} s: {}",
                                         std::chrono::duration<double>(limit_).count(), error));
    }
    return first;
  }

 private:
  std::chrono::milliseconds limit_;
  Clock::time_point since_{};
};

struct SessionOptions {
  redis::ConnectOptions redis;
  std::chrono::milliseconds retry_for{60000};
  bool retry_missing_job = false;          // NOGROUP/NOSTREAM are retried (workers)
  std::function<void()> between_attempts;  // e.g. the coordinator supervising its Redis
  std::function<void()> on_reconnect;      // after every successful reconnect
  // After every successful connect (the first too), before anything else runs on the
  // connection; it may throw like the calls do (e.g. to see which server answered).
  std::function<void(redis::Connection&)> on_connect;
};

class RedisSession {
 public:
  explicit RedisSession(SessionOptions options) : o_(std::move(options)) {}

  template <class F>
  auto Once(F&& f) -> decltype(f(std::declval<redis::Connection&>())) {
    try {
      return f(Connected());
    } catch (const redis::RedisIoError&) {
      conn_.reset();
      throw;
    }
  }

  template <class F>
  auto Run(F&& f) -> decltype(f(std::declval<redis::Connection&>())) {
    RetryClock clock(o_.retry_for);
    std::chrono::milliseconds backoff{50};
    for (;;) {
      std::string error;
      try {
        return f(Connected());
      } catch (const redis::RedisIoError& e) {
        error = e.what();
        conn_.reset();
      } catch (const redis::RedisReplyError& e) {
        if (!Retryable(e)) throw;
        error = e.what();
      }
      if (clock.Trouble(error)) Log::Warn("redis_retry", "error=\"{}\"", error);
      if (o_.between_attempts) o_.between_attempts();
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

  bool Retryable(const redis::RedisReplyError& e) const {
    return e.transient() ||
           (o_.retry_missing_job && (e.prefix() == "NOGROUP" || e.prefix() == "NOSTREAM"));
  }

  const redis::ConnectOptions& connect_options() const { return o_.redis; }
  std::chrono::milliseconds retry_for() const { return o_.retry_for; }

 private:
  redis::Connection& Connected() {
    if (!conn_ || conn_->broken()) {
      conn_ = std::make_unique<redis::Connection>(o_.redis);
      if (o_.on_connect) o_.on_connect(*conn_);
      // conn_ was reset after an I/O error, so remember whether this is a *re*connect.
      if (std::exchange(connected_before_, true)) {
        Log::Event("reconnect", "redis={}:{}", o_.redis.host, o_.redis.port);
        if (o_.on_reconnect) o_.on_reconnect();
      }
    }
    return *conn_;
  }

  SessionOptions o_;
  std::unique_ptr<redis::Connection> conn_;
  bool connected_before_ = false;
};

}  // namespace wc::job

// A Redis connection that survives outages: Run(f) calls f(connection) and, if the connection
// breaks or Redis answers BUSY/LOADING/MISCONF (or NOGROUP/NOSTREAM: a Redis restarted without a
// checkpoint has lost the job until the coordinator re-creates it), reconnects (a fresh Connection;
// hiredis contexts are never reused after an error) and calls f again, with capped exponential
// backoff, until `retry_for` has passed since the trouble began. Then it throws RedisUnavailable.
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

class RedisSession {
 public:
  RedisSession(redis::ConnectOptions options, std::chrono::milliseconds retry_for)
      : options_(std::move(options)), retry_for_(retry_for) {}

  // One attempt, no retry: for callers that must not block while Redis is down (the
  // coordinator's supervision loop). Throws like Connection.
  template <class F>
  auto Once(F&& f) -> decltype(f(std::declval<redis::Connection&>())) {
    try {
      if (!conn_ || conn_->broken()) {
        conn_ = std::make_unique<redis::Connection>(options_);
        connected_before_ = true;
      }
      return f(*conn_);
    } catch (const redis::RedisIoError&) {
      conn_.reset();
      throw;
    }
  }

  // Called after every successful reconnect (e.g. to re-read the consumer's own history).
  void OnReconnect(std::function<void()> f) { on_reconnect_ = std::move(f); }

  template <class F>
  auto Run(F&& f) -> decltype(f(std::declval<redis::Connection&>())) {
    using Clock = std::chrono::steady_clock;
    Clock::time_point trouble_since{};
    std::chrono::milliseconds backoff{50};
    std::string last_error;
    for (;;) {
      try {
        if (!conn_ || conn_->broken()) {
          // conn_ is already reset after an I/O error, so remember whether this is a *re*connect.
          conn_ = std::make_unique<redis::Connection>(options_);
          if (std::exchange(connected_before_, true)) {
            Log::Event("reconnect", "redis={}:{}", options_.host, options_.port);
            if (on_reconnect_) on_reconnect_();
          }
        }
        return f(*conn_);
      } catch (const redis::RedisIoError& e) {
        last_error = e.what();
        conn_.reset();
      } catch (const redis::RedisReplyError& e) {
        if (!e.transient() && e.prefix() != "NOGROUP" && e.prefix() != "NOSTREAM") throw;
        last_error = e.what();
      }
      auto now = Clock::now();
      if (trouble_since == Clock::time_point{}) {
        trouble_since = now;
        Log::Warn("redis_retry", "error=\"{}\"", last_error);
      }
      if (now - trouble_since >= retry_for_) {
        throw RedisUnavailable("Redis unavailable for " +
                               std::to_string(retry_for_.count() / 1000) + " s: " + last_error);
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

 private:
  redis::ConnectOptions options_;
  std::chrono::milliseconds retry_for_;
  std::unique_ptr<redis::Connection> conn_;
  std::function<void()> on_reconnect_;
  bool connected_before_ = false;
};

}  // namespace wc::job

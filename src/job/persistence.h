// The job's durability in Redis: periodic checkpoints (BGSAVE, the lab's Part 3; nothing with
// AOF, which Redis fsyncs every second itself) and durable saves that the coordinator waits for
// (RDB: SAVE; AOF: a rewrite), after which a crash can no longer lose what was written.
//
// Every method makes one attempt on the given connection and throws like it (redis/errors.h);
// a save that does not finish within a minute is a RedisIoError (timeout). A failed BGSAVE is
// noticed (Redis with `--save ""` keeps accepting writes after one) and counted.
// Thread-safety: none.
#pragma once

#include <chrono>
#include <string>

#include "job/config.h"
#include "redis/connection.h"

namespace wc::job {

class Durability {
 public:
  Durability(job::Persistence kind, std::chrono::milliseconds interval)
      : kind_(kind), interval_(interval) {}

  // Starts a BGSAVE if the interval has passed since the last one (RDB only; skipped while one
  // runs).
  void MaybeCheckpoint(redis::Connection& c);
  // Saves synchronously and durably.
  void SaveNow(redis::Connection& c);
  // Waits for a checkpoint still running and notes how it ended (a failed one is counted and
  // logged), without saving: the end of a job whose Redis is removed next.
  void NoteLastCheckpoint(redis::Connection& c);

  int checkpoints() const { return checkpoints_; }
  int failures() const { return failures_; }

 private:
  using Clock = std::chrono::steady_clock;
  // Waits (polling INFO persistence) until `idle(info)`, then runs `start(info)`; repeats while
  // start returns false. Throws a timeout RedisIoError after a minute.
  template <class Idle, class Start>
  void WaitThen(redis::Connection& c, const char* what, Idle idle, Start start);
  // Counts and logs a failed BGSAVE (once per failure); returns the status.
  std::string NoteBgsaveStatus(const std::string& info);

  job::Persistence kind_;
  std::chrono::milliseconds interval_;
  Clock::time_point last_ = Clock::now();
  std::string last_status_ = "ok";
  int checkpoints_ = 0, failures_ = 0;
};

}  // namespace wc::job

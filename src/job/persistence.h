// The job's durability in Redis: periodic checkpoints (BGSAVE, the lab's Part 3; nothing with
// AOF, which Redis fsyncs every second itself) and durable saves that the coordinator waits for
// (RDB: SAVE; AOF: a rewrite), after which a crash can no longer lose what was written.
// Which of the two applies is what the server does (INFO persistence, aof_enabled), not the
// configured PERSISTENCE: that one sets up an embedded Redis, but an external one (--redis)
// restarts from whatever its own configuration says (PERSISTENCE only decides for a server
// whose INFO does not tell).
//
// Every method makes one attempt on the given connection and throws like it (redis/errors.h);
// a save that does not finish within a minute is a RedisIoError (timeout). A failed BGSAVE is
// noticed (Redis with `--save ""` keeps accepting writes after one) and counted.
// Thread-safety: none.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "job/config.h"
#include "redis/connection.h"

namespace wc::job {

class Durability {
 public:
  // `crash_interval`: REDIS_RESTART_INTERVAL (0: no forced crashes). The server is taken to have
  // just started (ServerStarted).
  Durability(job::Persistence kind, std::chrono::milliseconds interval,
             std::chrono::milliseconds crash_interval = std::chrono::milliseconds(0))
      : kind_(kind), interval_(interval), crash_interval_(crash_interval) {
    ServerStarted();
  }

  // Starts a BGSAVE if it is due (a server without AOF only; skipped while one runs); the next one
  // is due an interval later.
  void MaybeCheckpoint(redis::Connection& c);
  // The server (re)started and answers: it holds the last checkpoint, so saving it again now is
  // no progress. The next checkpoint is due an interval from now, and with forced crashes at
  // most half a crash interval from now: every window between two crashes then saves what its
  // first half committed. (Due at once, as before, the checkpoint right after each restart
  // saved nothing new and put the next one an interval later, past the next crash when
  // CHECKPOINT_INTERVAL >= REDIS_RESTART_INTERVAL: the lab's 2 and 2 lost every window's work,
  // forever, for any job longer than one window.)
  void ServerStarted();
  // Saves synchronously and durably.
  void SaveNow(redis::Connection& c);
  // The commands the checkpoints and saves send to this server (INFO persistence, and BGSAVE and
  // SAVE, or BGREWRITEAOF with an AOF), for the check of what the ACL allows before a job begins
  // (JobStore::DeniedCommands). Reads INFO persistence: RedisPermissionError if INFO is denied.
  std::vector<redis::Args> Commands(redis::Connection& c) const;
  // Waits for a checkpoint still running and notes how it ended (a failed one is counted and
  // logged), without saving: the end of a job whose Redis is removed next.
  void NoteLastCheckpoint(redis::Connection& c);

  // The last checkpoint seen failed (and none succeeded since): a crash now would lose what the
  // one before it did not hold.
  bool last_failed() const { return last_status_ != "ok"; }
  // The job's progress (tasks and partitions done) as the coordinator just read it from the
  // server: a BGSAVE started from now on holds at least that much. The first reading after
  // ServerStarted is what the server had when it (re)started.
  void NoteProgress(int64_t done);
  // Some of the work done since the server (re)started is in a checkpoint that succeeded (or the
  // server keeps an AOF, which holds every write): a crash now cannot throw the whole window's
  // work away. Forced crashes wait for it, so that every window keeps some work (a job whose
  // commits all fell after each window's checkpoint redid the same tasks window after window).
  bool WindowSaved() const {
    return aof_ || (window_start_ >= 0 && saved_progress_ > window_start_);
  }
  // Why a save failed, for messages: its directory and the free space there.
  std::string Where() const;
  int checkpoints() const { return checkpoints_; }
  int failures() const { return failures_; }
  // The embedded Redis's directory (STATE_DIR/job-*), named with its free space when a save
  // fails; empty for an external Redis. With it, a SaveNow that Redis refuses (a full disk)
  // throws OutputError naming it (exit 6) instead of RedisReplyError.
  void SetDirectory(std::string dir) { dir_ = std::move(dir); }

 private:
  using Clock = std::chrono::steady_clock;
  // Waits (polling INFO persistence) until `idle(info)`, then runs `start(info)`; repeats while
  // start returns false. Throws a timeout RedisIoError after a minute.
  template <class Idle, class Start>
  void WaitThen(redis::Connection& c, const char* what, Idle idle, Start start);
  // Whether the server runs with its AOF on, from its INFO persistence (`kind_` if it does not
  // say).
  bool AofOn(const std::string& info) const;
  // Counts and logs a failed BGSAVE (once per failure); returns the status.
  std::string NoteBgsaveStatus(const std::string& info);

  job::Persistence kind_;
  std::chrono::milliseconds interval_, crash_interval_;
  Clock::time_point next_;

  std::string last_status_ = "ok";
  bool aof_ = false;             // the server keeps an AOF (INFO persistence said so)
  int64_t progress_ = 0;         // NoteProgress's last reading
  int64_t window_start_ = -1;    // the first reading since the server (re)started (-1: none)
  int64_t bgsave_progress_ = 0;  // progress_ when our pending BGSAVE started
  int64_t saved_progress_ = -1;  // what the last checkpoint that succeeded holds (-1: none)
  bool bgsave_pending_ = false;  // a BGSAVE of ours whose outcome was not noted yet
  std::string dir_;
  int checkpoints_ = 0, failures_ = 0;
};

}  // namespace wc::job

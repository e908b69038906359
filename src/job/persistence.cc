#include "job/persistence.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdint>
#include <thread>

#include "util/error.h"
#include "util/escape.h"
#include "util/log.h"

namespace wc::job {

using redis::Connection;
using redis::InfoField;

std::string Durability::Where() const {
  if (dir_.empty()) return "see the server's log";
  struct statvfs fs {};
  std::string free;
  if (::statvfs(dir_.c_str(), &fs) == 0)
    free =
        fmt::format(", {} KB free there", static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / 1024);
  return fmt::format("its directory {}{}; see redis.log there", EscapeForLog(dir_), free);
}

std::string Durability::NoteBgsaveStatus(const std::string& info) {
  std::string status = InfoField(info, "rdb_last_bgsave_status");
  const bool done = InfoField(info, "rdb_bgsave_in_progress") != "1";
  // Each BGSAVE of ours that failed counts once; a status seen without one (the first look, a
  // save someone else started) only when it changes.
  if (status != "ok" &&
      ((bgsave_pending_ && done) || (!bgsave_pending_ && status != last_status_))) {
    ++failures_;
    Log::Warn("checkpoint_failed", "rdb_last_bgsave_status={} where=\"{}\"", status, Where());
  }
  if (status == "ok" && bgsave_pending_ && done) saved_progress_ = bgsave_progress_;
  if (done) bgsave_pending_ = false;
  last_status_ = status;
  return status;
}

void Durability::NoteProgress(int64_t done) {
  progress_ = done;
  if (window_start_ < 0) window_start_ = done;
}

void Durability::ServerStarted() {
  window_start_ = -1;  // the next reading is the restarted server's
  auto first = interval_;
  if (crash_interval_.count() > 0) first = std::min(first, crash_interval_ / 2);
  next_ = Clock::now() + first;
}

bool Durability::AofOn(const std::string& info) const {
  std::string aof = InfoField(info, "aof_enabled");
  return aof.empty() ? kind_ == job::Persistence::kAof : aof == "1";
}

void Durability::MaybeCheckpoint(Connection& c) {
  if (Clock::now() < next_) return;
  next_ = Clock::now() + interval_;
  std::string info(c.Command({"INFO", "persistence"}).str());
  aof_ = AofOn(info);
  if (aof_) return;  // Redis fsyncs its AOF itself
  std::string status = NoteBgsaveStatus(info);
  if (InfoField(info, "rdb_bgsave_in_progress") == "1") return;  // still running: skip
  try {
    c.Command({"BGSAVE"});
    bgsave_pending_ = true;
    bgsave_progress_ = progress_;
    ++checkpoints_;
    Log::Event("checkpoint", "n={} previous_status={}", checkpoints_, status);
  } catch (const redis::RedisReplyError& e) {
    Log::Warn("checkpoint_skipped", "error=\"{}\"", e.what());
  }
}

void Durability::NoteLastCheckpoint(Connection& c) {
  if (AofOn(std::string(c.Command({"INFO", "persistence"}).str()))) return;
  WaitThen(
      c, "a background save",
      [](const std::string& info) { return InfoField(info, "rdb_bgsave_in_progress") != "1"; },
      [&](const std::string& info) {
        NoteBgsaveStatus(info);
        return true;
      });
}

template <class Idle, class Start>
void Durability::WaitThen(Connection& c, const char* what, Idle idle, Start start) {
  auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    std::string info(c.Command({"INFO", "persistence"}).str());
    if (idle(info) && start(info)) return;
    if (Clock::now() > deadline)
      throw redis::RedisIoError(std::string(what) + " never finished", true);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<redis::Args> Durability::Commands(Connection& c) const {
  if (AofOn(std::string(c.Command({"INFO", "persistence"}).str())))
    return {{"INFO", "persistence"}, {"BGREWRITEAOF"}};
  return {{"INFO", "persistence"}, {"BGSAVE"}, {"SAVE"}};
}

void Durability::SaveNow(Connection& c) {
  // What the server persists decides, not PERSISTENCE: an external Redis with its AOF off
  // restarts from its RDB only (a rewritten AOF would be ignored), and one with it on from its
  // AOF only (a SAVE would be ignored).
  if (AofOn(std::string(c.Command({"INFO", "persistence"}).str()))) {
    // A rewrite snapshots the data set when it starts. One already running started before
    // our last writes: wait for it, start ours, wait for ours.
    bool ours = false;
    WaitThen(
        c, "an AOF rewrite",
        [](const std::string& info) {
          return InfoField(info, "aof_rewrite_in_progress") == "0" &&
                 InfoField(info, "aof_rewrite_scheduled") == "0";
        },
        [&](const std::string& info) {
          if (ours) {
            if (InfoField(info, "aof_last_bgrewrite_status") != "ok")
              throw redis::RedisReplyError("ERR AOF rewrite failed");
            return true;
          }
          try {
            c.Command({"BGREWRITEAOF"});
            ours = true;
          } catch (const redis::RedisPermissionError&) {
            throw;  // the ACL refuses it: named by the connection (exit 7), not waited for
          } catch (const redis::RedisReplyError&) {
            // one started meanwhile: wait for it and try again
          }
          return false;
        });
    return;
  }
  // SAVE refuses to run beside a checkpoint's BGSAVE: wait for that one (and note how it
  // ended, as the next checkpoint would have), then save.
  WaitThen(
      c, "a background save",
      [](const std::string& info) { return InfoField(info, "rdb_bgsave_in_progress") != "1"; },
      [&](const std::string& info) {
        NoteBgsaveStatus(info);
        try {
          c.Command({"SAVE"});
          saved_progress_ = progress_;
          return true;
        } catch (const redis::RedisPermissionError&) {
          throw;  // the ACL refuses SAVE: named by the connection (exit 7), not a disk trouble
        } catch (const redis::RedisReplyError& e) {
          if (std::string_view(e.what()).find("in progress") != std::string_view::npos)
            return false;
          // Redis answers a failed SAVE with a bare "ERR" (its log says why: a full disk).
          const std::string why = fmt::format(
              "Redis could not save its data (SAVE answered \"{}\"): {}", e.what(), Where());
          if (!dir_.empty()) throw OutputError(dir_, why);
          throw redis::RedisReplyError(why);
        }
      });
}

}  // namespace wc::job

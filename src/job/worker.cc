#include "job/worker.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "count/count_task.h"
#include "count/word_table.h"
#include "csv/csv_scanner.h"
#include "job/redis_session.h"
#include "redis/functions.h"
#include "shuffle/spill.h"
#include "util/error.h"
#include "util/log.h"

namespace wc::job {

namespace {

// Peak resident memory of this process so far, in KiB.
long MaxRssKb() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

using redis::Args;
using redis::Connection;
using redis::Reply;
using Clock = std::chrono::steady_clock;

// Keeps the claims of the tasks this worker holds fresh: every claim_idle/3 it re-claims them
// for itself with XCLAIM ... JUSTID, which resets their idle time without counting a delivery.
// Only entries still pending for this consumer are touched, so a task stolen meanwhile is not
// taken back. Own connection (hiredis contexts are single-threaded); failures are ignored: a
// missed heartbeat at worst lets another worker count the task too, and the commit rule keeps
// that harmless.
class Heartbeat {
 public:
  explicit Heartbeat(const WorkerOptions& o) : o_(o), thread_([this] { Loop(); }) {}
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Set(std::vector<std::string> ids) {
    std::lock_guard<std::mutex> lock(mu_);
    ids_ = std::move(ids);
  }

 private:
  void Loop() {
    std::unique_ptr<Connection> conn;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait_for(lock, o_.claim_idle / 3, [this] { return stop_; });
      if (stop_) return;
      std::vector<std::string> ids = ids_;
      if (ids.empty()) continue;
      lock.unlock();
      try {
        if (!conn || conn->broken()) {
          redis::ConnectOptions co = o_.redis;
          co.command_timeout = std::chrono::milliseconds(2000);
          conn = std::make_unique<Connection>(co);
        }
        Reply mine =
            conn->Command({"XPENDING", o_.keys.stream, o_.keys.group, "-", "+", "10000", o_.name});
        std::set<std::string> held;
        for (size_t i = 0; i < mine.size(); ++i) held.emplace(mine[i][0].str());
        Args claim{"XCLAIM", o_.keys.stream, o_.keys.group, o_.name, "0"};
        for (auto& id : ids) {
          if (held.count(id)) claim.push_back(id);
        }
        claim.push_back("JUSTID");
        if (claim.size() > 6) conn->Command(claim);
      } catch (const std::exception&) {
        conn.reset();
      }
      lock.lock();
    }
  }

  const WorkerOptions& o_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::string> ids_;
  std::thread thread_;
};

// Tasks counted but not committed yet, and their combined counts.
struct Batch {
  std::vector<Task> tasks;
  WordTable table{1 << 14};
  bool empty() const { return tasks.empty(); }
  bool Holds(const std::string& id) const {
    return std::any_of(tasks.begin(), tasks.end(), [&](const Task& t) { return t.id == id; });
  }
  std::vector<std::string> Ids() const {
    std::vector<std::string> ids;
    for (const auto& t : tasks) ids.push_back(t.id);
    return ids;
  }
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& o) : o_(o), session_(o.redis, o.redis_retry), heartbeat_(o) {
    // After a reconnect, a delivery whose reply was lost may sit in our pending list: read our
    // own history again before asking for new entries.
    session_.OnReconnect([this] { read_history_ = true; });
  }

  int Run() {
    Log::Event("start", "crash={} slow={}", o_.crash, o_.slow);
    for (;;) {
      std::optional<Task> task = Next();
      if (!task) {
        if (!batch_.empty()) {
          Commit();
          continue;
        }
        if ((task = Steal())) {
          Log::Event("steal", "task={} path=\"{}\"", task->id, task->path);
        } else if (JobDone()) {
          Log::Event("exit",
                     "reason=done tasks={} commits={} duplicates={} failed={} max_rss_kb={}",
                     counted_, commits_, duplicates_, failed_, MaxRssKb());
          return kWorkerExitDone;
        } else {
          continue;
        }
      }
      Log::Event("claim", "task={} path=\"{}\" range={}-{}", task->id, task->path,
                 task->range.begin,
                 task->range.end == csv::ByteRange::kToEnd ? std::string("end")
                                                           : std::to_string(task->range.end));
      if (o_.crash) {
        Log::Event("exit", "reason=crash_point task={}", task->id);
        return kWorkerExitCrashed;
      }
      if (o_.slow) std::this_thread::sleep_for(std::chrono::seconds(1));
      Process(*task);
      if (batch_.tasks.size() >= o_.commit_max_tasks || batch_.table.size() >= o_.commit_max_words)
        Commit();
    }
  }

 private:
  // The next task from our own pending history (first) or a new entry; nullopt if none came
  // within the BLOCK time.
  std::optional<Task> Next() {
    if (read_history_) {
      read_history_ = false;
      Reply r = session_.Run([&](Connection& c) {
        return c.Command({"XREADGROUP", "GROUP", o_.keys.group, o_.name, "COUNT", "1000", "STREAMS",
                          o_.keys.stream, "0"});
      });
      for (Task& t : ParseEntries(r)) {
        bool queued = std::any_of(history_.begin(), history_.end(),
                                  [&](const Task& h) { return h.id == t.id; });
        if (!queued && !batch_.Holds(t.id)) history_.push_back(std::move(t));
      }
    }
    if (!history_.empty()) {
      Task t = std::move(history_.front());
      history_.pop_front();
      return t;
    }
    Reply r = session_.Run([&](Connection& c) {
      return c.Command({"XREADGROUP", "GROUP", o_.keys.group, o_.name, "COUNT", "1", "BLOCK",
                        std::to_string(o_.block.count()), "STREAMS", o_.keys.stream, ">"});
    });
    std::vector<Task> tasks = ParseEntries(r);
    if (tasks.empty()) return std::nullopt;
    return std::move(tasks.front());
  }

  // A task pending longer than claim_idle elsewhere, now ours; nullopt if there is none.
  std::optional<Task> Steal() {
    std::string cursor = "0-0";
    do {
      Reply r = session_.Run([&](Connection& c) {
        return c.Command({"XAUTOCLAIM", o_.keys.stream, o_.keys.group, o_.name,
                          std::to_string(o_.claim_idle.count()), cursor, "COUNT", "1"});
      });
      cursor = std::string(r[0].str());
      Reply entries = r[1];
      for (size_t i = 0; i < entries.size(); ++i) {
        std::optional<Task> t = ParseOrFail(entries[i]);
        if (t && !batch_.Holds(t->id)) return t;
      }
    } while (cursor != "0-0");
    return std::nullopt;
  }

  // Done: nothing pending, everything delivered and, in shuffle mode, the reduce phase over.
  // Between the phases a worker waits here (map tasks done, reduce tasks not added yet).
  bool JobDone() {
    return session_.Run([&](Connection& c) { return ReadProgress(c, o_.keys); }).done;
  }

  // A stream entry as a task; a malformed one (written by someone else) is recorded as failed.
  std::optional<Task> ParseOrFail(const Reply& entry) {
    try {
      return ParseTask(o_.keys, entry);
    } catch (const std::invalid_argument& e) {
      Fail(std::string(entry[0].str()), e.what());
      return std::nullopt;
    }
  }

  // The tasks of an XREADGROUP reply (nil when BLOCK timed out).
  std::vector<Task> ParseEntries(const Reply& r) {
    std::vector<Task> out;
    if (r.is_nil()) return out;
    for (size_t s = 0; s < r.size(); ++s) {
      Reply entries = r[s][1];
      for (size_t i = 0; i < entries.size(); ++i) {
        if (std::optional<Task> t = ParseOrFail(entries[i])) out.push_back(std::move(*t));
      }
    }
    return out;
  }

  void Process(const Task& t) {
    switch (t.kind) {
      case Task::Kind::kCount:
        return ProcessCount(t);
      case Task::Kind::kMap:
        return ProcessMap(t);
      case Task::Kind::kReduce:
        return ProcessReduce(t);
    }
  }

  // Runs work(path) on a task's input file, or records why it cannot be read: a path outside the
  // data root and a file that does not parse fail at once (the same bytes parse the same way
  // every time); other read errors leave the task pending until it was delivered
  // max_deliveries times.
  template <class F>
  void WithInput(const Task& t, F&& work) {
    std::string path;
    try {
      path = Resolve(t.path);
    } catch (const InputError& e) {
      FailTask(t, e.what());
      return;
    }
    try {
      work(path);
    } catch (const csv::CsvError& e) {
      FailTask(t, e.what());
    } catch (const InputError& e) {
      int deliveries = Deliveries(t.id);
      if (deliveries >= o_.max_deliveries) {
        FailTask(t, e.what());
      } else {
        Log::Warn("retry_later", "task={} deliveries={} error=\"{}\"", t.id, deliveries, e.what());
      }
    }
  }

  // Counts a task into the batch, or records why it cannot be counted. A batch never holds a
  // task twice (wc_commit_v1 rejects repeated ids).
  void ProcessCount(const Task& t) {
    if (batch_.Holds(t.id)) return;
    heartbeat_.Set([&] {
      auto ids = batch_.Ids();
      ids.push_back(t.id);
      return ids;
    }());
    WithInput(t, [&](const std::string& path) {
      TaskStats st = CountFileRangeOrNothing(path, t.range, batch_.table, o_.column);
      batch_.tasks.push_back(t);
      Log::Event("counted", "task={} path=\"{}\" bytes={} words={}", t.id, t.path, st.bytes,
                 st.words);
    });
    heartbeat_.Set(batch_.Ids());
  }

  std::string SpillDir(const Task& t) const { return o_.spill_root + "/" + t.spill; }

  // Statistics of one acknowledgement of a map or reduce task (for the exit line).
  void CountAck(bool accepted) {
    ++commits_;
    ++(accepted ? counted_ : duplicates_);
  }

  // Map task (shuffle mode): counts the input, writes the counts partitioned to the task's map
  // output file, then acknowledges the task. Writing is idempotent (the same input gives the same
  // file, renamed into place), so a task counted twice, or redone, changes nothing.
  void ProcessMap(const Task& t) {
    Commit();  // a direct-mode batch never mixes with shuffle tasks; commit it to be safe
    heartbeat_.Set({t.id});
    WithInput(t, [&](const std::string& path) {
      if (o_.spill_root.empty())
        throw InputError(t.path, 0, "map task but this worker has no --spill-dir: refused");
      WordTable table(1 << 14);
      TaskStats st = CountFileRangeOrNothing(path, t.range, table, o_.column);
      shuffle::SpillStats sp = shuffle::WriteMapOutput(SpillDir(t), t.map, t.parts, table);
      int64_t acked = session_.Run([&](Connection& c) {
        return redis::FCall(c, "wc_map_done_v1", o_.keys.FunctionKeys(),
                            {o_.keys.group, t.id, std::to_string(t.map)})
            .integer();
      });
      CountAck(acked == 1);
      Log::Event("map", "task={} map={} bytes={} words={} distinct={} spill_bytes={} result={}",
                 t.id, t.map, st.bytes, st.words, sp.words, sp.bytes,
                 acked == 1 ? "accepted" : "duplicate");
    });
    heartbeat_.Set({});
  }

  // Reduce task (shuffle mode): merges partition `part` of every map output and writes each
  // word's total into COUNT with ZADD (absolute values: a reduce done twice writes the same
  // values), then acknowledges the task. A missing or corrupt map output sends its map task
  // back to be redone (wc_redo_maps_v1) and this reduce task with it.
  void ProcessReduce(const Task& t) {
    Commit();
    if (o_.spill_root.empty()) return Fail(t.id, "reduce task but this worker has no --spill-dir");
    heartbeat_.Set({t.id});
    const std::string dir = SpillDir(t);
    const auto t0 = Clock::now();
    WordTable table(1 << 16);
    std::vector<std::pair<uint32_t, std::string>> lost;  // (map, why)
    uint64_t records = 0;
    for (uint32_t m = 0; m < t.maps; ++m) {
      try {
        PrefetchingAdder adder(table, 1);  // holds pending words by value
        records += shuffle::ReadPartition(
            shuffle::MapOutputPath(dir, m), m, t.parts, t.part,
            [&](std::string_view w, uint64_t c) { adder.Add(w.data(), w.size(), c); });
      } catch (const shuffle::SpillError& e) {
        lost.emplace_back(m, e.what());
      }
    }
    if (!lost.empty() && !SendBackLost(t, lost)) {
      heartbeat_.Set({});
      return;
    }
    // Members sorted by (score, member): the order Redis inserts them fastest.
    std::vector<std::pair<uint64_t, std::string_view>> wc;
    wc.reserve(table.size());
    table.ForEach([&](std::string_view w, uint64_t c) { wc.emplace_back(c, w); });
    std::sort(wc.begin(), wc.end());
    const auto t1 = Clock::now();
    // One attempt = every ZADD and then the acknowledgement, in order, on one connection. If the
    // connection breaks, the whole attempt is repeated: Redis may have restarted from a
    // checkpoint without some of the ZADDs, and the acknowledgement must never land without
    // them (a checkpoint holding it holds everything sent before it on the same connection).
    int64_t acked = session_.Run([&](Connection& c) {
      constexpr size_t kMembers = 1000, kWindow = 16;
      size_t sent = 0, answered = 0;
      auto read_one = [&] {
        std::string err;
        if (Connection::IsError(c.GetReply(), &err)) throw redis::RedisReplyError(err);
        ++answered;
      };
      for (size_t lo = 0; lo < wc.size(); lo += kMembers) {
        size_t hi = std::min(wc.size(), lo + kMembers);
        Args z{"ZADD", o_.keys.counts};
        z.reserve(2 + 2 * (hi - lo));
        for (size_t k = lo; k < hi; ++k) {
          z.push_back(std::to_string(wc[k].first));
          z.emplace_back(wc[k].second);
        }
        c.Append(z);
        if (++sent - answered > kWindow) read_one();
      }
      while (answered < sent) read_one();
      return redis::FCall(c, "wc_commit_v1", {o_.keys.stream, o_.keys.counts},
                          {o_.keys.group, "1", t.id})[0]
          .integer();
    });
    CountAck(acked == 1);
    auto ms = [](Clock::duration d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    Log::Event("reduce",
               "task={} part={} maps={} records={} words={} skipped_maps={} merge_ms={} "
               "write_ms={} result={}",
               t.id, t.part, t.maps, records, wc.size(), lost.size(), ms(t1 - t0),
               ms(Clock::now() - t1), acked == 1 ? "accepted" : "duplicate");
    heartbeat_.Set({});
  }

  // Reports lost map outputs. Returns true if the reduce goes on without them (their map tasks
  // failed for good and have no output), false if it was sent back to wait for them.
  bool SendBackLost(const Task& t, const std::vector<std::pair<uint32_t, std::string>>& lost) {
    Args args{o_.keys.group, t.id, std::to_string(t.part), std::to_string(o_.max_deliveries)};
    for (const auto& [m, why] : lost) {
      args.push_back(std::to_string(m));
      args.push_back(why);
    }
    int64_t r = session_.Run([&](Connection& c) {
      return redis::FCall(c, "wc_redo_maps_v1", o_.keys.FunctionKeys(), args).integer();
    });
    Log::Warn("map_output_lost", "task={} part={} lost={} first=\"{}\" result={}", t.id, t.part,
              lost.size(), lost.front().second,
              r == 2   ? "failed_maps_skipped"
              : r == 1 ? "sent_back"
                       : "not_pending");
    return r == 2;
  }

  // The canonical path of a task's file, if it lies under the data root.
  std::string Resolve(const std::string& p) {
    std::error_code ec;
    std::filesystem::path canon = std::filesystem::weakly_canonical(p, ec);
    if (ec) throw InputError(p, 0, "cannot resolve path: " + ec.message());
    std::string root = o_.data_root;
    if (root.empty() || root.back() != '/') root += '/';
    std::string s = canon.string();
    if (s.rfind(root, 0) != 0)
      throw InputError(p, 0, "outside the job's data root " + o_.data_root + ": refused");
    return s;
  }

  int Deliveries(const std::string& id) {
    Reply r = session_.Run([&](Connection& c) {
      return c.Command({"XPENDING", o_.keys.stream, o_.keys.group, id, id, "1"});
    });
    return r.size() == 0 ? 0 : static_cast<int>(r[0][3].integer());
  }

  // Records that a task cannot be done (map tasks through wc_map_fail_v1, so that reducers go
  // on without their output).
  void FailTask(const Task& t, const std::string& message) {
    if (t.kind != Task::Kind::kMap) return Fail(t.id, message);
    int64_t acked = session_.Run([&](Connection& c) {
      return redis::FCall(c, "wc_map_fail_v1", o_.keys.FunctionKeys(),
                          {o_.keys.group, t.id, std::to_string(t.map), message})
          .integer();
    });
    if (acked == 1) ++failed_;
    Log::Warn("task_failed", "task={} map={} recorded={} error=\"{}\"", t.id, t.map, acked == 1,
              message);
  }

  void Fail(const std::string& id, const std::string& message) {
    int64_t acked = session_.Run([&](Connection& c) {
      return redis::FCall(c, "wc_fail_v1", {o_.keys.stream, o_.keys.failed()},
                          {o_.keys.group, id, message})
          .integer();
    });
    if (acked == 1) ++failed_;
    Log::Warn("task_failed", "task={} recorded={} error=\"{}\"", id, acked == 1, message);
  }

  // Commits the batch. If another worker committed one of its tasks first, the batch is stale:
  // its tasks are counted and committed again one by one, and each commit of an already
  // committed task changes nothing.
  void Commit() {
    if (batch_.empty()) return;
    Args args = CommitArgs(batch_);
    Reply r = session_.Run([&](Connection& c) {
      return redis::FCall(c, "wc_commit_v1", {o_.keys.stream, o_.keys.counts}, args);
    });
    ++commits_;
    std::vector<Task> tasks = std::move(batch_.tasks);
    batch_ = Batch{};
    heartbeat_.Set({});
    if (r[0].integer() == 1) {
      counted_ += tasks.size();
      Log::Event("commit", "tasks={} words={} result=accepted", tasks.size(), r[1].integer());
      return;
    }
    if (tasks.size() == 1) {
      ++duplicates_;
      Log::Event("commit", "task={} result=duplicate", tasks[0].id);
      return;
    }
    Log::Event("commit", "tasks={} result=stale first_committed_elsewhere={}", tasks.size(),
               r[1].str());
    for (const Task& t : tasks) {
      Process(t);
      if (!batch_.empty()) Commit();
    }
  }

  // FCALL arguments: group, n, ids, then (word, count) pairs sorted by (count, word), the order
  // in which Redis inserts new sorted-set members fastest.
  Args CommitArgs(const Batch& b) {
    std::vector<std::pair<uint64_t, std::string_view>> wc;
    wc.reserve(b.table.size());
    b.table.ForEach([&](std::string_view w, uint64_t c) { wc.emplace_back(c, w); });
    std::sort(wc.begin(), wc.end());
    Args args{o_.keys.group, std::to_string(b.tasks.size())};
    args.reserve(2 + b.tasks.size() + 2 * wc.size());
    for (const Task& t : b.tasks) args.push_back(t.id);
    for (const auto& [c, w] : wc) {
      args.emplace_back(w);
      args.push_back(std::to_string(c));
    }
    return args;
  }

  const WorkerOptions& o_;
  RedisSession session_;
  Heartbeat heartbeat_;
  Batch batch_;
  std::deque<Task> history_;
  bool read_history_ = true;
  uint64_t counted_ = 0, commits_ = 0, duplicates_ = 0, failed_ = 0;
};

}  // namespace

int RunWorker(const WorkerOptions& options) {
  try {
    return Worker(options).Run();
  } catch (const RedisUnavailable& e) {
    Log::Error("exit", "reason=redis_unavailable error=\"{}\"", e.what());
    return kWorkerExitRedis;
  } catch (const redis::RedisError& e) {
    Log::Error("exit", "reason=redis_error error=\"{}\"", e.what());
    return kWorkerExitRedis;
  }
}

}  // namespace wc::job

#include "job/worker.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "count/count_task.h"
#include "count/word_table.h"
#include "csv/csv_scanner.h"
#include "job/job_store.h"
#include "job/redis_session.h"
#include "shuffle/mapper.h"
#include "shuffle/reducer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/paths.h"

namespace wc::job {

namespace {

// Peak resident memory of this process so far, in KiB.
long MaxRssKb() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

using redis::Connection;
using Clock = std::chrono::steady_clock;

// Keeps the claims of the tasks this worker holds fresh: every claim_idle/3 it re-claims them
// for itself with XCLAIM ... JUSTID, which resets their idle time without counting a delivery.
// Only entries still pending for this consumer are touched, so a task stolen meanwhile is not
// taken back. Own connection (hiredis contexts are single-threaded); failures are ignored: a
// missed heartbeat at worst lets another worker count the task too, and the commit rule keeps
// that harmless.
class Heartbeat {
 public:
  Heartbeat(const WorkerOptions& o, const JobStore& store)
      : o_(o), store_(store), thread_([this] { Loop(); }) {}
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
        store_.Touch(*conn, o_.name, ids);
      } catch (const std::exception&) {
        conn.reset();
      }
      lock.lock();
    }
  }

  const WorkerOptions& o_;
  JobStore store_;  // a copy: immutable, no shared state with the worker thread
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
  explicit Worker(const WorkerOptions& o)
      : o_(o),
        store_(o.keys),
        session_(SessionOptions{.redis = o.redis,
                                .retry_for = o.redis_retry,
                                .retry_missing_job = true,
                                // After a reconnect, a delivery whose reply was lost may sit in
                                // our pending list: read our own history again first.
                                .on_reconnect = [this] { read_history_ = true; }}),
        heartbeat_(o, store_) {}

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
  // Valid tasks of `e`; malformed entries (written by someone else) are recorded as failed.
  std::vector<Task> Valid(Entries e) {
    for (const auto& [id, why] : e.malformed) {
      Task t;
      t.id = id;
      Fail(t, why);
    }
    return std::move(e.tasks);
  }

  // The next task from our own pending history (first) or a new entry; nullopt if none came
  // within the BLOCK time.
  std::optional<Task> Next() {
    if (read_history_) {
      read_history_ = false;
      for (Task& t :
           Valid(session_.Run([&](Connection& c) { return store_.ReadHistory(c, o_.name); }))) {
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
    std::vector<Task> tasks = Valid(
        session_.Run([&](Connection& c) { return store_.ReadNew(c, o_.name, o_.block.count()); }));
    if (tasks.empty()) return std::nullopt;
    return std::move(tasks.front());
  }

  // A task pending longer than claim_idle elsewhere, now ours; nullopt if there is none.
  std::optional<Task> Steal() {
    std::string cursor = "0-0";
    do {
      std::vector<Task> tasks = Valid(session_.Run([&](Connection& c) {
        return store_.Steal(c, o_.name, o_.claim_idle.count(), 1, &cursor);
      }));
      for (Task& t : tasks) {
        if (!batch_.Holds(t.id)) return std::move(t);
      }
    } while (cursor != "0-0");
    return std::nullopt;
  }

  // Done: nothing pending, everything delivered and, in shuffle mode, the reduce phase over.
  // Between the phases a worker waits here (map tasks done, reduce tasks not added yet).
  bool JobDone() {
    return session_.Run([&](Connection& c) { return store_.ReadProgress(c); }).done;
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
      Fail(t, e.what());
      return;
    }
    try {
      work(path);
    } catch (const csv::CsvError& e) {
      Fail(t, e.what());
    } catch (const InputError& e) {
      int deliveries = session_.Run([&](Connection& c) { return store_.Deliveries(c, t.id); });
      if (deliveries >= o_.max_deliveries) {
        Fail(t, e.what());
      } else {
        Log::Warn("retry_later", "task={} deliveries={} error=\"{}\"", t.id, deliveries, e.what());
      }
    }
  }

  // Counts a task into the batch, or records why it cannot be counted. A batch never holds a
  // task twice (the commit function rejects repeated ids).
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
  // output file, then acknowledges the task.
  void ProcessMap(const Task& t) {
    heartbeat_.Set({t.id});
    WithInput(t, [&](const std::string& path) {
      if (o_.spill_root.empty())
        throw InputError(t.path, 0, "map task but this worker has no --spill-dir: refused");
      shuffle::MapStats st = shuffle::RunMap(path, t.range, o_.column, SpillDir(t), t.map, t.parts);
      bool acked = session_.Run([&](Connection& c) { return store_.MapDone(c, t); });
      CountAck(acked);
      Log::Event("map", "task={} map={} bytes={} words={} distinct={} spill_bytes={} result={}",
                 t.id, t.map, st.input.bytes, st.input.words, st.output.words, st.output.bytes,
                 acked ? "accepted" : "duplicate");
    });
    heartbeat_.Set({});
  }

  // Reduce task (shuffle mode): merges partition `part` of every map output and writes each
  // word's total into COUNT (absolute values: a reduce done twice writes the same values), then
  // acknowledges the task. A missing or corrupt map output sends its map task back to be redone
  // and this reduce task with it.
  void ProcessReduce(const Task& t) {
    if (o_.spill_root.empty()) return Fail(t, "reduce task but this worker has no --spill-dir");
    heartbeat_.Set({t.id});
    const auto t0 = Clock::now();
    shuffle::Partition p = shuffle::MergePartition(SpillDir(t), t.maps, t.parts, t.part);
    if (!p.lost.empty() && !SendBackLost(t, p.lost)) {
      heartbeat_.Set({});
      return;
    }
    auto sorted = shuffle::SortedByCount(p.totals);
    const auto t1 = Clock::now();
    // One attempt = every write and then the acknowledgement, in order, on one connection. If
    // the connection breaks, the whole attempt is repeated: Redis may have restarted from a
    // checkpoint without some of the writes, and the acknowledgement must never land without
    // them.
    bool acked = session_.Run([&](Connection& c) { return store_.Publish(c, t, sorted); });
    CountAck(acked);
    auto ms = [](Clock::duration d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    Log::Event("reduce",
               "task={} part={} maps={} records={} words={} skipped_maps={} merge_ms={} "
               "write_ms={} result={}",
               t.id, t.part, t.maps, p.records, sorted.size(), p.lost.size(), ms(t1 - t0),
               ms(Clock::now() - t1), acked ? "accepted" : "duplicate");
    heartbeat_.Set({});
  }

  // Reports lost map outputs. Returns true if the reduce goes on without them (their map tasks
  // failed for good and have no output), false if it was sent back to wait for them.
  bool SendBackLost(const Task& t, const std::vector<std::pair<uint32_t, std::string>>& lost) {
    JobStore::RedoResult r =
        session_.Run([&](Connection& c) { return store_.RedoMaps(c, t, lost, o_.max_deliveries); });
    using R = JobStore::RedoResult;
    Log::Warn("map_output_lost", "task={} part={} lost={} first=\"{}\" result={}", t.id, t.part,
              lost.size(), lost.front().second,
              r == R::kFailedMapsSkipped ? "failed_maps_skipped"
              : r == R::kSentBack        ? "sent_back"
                                         : "not_pending");
    return r == R::kFailedMapsSkipped;
  }

  // The canonical path of a task's file, if it lies under the data root.
  std::string Resolve(const std::string& p) {
    std::error_code ec;
    std::filesystem::path canon = std::filesystem::weakly_canonical(p, ec);
    if (ec) throw InputError(p, 0, "cannot resolve path: " + ec.message());
    if (!IsUnder(canon.string(), o_.data_root))
      throw InputError(p, 0, "outside the job's data root " + o_.data_root + ": refused");
    return canon.string();
  }

  // Records that a task cannot be done (a map task's record lets reducers go on without it).
  void Fail(const Task& t, const std::string& message) {
    bool recorded = session_.Run([&](Connection& c) { return store_.Fail(c, t, message); });
    if (recorded) ++failed_;
    Log::Warn("task_failed", "task={} recorded={} error=\"{}\"", t.id, recorded, message);
  }

  // Commits the batch. If another worker committed one of its tasks first, the batch is stale:
  // its tasks are counted and committed again one by one, and each commit of an already
  // committed task changes nothing.
  void Commit() {
    if (batch_.empty()) return;
    std::vector<std::string> ids = batch_.Ids();
    JobStore::CommitResult r =
        session_.Run([&](Connection& c) { return store_.Commit(c, ids, batch_.table); });
    ++commits_;
    std::vector<Task> tasks = std::move(batch_.tasks);
    batch_ = Batch{};
    heartbeat_.Set({});
    if (r.accepted) {
      counted_ += tasks.size();
      Log::Event("commit", "tasks={} words={} result=accepted", tasks.size(), r.words);
      return;
    }
    if (tasks.size() == 1) {
      ++duplicates_;
      Log::Event("commit", "task={} result=duplicate", tasks[0].id);
      return;
    }
    Log::Event("commit", "tasks={} result=stale first_committed_elsewhere={}", tasks.size(),
               r.stale_entry);
    for (const Task& t : tasks) {
      Process(t);
      if (!batch_.empty()) Commit();
    }
  }

  const WorkerOptions& o_;
  JobStore store_;
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

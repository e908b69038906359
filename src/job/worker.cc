#include "job/worker.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
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
#include "job/spill_area.h"
#include "redis/functions.h"
#include "shuffle/mapper.h"
#include "shuffle/reducer.h"
#include "shuffle/run.h"
#include "util/error.h"
#include "util/log.h"
#include "util/safe_files.h"

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
  explicit Heartbeat(const WorkerOptions& o) : o_(o), thread_([this] { Loop(); }) {}
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The job's keys (at every join), then the entries held.
  void SetKeys(const JobKeys& keys) {
    std::lock_guard<std::mutex> lock(mu_);
    store_ = JobStore(keys);
    ids_.clear();
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
      JobStore store = store_;
      if (ids.empty()) continue;
      lock.unlock();
      try {
        if (!conn || conn->broken()) {
          redis::ConnectOptions co = o_.redis;
          co.command_timeout = std::chrono::milliseconds(2000);
          conn = std::make_unique<Connection>(redis::ConnectTo(co, o_.sentinel));
        }
        store.Touch(*conn, o_.name, ids);
      } catch (const std::exception&) {
        conn.reset();
      }
      lock.lock();
    }
  }

  const WorkerOptions& o_;
  std::mutex mu_;
  JobStore store_{JobKeys{}};  // guarded by mu_
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
  bool Holds(const std::string& entry) const {
    return std::any_of(tasks.begin(), tasks.end(), [&](const Task& t) { return t.entry == entry; });
  }
  std::vector<std::string> Entries() const {
    std::vector<std::string> ids;
    for (const auto& t : tasks) ids.push_back(t.entry);
    return ids;
  }
};

// Thrown inside Serve when a function refused a write because the job the worker serves is no
// longer the current one (STALEJOB) or has moved on (BADSTATE, e.g. it is done): the batch is
// dropped, nothing of it was written, and the worker looks at the job again.
struct JobChanged {};
// The deliberate crash point (--crash): ends the worker with kWorkerExitCrashed.
struct CrashPoint {};

class Worker {
 public:
  explicit Worker(const WorkerOptions& o)
      : o_(o),
        session_(SessionOptions{.redis = o.redis,
                                .sentinel = o.sentinel,
                                .retry_for = o.redis_retry,
                                .retry_missing_job = true,
                                // After a reconnect, a delivery whose reply was lost may sit in
                                // our pending list: read our own history again first.
                                .on_reconnect = [this] { read_history_ = true; },
                                // Every reconnection runs this build's functions: a Redis
                                // restarted from another build's RDB is given them again
                                // (held-out pass 16: its commit was called, exit 0, wrong).
                                // Not the first connection (the coordinator checked the library
                                // when the job began): FUNCTION LIST WITHCODE sends ~45 KB, which
                                // a worker joining over a slow link would wait for.
                                .on_connect =
                                    [this](Connection& c) {
                                      if (std::exchange(connected_once_, true))
                                        redis::EnsureLibrary(c);
                                    }}),
        heartbeat_(o) {}

  int Run() {
    Log::Event("start", "crash={} slow={} job={}", o_.crash, o_.slow,
               o_.job.empty() ? std::string("any") : o_.job);
    std::string last_served;
    for (;;) {
      std::optional<int> rc = Join(last_served);
      if (rc) return *rc;
      std::string outcome = Serve();
      // A job whose COUNT another job took over stays active in Redis but can never write its
      // result: it is not joined again. Any other job that is active again is: only a Redis rolled
      // back to before its end makes it so (and its coordinator resumes it, or makes it again
      // under the same id; CI, held-out pass 16's test: a --keep-going worker that had seen the
      // earlier job in its place never rejoined, and the job waited for workers for ever).
      last_served = outcome == "count_taken" ? job_.id : std::string();
      if (outcome == "rolled_back") {
        Log::Warn(
            "job_rolled_back",
            "job={} error=\"Redis holds no job or an earlier, ended one (restored from a "
            "checkpoint from before this job): waiting for its coordinator to make it again\"",
            job_.id);
        continue;
      }
      if (outcome == "done" && !o_.keep_going) return Exit("done", kWorkerExitDone);
      if (outcome == "failed" && !o_.keep_going) return Exit("job_failed", kWorkerExitNoJob);
      if (outcome == "replaced" && !o_.job.empty()) return Exit("job_replaced", kWorkerExitNoJob);
      // Replaced by a job that is over already (held-out pass 14: the worker then waited
      // --wait-seconds for another and said no_job): its job ended, as with --job. One that
      // runs is joined.
      if (outcome == "replaced" && !o_.keep_going) {
        JobStore probe(JobKeys{.stream = o_.stream});
        if (!session_.Run([&](Connection& c) { return probe.State(c); }).active())
          return Exit("job_replaced", kWorkerExitNoJob);
      }
      if (outcome == "count_taken" && !o_.keep_going) return Exit("count_taken", kWorkerExitNoJob);
    }
  }

 private:
  // The `exit` line; one for a job that did not end done (replaced, failed, COUNT taken) is a
  // warning, so that a worker run by hand without --logfile says why on stderr (held-out pass
  // 19: exit 5 in silence), as no_job does.
  int Exit(const char* reason, int rc) {
    const LogLevel level = rc == kWorkerExitDone ? LogLevel::kInfo : LogLevel::kWarn;
    Log::Write(level, "exit",
               fmt::format("reason={} tasks={} commits={} duplicates={} failed={} foreign={} "
                           "max_rss_kb={}",
                           reason, counted_, commits_, duplicates_, failed_, foreign_, MaxRssKb()));
    return rc;
  }

  // Waits for a job to serve (an active job other than `last_served`; with --job, that one) and
  // joins it: its settings, keys and plan come from Redis. Returns an exit code if there is
  // none to serve.
  std::optional<int> Join(const std::string& last_served) {
    const auto deadline = Clock::now() + o_.wait;
    bool said = false;
    for (;;) {
      JobStore probe(JobKeys{.stream = o_.stream});
      JobState s = session_.Run([&](Connection& c) { return probe.State(c); });
      bool mine = o_.job.empty() || s.id() == o_.job;
      if (!o_.job.empty() && s.id() == o_.job && !s.active() && s.state() != "creating")
        return Exit(s.done() ? "done" : "job_ended", s.done() ? kWorkerExitDone : kWorkerExitNoJob);
      // (Not a job that lost its entries or plan: its coordinator makes it again, and a plan
      // read now would be incomplete: held-out pass 26 failed every task as the file "".)
      if (s.active() && mine && s.id() != last_served && s.entries_lost().empty()) {
        job_ = s.View();
        if (job_.mode == Mode::kShuffle && o_.spill_root.empty()) {
          Log::Error("exit",
                     "reason=usage error=\"job {} is a shuffle job: this worker needs "
                     "--spill-dir (the SPILL_DIR every host shares)\"",
                     job_.id);
          return kWorkerExitUsage;
        }
        if (job_.mode == Mode::kShuffle) {
          // The coordinator makes the job's directory in SPILL_DIR before the job starts: a
          // --spill-dir without it is not the SPILL_DIR the hosts share (a short grace for a job
          // being created right now).
          std::string trouble = SpillDirTrouble();
          for (auto until = Clock::now() + std::chrono::seconds(2);
               !trouble.empty() && Clock::now() < until; trouble = SpillDirTrouble())
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          if (!trouble.empty()) {
            // The job may have ended meanwhile (its directory removed with it): look again.
            JobState now = session_.Run([&](Connection& c) { return probe.State(c); });
            if (now.id() != s.id() || !now.active()) continue;
            Log::Error("exit", "reason=output_error error=\"{}\"", trouble);
            return kWorkerExitOutput;
          }
          if (std::string unsafe = SpillDirUnsafe(); !unsafe.empty()) {
            Log::Error("exit", "reason=usage error=\"{}\"", unsafe);
            return kWorkerExitUsage;
          }
        }
        store_.emplace(JobKeys{.stream = o_.stream,
                               .counts = s.Get("count_key").empty() ? "count" : s.Get("count_key"),
                               .fname = s.Get("fname"),
                               .group = s.Get("group")});
        heartbeat_.SetKeys(store_->keys());
        plan_ = session_.Run([&](Connection& c) { return store_->ReadPlan(c, job_.tasks); });
        // Its log file must not be one of the job's inputs (held-out pass 21: `--logfile
        // data/x.csv` appended the worker's lines to that input). Held until now (main): nothing
        // was written into it yet.
        try {
          std::vector<std::string> inputs;
          for (const PlannedTask& t : plan_)
            if (inputs.empty() || inputs.back() != t.path) inputs.push_back(t.path);
          if (!o_.logfile.empty())
            RefuseInputAsOutput(o_.logfile, inputs, "--logfile",
                                "log lines would be written into it");
        } catch (const UsageError& e) {
          Log::Drop();
          Log::Error("exit", "reason=usage error=\"{} (job {})\"", e.what(), job_.id);
          return kWorkerExitUsage;
        }
        Log::Release();
        read_history_ = true;
        history_.clear();
        batch_ = Batch{};
        finished_job_ = false;
        Log::Event("join", "job={} mode={} tasks={} parts={}", job_.id, ToString(job_.mode),
                   job_.tasks, job_.parts);
        return std::nullopt;
      }
      if (Clock::now() >= deadline) {
        Log::Warn("exit", "reason=no_job waited_s={:.0f} stream={}",
                  std::chrono::duration<double>(o_.wait).count(), o_.stream);
        return kWorkerExitNoJob;
      }
      if (!said) {
        Log::Event("waiting", "stream={} state={}", o_.stream, s.state());
        said = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Serves the joined job until it is done ("done"), failed ("failed"), no longer the current
  // job ("replaced", "rolled_back", "count_taken": JobEnd), or refused a write for its phase
  // ("rejoin").
  std::string Serve() {
    try {
      for (;;) {
        // A call of ours finished the job: no need to wait for the next poll to see it.
        if (finished_job_ && batch_.empty()) return "done";
        std::optional<Task> task = Next();
        if (!task) {
          if (!batch_.empty()) {
            Commit();
            continue;
          }
          if ((task = Steal())) {
            Log::Event("steal", "task={} n={} path=\"{}\"", task->entry, task->n, task->path);
          } else if (std::string end = JobEnd(); !end.empty()) {
            return end;
          } else {
            continue;
          }
        }
        Log::Event("claim", "task={} n={} path=\"{}\" range={}-{}", task->entry, task->n,
                   task->path, task->range.begin,
                   task->range.end == csv::ByteRange::kToEnd ? std::string("end")
                                                             : std::to_string(task->range.end));
        if (o_.crash) {
          Log::Event("exit", "reason=crash_point task={}", task->entry);
          throw CrashPoint{};  // the lab's sys.exit() right after reading a task
        }
        if (o_.slow) std::this_thread::sleep_for(std::chrono::seconds(1));
        Process(*task);
        if (batch_.tasks.size() >= o_.commit_max_tasks ||
            batch_.table.size() >= o_.commit_max_words)
          Commit();
      }
    } catch (const JobChanged&) {
      heartbeat_.Set({});
      batch_ = Batch{};
      std::string end = JobEnd();
      if (end.empty()) end = "rejoin";  // still running: it changed phase under us
      Log::Event("job_changed", "job={} now={}", job_.id, end);
      return end;
    }
  }

  // Runs f on the session; a STALEJOB answer (the job is no longer the current one) becomes
  // JobChanged.
  template <class F>
  auto Redis(F&& f) -> decltype(f(std::declval<Connection&>())) {
    try {
      return session_.Run(std::forward<F>(f));
    } catch (const redis::RedisReplyError& e) {
      // STALEJOB: another job holds the keys now; BADSTATE: the job moved on (e.g. a late
      // acknowledgement after it is done). Nothing was written either way.
      if (e.prefix() == "STALEJOB" || e.prefix() == "BADSTATE") {
        Log::Event("late", "job={} result=stale error=\"{}\"", job_.id, e.what());
        throw JobChanged{};
      }
      throw;
    }
  }

  // Valid tasks of `e`; entries that are no task of the job are acknowledged as foreign.
  std::vector<Task> Valid(JobStore::Entries e) {
    for (const Foreign& f : e.foreign) {
      bool marked = Redis([&](Connection& c) { return store_->MarkForeign(c, job_.id, f); });
      if (marked) ++foreign_;
      Log::Warn("foreign_entry", "entry={} marked={} why=\"{}\"", f.entry, marked, f.why);
    }
    return std::move(e.tasks);
  }

  // The next task from our own pending history (first) or a new entry; nullopt if none came
  // within the BLOCK time.
  std::optional<Task> Next() {
    if (read_history_) {
      read_history_ = false;
      for (Task& t : Valid(Redis(
               [&](Connection& c) { return store_->ReadHistory(c, o_.name, job_, plan_); }))) {
        bool queued = std::any_of(history_.begin(), history_.end(),
                                  [&](const Task& h) { return h.entry == t.entry; });
        if (!queued && !batch_.Holds(t.entry)) history_.push_back(std::move(t));
      }
    }
    while (!history_.empty()) {
      Task t = std::move(history_.front());
      history_.pop_front();
      if (!AckedAsFinished(t)) return t;
    }
    std::vector<Task> tasks = Valid(Redis(
        [&](Connection& c) { return store_->ReadNew(c, o_.name, o_.block.count(), job_, plan_); }));
    if (tasks.empty()) return std::nullopt;
    return std::move(tasks.front());
  }

  // A task pending longer than claim_idle elsewhere, now ours; nullopt if there is none.
  std::optional<Task> Steal() {
    std::string cursor = "0-0";
    do {
      std::vector<Task> tasks = Valid(Redis([&](Connection& c) {
        return store_->Steal(c, o_.name, o_.claim_idle.count(), 16, &cursor, job_, plan_);
      }));
      std::optional<Task> first;
      for (Task& t : tasks) {
        if (batch_.Holds(t.entry)) continue;
        if (!first) {
          if (AckedAsFinished(t)) continue;
          first = std::move(t);
        } else {
          history_.push_back(std::move(t));  // stolen in one batch, served next
        }
      }
      if (first) return first;
    } while (cursor != "0-0");
    return std::nullopt;
  }

  // A stolen (or re-read) task that is already finished - another entry of it was committed -
  // is acknowledged as a duplicate instead of being counted again from its file. An entry of the
  // same task in the batch is committed first, so that its done bit can say so.
  bool AckedAsFinished(const Task& t) {
    if (t.kind == Task::Kind::kReduce) return false;
    if (std::any_of(batch_.tasks.begin(), batch_.tasks.end(),
                    [&](const Task& b) { return b.n == t.n; }))
      Commit();
    if (!Redis([&](Connection& c) { return store_->AckIfFinished(c, job_.id, t); })) return false;
    CountAck(false);
    Log::Event("skip", "task={} n={} result=duplicate why=finished", t.entry, t.n);
    return true;
  }

  // "" while the job runs; "done", "failed", "replaced", "rolled_back" or "count_taken" once it
  // does not (count_taken: another stream's job took its COUNT over; rolled_back: Redis holds no
  // job, or an earlier one that had ended, with an older epoch than ours: a checkpoint from before
  // this job, which its coordinator makes again). Between the phases of a shuffle job a worker
  // waits here (every map acknowledged, reduces not yet delivered).
  std::string JobEnd() {
    JobState s = session_.Run([&](Connection& c) { return store_->State(c); });
    if (s.id() != job_.id) {
      const bool ended = s.done() || s.state() == "failed";
      if (s.state() == "none" || (ended && s.Int("epoch") < job_.epoch)) return "rolled_back";
      return "replaced";
    }
    if (s.done()) return "done";
    if (s.state() == "failed") return "failed";
    // COUNT taken over by a job of another stream (mylib.lua need_count): this job can never
    // write its result again.
    if (!s.Get("count_taken_by").empty()) return "count_taken";
    return "";
  }

  void Process(const Task& t) {
    switch (t.kind) {
      case Task::Kind::kCount:
        return ProcessCount(t);
      case Task::Kind::kMap:
        return ProcessMap(t);
      case Task::Kind::kReduce:
        return ProcessReduce(t);
      case Task::Kind::kPublish:
        return ProcessPublish(t);
    }
  }

  // Runs work(path) on a task's input file (the path the plan names: only the coordinator
  // writes the plan), or records why it cannot be read: a file that does not parse, or that is
  // not the file the job was planned from (another stamp: size, mtime, ctime or inode; or no
  // regular file now: a FIFO or directory put in its place), fails at once (the same bytes give the
  // same answer every time); other read errors (missing here: a host that does not see it?, no
  // permission) leave the task pending until it was delivered max_deliveries times.
  template <class F>
  void WithInput(const Task& t, F&& work) {
    try {
      work(t.path);
    } catch (const csv::CsvError& e) {
      Fail(t, e.what());
    } catch (const FileChangedSincePlanError& e) {
      Fail(t, e.what());
    } catch (const InputError& e) {
      int stat_errno = 0;
      if (std::string change = ChangeSincePlan(t.path, t.stamp, &stat_errno); !change.empty()) {
        Fail(t, change);
        return;
      }
      int deliveries = Redis([&](Connection& c) { return store_->Deliveries(c, t.entry); });
      if (deliveries >= MaxDeliveries()) {
        Fail(t, e.what());
      } else {
        Log::Warn("retry_later", "task={} deliveries={} error=\"{}\"", t.entry, deliveries,
                  e.what());
      }
    }
  }

  // Counts a task into the batch, or records why it cannot be counted. A batch never holds an
  // entry twice (the commit function rejects repeated entries and tasks).
  void ProcessCount(const Task& t) {
    if (batch_.Holds(t.entry)) return;
    if (std::any_of(batch_.tasks.begin(), batch_.tasks.end(),
                    [&](const Task& b) { return b.n == t.n; })) {
      Commit();  // another entry of the same task: after this batch, it commits as a duplicate
    }
    heartbeat_.Set([&] {
      auto ids = batch_.Entries();
      ids.push_back(t.entry);
      return ids;
    }());
    try {
      WithInput(t, [&](const std::string& path) {
        TaskStats st = CountFileRangeOrNothing(path, t.range, batch_.table, job_.column, &t.stamp);
        batch_.tasks.push_back(t);
        Log::Event("counted", "task={} n={} path=\"{}\" bytes={} words={}", t.entry, t.n, t.path,
                   st.bytes, st.words);
      });
    } catch (const SpoiledTableError& e) {
      // The file changed while it was counted and its partial counts cannot be taken back: the
      // batch is dropped (nothing of it was committed; its tasks are still ours and are read
      // again from our pending history) and the changed file's task fails by name.
      Log::Warn("batch_dropped", "tasks={} why=\"{}\"", batch_.tasks.size(), e.what());
      batch_ = Batch{};
      history_.clear();
      read_history_ = true;
      Fail(t, e.what());
    }
    heartbeat_.Set(batch_.Entries());
  }

  // The job's MAX_DELIVERIES (its record), or ours for a record without it.
  int MaxDeliveries() const {
    return job_.max_deliveries > 0 ? job_.max_deliveries : o_.max_deliveries;
  }

  std::string SpillDir() const { return o_.spill_root + "/" + job_.spill; }

  // Why --spill-dir or the job's directory in it must not be used: another user's, or one another
  // user could change (held-out pass 16: forged map outputs in a --spill-dir of theirs changed
  // the result, exit 0). The same checks as the coordinator's (job/spill_area.h).
  std::string SpillDirUnsafe() const {
    if (std::string unsafe = SpillRootTrouble(o_.spill_root); !unsafe.empty())
      return "--spill-dir: " + unsafe;
    return SpillJobDirTrouble(SpillDir());
  }

  // Why this worker cannot write map outputs in the job's spill directory, "" if it can: a
  // missing or unwritable directory means --spill-dir is not the job's SPILL_DIR here.
  std::string SpillDirTrouble() const {
    const std::string dir = SpillDir();
    struct stat st {};
    int err = 0;
    if (::stat(dir.c_str(), &st) != 0)
      err = errno;
    else if (!S_ISDIR(st.st_mode))
      err = ENOTDIR;
    else if (::access(dir.c_str(), W_OK | X_OK) != 0)
      err = errno;
    if (err == 0) return {};
    return fmt::format(
        "--spill-dir {}: the job's map output directory {} is {} on this host ({}): --spill-dir "
        "must be the job's SPILL_DIR, the directory every host shares (the coordinator makes "
        "the job's directory there)",
        o_.spill_root, dir, err == ENOENT ? "missing" : "not usable", std::strerror(err));
  }

  // Statistics of one acknowledgement of a map or reduce task (for the exit line).
  void CountAck(bool accepted) {
    ++commits_;
    ++(accepted ? counted_ : duplicates_);
  }

  // Map task (shuffle mode): counts the input, writes the counts partitioned to the task's map
  // output file, then acknowledges the task.
  void ProcessMap(const Task& t) {
    heartbeat_.Set({t.entry});
    WithInput(t, [&](const std::string& path) {
      shuffle::MapStats st;
      try {
        st = shuffle::RunMap(path, t.range, t.stamp, job_.column, SpillDir(), job_.id, t.n,
                             job_.parts);
      } catch (const SpoiledTableError& e) {
        throw InputError(t.path, 0, e.what());  // the map's own table is discarded with it
      } catch (const OutputError& e) {
        // A job that ended while we mapped (another worker finished it and the coordinator
        // removed its directory; e.g. we were stopped) is no output error: our result would be
        // a duplicate. It ends our service of the job as a refused late write does.
        if (!JobEnd().empty()) throw JobChanged{};
        // The job's directory gone or closed to us: say so, not only the file's error.
        if (std::string trouble = SpillDirTrouble(); !trouble.empty())
          throw OutputError(SpillDir(), trouble);
        throw;
      }
      bool acked = Redis([&](Connection& c) {
        bool a = store_->MapDone(c, job_.id, t);
        AwaitReplicas(c);
        return a;
      });
      CountAck(acked);
      Log::Event("map",
                 "task={} map={} path=\"{}\" bytes={} words={} distinct={} spill_bytes={}{} "
                 "result={}",
                 t.entry, t.n, t.path, st.input.bytes, st.input.words, st.output.words,
                 st.output.bytes, Waited(), acked ? "accepted" : "duplicate");
    });
    heartbeat_.Set({});
  }

  // Reduce task (shuffle mode): merges partition r of every map output into one sorted run and
  // finishes the partition with it (the run goes to Redis in the acknowledging call; nothing is
  // written into COUNT before the publish task). A missing or corrupt map output sends its map
  // task back to be redone and this reduce task with it.
  void ProcessReduce(const Task& t) {
    JobState s = Redis([&](Connection& c) { return store_->State(c); });
    if (s.state() != "reduce") {
      // Reduce entries are added with the reduce phase: one read before it was forged.
      if (s.state() == "map") {
        try {
          Valid(JobStore::Entries{
              .foreign = {Foreign{t.entry, "reduce entry before the reduce phase"}}});
          return;
        } catch (const redis::RedisReplyError&) {
          // the reduce phase began in between: the entry is a real one after all
        }
      } else {
        // The job moved on without us (another reducer finished this partition). In the publish
        // phase the entry is acknowledged (as a late one); once done, it no longer matters.
        if (s.state() == "publish")
          Redis([&](Connection& c) { return store_->ReduceDone(c, job_.id, t, 0, 0, ""); });
        CountAck(false);
        Log::Event("reduce", "task={} part={} result=duplicate state={}", t.entry, t.n, s.state());
        return;
      }
    }
    heartbeat_.Set({t.entry});
    const auto t0 = Clock::now();
    std::vector<bool> skip =
        Redis([&](Connection& c) { return store_->FailedTasks(c, job_.tasks); });
    shuffle::Partition p =
        shuffle::MergePartition(SpillDir(), job_.id, job_.tasks, job_.parts, t.n, skip);
    if (!p.lost.empty() && !SendBackLost(t, p.lost)) {
      heartbeat_.Set({});
      return;
    }
    auto sorted = shuffle::SortedByCount(p.totals);
    uint64_t total = 0;
    for (const auto& [count, word] : sorted) total += count;
    const std::string run = shuffle::EncodeRun(t.n, job_.parts, sorted);
    const auto t1 = Clock::now();
    std::string state;
    bool acked = Redis([&](Connection& c) {
      bool a = store_->ReduceDone(c, job_.id, t, sorted.size(), total, run, &state);
      AwaitReplicas(c);
      return a;
    });
    CountAck(acked);
    finished_job_ = acked && state == "done";  // the last partition of a job without words
    Log::Event("reduce",
               "task={} part={} maps={} records={} words={} skipped_maps={} merge_ms={} "
               "write_ms={}{} result={}",
               t.entry, t.n, job_.tasks, p.records, sorted.size(), p.lost.size(), Ms(t1 - t0),
               Ms(Clock::now() - t1), Waited(), acked ? "accepted" : "duplicate");
    heartbeat_.Set({});
  }

  // COMMIT_WAIT_REPLICAS: after an acknowledging call, WAIT (at most 1 s) until that many
  // replicas hold everything this connection wrote, the acknowledgement included: a failover
  // then promotes a replica that has it (Sentinel prefers the replica with the most data). Too
  // few in time only leaves it as unsafe as without the wait (lost in a failover, counted again).
  void AwaitReplicas(Connection& c) {
    if (o_.commit_wait_replicas <= 0) return;
    const auto t0 = Clock::now();
    replicas_acked_ =
        c.Command({"WAIT", std::to_string(o_.commit_wait_replicas), "1000"}).integer();
    wait_us_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  }
  // For the log line of the acknowledgement AwaitReplicas followed.
  LogFields Waited() const {
    if (o_.commit_wait_replicas <= 0) return {};
    return {fmt::format(" replicas_acked={} wait_us={}", replicas_acked_, wait_us_)};
  }

  static int64_t Ms(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

  // Publish task (shuffle mode, one per job): merges the R reduced runs into the result and puts
  // it into COUNT with one RESTORE, which also ends the job (wc_publish_v4). If the server
  // refuses the payload (RDB version, an ACL without RESTORE, a proxy), the counts go in with
  // ZADD batches instead and the publish call then only checks and finishes.
  void ProcessPublish(const Task& t) {
    JobState s = Redis([&](Connection& c) { return store_->State(c); });
    if (s.state() == "done") {
      CountAck(false);
      Log::Event("publish", "task={} result=duplicate state=done", t.entry);
      return;
    }
    if (s.state() != "publish" || s.Get("publish_entry") != t.entry) {
      // Only the entry the job's own function added is the publish task.
      try {
        Valid(JobStore::Entries{.foreign = {Foreign{t.entry, "not the job's publish entry"}}});
        return;
      } catch (const redis::RedisReplyError&) {
        // the publish phase began in between: the entry is the real one after all
      }
    }
    heartbeat_.Set({t.entry});
    const auto t0 = Clock::now();
    std::vector<std::string> runs;
    try {
      runs = Redis([&](Connection& c) { return store_->Runs(c, job_.parts); });
    } catch (const shuffle::RunError& e) {
      // A run is missing. Runs are stored atomically with their partitions, so either Redis
      // went back to an older state since we looked (a restart from a checkpoint of the reduce
      // phase: our entry is gone or no longer the publish task, and the job goes on from
      // there), or someone else wrote to Redis.
      JobState now = Redis([&](Connection& c) { return store_->State(c); });
      if (now.state() != "publish" || now.Get("publish_entry") != t.entry) {
        Log::Warn("publish", "task={} result=job_moved state={} why=\"{}\"", t.entry, now.state(),
                  e.what());
        heartbeat_.Set({});
        return;
      }
      throw;
    }
    uint64_t total = 0;
    std::vector<WordCount> merged = shuffle::DecodeAndMergeRuns(runs, &total);
    if (merged.empty()) throw shuffle::RunError("every reduced run is empty in the publish phase");
    const std::string payload = JobStore::ResultPayload(merged);
    const auto t1 = Clock::now();
    using K = JobStore::PublishResult::Kind;
    auto publish = [&](const std::string* p) {
      return Redis(
          [&](Connection& c) { return store_->Publish(c, job_.id, t, merged.size(), total, p); });
    };
    // A payload the server would drop (its proto-max-bulk-len; a proxy's limit shows as a reset
    // connection instead) goes the ZADD way at once.
    int64_t max_arg = Redis([&](Connection& c) { return store_->MaxArgumentBytes(c); });
    JobStore::PublishResult r;
    if (max_arg > 0 && payload.size() + 4096 > static_cast<uint64_t>(max_arg)) {
      r.kind = K::kRefused;
      r.refusal =
          fmt::format("payload of {} bytes above proto-max-bulk-len {}", payload.size(), max_arg);
    } else {
      r = publish(&payload);
    }
    std::string how = "restore";
    if (r.kind == K::kRefused) {
      Log::Warn("publish_fallback", "task={} why=\"{}\" words={}", t.entry, r.refusal,
                merged.size());
      Redis([&](Connection& c) { store_->PublishWrite(c, job_.id, merged); });
      r = publish(nullptr);
      how = "zadd";
    }
    CountAck(r.kind == K::kPublished);
    finished_job_ = r.kind == K::kPublished;
    Log::Event("publish",
               "task={} parts={} words={} total={} payload_bytes={} merge_ms={} "
               "write_ms={} how={} result={}",
               t.entry, job_.parts, merged.size(), total, payload.size(), Ms(t1 - t0),
               Ms(Clock::now() - t1), how, r.kind == K::kPublished ? "accepted" : "duplicate");
    heartbeat_.Set({});
  }

  // Reports lost map outputs. Returns true if the reduce goes on without them (their map tasks
  // failed for good and have no output), false if it was sent back to wait for them.
  bool SendBackLost(const Task& t, const std::vector<std::pair<uint32_t, std::string>>& lost) {
    JobStore::RedoResult r = Redis(
        [&](Connection& c) { return store_->RedoMaps(c, job_.id, t, lost, MaxDeliveries()); });
    using R = JobStore::RedoResult;
    Log::Warn("map_output_lost", "task={} part={} lost={} first=\"{}\" result={}", t.entry, t.n,
              lost.size(), lost.front().second,
              r == R::kFailedMapsSkipped ? "failed_maps_skipped"
              : r == R::kSentBack        ? "sent_back"
                                         : "not_pending");
    return r == R::kFailedMapsSkipped;
  }

  // Records that a plan task cannot be done (a map task's record lets reducers go on without it).
  void Fail(const Task& t, const std::string& message) {
    bool recorded = Redis([&](Connection& c) { return store_->Fail(c, job_.id, t, message); });
    if (recorded) ++failed_;
    Log::Warn("task_failed", "task={} n={} recorded={} error=\"{}\"", t.entry, t.n, recorded,
              message);
    // A recorded failure may have finished the job (its last task), as a last commit does: see
    // it now, before the coordinator ends the job (an embedded Redis stops with it), instead of
    // waiting for a Redis that is gone.
    if (recorded && JobEnd() == "done") finished_job_ = true;
  }

  // Commits the batch. If another worker committed one of its tasks first, the batch is stale:
  // its tasks are counted and committed again one by one, and each commit of an already
  // committed task changes nothing.
  void Commit() {
    if (batch_.empty()) return;
    JobStore::CommitResult r = Redis([&](Connection& c) {
      JobStore::CommitResult cr = store_->Commit(c, job_.id, batch_.tasks, batch_.table);
      AwaitReplicas(c);
      return cr;
    });
    ++commits_;
    std::vector<Task> tasks = std::move(batch_.tasks);
    batch_ = Batch{};
    heartbeat_.Set({});
    if (r.accepted) {
      finished_job_ = r.job_done;
      counted_ += tasks.size();
      Log::Event("commit", "tasks={} words={}{} result=accepted", tasks.size(), r.words, Waited());
      return;
    }
    if (tasks.size() == 1) {
      ++duplicates_;
      Log::Event("commit", "task={} result=duplicate", tasks[0].entry);
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
  bool connected_once_ = false;  // the session connected before (on_connect)
  RedisSession session_;
  Heartbeat heartbeat_;
  JobView job_;
  std::optional<JobStore> store_;
  std::vector<PlannedTask> plan_;
  Batch batch_;
  std::deque<Task> history_;
  bool read_history_ = true;
  bool finished_job_ = false;  // a call of ours ended the job (the last commit, the publish)
  uint64_t counted_ = 0, commits_ = 0, duplicates_ = 0, failed_ = 0, foreign_ = 0;
  int64_t replicas_acked_ = 0, wait_us_ = 0;  // of the last AwaitReplicas
};

}  // namespace

std::string RedisErrorPrefix(const WorkerOptions& options) {
  return options.sentinel.enabled() ? fmt::format("Redis (the primary '{}' of the Sentinels): ",
                                                  options.sentinel.master_name)
                                    : fmt::format("Redis {}: ", redis::ToUrl(options.redis));
}

// After an error reply: the keys of --stream that hold another type than the job keeps there
// (JobStore::WrongTypes, one attempt), "" if none or if that cannot be asked.
std::string HeldKeys(const WorkerOptions& options) {
  try {
    RedisSession session(SessionOptions{
        .redis = options.redis, .sentinel = options.sentinel, .retry_for = options.redis_retry});
    JobStore store(JobKeys{.stream = options.stream});
    return session.Once([&](Connection& c) { return store.WrongTypes(c); });
  } catch (const std::exception&) {
    return "";
  }
}

int RunWorker(const WorkerOptions& options) {
  try {
    return Worker(options).Run();
  } catch (const CrashPoint&) {
    return kWorkerExitCrashed;
  } catch (const OutputError& e) {
    Log::Error("exit", "reason=output_error error=\"{}\"", e.what());
    return kWorkerExitOutput;
  } catch (const RedisUnavailable& e) {
    Log::Error("exit", "reason=redis_unavailable error=\"{}\"", e.what());
    return kWorkerExitRedis;
  } catch (const redis::RedisAuthError& e) {
    Log::Error("exit", "reason=redis_auth error=\"{}\"", PasswordTrouble(e));
    return kWorkerExitUsage;
  } catch (const redis::RedisPermissionError& e) {  // an ACL: retrying (or respawning) cannot help
    Log::Error("exit", "reason=refused error=\"{}\"", e.what());
    return kWorkerExitRefused;
  } catch (const redis::RedisLibraryConflict& e) {
    // Another library holds our function names (held-out pass 17: exit 4, redis_error): as the
    // coordinator says it, exit 7; someone has to remove that library.
    Log::Error("exit", "reason=refused error=\"{}\"", e.what());
    return kWorkerExitRefused;
  } catch (const redis::RedisReplyError& e) {
    // A key of the stream holding something else (another type, or --stream naming a job key)
    // is a refusal, named by its type as `run` and `status` name it (held-out pass 26: exit 4,
    // which invites retries that cannot help).
    if (std::string held = HeldKeys(options); !held.empty()) {
      Log::Error("exit", "reason=refused error=\"{}{}\"", RedisErrorPrefix(options), held);
      return kWorkerExitRefused;
    }
    Log::Error("exit", "reason=redis_error error=\"{}{}\"", RedisErrorPrefix(options), e.what());
    return kWorkerExitRedis;
  } catch (const redis::RedisError& e) {
    // The server is named (as the coordinator's line does): a worker's log line is read apart
    // from the command that started it, often with several servers about.
    Log::Error("exit", "reason=redis_error error=\"{}{}\"", RedisErrorPrefix(options), e.what());
    return kWorkerExitRedis;
  } catch (const shuffle::RunError& e) {
    // A reduced run in Redis that does not decode: written by someone else (who can write to
    // Redis can do anything), never by a reducer of this job.
    Log::Error("exit", "reason=bad_run error=\"{}\"", e.what());
    return kWorkerExitRedis;
  }
}

}  // namespace wc::job

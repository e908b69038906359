#include "job/coordinator.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "cli/exit_codes.h"
#include "count/counts_format.h"
#include "count/word_table.h"
#include "csv/csv_scanner.h"
#include "csv/record_ranges.h"
#include "job/redis_session.h"
#include "job/task.h"
#include "job/worker.h"
#include "redis/functions.h"
#include "redis/redis_server.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/process.h"

namespace wc::job {

namespace fs = std::filesystem;
using redis::Args;
using redis::Connection;
using redis::Reply;

namespace {

std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal.store(sig); }

struct PlannedTask {
  std::string path;
  csv::ByteRange range;
};

struct Plan {
  std::vector<PlannedTask> tasks;
  std::vector<std::string> failures;  // files rejected while planning (complete messages)
  uint64_t bytes = 0;
  size_t files = 0;
};

Plan MakePlan(const std::vector<std::string>& files, const JobConfig& c) {
  Plan plan;
  plan.files = files.size();
  for (const auto& f : files) {
    std::string path = fs::weakly_canonical(f).string();
    std::error_code ec;
    uint64_t size = fs::file_size(path, ec);
    if (ec || size <= c.chunk_bytes) {
      plan.tasks.push_back({path, csv::ByteRange{}});  // unreadable files fail in a worker
      plan.bytes += ec ? 0 : size;
      continue;
    }
    try {
      MappedFile file(path);
      csv::Schema schema = csv::ReadSchema(file.view(), path, c.column);
      for (const auto& r : csv::SplitRecordRanges(file.view(), path, schema, c.chunk_bytes)) {
        plan.tasks.push_back({path, r});
      }
      plan.bytes += size;
    } catch (const InputError& e) {
      plan.failures.push_back(e.what());
    }
  }
  return plan;
}

// The deepest directory holding every file: workers refuse paths outside it.
std::string DataRoot(const std::vector<PlannedTask>& tasks) {
  if (tasks.empty()) return "/";
  fs::path root = fs::path(tasks[0].path).parent_path();
  for (const auto& t : tasks) {
    fs::path dir = fs::path(t.path).parent_path();
    while (!root.empty() && dir.string().rfind(root.string(), 0) != 0) root = root.parent_path();
  }
  return root.empty() ? "/" : root.string();
}

uint64_t ParseScore(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && p == s.data() + s.size()) return v;
  return static_cast<uint64_t>(std::stod(std::string(s)));  // e.g. "1e+20" past 2^53
}

// Runs one command against Redis, however the caller keeps Redis alive.
using CommandRunner = std::function<Reply(const Args&)>;

// Every (word, count) of the sorted set, read in pages.
WordTable ReadCounts(const CommandRunner& run, const std::string& key) {
  WordTable table(1 << 16);
  constexpr int64_t kPage = 100000;
  for (int64_t start = 0;; start += kPage) {
    Reply r = run(
        {"ZRANGE", key, std::to_string(start), std::to_string(start + kPage - 1), "WITHSCORES"});
    for (size_t i = 0; i + 1 < r.size(); i += 2)
      table.AddUnpadded(r[i].str(), ParseScore(r[i + 1].str()));
    if (static_cast<int64_t>(r.size()) < 2 * kPage) break;
  }
  return table;
}

// The top n in the project's order (count descending, then word bytes ascending): Redis
// orders ties differently, so every word tied with the n-th is fetched and sorted here.
std::vector<std::pair<std::string, uint64_t>> ReadTop(const CommandRunner& run,
                                                      const std::string& key, int n) {
  std::vector<std::pair<std::string, uint64_t>> top;
  if (n <= 0) return top;
  Reply head = run({"ZREVRANGE", key, std::to_string(n - 1), std::to_string(n - 1), "WITHSCORES"});
  std::string min_score = head.size() == 2 ? std::string(head[1].str()) : "-inf";
  Reply all = run({"ZRANGEBYSCORE", key, min_score, "+inf", "WITHSCORES"});
  for (size_t i = 0; i + 1 < all.size(); i += 2)
    top.emplace_back(all[i].str(), ParseScore(all[i + 1].str()));
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (top.size() > static_cast<size_t>(n)) top.resize(n);
  return top;
}

// Views of (word, count) pairs in the counts format's type (they point into `pairs`).
std::vector<WordCount> AsWordCounts(const std::vector<std::pair<std::string, uint64_t>>& pairs) {
  std::vector<WordCount> out;
  for (const auto& [w, c] : pairs) out.push_back({w, c});
  return out;
}

struct WorkerProc {
  pid_t pid;
  std::string name;
  bool crash, slow;
};

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class Coordinator {
 public:
  Coordinator(const JobConfig& c, const RunOptions& o) : c_(c), o_(o), keys_(KeysOf(c)) {}

  int Run() {
    t0_ = Clock::now();
    std::vector<std::string> files;
    try {
      files = ExpandInputs({o_.data.value_or(c_.data_path)});
    } catch (const InputError& e) {
      fmt::print(stderr, "wordcount run: {}\n", e.what());
      return cli::kExitNoInput;
    }
    plan_ = MakePlan(files, c_);
    data_root_ = DataRoot(plan_.tasks);
    Log::Event("plan", "files={} tasks={} bytes={} rejected={} data_root=\"{}\"", plan_.files,
               plan_.tasks.size(), plan_.bytes, plan_.failures.size(), data_root_);

    if (shuffle()) {
      if (int rc = PrepareSpill(); rc != cli::kExitOk) return rc;
    }

    redis::ConnectOptions redis_options;
    try {
      if (o_.redis_url.empty()) {
        workdir_ = fs::temp_directory_path() / fmt::format("wordcount-{}", ::getpid());
        std::vector<std::string> extra;
        if (c_.persistence == "aof") extra = {"--appendonly", "yes", "--appendfsync", "everysec"};
        extra.insert(extra.end(), c_.redis_args.begin(), c_.redis_args.end());
        embedded_ = std::make_unique<redis::RedisServer>(redis::RedisServerOptions{
            .dir = workdir_.string(), .password = c_.redis_password, .extra_args = extra});
        redis_options = embedded_->connect_options();
        Log::Event("redis_started", "port={} dir=\"{}\" pid={} persistence={}", embedded_->port(),
                   workdir_.string(), embedded_->pid(), c_.persistence);
        if (!o_.quiet) {
          fmt::print(stderr,
                     "embedded Redis at redis://127.0.0.1:{} (wordcount status --redis ...)\n",
                     embedded_->port());
        }
      } else {
        redis_options = redis::ParseRedisUrl(o_.redis_url);
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "wordcount run: cannot start Redis: {}\n", e.what());
      return cli::kExitRedis;
    }
    url_ = redis::ToUrl(redis_options);
    session_ = std::make_unique<RedisSession>(
        redis_options,
        std::chrono::milliseconds(static_cast<int64_t>(c_.redis_retry_seconds * 1000)));

    int rc;
    try {
      // The job is created, and saved, before any worker starts: a restart never loses it.
      Supervised(
          [&] {
            CreateJob();
            return 0;
          },
          false);
      // Supervise until the job is complete, then read the results; if Redis restarted while
      // they were read (or lost the completion), supervise again.
      for (;;) {
        rc = Supervise();
        if (rc != cli::kExitOk) break;
        if (std::optional<Results> results = Collect()) {
          rc = Report(*results);
          break;
        }
      }
    } catch (const RedisUnavailable& e) {
      fmt::print(stderr, "wordcount run: {}\n", e.what());
      rc = cli::kExitRedis;
    } catch (const redis::RedisError& e) {
      fmt::print(stderr, "wordcount run: Redis: {}\n", e.what());
      rc = cli::kExitRedis;
    }
    StopWorkers(/*job_complete=*/rc == cli::kExitOk || rc == cli::kExitInputFailed);
    if (!spill_name_.empty()) {
      std::error_code ec;
      fs::remove_all(spill_root_ / spill_name_, ec);
      fs::remove(spill_root_, ec);  // only if empty: other jobs may share it
      Log::Event("spill_removed", "dir=\"{}\" error=\"{}\"", (spill_root_ / spill_name_).string(),
                 ec ? ec.message() : "");
    }
    if (embedded_) {
      embedded_->Stop();
      std::error_code ec;
      fs::remove_all(workdir_, ec);
    }
    return rc;
  }

 private:
  // Deletes our keys (never FLUSHALL: the server may hold other data), loads the functions,
  // creates the stream, the group and every task, then saves. One attempt: throws on failure.
  void CreateJob() {
    session_->Once([&](Connection& c) {
      redis::LoadFunctions(c);
      Args del{"DEL"};
      for (const auto& k : keys_.All()) del.push_back(k);
      c.Command(del);
      c.Command({"XGROUP", "CREATE", keys_.stream, keys_.group, "0", "MKSTREAM"});
      if (shuffle()) {
        // Before the tasks: a state restored from a checkpoint taken in the middle is still
        // known as a shuffle job (and is never "done").
        c.Command({"HSET", keys_.meta(), "mode", "shuffle", "phase", "map", "maps",
                   std::to_string(plan_.tasks.size()), "parts", std::to_string(partitions_),
                   "spill", spill_name_, "fname", keys_.fname});
      }
      constexpr size_t kBatch = 1000;
      for (size_t i = 0; i < plan_.tasks.size(); i += kBatch) {
        size_t end = std::min(plan_.tasks.size(), i + kBatch);
        size_t sent = 0;
        for (size_t k = i; k < end; ++k) {
          const PlannedTask& t = plan_.tasks[k];
          Args args{"XADD", keys_.stream, "*"};
          Args fields = shuffle() ? MapTaskFields(keys_, t.path, t.range, static_cast<uint32_t>(k),
                                                  partitions_, spill_name_)
                                  : TaskFields(keys_, t.path, t.range);
          args.insert(args.end(), fields.begin(), fields.end());
          c.Append(args);
          ++sent;
          if (shuffle()) {
            c.Append({"HSET", keys_.maps(), std::to_string(k), MapDescription(t.path, t.range)});
            ++sent;
          }
        }
        for (size_t k = 0; k < sent; ++k) {
          std::string err;
          if (Connection::IsError(c.GetReply(), &err)) throw redis::RedisReplyError(err);
        }
      }
      // Written last: a state restored from a checkpoint taken in the middle lacks it.
      c.Command({"HSET", keys_.meta(), "tasks", std::to_string(plan_.tasks.size()), "files",
                 std::to_string(plan_.files), "bytes", std::to_string(plan_.bytes), "data_root",
                 data_root_});
      return 0;
    });
    SaveNow();
    reduce_started_ = false;  // a re-created job starts with its map phase
    ++creations_;
    Log::Event("job_created", "stream={} tasks={} mode={} partitions={} creation={}", keys_.stream,
               plan_.tasks.size(), c_.mode, partitions_, creations_);
  }

  bool shuffle() const { return c_.mode == "shuffle"; }

  // Shuffle mode: the number of partitions and this job's own directory under SPILL_DIR.
  int PrepareSpill() {
    int workers =
        o_.workers.value_or(c_.n_normal_workers + c_.n_crashing_workers + c_.n_sleeping_workers);
    uint64_t by_size = (plan_.bytes + (128ull << 20) - 1) / (128ull << 20);
    partitions_ =
        c_.partitions > 0
            ? static_cast<uint32_t>(c_.partitions)
            : static_cast<uint32_t>(std::clamp<uint64_t>(
                  std::max<uint64_t>(2ull * static_cast<uint64_t>(workers), by_size), 1, 4096));
    std::error_code ec;
    spill_root_ = fs::absolute(c_.spill_dir.empty() ? fs::temp_directory_path() / "wordcount-spill"
                                                    : fs::path(c_.spill_dir),
                               ec);
    auto nonce = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    std::string name = fmt::format("job-{}-{:x}", ::getpid(), nonce);
    fs::create_directories(spill_root_ / name, ec);
    if (ec) {
      fmt::print(stderr, "wordcount run: cannot create the spill directory {}: {}\n",
                 (spill_root_ / name).string(), ec.message());
      return cli::kExitUsage;
    }
    spill_name_ = name;
    Log::Event("spill", "dir=\"{}\" partitions={}", (spill_root_ / name).string(), partitions_);
    return cli::kExitOk;
  }

  // Shuffle mode: once every map task is acknowledged, adds the reduce tasks (one atomic
  // function call: any checkpoint holds both the tasks and the phase, or neither) and saves.
  void MaybeStartReduce() {
    if (!shuffle() || reduce_started_) return;
    int64_t r = session_->Once([&](Connection& c) {
      return redis::FCall(c, "wc_start_reduce_v1", keys_.FunctionKeys(), {keys_.group}).integer();
    });
    if (r == -1) return;
    reduce_started_ = true;
    if (r == 1) {
      Log::Event("reduce_phase", "partitions={} after_s={:.3f}", partitions_, Since(t0_));
      SaveNow();
    }
  }

  // A synchronous, durable save (RDB: SAVE; AOF: a rewrite, waited for). One attempt.
  void SaveNow() {
    session_->Once([&](Connection& c) {
      if (c_.persistence == "aof") {
        // A rewrite snapshots the data set when it starts. One already running started before
        // our last writes: wait for it, then start our own, and wait for that.
        auto deadline = Clock::now() + std::chrono::seconds(60);
        bool ours = false;
        for (;;) {
          std::string info(c.Command({"INFO", "persistence"}).str());
          bool busy = redis::InfoField(info, "aof_rewrite_in_progress") != "0" ||
                      redis::InfoField(info, "aof_rewrite_scheduled") != "0";
          if (!busy && ours) {
            if (redis::InfoField(info, "aof_last_bgrewrite_status") != "ok") {
              throw redis::RedisReplyError("ERR AOF rewrite failed");
            }
            break;
          }
          if (!busy) {
            try {
              c.Command({"BGREWRITEAOF"});
              ours = true;
            } catch (const redis::RedisReplyError&) {
              // one started meanwhile: wait for it and try again
            }
          }
          if (Clock::now() > deadline)
            throw redis::RedisIoError("AOF rewrite did not finish", true);
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      } else {
        // SAVE refuses to run beside a checkpoint's BGSAVE: wait for that one (and note how it
        // ended, as the next checkpoint would have), then save.
        auto deadline = Clock::now() + std::chrono::seconds(60);
        for (;;) {
          std::string info(c.Command({"INFO", "persistence"}).str());
          if (redis::InfoField(info, "rdb_bgsave_in_progress") != "1") {
            NoteBgsaveStatus(info);
            try {
              c.Command({"SAVE"});
              break;
            } catch (const redis::RedisReplyError& e) {
              if (std::string_view(e.what()).find("in progress") == std::string_view::npos) throw;
            }
          }
          if (Clock::now() > deadline)
            throw redis::RedisIoError("a background save never finished", true);
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      return 0;
    });
  }

  // Does Redis still hold this job (stream, group, every task)? If a restart restored a state
  // without it (no checkpoint yet, or one taken while it was being created), create it again.
  void EnsureJob() {
    bool intact = false;
    try {
      Progress p = session_->Once([&](Connection& c) { return ReadProgress(c, keys_); });
      Reply meta = session_->Once([&](Connection& c) {
        return c.Command({"HGET", keys_.meta(), "tasks"});
      });
      // Shuffle jobs grow (reduce tasks, redone map tasks); the marker is written last.
      intact = static_cast<size_t>(p.entries) >= plan_.tasks.size() && !meta.is_nil();
      // A state from before the reduce phase began: it is started again when the maps are done.
      if (intact && shuffle() && p.phase == "map") reduce_started_ = false;
    } catch (const redis::RedisReplyError& e) {
      if (e.prefix() != "NOSTREAM" && e.prefix() != "NOGROUP") throw;
    }
    if (!intact) {
      Log::Warn("job_lost", "restored Redis state lacks the job: creating it again");
      CreateJob();
    }
  }

  // Counts and logs a failed BGSAVE (once per failure) from an INFO persistence reply; returns
  // the status.
  std::string NoteBgsaveStatus(const std::string& info) {
    std::string status = redis::InfoField(info, "rdb_last_bgsave_status");
    if (status != "ok" && status != last_bgsave_status_) {
      ++checkpoint_failures_;
      Log::Warn("checkpoint_failed", "rdb_last_bgsave_status={}", status);
    }
    last_bgsave_status_ = status;
    return status;
  }

  void Checkpoint() {
    last_checkpoint_ = Clock::now();
    if (c_.persistence != "rdb") return;
    session_->Once([&](Connection& c) {
      std::string info(c.Command({"INFO", "persistence"}).str());
      std::string status = NoteBgsaveStatus(info);
      if (redis::InfoField(info, "rdb_bgsave_in_progress") == "1") return 0;  // still running: skip
      try {
        c.Command({"BGSAVE"});
        ++checkpoints_;
        Log::Event("checkpoint", "n={} previous_status={}", checkpoints_, status);
      } catch (const redis::RedisReplyError& e) {
        Log::Warn("checkpoint_skipped", "error=\"{}\"", e.what());
      }
      return 0;
    });
  }

  // The embedded Redis: restarted if it died, crashed on schedule while work is pending.
  void SuperviseRedis(bool done) {
    if (!embedded_) return;
    auto now = Clock::now();
    if (redis_down_) {
      if (now < redis_down_until_) return;
      StartRedis("planned");
      return;
    }
    if (!embedded_->Running()) {
      Log::Warn("redis_died", "pid gone; restarting on port {}", embedded_->port());
      ++unplanned_restarts_;
      StartRedis("unplanned");
      return;
    }
    if (c_.redis_restart_interval > 0 && !done &&
        now - last_redis_start_ >= std::chrono::duration<double>(c_.redis_restart_interval)) {
      Log::Event("redis_crash", "signal=SIGKILL downtime_s={}", c_.redis_downtime);
      embedded_->Kill();  // SIGKILL: SHUTDOWN or SIGTERM would save first and be no crash
      ++forced_restarts_;
      redis_down_ = true;
      redis_down_until_ = now + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(c_.redis_downtime));
    }
  }

  void StartRedis(const char* why) {
    try {
      embedded_->Start();  // same port, password, directory, configuration: loads the checkpoint
      redis_down_ = false;
      last_redis_start_ = Clock::now();
      check_job_ = true;
      Log::Event("redis_restarted", "reason={} pid={}", why, embedded_->pid());
    } catch (const std::exception& e) {
      Log::Warn("redis_start_failed", "error=\"{}\"", e.what());
    }
  }

  void Spawn(const std::string& name, bool crash, bool slow) {
    std::vector<std::string> args = {o_.self_exe,
                                     "worker",
                                     "--redis",
                                     url_,
                                     "--name",
                                     name,
                                     "--stream",
                                     keys_.stream,
                                     "--count-key",
                                     keys_.counts,
                                     "--fname",
                                     keys_.fname,
                                     "--data-root",
                                     data_root_,
                                     "--column",
                                     c_.column,
                                     "--spill-dir",
                                     spill_root_.string(),
                                     "--claim-idle-ms",
                                     std::to_string(c_.claim_idle_ms),
                                     "--commit-max-words",
                                     std::to_string(c_.commit_max_words),
                                     "--commit-max-tasks",
                                     std::to_string(c_.commit_max_tasks),
                                     "--max-deliveries",
                                     std::to_string(c_.max_deliveries),
                                     "--redis-retry-seconds",
                                     fmt::format("{}", c_.redis_retry_seconds),
                                     "--logfile",
                                     c_.logfile};
    if (crash) args.push_back("--crash");
    if (slow) args.push_back("--slow");
    // Workers log to LOGFILE; on the terminal only their errors. The coordinator reports
    // failed tasks and restarts itself.
    args.push_back("--quiet");
    pid_t pid = SpawnChild(args, {.death_signal = SIGTERM});  // never outlive the coordinator
    workers_.push_back({pid, name, crash, slow});
    Log::Event("worker_spawned", "name={} pid={} crash={} slow={}", name, pid, crash, slow);
  }

  // Complete means: nothing pending, everything delivered (shuffle: reduce phase over too).
  // Throws if Redis cannot answer.
  bool JobComplete() {
    return session_->Once([&](Connection& c) { return ReadProgress(c, keys_); }).done;
  }

  // Reaps exited workers; replaces those killed by a signal (this runs only while work remains).
  // Returns false if a worker gave up on Redis.
  bool ReapWorkers() {
    for (size_t i = 0; i < workers_.size();) {
      int status = 0;
      pid_t r = ::waitpid(workers_[i].pid, &status, WNOHANG);
      if (r != workers_[i].pid) {
        ++i;
        continue;
      }
      WorkerProc w = workers_[i];
      workers_.erase(workers_.begin() + static_cast<long>(i));
      if (WIFSIGNALED(status)) {
        ++workers_killed_;
        Log::Warn("worker_died", "name={} pid={} signal={}", w.name, w.pid, WTERMSIG(status));
        if (workers_killed_ <= 1000 && !stopping_)
          Spawn(fmt::format("{}-r{}", w.name, workers_killed_), false, w.slow);
      } else {
        int code = WEXITSTATUS(status);
        Log::Event("worker_exited", "name={} pid={} code={}", w.name, w.pid, code);
        if (code == kWorkerExitRedis) return false;
      }
    }
    return true;
  }

  // The progress line: live on a terminal (stderr), a periodic line (and log event) otherwise.
  // Never on stdout, so `word: count` lines and --out stay clean.
  void ShowProgress(bool final_clear = false) {
    if (o_.quiet) return;
    const bool tty = ::isatty(2) == 1;
    if (final_clear) {
      if (tty && progress_shown_) fmt::print(stderr, "\r\033[K");
      return;
    }
    auto period = tty ? std::chrono::milliseconds(500) : std::chrono::milliseconds(5000);
    if (Clock::now() - last_progress_ < period) return;
    last_progress_ = Clock::now();
    Progress p = session_->Once([&](Connection& c) { return ReadProgress(c, keys_); });
    int64_t total = p.entries, pending = p.pending;
    int64_t done = std::max<int64_t>(0, p.delivered - pending);
    // Shuffle: the map phase is the input's progress; the reduce tasks come after it.
    if (shuffle())
      total = std::max<int64_t>(total, static_cast<int64_t>(plan_.tasks.size()) + partitions_);
    double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
    double mb = plan_.bytes / 1e6 * frac, secs = Since(t0_);
    double rate = secs > 0 ? mb / secs : 0;
    std::string eta = frac > 0 && frac < 1 ? fmt::format("{:.0f} s", secs / frac - secs) : "-";
    std::string line = fmt::format(
        "{}tasks {}/{} ({} in progress), {:.1f}/{:.1f} MB, {:.1f} MB/s, ETA {}, "
        "{} workers, {} Redis restarts",
        shuffle() ? p.phase + " phase, " : "", done, total, pending, mb, plan_.bytes / 1e6, rate,
        eta, workers_.size(), forced_restarts_ + unplanned_restarts_);
    if (tty) {
      fmt::print(stderr, "\r\033[K{}", line);
      progress_shown_ = true;
    } else {
      fmt::print(stderr, "progress: {}\n", line);
      Log::Event("progress", "done={} total={} pending={} workers={}", done, total, pending,
                 workers_.size());
    }
  }

  int Supervise() {
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    int normal = o_.workers.value_or(c_.n_normal_workers);
    int crashing = o_.workers ? 0 : c_.n_crashing_workers;
    int sleeping = o_.workers ? 0 : c_.n_sleeping_workers;
    if (plan_.tasks.empty()) return cli::kExitOk;
    if (!spawned_initial_) {  // the lab's mix once; later rounds use normal workers only
      spawned_initial_ = true;
      // Crashing and sleeping workers first: started after fast normal ones, they could find
      // the stream already drained, and the faults they stand for would never happen.
      for (int i = 0; i < crashing; ++i) Spawn(fmt::format("crash{}", i + 1), true, false);
      for (int i = 0; i < sleeping; ++i) Spawn(fmt::format("sleep{}", i + 1), false, true);
      for (int i = 0; i < normal; ++i) Spawn(fmt::format("w{}", i + 1), false, false);
    }

    constexpr int kMaxRounds = 20;
    int rounds = 0;
    last_checkpoint_ = last_redis_start_ = last_progress_ = Clock::now();
    Clock::time_point redis_trouble_since{};
    const auto retry_for = std::chrono::duration<double>(c_.redis_retry_seconds);
    for (;;) {
      if (int sig = g_stop_signal.load()) {
        ShowProgress(/*final_clear=*/true);
        Log::Warn("interrupted", "signal={}", sig);
        fmt::print(stderr, "wordcount run: interrupted\n");
        return 128 + sig;
      }
      SuperviseRedis(/*done=*/false);
      if (!ReapWorkers()) return cli::kExitRedis;
      try {
        if (!redis_down_) {
          if (check_job_) {
            EnsureJob();
            check_job_ = false;
          }
          if (Clock::now() - last_checkpoint_ >=
              std::chrono::duration<double>(c_.checkpoint_interval))
            Checkpoint();
          MaybeStartReduce();
          ShowProgress();
          // Complete as soon as Redis says so; the workers see it too and exit by themselves.
          if (JobComplete()) {
            SaveNow();  // the result survives a restart from here on
            if (JobComplete()) return cli::kExitOk;
          } else if (workers_.empty()) {
            if (++rounds > kMaxRounds) {
              fmt::print(stderr,
                         "wordcount run: the job could not finish after {} rounds of workers\n",
                         kMaxRounds);
              return cli::kExitIncomplete;
            }
            Log::Warn("job_incomplete", "round={} respawning={}", rounds, std::max(1, normal));
            for (int i = 0; i < std::max(1, normal); ++i)
              Spawn(fmt::format("round{}-w{}", rounds, i + 1), false, false);
          }
        }
        redis_trouble_since = {};
      } catch (const redis::RedisIoError& e) {
        // Redis is down or restarting; the loop keeps supervising (and restarting) it.
        if (redis_trouble_since == Clock::time_point{}) redis_trouble_since = Clock::now();
        check_job_ = true;
        if (Clock::now() - redis_trouble_since >= retry_for) {
          throw RedisUnavailable(
              fmt::format("Redis unavailable for {} s: {}", c_.redis_retry_seconds, e.what()));
        }
      } catch (const redis::RedisReplyError& e) {
        if (!e.transient()) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Workers still running when the job is complete exit by themselves within their poll time
  // (a sleeping worker after its 1 s nap): they get 2 s for that, so that their logs say why
  // they exited, then SIGTERM.
  void StopWorkers(bool job_complete) {
    stopping_ = true;
    auto grace = Clock::now() + std::chrono::seconds(job_complete ? 2 : 0);
    while (!workers_.empty() && Clock::now() < grace) {
      ReapWorkers();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (const auto& w : workers_) ::kill(w.pid, SIGTERM);
    for (const auto& w : workers_) ::waitpid(w.pid, nullptr, 0);
    workers_.clear();
  }

  // Runs f (one attempt of Redis work) until it succeeds, supervising the embedded Redis in
  // between: a crash during job creation or result reading restarts it like any other.
  // Gives up (RedisUnavailable) after REDIS_RETRY_SECONDS without success.
  template <class F>
  auto Supervised(F&& f, bool done) -> decltype(f()) {
    auto since = Clock::now();
    for (;;) {
      SuperviseRedis(done);
      try {
        if (!redis_down_) return f();
      } catch (const redis::RedisIoError& e) {
        if (Since(since) >= c_.redis_retry_seconds) {
          throw RedisUnavailable(
              fmt::format("Redis unavailable for {} s: {}", c_.redis_retry_seconds, e.what()));
        }
      } catch (const redis::RedisReplyError& e) {
        if (!e.transient()) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // After the job is complete, a crash restarts Redis from the final save, which holds the
  // complete result.
  Reply ResultCommand(const Args& args) {
    return Supervised(
        [&] { return session_->Once([&](Connection& c) { return c.Command(args); }); }, true);
  }

  struct Results {
    std::vector<std::string> failures;
    std::vector<std::pair<std::string, uint64_t>> top;
    std::unique_ptr<WordTable> counts;  // only with --out
  };

  // Reads the results. They count only if, afterwards, the job is still complete and Redis
  // did not restart while they were read; otherwise returns nullopt.
  std::optional<Results> Collect() {
    int restarts = forced_restarts_ + unplanned_restarts_;
    CommandRunner run = [this](const Args& a) { return ResultCommand(a); };
    Results r;
    r.failures = plan_.failures;
    Reply failed = run({"HGETALL", keys_.failed()});
    for (size_t i = 0; i + 1 < failed.size(); i += 2) r.failures.emplace_back(failed[i + 1].str());
    if (!o_.out.empty()) {
      r.counts = std::make_unique<WordTable>(ReadCounts(run, keys_.counts));
    } else {
      r.top = ReadTop(run, keys_.counts, c_.top);
    }
    bool complete = Supervised([&] { return JobComplete(); }, true);
    if (complete && restarts == forced_restarts_ + unplanned_restarts_) return r;
    Log::Warn("results_reread", "complete={} redis_restarted_while_reading={}", complete,
              restarts != forced_restarts_ + unplanned_restarts_);
    return std::nullopt;
  }

  // Tasks accepted more than once, counted from the workers' commit events in LOGFILE (direct:
  // "commit tasks=N ... result=accepted"; shuffle: "map ..." and "reduce ... result=accepted",
  // which includes map tasks redone because their output was lost). A worker killed between a
  // commit's reply and its log line leaves no event, so this is a lower bound; -1 if no log.
  int64_t TasksCountedAgainAtLeast() const {
    if (c_.logfile.empty()) return -1;
    std::FILE* f = std::fopen(c_.logfile.c_str(), "r");
    if (!f) return -1;
    int64_t accepted = 0;
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
      std::string_view l(line);
      if (l.find("result=accepted") == std::string_view::npos) continue;
      if (auto at = l.find(" commit tasks="); at != std::string_view::npos) {
        accepted += std::atoll(line + at + 14);
      } else if (l.find(" map task=") != std::string_view::npos ||
                 l.find(" reduce task=") != std::string_view::npos) {
        ++accepted;
      }
    }
    std::fclose(f);
    int64_t tasks = static_cast<int64_t>(plan_.tasks.size()) + (shuffle() ? partitions_ : 0);
    return std::max<int64_t>(0, accepted - tasks);
  }

  int Report(const Results& r) {
    ShowProgress(/*final_clear=*/true);
    double secs = Since(t0_);
    if (r.counts) {
      WriteTop(stdout, TopCounts(*r.counts, static_cast<size_t>(c_.top)));
      WriteCountsFile(o_.out, SortedCounts(*r.counts));
    } else {
      WriteTop(stdout, AsWordCounts(r.top));
    }
    std::fflush(stdout);
    int restarts = forced_restarts_ + unplanned_restarts_;
    int64_t again = TasksCountedAgainAtLeast();
    if (!o_.quiet) {
      fmt::print(stderr, "counted {} tasks{} of {} files ({:.1f} MB) in {:.2f} s ({:.0f} MB/s)\n",
                 plan_.tasks.size(),
                 shuffle() ? fmt::format(" and {} reduce tasks", partitions_) : std::string(),
                 plan_.files, plan_.bytes / 1e6, secs, secs > 0 ? plan_.bytes / 1e6 / secs : 0.0);
      fmt::print(stderr,
                 "survived {} Redis restart(s) ({} forced, {} unplanned) and {} killed worker(s); "
                 "{} task(s) counted again; {} checkpoint(s), {} failed\n",
                 restarts, forced_restarts_, unplanned_restarts_, workers_killed_,
                 again < 0 ? std::string("unknown") : fmt::format(">= {}", again), checkpoints_,
                 checkpoint_failures_);
    }
    Log::Event("job_done",
               "tasks={} failed={} seconds={:.3f} redis_restarts={} forced={} unplanned={} "
               "workers_killed={} counted_again_at_least={} job_creations={}",
               plan_.tasks.size(), r.failures.size(), secs, restarts, forced_restarts_,
               unplanned_restarts_, workers_killed_, again, creations_);
    for (const auto& f : r.failures) fmt::print(stderr, "FAILED {}\n", f);
    if (!r.failures.empty()) {
      fmt::print(stderr, "{} task(s) failed and were not counted\n", r.failures.size());
      return cli::kExitInputFailed;
    }
    return cli::kExitOk;
  }

  const JobConfig& c_;
  const RunOptions& o_;
  JobKeys keys_;
  Plan plan_;
  std::string data_root_;
  std::string url_;
  fs::path workdir_;
  std::unique_ptr<redis::RedisServer> embedded_;
  std::unique_ptr<RedisSession> session_;
  std::vector<WorkerProc> workers_;
  Clock::time_point t0_, last_checkpoint_, last_redis_start_, redis_down_until_;
  bool redis_down_ = false;
  bool check_job_ = false;
  bool spawned_initial_ = false;
  bool reduce_started_ = false;
  bool stopping_ = false;  // no more replacement workers
  uint32_t partitions_ = 0;
  fs::path spill_root_;     // SPILL_DIR
  std::string spill_name_;  // this job's directory in it
  bool progress_shown_ = false;
  Clock::time_point last_progress_{};
  std::string last_bgsave_status_ = "ok";
  int forced_restarts_ = 0, unplanned_restarts_ = 0, workers_killed_ = 0, creations_ = 0;
  int checkpoints_ = 0, checkpoint_failures_ = 0;
};

}  // namespace

int RunJob(const JobConfig& config, const RunOptions& options) {
  return Coordinator(config, options).Run();
}

int PrintTop(const JobConfig& config, const std::string& redis_url, int n) {
  RedisSession session(redis::ParseRedisUrl(redis_url), std::chrono::milliseconds(5000));
  try {
    CommandRunner run = [&](const Args& a) {
      return session.Run([&](Connection& c) { return c.Command(a); });
    };
    WriteTop(stdout, AsWordCounts(ReadTop(run, config.count, n)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "wordcount top: {}\n", e.what());
    return cli::kExitRedis;
  }
  return cli::kExitOk;
}

}  // namespace wc::job

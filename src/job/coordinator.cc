#include "job/coordinator.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>

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

JobKeys KeysOf(const JobConfig& c) {
  JobKeys k;
  k.stream = c.in;
  k.counts = c.count;
  k.fname = c.fname;
  return k;
}

uint64_t ParseScore(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && p == s.data() + s.size()) return v;
  return static_cast<uint64_t>(std::stod(std::string(s)));  // e.g. "1e+20" past 2^53
}

// Every (word, count) of the sorted set, read in pages.
WordTable ReadCounts(RedisSession& session, const std::string& key) {
  WordTable table(1 << 16);
  constexpr int64_t kPage = 100000;
  for (int64_t start = 0;; start += kPage) {
    Reply r = session.Run([&](Connection& c) {
      return c.Command({"ZRANGE", key, std::to_string(start), std::to_string(start + kPage - 1), "WITHSCORES"});
    });
    for (size_t i = 0; i + 1 < r.size(); i += 2) table.AddUnpadded(r[i].str(), ParseScore(r[i + 1].str()));
    if (static_cast<int64_t>(r.size()) < 2 * kPage) break;
  }
  return table;
}

// The top n in the project's order (count descending, then word bytes ascending): Redis
// orders ties differently, so every word tied with the n-th is fetched and sorted here.
std::vector<std::pair<std::string, uint64_t>> ReadTop(RedisSession& session, const std::string& key, int n) {
  std::vector<std::pair<std::string, uint64_t>> top;
  if (n <= 0) return top;
  Reply head = session.Run([&](Connection& c) {
    return c.Command({"ZREVRANGE", key, std::to_string(n - 1), std::to_string(n - 1), "WITHSCORES"});
  });
  std::string min_score = head.size() == 2 ? std::string(head[1].str()) : "-inf";
  Reply all = session.Run([&](Connection& c) {
    return c.Command({"ZRANGEBYSCORE", key, min_score, "+inf", "WITHSCORES"});
  });
  for (size_t i = 0; i + 1 < all.size(); i += 2) top.emplace_back(all[i].str(), ParseScore(all[i + 1].str()));
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (top.size() > static_cast<size_t>(n)) top.resize(n);
  return top;
}

struct WorkerProc {
  pid_t pid;
  std::string name;
  bool crash, slow;
};

class Coordinator {
 public:
  Coordinator(const JobConfig& c, const RunOptions& o) : c_(c), o_(o), keys_(KeysOf(c)) {}

  int Run() {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> files;
    try {
      files = ExpandInputs({o_.data.value_or(c_.data_path)});
    } catch (const InputError& e) {
      fmt::print(stderr, "wordcount run: {}\n", e.what());
      return cli::kExitNoInput;
    }
    Plan plan = MakePlan(files, c_);
    data_root_ = DataRoot(plan.tasks);
    Log::Event("plan", "files={} tasks={} bytes={} rejected={} data_root=\"{}\"", plan.files, plan.tasks.size(),
               plan.bytes, plan.failures.size(), data_root_);

    std::unique_ptr<redis::RedisServer> embedded;
    redis::ConnectOptions redis_options;
    if (o_.redis_url.empty()) {
      workdir_ = fs::temp_directory_path() / fmt::format("wordcount-{}", ::getpid());
      embedded = std::make_unique<redis::RedisServer>(
          redis::RedisServerOptions{.dir = workdir_.string(), .password = c_.redis_password});
      redis_options = embedded->connect_options();
      Log::Event("redis_started", "port={} dir=\"{}\" pid={}", embedded->port(), workdir_.string(), embedded->pid());
    } else {
      redis_options = redis::ParseRedisUrl(o_.redis_url);
    }
    url_ = redis::ToUrl(redis_options);
    RedisSession session(redis_options, std::chrono::milliseconds(static_cast<int64_t>(c_.redis_retry_seconds * 1000)));

    int rc;
    try {
      Prepare(session, plan);
      rc = Supervise(session, plan.tasks.size());
      if (rc == cli::kExitOk) rc = Report(session, plan, t0);
    } catch (const RedisUnavailable& e) {
      fmt::print(stderr, "wordcount run: {}\n", e.what());
      rc = cli::kExitRedis;
    } catch (const redis::RedisError& e) {
      fmt::print(stderr, "wordcount run: Redis: {}\n", e.what());
      rc = cli::kExitRedis;
    }
    StopWorkers();
    if (embedded) {
      embedded->Stop();
      std::error_code ec;
      fs::remove_all(workdir_, ec);
    }
    return rc;
  }

 private:
  void Prepare(RedisSession& session, const Plan& plan) {
    session.Run([&](Connection& c) {
      redis::LoadFunctions(c);
      // Only our own keys, never FLUSHALL: the server may hold other data.
      c.Command({"DEL", keys_.stream, keys_.counts, keys_.failed(), keys_.meta()});
      c.Command({"XGROUP", "CREATE", keys_.stream, keys_.group, "0", "MKSTREAM"});
      return 0;
    });
    // Adding tasks is not idempotent; it runs once, in pipelined batches.
    session.Run([&](Connection& c) {
      constexpr size_t kBatch = 1000;
      for (size_t i = 0; i < plan.tasks.size(); i += kBatch) {
        size_t end = std::min(plan.tasks.size(), i + kBatch);
        for (size_t k = i; k < end; ++k) {
          Args args{"XADD", keys_.stream, "*"};
          Args fields = TaskFields(keys_, plan.tasks[k].path, plan.tasks[k].range);
          args.insert(args.end(), fields.begin(), fields.end());
          c.Append(args);
        }
        for (size_t k = i; k < end; ++k) {
          std::string err;
          if (Connection::IsError(c.GetReply(), &err)) throw redis::RedisReplyError(err);
        }
      }
      c.Command({"HSET", keys_.meta(), "tasks", std::to_string(plan.tasks.size()), "files",
                 std::to_string(plan.files), "bytes", std::to_string(plan.bytes), "data_root", data_root_});
      return 0;
    });
    Log::Event("tasks_added", "stream={} tasks={}", keys_.stream, plan.tasks.size());
  }

  void Spawn(const std::string& name, bool crash, bool slow) {
    std::vector<std::string> args = {o_.self_exe, "worker", "--redis", url_, "--name", name,
                                     "--stream", keys_.stream, "--count-key", keys_.counts, "--fname", keys_.fname,
                                     "--data-root", data_root_, "--column", c_.column,
                                     "--claim-idle-ms", std::to_string(c_.claim_idle_ms),
                                     "--commit-max-words", std::to_string(c_.commit_max_words),
                                     "--commit-max-tasks", std::to_string(c_.commit_max_tasks),
                                     "--max-deliveries", std::to_string(c_.max_deliveries),
                                     "--redis-retry-seconds", fmt::format("{}", c_.redis_retry_seconds),
                                     "--logfile", c_.logfile};
    if (crash) args.push_back("--crash");
    if (slow) args.push_back("--slow");
    if (o_.quiet) args.push_back("--quiet");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the coordinator
      if (::getppid() != parent) ::_exit(127);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    workers_.push_back({pid, name, crash, slow});
    Log::Event("worker_spawned", "name={} pid={} crash={} slow={}", name, pid, crash, slow);
  }

  bool JobComplete(RedisSession& session) {
    Reply p = session.Run([&](Connection& c) { return redis::FCall(c, "wc_progress_v1", {keys_.stream}, {keys_.group}); });
    return p[1].integer() == 0 && p[2].integer() == 1;
  }

  int Supervise(RedisSession& session, size_t ntasks) {
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    int normal = o_.workers.value_or(c_.n_normal_workers);
    int crashing = o_.workers ? 0 : c_.n_crashing_workers;
    int sleeping = o_.workers ? 0 : c_.n_sleeping_workers;
    if (ntasks > 0) {
      for (int i = 0; i < normal; ++i) Spawn(fmt::format("w{}", i + 1), false, false);
      for (int i = 0; i < crashing; ++i) Spawn(fmt::format("crash{}", i + 1), true, false);
      for (int i = 0; i < sleeping; ++i) Spawn(fmt::format("sleep{}", i + 1), false, true);
    }
    constexpr int kMaxReplacements = 1000, kMaxRounds = 3;
    int replacements = 0, rounds = 0;
    for (;;) {
      if (int sig = g_stop_signal.load()) {
        Log::Warn("interrupted", "signal={}", sig);
        fmt::print(stderr, "wordcount run: interrupted\n");
        return 128 + sig;
      }
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
          Log::Warn("worker_died", "name={} pid={} signal={}", w.name, w.pid, WTERMSIG(status));
          if (replacements < kMaxReplacements && !JobComplete(session)) {
            ++replacements;
            Spawn(fmt::format("{}-r{}", w.name, replacements), false, w.slow);
          }
        } else {
          int code = WEXITSTATUS(status);
          Log::Event("worker_exited", "name={} pid={} code={}", w.name, w.pid, code);
          if (code == kWorkerExitRedis) return cli::kExitRedis;
        }
      }
      if (workers_.empty()) {
        if (JobComplete(session)) return cli::kExitOk;
        if (++rounds > kMaxRounds) {
          fmt::print(stderr, "wordcount run: the job could not finish after {} rounds of workers\n", kMaxRounds);
          return cli::kExitIncomplete;
        }
        Log::Warn("job_incomplete", "round={} respawning={}", rounds, std::max(1, normal));
        for (int i = 0; i < std::max(1, normal); ++i) Spawn(fmt::format("round{}-w{}", rounds, i + 1), false, false);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void StopWorkers() {
    for (const auto& w : workers_) ::kill(w.pid, SIGTERM);
    for (const auto& w : workers_) ::waitpid(w.pid, nullptr, 0);
    workers_.clear();
  }

  int Report(RedisSession& session, const Plan& plan, std::chrono::steady_clock::time_point t0) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<std::string> failures = plan.failures;
    Reply failed = session.Run([&](Connection& c) { return c.Command({"HGETALL", keys_.failed()}); });
    for (size_t i = 0; i + 1 < failed.size(); i += 2) failures.emplace_back(failed[i + 1].str());

    if (!o_.out.empty()) {
      WordTable counts = ReadCounts(session, keys_.counts);
      WriteTop(stdout, TopCounts(counts, static_cast<size_t>(c_.top)));
      WriteCountsFile(o_.out, SortedCounts(counts));
    } else {
      for (const auto& [w, n] : ReadTop(session, keys_.counts, c_.top)) {
        std::fwrite(w.data(), 1, w.size(), stdout);
        fmt::print(stdout, ": {}\n", n);
      }
    }
    std::fflush(stdout);
    if (!o_.quiet) {
      fmt::print(stderr, "counted {} tasks of {} files ({:.1f} MB) in {:.2f} s ({:.0f} MB/s)\n", plan.tasks.size(),
                 plan.files, plan.bytes / 1e6, secs, secs > 0 ? plan.bytes / 1e6 / secs : 0.0);
    }
    Log::Event("job_done", "tasks={} failed={} seconds={:.3f}", plan.tasks.size(), failures.size(), secs);
    for (const auto& f : failures) fmt::print(stderr, "FAILED {}\n", f);
    if (!failures.empty()) {
      fmt::print(stderr, "{} task(s) failed and were not counted\n", failures.size());
      return cli::kExitInputFailed;
    }
    return cli::kExitOk;
  }

  const JobConfig& c_;
  const RunOptions& o_;
  JobKeys keys_;
  std::string data_root_;
  std::string url_;
  fs::path workdir_;
  std::vector<WorkerProc> workers_;
};

}  // namespace

int RunJob(const JobConfig& config, const RunOptions& options) { return Coordinator(config, options).Run(); }

int PrintTop(const JobConfig& config, const std::string& redis_url, int n) {
  RedisSession session(redis::ParseRedisUrl(redis_url), std::chrono::milliseconds(5000));
  try {
    for (const auto& [w, c] : ReadTop(session, config.count, n)) {
      std::fwrite(w.data(), 1, w.size(), stdout);
      fmt::print(stdout, ": {}\n", c);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "wordcount top: {}\n", e.what());
    return cli::kExitRedis;
  }
  return cli::kExitOk;
}

}  // namespace wc::job

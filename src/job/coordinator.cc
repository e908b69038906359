#include "job/coordinator.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "job/persistence.h"
#include "job/plan.h"
#include "job/redis_session.h"
#include "job/redis_supervisor.h"
#include "job/worker_pool.h"
#include "util/error.h"
#include "util/log.h"
#include "util/paths.h"

namespace wc::job {

namespace fs = std::filesystem;
using redis::Connection;

namespace {

std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal.store(sig); }

using Clock = std::chrono::steady_clock;
std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

class Coordinator {
 public:
  Coordinator(const JobConfig& c, const RunOptions& o, JobObserver* observer)
      : c_(c), o_(o), observer_(observer), store_(KeysOf(c)) {}

  JobReport Run() {
    t0_ = Clock::now();
    report_.mode = c_.mode;
    std::vector<std::string> files;
    try {
      files = ExpandInputs({o_.data.value_or(c_.data_path)});
    } catch (const InputError& e) {
      Fail(JobOutcome::kNoInput, e.what());
      return std::move(report_);
    }
    plan_ = MakePlan(files, c_.chunk_bytes, c_.column);
    report_.tasks = plan_.tasks.size();
    report_.files = plan_.files;
    report_.bytes = plan_.bytes;
    Log::Event("plan", "files={} tasks={} bytes={} rejected={} data_root=\"{}\"", plan_.files,
               plan_.tasks.size(), plan_.bytes, plan_.failures.size(), plan_.data_root);
    if (shuffle() && !PrepareSpill()) return std::move(report_);
    try {
      redis_ = std::make_unique<RedisSupervisor>(
          SupervisorOptions{.external_url = o_.redis_url,
                            .password = c_.redis_password,
                            .persistence = c_.persistence,
                            .redis_args = c_.redis_args,
                            .crash_interval = Ms(c_.redis_restart_interval),
                            .downtime = Ms(c_.redis_downtime)});
    } catch (const std::exception& e) {
      Fail(JobOutcome::kRedis, fmt::format("cannot start Redis: {}", e.what()));
      if (!spill_name_.empty()) RemoveSpill();
      return std::move(report_);
    }
    if (redis_->embedded() && observer_) observer_->RedisStarted(redis_->port());
    session_ = std::make_unique<RedisSession>(SessionOptions{
        .redis = redis_->connect_options(),
        .retry_for = Ms(c_.redis_retry_seconds),
        // A crash during job creation or result reading restarts Redis like any other.
        .between_attempts = [this] { redis_->Tick(/*crashes_allowed=*/false); }});
    persistence_ = std::make_unique<Durability>(c_.persistence, Ms(c_.checkpoint_interval));
    pool_ = std::make_unique<WorkerPool>(o_.self_exe, WorkerTemplate());
    try {
      // The job is created, and saved, before any worker starts: a restart never loses it.
      session_->Run([&](Connection& c) {
        CreateJob(c);
        return 0;
      });
      // Supervise until the job is complete, then read the results; if Redis restarted while
      // they were read (or lost the completion), supervise again.
      while (Supervise() && !Collect()) {
      }
    } catch (const RedisUnavailable& e) {
      Fail(JobOutcome::kRedis, e.what());
    } catch (const redis::RedisError& e) {
      Fail(JobOutcome::kRedis, fmt::format("Redis: {}", e.what()));
    }
    bool complete =
        report_.outcome == JobOutcome::kDone || report_.outcome == JobOutcome::kInputFailed;
    // Workers still running when the job is complete exit by themselves within their poll time
    // (a sleeping worker after its 1 s nap): they get 2 s for that, so that their logs say why.
    pool_->Stop(std::chrono::milliseconds(complete ? 2000 : 0));
    if (!spill_name_.empty()) RemoveSpill();
    redis_->Stop();
    FinishReport();
    return std::move(report_);
  }

 private:
  bool shuffle() const { return c_.mode == Mode::kShuffle; }

  void Fail(JobOutcome outcome, std::string error) {
    report_.outcome = outcome;
    report_.error = std::move(error);
  }

  void FinishReport() {
    report_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    report_.partitions = partitions_;
    report_.forced_restarts = redis_->forced_restarts();
    report_.unplanned_restarts = redis_->unplanned_restarts();
    report_.workers_killed = pool_->killed();
    report_.checkpoints = persistence_->checkpoints();
    report_.checkpoint_failures = persistence_->failures();
    report_.job_creations = creations_;
  }

  // Shuffle mode: the number of partitions and this job's own directory under SPILL_DIR.
  bool PrepareSpill() {
    int workers =
        o_.workers.value_or(c_.n_normal_workers + c_.n_crashing_workers + c_.n_sleeping_workers);
    uint64_t by_size = (plan_.bytes + (128ull << 20) - 1) / (128ull << 20);
    partitions_ =
        c_.partitions > 0
            ? static_cast<uint32_t>(c_.partitions)
            : static_cast<uint32_t>(std::clamp<uint64_t>(
                  std::max<uint64_t>(2ull * static_cast<uint64_t>(std::max(workers, 1)), by_size),
                  1, kMaxPartitions));
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
      Fail(JobOutcome::kUsage, fmt::format("cannot create the spill directory {}: {}",
                                           (spill_root_ / name).string(), ec.message()));
      return false;
    }
    spill_name_ = name;
    Log::Event("spill", "dir=\"{}\" partitions={}", (spill_root_ / name).string(), partitions_);
    return true;
  }

  void RemoveSpill() {
    std::error_code ec;
    fs::remove_all(spill_root_ / spill_name_, ec);
    fs::remove(spill_root_, ec);  // only if empty: other jobs may share it
    Log::Event("spill_removed", "dir=\"{}\" error=\"{}\"", (spill_root_ / spill_name_).string(),
               ec ? ec.message() : "");
  }

  WorkerOptions WorkerTemplate() const {
    WorkerOptions w;
    w.redis = redis_->connect_options();
    w.keys = store_.keys();
    w.data_root = plan_.data_root;
    w.column = c_.column;
    w.spill_root = spill_root_.string();
    w.claim_idle = std::chrono::milliseconds(c_.claim_idle_ms);
    w.commit_max_words = static_cast<size_t>(c_.commit_max_words);
    w.commit_max_tasks = static_cast<size_t>(c_.commit_max_tasks);
    w.max_deliveries = c_.max_deliveries;
    w.redis_retry = Ms(c_.redis_retry_seconds);
    w.logfile = c_.logfile;
    // Workers log to LOGFILE; on the terminal only their errors. The coordinator reports
    // failed tasks and restarts itself.
    w.quiet = true;
    // The password reaches workers through the environment, never their command line.
    if (!w.redis.password.empty()) ::setenv(kPasswordEnv, w.redis.password.c_str(), 1);
    return w;
  }

  // Creates the job and saves it. One attempt.
  void CreateJob(Connection& c) {
    store_.Create(c, JobSpec{.mode = c_.mode, .partitions = partitions_, .spill = spill_name_},
                  plan_);
    persistence_->SaveNow(c);
    reduce_started_ = false;  // a re-created job starts with its map phase
    ++creations_;
    Log::Event("job_created", "stream={} tasks={} mode={} partitions={} creation={}",
               store_.keys().stream, plan_.tasks.size(), ToString(c_.mode), partitions_,
               creations_);
  }

  // Does Redis still hold this job? If a restart restored a state without it (no checkpoint
  // yet, or one taken while it was being created), creates it again.
  void EnsureJob(Connection& c) {
    bool map_phase = false;
    if (store_.Intact(c, plan_.tasks.size(), &map_phase)) {
      // A state from before the reduce phase began: it is started again when the maps are done.
      if (shuffle() && map_phase) reduce_started_ = false;
      return;
    }
    Log::Warn("job_lost", "restored Redis state lacks the job: creating it again");
    CreateJob(c);
  }

  // Shuffle mode: once every map task is acknowledged, adds the reduce tasks (one atomic
  // function call: any checkpoint holds both the tasks and the phase, or neither) and saves.
  void MaybeStartReduce(Connection& c) {
    if (!shuffle() || reduce_started_) return;
    int r = store_.StartReduce(c);
    if (r == -1) return;
    reduce_started_ = true;
    if (r == 1) {
      Log::Event("reduce_phase", "partitions={} after_s={:.3f}", partitions_,
                 std::chrono::duration<double>(Clock::now() - t0_).count());
      persistence_->SaveNow(c);
    }
  }

  void SpawnInitialWorkers() {
    int normal = o_.workers.value_or(c_.n_normal_workers);
    int crashing = o_.workers ? 0 : c_.n_crashing_workers;
    int sleeping = o_.workers ? 0 : c_.n_sleeping_workers;
    // Crashing and sleeping workers first: started after fast normal ones, they could find the
    // stream already drained, and the faults they stand for would never happen.
    for (int i = 0; i < crashing; ++i) pool_->Spawn(fmt::format("crash{}", i + 1), true, false);
    for (int i = 0; i < sleeping; ++i) pool_->Spawn(fmt::format("sleep{}", i + 1), false, true);
    for (int i = 0; i < normal; ++i) pool_->Spawn(fmt::format("w{}", i + 1), false, false);
  }

  // Supervises until Redis says the job is complete (true) or the job ends otherwise (false,
  // with the outcome in the report).
  bool Supervise() {
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    if (plan_.tasks.empty()) return true;
    if (!spawned_initial_) {  // the lab's mix once; later rounds use normal workers only
      spawned_initial_ = true;
      SpawnInitialWorkers();
    }
    constexpr int kMaxRounds = 20;
    int rounds = 0;
    const int round_size = std::max(1, o_.workers.value_or(c_.n_normal_workers));
    RetryClock trouble(Ms(c_.redis_retry_seconds));
    int generation = redis_->generation();
    for (;;) {
      if (int sig = g_stop_signal.load()) {
        Log::Warn("interrupted", "signal={}", sig);
        report_.outcome = JobOutcome::kInterrupted;
        report_.signal = sig;
        return false;
      }
      redis_->Tick(/*crashes_allowed=*/true);
      if (redis_->generation() != generation) check_job_ = true;
      generation = redis_->generation();
      WorkerPool::Reaped reaped = pool_->Reap(/*replace=*/true);
      if (reaped.redis_gave_up) {
        Fail(JobOutcome::kRedis, "a worker gave up on Redis (see LOGFILE)");
        return false;
      }
      try {
        if (!redis_->down()) {
          bool complete = session_->Once([&](Connection& c) {
            if (check_job_) {
              EnsureJob(c);
              check_job_ = false;
            }
            persistence_->MaybeCheckpoint(c);
            MaybeStartReduce(c);
            Progress p = store_.ReadProgress(c);
            Tick(p);
            // Complete as soon as Redis says so; the workers see it too and exit by themselves.
            if (!p.done) return false;
            persistence_->SaveNow(c);  // the result survives a restart from here on
            return store_.ReadProgress(c).done;
          });
          if (complete) return true;
          if (pool_->alive() == 0) {
            if (++rounds > kMaxRounds) {
              Fail(JobOutcome::kIncomplete,
                   fmt::format("the job could not finish after {} rounds of workers", kMaxRounds));
              return false;
            }
            Log::Warn("job_incomplete", "round={} respawning={}", rounds, round_size);
            for (int i = 0; i < round_size; ++i)
              pool_->Spawn(fmt::format("round{}-w{}", rounds, i + 1), false, false);
          }
        }
        trouble.Ok();
      } catch (const redis::RedisIoError& e) {
        // Redis is down or restarting; the loop keeps supervising (and restarting) it.
        check_job_ = true;
        trouble.Trouble(e.what());
      } catch (const redis::RedisReplyError& e) {
        if (!session_->Retryable(e)) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void Tick(const Progress& p) {
    if (!observer_) return;
    ProgressSnapshot s;
    s.progress = p;
    s.mode = c_.mode;
    s.total_tasks = p.entries;
    // Shuffle: the map phase is the input's progress; the reduce tasks come after it.
    if (shuffle())
      s.total_tasks =
          std::max<int64_t>(s.total_tasks, static_cast<int64_t>(plan_.tasks.size()) + partitions_);
    s.bytes = plan_.bytes;
    s.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    s.workers = pool_->alive();
    s.redis_restarts = redis_->generation();
    observer_->Tick(s);
  }

  // Reads the results into the report. They count only if, afterwards, the job is still
  // complete and Redis did not restart while they were read; otherwise returns false.
  bool Collect() {
    int generation = redis_->generation();
    report_.failures = plan_.failures;
    for (auto& f : session_->Run([&](Connection& c) { return store_.Failures(c); }))
      report_.failures.push_back(std::move(f));
    if (o_.want_counts) {
      report_.counts = std::make_unique<WordTable>(
          session_->Run([&](Connection& c) { return store_.Counts(c); }));
    } else {
      report_.top = session_->Run([&](Connection& c) { return store_.Top(c, c_.top); });
    }
    bool complete = session_->Run([&](Connection& c) { return store_.ReadProgress(c).done; });
    bool restarted = generation != redis_->generation();
    if (complete && !restarted) {
      report_.outcome = report_.failures.empty() ? JobOutcome::kDone : JobOutcome::kInputFailed;
      return true;
    }
    Log::Warn("results_reread", "complete={} redis_restarted_while_reading={}", complete,
              restarted);
    return false;
  }

  const JobConfig& c_;
  const RunOptions& o_;
  JobObserver* observer_;
  JobStore store_;
  JobReport report_;
  Plan plan_;
  std::unique_ptr<RedisSupervisor> redis_;
  std::unique_ptr<RedisSession> session_;
  std::unique_ptr<Durability> persistence_;
  std::unique_ptr<WorkerPool> pool_;
  Clock::time_point t0_;
  bool check_job_ = false;
  bool spawned_initial_ = false;
  bool reduce_started_ = false;
  uint32_t partitions_ = 0;
  fs::path spill_root_;     // SPILL_DIR
  std::string spill_name_;  // this job's directory in it
  int creations_ = 0;
};

}  // namespace

JobReport RunJob(const JobConfig& config, const RunOptions& options, JobObserver* observer) {
  return Coordinator(config, options, observer).Run();
}

}  // namespace wc::job

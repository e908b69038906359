#include "job/coordinator.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "job/job_claim.h"
#include "job/persistence.h"
#include "job/plan.h"
#include "job/redis_session.h"
#include "job/redis_supervisor.h"
#include "job/replicated_read.h"
#include "job/results.h"
#include "job/spill_area.h"
#include "job/state_dir.h"
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
    // Every terminating signal gets the same clean stop (the supervision loop sees it): the
    // workers are stopped, the job is saved and kept for a rerun.
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
    report_.mode = c_.mode;
    std::vector<std::string> files;
    try {
      files = ExpandInputs({o_.data.value_or(c_.data_path)});
    } catch (const InputError& e) {
      Fail(JobOutcome::kNoInput, e.what());
      return std::move(report_);
    }
    plan_ = MakePlan(files, c_.chunk_bytes, c_.column);
    if (plan_.tasks.empty() && plan_.missing == plan_.files) {
      Fail(JobOutcome::kNoInput, plan_.failures.empty() ? "no input" : plan_.failures.front());
      return std::move(report_);
    }
    report_.tasks = plan_.tasks.size();
    report_.files = plan_.files;
    report_.bytes = plan_.bytes;
    Log::Event("plan", "files={} tasks={} bytes={} rejected={} data_root=\"{}\"", plan_.files,
               plan_.tasks.size(), plan_.bytes, plan_.failures.size(), plan_.data_root);
    if (shuffle()) {
      int workers =
          o_.workers.value_or(c_.n_normal_workers + c_.n_crashing_workers + c_.n_sleeping_workers);
      partitions_ = c_.partitions > 0 ? static_cast<uint32_t>(c_.partitions)
                                      : DefaultPartitions(plan_.bytes, workers);
    }
    digest_ = PlanDigest(
        plan_, fmt::format("mode={} column={} parts={} in={} count={} fname={}", ToString(c_.mode),
                           c_.column, partitions_, c_.in, c_.count, c_.fname));
    try {
      state_root_ = c_.state_dir.empty() ? DefaultStateRoot() : c_.state_dir;
      redis_ = std::make_unique<RedisSupervisor>(
          SupervisorOptions{.external_url = o_.redis_url,
                            .external_sentinel = SentinelOptionsFrom(o_.sentinels, o_.master_name),
                            .ha = c_.redis_ha,
                            .replicas = c_.redis_replicas,
                            .down_after = std::chrono::milliseconds(c_.sentinel_down_after_ms),
                            .password = c_.redis_password,
                            .state_root = state_root_,
                            .state_key = digest_.substr(0, 16),
                            .persistence = c_.persistence,
                            .redis_args = c_.redis_args,
                            .crash_interval = Ms(c_.redis_restart_interval),
                            .downtime = Ms(c_.redis_downtime)});
    } catch (const StateBusy& e) {
      Fail(JobOutcome::kRefused, e.what());
      return std::move(report_);
    } catch (const UsageError& e) {
      Fail(JobOutcome::kUsage, e.what());
      return std::move(report_);
    } catch (const std::exception& e) {
      Fail(JobOutcome::kRedis, fmt::format("cannot start Redis: {}", e.what()));
      return std::move(report_);
    }
    if (redis_->embedded() && observer_) observer_->RedisStarted(redis_->port());
    session_ = std::make_unique<RedisSession>(SessionOptions{
        .redis = redis_->connect_options(),
        .sentinel = redis_->sentinel(),
        .retry_for = Ms(c_.redis_retry_seconds),
        // A crash during job creation or result reading restarts Redis like any other.
        .between_attempts = [this] { redis_->Tick(/*crashes_allowed=*/false); }});
    persistence_ = std::make_unique<Durability>(c_.persistence, Ms(c_.checkpoint_interval));
    try {
      // The job is created (or resumed), and saved, before any worker starts.
      if (Begin()) {
        // Supervise until the job is complete, then read the results; if Redis restarted while
        // they were read (or lost the completion), supervise again.
        while (Supervise() && !Collect()) {
        }
      }
    } catch (const EvictionRisk& e) {  // job/job_claim.h
      Fail(JobOutcome::kRefused, e.what());
    } catch (const UsageError& e) {  // e.g. SPILL_DIR unusable
      Fail(JobOutcome::kUsage, e.what());
    } catch (const LeaseLost& e) {
      Fail(JobOutcome::kRefused, fmt::format("lost the job's lease: {}", e.what()));
    } catch (const RedisUnavailable& e) {
      Fail(JobOutcome::kRedis, e.what());
    } catch (const redis::RedisError& e) {
      Fail(JobOutcome::kRedis, fmt::format("Redis: {}", e.what()));
    }
    Finish();
    return std::move(report_);
  }

 private:
  bool shuffle() const { return c_.mode == Mode::kShuffle; }
  bool ended_well() const {
    return report_.outcome == JobOutcome::kDone || report_.outcome == JobOutcome::kInputFailed;
  }

  void Fail(JobOutcome outcome, std::string error) {
    report_.outcome = outcome;
    report_.error = std::move(error);
  }

  // After the job: workers stopped, the spill directory removed and the lease released if the
  // job ended here (a job left unfinished keeps both, so that a rerun resumes it), Redis
  // stopped.
  void Finish() {
    // Workers still running when the job is complete exit by themselves within their poll time
    // (a sleeping worker after its 1 s nap): they get 2 s for that, so that their logs say why.
    if (pool_) pool_->Stop(std::chrono::milliseconds(ended_well() ? 2000 : 0));
    if (ended_well()) {
      spill_.Remove();
      try {
        session_->Once([&](Connection& c) {
          claim_->Release(c);  // also drops a shuffle job's reduced runs
          // An external Redis keeps the result: saved, it survives a restart from here on. (An
          // embedded one is removed with the job's state directory: nothing to save. A result
          // read before a crash is exact either way: a rerun finds the job done, or resumes it
          // from the last checkpoint.)
          if (!redis_->embedded()) persistence_->SaveNow(c);
          return 0;
        });
      } catch (const redis::RedisError&) {
        // the lease expires by itself; the last checkpoint stands
      }
    }
    if (!ended_well() && redis_->embedded()) {
      // Kept for a rerun to resume from: save what the job has (no save points on shutdown).
      try {
        session_->Once([&](Connection& c) {
          persistence_->SaveNow(c);
          return 0;
        });
      } catch (const redis::RedisError&) {
        // the last checkpoint stands
      }
    }
    // A run that never held the job (refused) leaves nothing it made behind.
    bool never_held = !claim_ || claim_->id().empty();
    redis_->Stop(/*remove_state=*/ended_well() || (never_held && redis_->fresh_state()));
    report_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    report_.partitions = partitions_;
    report_.forced_restarts = redis_->forced_restarts();
    report_.unplanned_restarts = redis_->unplanned_restarts();
    report_.workers_killed = pool_ ? pool_->killed() : 0;
    report_.checkpoints = persistence_->checkpoints();
    report_.checkpoint_failures = persistence_->failures();
    report_.job_creations = creations_;
    report_.job_id = job_id_;
  }

  JobIdentity Identity(const std::string& spill) const {
    return JobIdentity{.digest = digest_,
                       .mode = c_.mode,
                       .tasks = static_cast<uint32_t>(plan_.tasks.size()),
                       .parts = partitions_,
                       .spill = spill,
                       .column = c_.column};
  }

  // Claims the keys: creates the job, resumes it, or finds it done. Returns false (with the
  // outcome set) if another job holds the keys.
  bool Begin() {
    const std::string new_id = JobClaim::NewId();
    const std::string spill = shuffle() ? "job-" + new_id : "";
    claim_ = std::make_unique<JobClaim>(
        store_, ClaimSpec{Identity(spill), JobClaim::Owner(), Info(), o_.replace});
    BeginResult b = session_->Run([&](Connection& c) {
      RefuseEvictingRedis(c);
      return claim_->Begin(c, new_id);
    });
    switch (b.kind) {
      case BeginResult::Kind::kCreated:
        Adopt(spill);
        // Writes the plan; if Redis restarts meanwhile (without the job, or with it half
        // created), EnsureJob begins again as needed.
        session_->Run([&](Connection& c) {
          EnsureJob(c);
          return 0;
        });
        return true;
      case BeginResult::Kind::kResumed:
        Adopt(RecordSpill());
        Log::Event("job_resumed", "job={} state={} epoch={}", b.id, b.state, b.epoch);
        return true;
      case BeginResult::Kind::kDone:
        Adopt(RecordSpill());
        Log::Event("job_found_done", "job={}", b.id);
        return true;
      default:
        Fail(JobOutcome::kRefused, JobClaim::Refusal(b, c_.in));
        return false;
    }
  }

  std::vector<std::pair<std::string, std::string>> Info() const {
    return {{"count_key", c_.count},
            {"files", std::to_string(plan_.files)},
            {"bytes", std::to_string(plan_.bytes)},
            {"data_root", plan_.data_root}};
  }

  std::string RecordSpill() {
    return session_->Run([&](Connection& c) { return store_.State(c).Get("spill"); });
  }

  // Takes the job: its spill directory, and the workers' settings.
  void Adopt(const std::string& spill) {
    job_id_ = claim_->id();
    if (shuffle()) {
      spill_.Prepare(
          c_.spill_dir.empty() ? fs::path(state_root_) / "spill" : fs::path(c_.spill_dir), spill);
      Log::Event("spill", "dir=\"{}\" partitions={}", spill_.dir().string(), partitions_);
    }
    WorkerOptions w = WorkerOptionsFor(c_);
    w.redis = redis_->connect_options();
    w.sentinel = redis_->sentinel();
    w.job = job_id_;
    w.spill_root = spill_.root().string();
    // The password reaches workers through the environment, never their command line.
    if (!w.redis.password.empty()) ::setenv(kPasswordEnv, w.redis.password.c_str(), 1);
    pool_ = std::make_unique<WorkerPool>(o_.self_exe, w);
  }

  // Makes Redis hold our job (JobClaim::Ensure); saves it if its plan was (re)written.
  void EnsureJob(Connection& c) {
    if (!claim_->Ensure(c, plan_.tasks)) return;
    reduce_seen_ = false;  // a re-created shuffle job runs its reduce phase again
    persistence_->SaveNow(c);
    ++creations_;
    Log::Event("job_created", "job={} stream={} tasks={} mode={} partitions={} creation={}",
               job_id_, c_.in, plan_.tasks.size(), ToString(c_.mode), partitions_, creations_);
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
    local_workers_ = crashing + sleeping + normal;
  }

  // Supervises until Redis says the job is complete (true) or the job ends otherwise (false,
  // with the outcome in the report).
  bool Supervise() {
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
      if (reaped.output_failed) {
        Fail(JobOutcome::kOutput,
             fmt::format("a worker could not write its map output to {} (full or unwritable? "
                         "its error is in LOGFILE); the job is kept for a rerun",
                         spill_.root().string()));
        return false;
      }
      if (reaped.redis_gave_up) {
        Fail(JobOutcome::kRedis, "a worker gave up on Redis: " + RedisTrouble());
        return false;
      }
      try {
        if (!redis_->down()) {
          std::string state = session_->Once([&](Connection& c) { return Step(c); });
          if (state == "done") return true;
          if (state == "failed") {
            Fail(JobOutcome::kIncomplete, "the job was failed in Redis");
            return false;
          }
          if (pool_->alive() == 0 && local_workers_ > 0) {
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
      } catch (const LeaseLost& e) {
        Fail(JobOutcome::kRefused, fmt::format("lost the job's lease: {}", e.what()));
        return false;
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

  // Why a worker may have given up on Redis, as far as the coordinator can see.
  std::string RedisTrouble() {
    try {
      std::string oom = session_->Once([&](Connection& c) { return store_.OutOfMemory(c); });
      return oom.empty() ? "its error is in LOGFILE (exit reason=redis_error)" : oom;
    } catch (const redis::RedisError& e) {
      return std::string("Redis: ") + e.what();
    }
  }

  // One supervision step on a live Redis; returns the job's state ("done" only once saved).
  std::string Step(Connection& c) {
    if (check_job_) {
      EnsureJob(c);
      check_job_ = false;
    }
    claim_->Renew(c);
    persistence_->MaybeCheckpoint(c);
    JobState s = store_.State(c);
    if (s.id() != job_id_) throw LeaseLost(fmt::format("job {} took the keys", s.id()));
    Tick(s);
    if (s.state() == "reduce" && !reduce_seen_) {
      // The function that acknowledged the last map started the reduce phase; save it.
      reduce_seen_ = true;
      Log::Event("reduce_phase", "partitions={} after_s={:.3f}", partitions_,
                 std::chrono::duration<double>(Clock::now() - t0_).count());
      persistence_->SaveNow(c);
    }
    return s.state();
  }

  void Tick(const JobState& s) {
    if (!observer_) return;
    ProgressSnapshot p;
    p.mode = c_.mode;
    p.phase = s.state();
    p.total_tasks = static_cast<int64_t>(plan_.tasks.size()) + (shuffle() ? partitions_ : 0);
    p.done_tasks = s.Int("done_tasks") + s.Int("done_parts");
    p.pending = s.Int("pending");
    p.bytes = plan_.bytes;
    p.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    p.workers = pool_->alive();
    p.redis_restarts = redis_->generation();
    observer_->Tick(p);
  }

  // Reads the result (job/results.h). It counts only if, afterwards, the job is still complete
  // and Redis did not restart while it was read; otherwise returns false (supervise again).
  bool Collect() {
    int generation = redis_->generation();
    JobState s = session_->Run([&](Connection& c) { return store_.State(c); });
    const int connection = session_->connections();
    JobResult r = session_->Run(
        [&](Connection& c) { return ReadResult(store_, c, s, o_.want_counts, c_.top); });
    bool complete = session_->Run([&](Connection& c) { return store_.State(c).done(); });
    bool restarted = generation != redis_->generation();
    // Replicated: read on one server, still the primary, its replicas holding the completion.
    if (complete && !restarted && redis_->sentinel().enabled())
      restarted = !ConfirmedOnPrimary(*session_, connection);
    if (!complete || restarted || s.id() != job_id_) {
      Log::Warn("results_reread", "complete={} redis_restarted_while_reading={}", complete,
                restarted);
      return false;
    }
    if (!r.mismatch.empty()) {
      Fail(JobOutcome::kVerifyFailed, r.mismatch);
      return true;
    }
    report_.failures = plan_.failures;
    report_.failures.insert(report_.failures.end(), r.failures.begin(), r.failures.end());
    report_.top = std::move(r.top);
    report_.counts = std::move(r.counts);
    report_.outcome = report_.failures.empty() ? JobOutcome::kDone : JobOutcome::kInputFailed;
    return true;
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
  std::unique_ptr<JobClaim> claim_;
  std::string job_id_, digest_, state_root_;
  bool check_job_ = false;
  bool spawned_initial_ = false;
  bool reduce_seen_ = false;
  int local_workers_ = 0;
  uint32_t partitions_ = 0;
  SpillArea spill_;  // shuffle: SPILL_DIR/job-<id>
  int creations_ = 0;
};

}  // namespace

JobReport RunJob(const JobConfig& config, const RunOptions& options, JobObserver* observer) {
  return Coordinator(config, options, observer).Run();
}

}  // namespace wc::job

#include "job/coordinator.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "job/coordinator_redis.h"
#include "job/job_claim.h"
#include "job/job_keeper.h"
#include "job/job_spec.h"
#include "job/local_workers.h"
#include "job/replicated_read.h"
#include "job/results.h"
#include "job/spill_area.h"
#include "job/state_dir.h"
#include "util/error.h"
#include "util/log.h"
#include "util/signals.h"

namespace wc::job {

namespace fs = std::filesystem;
using redis::Connection;

namespace {

using Clock = std::chrono::steady_clock;

// The job record's info field naming the coordinator's SPILL_DIR (shuffle), absolute.
constexpr const char* kSpillRootField = "spill_root";

// The `reason=` of the coordinator's `exit` line for an outcome.
const char* ReasonOf(JobOutcome o) {
  switch (o) {
    case JobOutcome::kDone:
      return "done";
    case JobOutcome::kInputFailed:
      return "input_failed";
    case JobOutcome::kNoInput:
      return "no_input";
    case JobOutcome::kUsage:
      return "usage";
    case JobOutcome::kRedis:
      return "redis";
    case JobOutcome::kIncomplete:
      return "incomplete";
    case JobOutcome::kInterrupted:
      return "interrupted";
    case JobOutcome::kRefused:
      return "refused";
    case JobOutcome::kVerifyFailed:
      return "verify_failed";
    case JobOutcome::kOutput:
      return "output_error";
  }
  return "unknown";
}

class Coordinator {
 public:
  Coordinator(const JobConfig& c, const RunOptions& o, JobObserver* observer)
      : c_(c), o_(o), observer_(observer), store_(KeysOf(c)), mix_(WorkerMix::For(c, o.workers)) {}

  JobReport Run() {
    t0_ = Clock::now();
    // A stop (util/signals.h: every terminating signal main answers with kStopCleanly, or a
    // reader that went away) is seen by the supervision loop and by every wait for Redis: the
    // workers are stopped, the job is saved and kept for a rerun.
    report_.mode = c_.mode;
    try {
      spec_ = PlanJob(c_, o_.inputs, mix_.total());
    } catch (const NoInput& e) {
      Fail(JobOutcome::kNoInput, e.what());
      return std::move(report_);
    }
    report_.tasks = spec_.plan.tasks.size();
    report_.files = spec_.plan.files;
    report_.bytes = spec_.plan.bytes;
    report_.rejected_files = spec_.plan.failures.size();
    try {
      state_root_ = c_.state_dir.empty() ? DefaultStateRoot() : c_.state_dir;
      // An embedded Redis's socket too long for a unix socket (STATE_DIR too deep) is refused
      // before anything is made (the default SPILL_DIR is in STATE_DIR too).
      if (o_.redis_url.empty() && o_.sentinels.empty() && c_.redis_ha != RedisHa::kSentinel)
        StateDir::SocketPathFor(StateDir::PathFor(state_root_, spec_.digest.substr(0, 16)));
      // An unusable SPILL_DIR is a usage error before anything is made (state directory,
      // Redis, the job).
      if (spec_.shuffle()) spill_.PrepareRoot(SpillRoot(), /*root_is_ours=*/c_.spill_dir.empty());
      redis_ = std::make_unique<CoordinatorRedis>(c_, o_.redis_url, o_.sentinels, o_.master_name,
                                                  state_root_, spec_.digest);
    } catch (const StateBusy& e) {
      Fail(JobOutcome::kRefused, e.what());
      spill_.Remove();  // a root made by PrepareRoot, if empty
      return std::move(report_);
    } catch (const UsageError& e) {
      Fail(JobOutcome::kUsage, e.what());
      spill_.Remove();
      return std::move(report_);
    } catch (const OutputError& e) {  // e.g. a full STATE_DIR
      Fail(JobOutcome::kOutput, e.what());
      spill_.Remove();
      return std::move(report_);
    } catch (const redis::RedisConfigError& e) {  // a configuration error, not Redis trouble
      Fail(
          JobOutcome::kUsage,
          fmt::format("the embedded redis-server refused its options (REDIS_ARGS?): {}", e.what()));
      spill_.Remove();
      return std::move(report_);
    } catch (const redis::RedisExitedAtStart& e) {
      // REDIS_ARGS that redis-server takes but cannot start with (TLS options without their
      // certificates: held-out pass 25 saw exit 4) are a usage error, as refused ones are.
      if (c_.redis_args.empty()) {
        Fail(JobOutcome::kRedis, fmt::format("cannot start Redis: {}", e.what()));
      } else {
        Fail(JobOutcome::kUsage,
             fmt::format("the embedded redis-server exited at start with REDIS_ARGS {} "
                         "(REDIS_ARGS?): {}",
                         EscapeForLog(fmt::format("{}", fmt::join(c_.redis_args, " "))), e.what()));
      }
      spill_.Remove();
      return std::move(report_);
    } catch (const std::exception& e) {
      Fail(JobOutcome::kRedis, fmt::format("cannot start Redis: {}", e.what()));
      spill_.Remove();
      return std::move(report_);
    }
    NoteSpillRootMaker();
    if (server().embedded() && observer_) observer_->RedisStarted(server().url());
    try {
      if (int sig = StopSignal()) throw Interrupted(sig);
      // The job is created (or resumed), and saved, before any worker starts.
      if (Begin()) {
        // Supervise until the job is complete, then read the results; if Redis restarted while
        // they were read (or lost the completion), supervise again.
        while (Supervise() && !Collect()) {
        }
      }
    } catch (const Interrupted& e) {  // job/redis_session.h: a stop while it waited for Redis
      Stopped(e.signal());
    } catch (const EvictionRisk& e) {  // job/job_claim.h
      Fail(JobOutcome::kRefused, e.what());
    } catch (const UsageError& e) {  // e.g. SPILL_DIR unusable
      Fail(JobOutcome::kUsage, e.what());
    } catch (const LeaseLost& e) {
      Fail(JobOutcome::kRefused, fmt::format("lost the job's lease: {}", e.what()));
    } catch (const JobIncomplete& e) {  // job/local_workers.h
      Fail(JobOutcome::kIncomplete, e.what());
    } catch (const RedisUnavailable& e) {
      Fail(JobOutcome::kRedis, e.what());
    } catch (const redis::RedisAuthError& e) {  // a password missing or wrong: usage
      Fail(JobOutcome::kUsage, PasswordTrouble(e));
    } catch (const redis::RedisPermissionError& e) {  // an ACL: retrying cannot help
      Fail(JobOutcome::kRefused, e.what());
    } catch (const redis::RedisLibraryConflict& e) {  // another library holds our names
      Fail(JobOutcome::kRefused, e.what());
    } catch (const redis::RedisReplyError& e) {
      if (e.prefix() == "OOM") {
        FailOutOfMemory(e.what());
      } else {
        std::string held = WrongTypes();  // WRONGTYPE, or "ERR wc: key ... is a string" (mylib)
        Fail(held.empty() ? JobOutcome::kRedis : JobOutcome::kRefused,
             held.empty() ? redis::Describe(e) : held);
      }
    } catch (const redis::RedisError& e) {
      Fail(JobOutcome::kRedis, redis::Describe(e));
    } catch (const OutputError& e) {  // e.g. the embedded Redis could not save: STATE_DIR full
      Fail(JobOutcome::kOutput, e.what());
    }
    Finish();
    return std::move(report_);
  }

 private:
  bool ended_well() const {
    return report_.outcome == JobOutcome::kDone || report_.outcome == JobOutcome::kInputFailed;
  }
  RedisSupervisor& server() { return redis_->server(); }
  RedisSession& session() { return redis_->session(); }
  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  void Fail(JobOutcome outcome, std::string error) {
    report_.outcome = outcome;
    report_.error = std::move(error);
  }

  // Redis refused a write of the job with OOM (`error`: its reply). The job's keys do not fit in
  // the server's maxmemory; an embedded Redis has it from REDIS_ARGS: the configuration's error.
  // A server that evicts them is the eviction refusal.
  void FailOutOfMemory(const std::string& error) {
    if (server().embedded()) {
      Fail(JobOutcome::kUsage,
           fmt::format("the embedded Redis ran out of memory: REDIS_ARGS sets a maxmemory "
                       "below what the job needs (raise it, or leave it out): {}",
                       error));
    } else if (std::string evicted = EvictedKeys(); !evicted.empty()) {
      Fail(JobOutcome::kRefused, evicted);  // it evicts, and even so ran out
    } else {
      Fail(JobOutcome::kRedis,
           fmt::format("Redis {} ran out of memory: its maxmemory is below what the job needs: {}",
                       server().url(), error));
    }
  }

  void Stopped(int sig) {
    Log::Warn("interrupted", "signal={}", sig);
    report_.outcome = JobOutcome::kInterrupted;
    report_.signal = sig;
  }

  // After the job: workers stopped, the spill directory removed and the lease released if the
  // job ended here (a job left unfinished keeps both, so that a rerun resumes it), Redis
  // stopped (job/coordinator_redis.h).
  void Finish() {
    // Workers still running when the job is complete exit by themselves within their poll time
    // (a sleeping worker after its 1 s nap): they get 2 s for that, so that their logs say why.
    if (workers_) workers_->Stop(std::chrono::milliseconds(ended_well() ? 2000 : 0));
    // A job that is done has no use for its map outputs, also when its result failed the check.
    // (Without a job directory, Remove() removes only a SPILL_DIR this run made, if empty.)
    if (ended_well() || report_.outcome == JobOutcome::kVerifyFailed || !spill_.prepared())
      spill_.Remove();
    // A run that never held the job (refused), or that ended on a usage error (SPILL_DIR, a
    // password) before it had workers, leaves nothing it made behind: a state directory it
    // created goes, also if it had created the job in it (nothing was counted: nothing to
    // resume).
    bool held = claim_ && !claim_->id().empty() &&
                !(report_.outcome == JobOutcome::kUsage && workers_ == nullptr);
    using Ending = CoordinatorRedis::Ending;
    redis_->Close(ended_well()                                   ? Ending::kOver
                  : report_.outcome == JobOutcome::kVerifyFailed ? Ending::kResultDamaged
                                                                 : Ending::kKept,
                  held, [&](Connection& c) {
                    claim_->Release(c);  // also drops a shuffle job's reduced runs
                  });
    report_.seconds = Elapsed();
    report_.partitions = spec_.partitions;
    report_.forced_restarts = server().forced_restarts();
    report_.unplanned_restarts = server().unplanned_restarts();
    report_.seen_restarts = server().seen_restarts();
    report_.failovers = server().failovers();
    report_.workers_killed = workers_ ? workers_->killed() : 0;
    report_.workers_crashed = workers_ ? workers_->crashed() : 0;
    report_.already_done = already_done_;
    report_.done_before = done_before_;
    report_.checkpoints = redis_->durability().checkpoints();
    report_.checkpoint_failures = redis_->durability().failures();
    report_.job_creations = keeper_ ? keeper_->creations() : 0;
    report_.job_id = claim_ ? claim_->id() : "";
  }

  // Claims the keys: creates the job, resumes it, or finds it done. Returns false (with the
  // outcome set) if another job holds the keys.
  bool Begin() {
    const std::string new_id = JobClaim::NewId();
    const std::string spill = spec_.shuffle() ? "job-" + new_id : "";
    // The record keeps where this coordinator's map outputs are: a job that replaces this one
    // removes them even if it has another SPILL_DIR, or is a direct job.
    auto info = spec_.Info();
    if (spec_.shuffle()) info.emplace_back(kSpillRootField, fs::absolute(SpillRoot()).string());
    // Every worker, hand-started ones too, gives an unreadable task the job's number of tries.
    info.emplace_back("max_deliveries", std::to_string(c_.max_deliveries));
    claim_ = std::make_unique<JobClaim>(store_, ClaimSpec{spec_.Identity(spill), JobClaim::Owner(),
                                                          info, o_.replace, server().url()});
    keeper_ = std::make_unique<JobKeeper>(*claim_, store_, redis_->durability(), spec_);
    JobState before;  // the record this job may replace
    BeginResult b = session().Run([&](Connection& c) {
      RefuseEvictingRedis(c, server().url());
      // Everything the job will ask of this server, asked of its ACL now (exit 7), before a job
      // exists that a later run would have to replace (held-out passes 14 to 16 found INFO,
      // XPENDING and SAVE one at a time).
      RefuseDeniedCommands(c, store_, spec_.mode, redis_->durability().Commands(c));
      before = store_.State(c);
      return claim_->Begin(c, new_id);
    });
    switch (b.kind) {
      case BeginResult::Kind::kCreated:
        Adopt(spill);
        // A job whose COUNT another stream's job took over is counted again: said (held-out
        // pass 25: a rerun of such a done job counted it again in silence).
        if (const std::string taker = before.Get("count_taken_by"); !taker.empty()) {
          Log::Warn("count_taken_over",
                    "job={} state={} error=\"its COUNT '{}' holds the result of the job of stream "
                    "'{}' now: counting this job again\"",
                    before.id(), before.state(), c_.count, taker);
        }
        // A replaced job's map outputs, where its record says they are.
        spill_.RemoveReplaced(b.replaced_spill, before.Get("spill") == b.replaced_spill
                                                    ? before.Get(kSpillRootField)
                                                    : std::string());
        // Writes the plan; if Redis restarts meanwhile (without the job, or with it half
        // created), Ensure begins again as needed.
        session().Run([&](Connection& c) {
          keeper_->Ensure(c);
          return 0;
        });
        return true;
      case BeginResult::Kind::kResumed:
        Adopt(RecordSpill());
        done_before_ = DoneTasks();
        Log::Event("job_resumed", "job={} state={} epoch={}", b.id, b.state, b.epoch);
        return true;
      case BeginResult::Kind::kDone:
        Adopt(RecordSpill());
        already_done_ = true;
        done_before_ = spec_.total_tasks();
        Log::Event("job_found_done", "job={}", b.id);
        return true;
      default:
        Fail(JobOutcome::kRefused, JobClaim::Refusal(b, c_.in));
        return false;
    }
  }

  // Tasks (maps and reduces) the job has done so far.
  int64_t DoneTasks() {
    return session().Run([&](Connection& c) {
      JobState s = store_.State(c);
      return s.Int("done_tasks") + s.Int("done_parts");
    });
  }

  // A SPILL_DIR root made by a run of this job is removed by the run that finishes the job, if
  // it is empty, also when an interrupted run made it and a rerun finishes: the run that makes
  // it records that in the job's state directory (an embedded Redis's; an external Redis has
  // none: only the run that made it removes it then). A root it did not make is never removed.
  void NoteSpillRootMaker() {
    if (!spec_.shuffle() || c_.spill_dir.empty()) return;  // the default root is always ours
    const std::string state = server().state_path();
    if (state.empty()) return;
    const std::string record = state + "/spill_root_made";
    const std::string root = spill_.root().string();
    if (spill_.made_root()) {
      int fd = ::open(record.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) return;  // not recorded: a rerun leaves the (empty) root, as before
      bool ok = ::write(fd, root.data(), root.size()) == static_cast<ssize_t>(root.size());
      ::close(fd);
      if (!ok) ::unlink(record.c_str());
      return;
    }
    int fd = ::open(record.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    std::string made(root.size() + 1, '\0');
    ssize_t n = ::read(fd, made.data(), made.size());
    ::close(fd);
    if (n == static_cast<ssize_t>(root.size()) && made.compare(0, root.size(), root) == 0)
      spill_.RootMadeByEarlierRun();
  }

  std::string RecordSpill() {
    return session().Run([&](Connection& c) { return store_.State(c).Get("spill"); });
  }

  // SPILL_DIR, or by default STATE_DIR/spill: this user's (FindOwnEntry: in a shared STATE_DIR
  // where another user holds spill, a private spill.XXXXXX beside it), decided once.
  fs::path SpillRoot() {
    if (spill_root_.empty()) {
      spill_root_ = c_.spill_dir.empty() ? FindOwnEntry(state_root_, "spill").path : c_.spill_dir;
    }
    return spill_root_;
  }

  // Takes the job: its spill directory, and the workers' settings. LOGFILE starts afresh only
  // now (util/log.h): a run that ended before (no input, refused) left the earlier log alone.
  void Adopt(const std::string& spill) {
    Log::StartAfresh();
    if (spec_.shuffle()) {
      spill_.Prepare(SpillRoot(), spill, /*root_is_ours=*/c_.spill_dir.empty());
      Log::Event("spill", "dir=\"{}\" partitions={}", spill_.dir().string(), spec_.partitions);
    }
    WorkerOptions w = WorkerOptionsFor(c_);
    w.redis = server().connect_options();
    w.sentinel = server().sentinel();
    w.job = claim_->id();
    w.spill_root = spill_.root().string();
    workers_ = std::make_unique<LocalWorkers>(o_.self_exe, w, mix_);
  }

  // Supervises until Redis says the job is complete (true) or the job ends otherwise: false
  // with the outcome in the report, or thrown (LeaseLost, JobIncomplete, RedisUnavailable).
  bool Supervise() {
    workers_->Start();  // the lab's mix once; rounds of normal workers later
    RetryClock trouble(session().retry_for());
    int generation = server().generation();
    bool restarting = false;  // the server changed; the new one may not answer yet
    for (;;) {
      if (int sig = StopSignal()) {
        Stopped(sig);
        return false;
      }
      // A forced crash waits until a checkpoint holds some of the work done since Redis
      // (re)started: otherwise it throws the whole window's work away, and a job whose commits
      // all fall after each window's checkpoint (or whose checkpoints fail for good: a full
      // STATE_DIR) redoes the same work window after window. The job may end first.
      const Durability& d = redis_->durability();
      const std::string wait =
          d.last_failed() ? "the last checkpoint failed: " + d.Where()
          : !d.WindowSaved()
              ? std::string("no checkpoint holds work done since Redis (re)started yet")
              : std::string();
      if (!wait.empty() && server().CrashDue() && !crash_postponed_)
        Log::Warn("redis_crash_postponed", "why=\"{}\"", wait);
      crash_postponed_ = !wait.empty() && server().CrashDue();
      server().Tick(/*crashes_allowed=*/wait.empty());
      if (server().generation() != generation) {
        keeper_->Recheck();
        restarting = true;
      }
      generation = server().generation();
      if (restarting && !server().down()) {
        redis_->durability().ServerStarted();
        restarting = false;
      }
      WorkerPool::Reaped reaped = workers_->Reap();
      if (reaped.output_failed) {
        Fail(JobOutcome::kOutput, spill_.OutputTrouble(TaskInputBytes(spec_.plan)));
        return false;
      }
      if (reaped.usage_failed) {  // e.g. LOGFILE replaced by a link: another round fails alike
        Fail(JobOutcome::kUsage,
             "a worker refused its environment (its error is above): not respawned");
        return false;
      }
      if (reaped.refused) {  // an ACL denies workers a command: another round fails alike
        Fail(JobOutcome::kRefused,
             reaped.refused_error.empty()
                 ? "a worker was refused by Redis's ACL (NOPERM): its error is in LOGFILE (its "
                   "'exit' event); not respawned"
                 : "a worker was refused: " + reaped.refused_error);
        return false;
      }
      if (reaped.redis_gave_up) {
        // A server that evicts the job's keys now: the README's eviction refusal (exit 7), as
        // when the coordinator finds the job gone first (JobClaim::Ensure).
        if (std::string evicted = EvictedKeys(); !evicted.empty()) {
          Fail(JobOutcome::kRefused, evicted);
          return false;
        }
        // What Redis says now (out of memory, keys lost), else the worker's own error (OOM
        // refused its write though the memory is below the mark now).
        std::string why = RedisTrouble();
        if (why.rfind("its error is in LOGFILE", 0) == 0 && !reaped.redis_error.empty()) {
          // Redis's own words name no server: an OOM is said as the coordinator's own.
          if (reaped.redis_error.rfind("OOM ", 0) == 0) {
            FailOutOfMemory(reaped.redis_error);
            return false;
          }
          why = reaped.redis_error;
        }
        Fail(JobOutcome::kRedis, "a worker gave up on Redis: " + why);
        return false;
      }
      const auto began = Clock::now();
      try {
        if (!server().down()) {
          std::string state =
              session().Once([&](Connection& c) { return Step(c); }, trouble.Left());
          if (state == "done") return true;
          if (state == "failed") throw JobIncomplete("the job was failed in Redis");
          workers_->KeepUp();  // a round of workers if every local one has exited
        }
        trouble.Ok();
      } catch (const redis::RedisIoError& e) {
        // Redis is down or restarting; the loop keeps supervising (and restarting) it. A server
        // that does not answer (SIGSTOP, hung) is restarted like one that died.
        // The trouble counts from the call that first failed (no call waits longer than
        // REDIS_RETRY_SECONDS in all); from now if the server was just restarted.
        keeper_->Recheck();
        if (e.timeout() && server().Unanswered()) {
          trouble.Trouble(e.what());
        } else {
          trouble.Trouble(e.what(), began);
        }
      } catch (const redis::RedisReplyError& e) {
        if (!session().Retryable(e)) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Which of the job's keys hold a value of another type (after a WRONGTYPE), "" if none or
  // Redis cannot tell.
  std::string WrongTypes() {
    try {
      return session().Once([&](Connection& c) { return store_.WrongTypes(c); });
    } catch (const redis::RedisError&) {
      return "";
    }
  }

  // Why the job's keys are evicted (JobClaim::Evicted), "" if they are not or Redis cannot tell.
  std::string EvictedKeys() {
    try {
      if (!claim_) return "";
      return session().Once([&](Connection& c) { return claim_->Evicted(c); });
    } catch (const redis::RedisError&) {
      return "";
    }
  }

  // Why a worker may have given up on Redis, as far as the coordinator can see.
  std::string RedisTrouble() {
    try {
      std::string why = session().Once([&](Connection& c) {
        std::string oom = store_.OutOfMemory(c, server().url());
        return oom.empty() ? store_.LostKeys(c) : oom;
      });
      return why.empty() ? "its error is in LOGFILE (its 'exit' event)" : why;
    } catch (const redis::RedisError& e) {
      return redis::Describe(e);
    }
  }

  // One supervision step on a live Redis; returns the job's state ("done" only once saved).
  std::string Step(Connection& c) {
    JobState s = keeper_->Step(c);  // held, lease renewed, checkpointed
    redis_->durability().NoteProgress(s.Int("done_tasks") + s.Int("done_parts"));
    if (observer_) {
      ProgressSnapshot p =
          ProgressSnapshot::Of(spec_, s, Elapsed(), workers_->alive(), server().generation());
      p.done_before = done_before_;
      p.already_done = already_done_;
      p.silent_after_ms = SilentAfterMs();
      // Remote workers (and local ones) are seen through their consumers' idle times: a worker
      // reads (BLOCK 100 ms) or heartbeats its held tasks (every CLAIM_IDLE_MS / 3). Once a
      // second: XINFO CONSUMERS is not free.
      if (Clock::now() - consumers_read_ >= std::chrono::seconds(1)) {
        consumers_read_ = Clock::now();
        live_consumers_ = -1;
        try {
          int64_t live = 0;
          for (const ConsumerInfo& w : store_.Consumers(c)) live += w.idle_ms < p.silent_after_ms;
          live_consumers_ = live;
        } catch (const redis::RedisReplyError&) {  // no group yet (NOGROUP): not known
        }
      }
      p.live_consumers = live_consumers_;
      observer_->Tick(p);
    }
    keeper_->NotePhase(c, s, Elapsed());  // the reduce phase's start saved
    return s.state();
  }

  // The planned task a P:failed field ("task:<n>" or "map:<n>") names; nullptr if none.
  const PlannedTask* PlannedTaskOf(const std::string& key) const {
    size_t colon = key.find(':');
    if (colon == std::string::npos) return nullptr;
    size_t n = 0;
    const char* end = key.data() + key.size();
    auto [p, ec] = std::from_chars(key.data() + colon + 1, end, n);
    if (ec != std::errc() || p != end || n >= spec_.plan.tasks.size()) return nullptr;
    return &spec_.plan.tasks[n];
  }

  // A worker silent this long (no read, claim or heartbeat) is presumed gone: it would have
  // heartbeaten a task it holds within CLAIM_IDLE_MS / 3, and an idle one reads every 100 ms.
  int64_t SilentAfterMs() const { return std::max<int64_t>(c_.claim_idle_ms, 2000) + 1000; }

  // Reads the result (job/results.h). It counts only if, afterwards, the job is still complete
  // and Redis did not restart while it was read; otherwise returns false (supervise again).
  bool Collect() {
    int generation = server().generation();
    JobState s = session().Run([&](Connection& c) { return store_.State(c); });
    const int connection = session().connections();
    JobResult r = session().Run(
        [&](Connection& c) { return ReadResult(store_, c, s, o_.want_counts, c_.top); });
    bool complete = session().Run([&](Connection& c) { return store_.State(c).done(); });
    bool restarted = generation != server().generation();
    // Replicated: read on one server, still the primary, its replicas holding the completion.
    if (complete && !restarted && server().sentinel().enabled())
      restarted = !ConfirmedOnPrimary(session(), connection);
    if (!complete || restarted || s.id() != claim_->id()) {
      Log::Warn("results_reread", "complete={} redis_restarted_while_reading={}", complete,
                restarted);
      return false;
    }
    if (!r.mismatch.empty()) {
      // A server that evicted keys since the job began (its policy switched to allkeys-* while
      // the job ran): the README's eviction refusal, naming it (held-out pass 19: exit 8 "was it
      // evicted, or written by someone else?" though Redis could tell).
      if (std::string evicted = EvictedKeys(); !evicted.empty()) {
        Fail(JobOutcome::kRefused, evicted);
        return true;
      }
      Fail(JobOutcome::kVerifyFailed, r.mismatch);
      return true;
    }
    report_.failures = spec_.plan.failures;
    // Per file: its planned ranges and the failed ones. A file's failure is said once (its
    // ranges fail alike: "changed since the job was planned"); a range counted before another
    // one failed stays in the result (direct mode commits as it goes), and the line says so.
    std::map<std::string, std::pair<size_t, size_t>> ranges;  // path -> (planned, failed)
    for (const PlannedTask& t : spec_.plan.tasks) ++ranges[t.path].first;
    std::vector<std::pair<const PlannedTask*, std::string>> failed;
    report_.failed_tasks = r.failures.size();
    report_.changed_after_count = 0;
    for (size_t i = 0; i < r.failures.size(); ++i) {
      const PlannedTask* task = PlannedTaskOf(r.failure_keys[i]);
      if (task) {
        ++ranges[task->path].second;
        // The summary's MB and rate are of what was counted: not of failed tasks.
        const uint64_t end =
            task->range.end == csv::ByteRange::kToEnd ? task->stamp.size : task->range.end;
        report_.bytes -= std::min<uint64_t>(report_.bytes, end - std::min(end, task->range.begin));
      }
      // A worker names the file it opened (symlinks resolved): name the input as given.
      std::string message = task ? NamedAsGiven(*task, r.failures[i]) : r.failures[i];
      if (std::none_of(failed.begin(), failed.end(),
                       [&](const auto& f) { return f.second == message; }))
        failed.emplace_back(task, std::move(message));
    }
    for (auto& [task, message] : failed) {
      if (task) {
        auto [planned, bad] = ranges[task->path];
        if (bad < planned) {
          message +=
              fmt::format(" ({} of its {} ranges failed; the {} counted before are in the result)",
                          bad, planned, planned - bad);
        }
      }
      report_.failures.push_back(std::move(message));
    }
    // A file every range of which was counted, changed since (appended to, replaced, removed)
    // before the job ended: the result counts it as planned, which no serial count of the files
    // now gives. It fails like a file changed while it was counted, and the line says what the
    // result holds of it.
    for (const PlannedTask& t : spec_.plan.tasks) {
      auto& [planned, bad] = ranges[t.path];
      if (bad != 0) continue;  // failed (said above), or already checked
      bad = planned;
      int stat_errno = 0;
      std::string change = ChangeSincePlan(t.path, t.stamp, &stat_errno);
      if (stat_errno != 0) {
        change = FileChangedSincePlanError(
                     t.path, fmt::format("cannot be stat'ed now: {}", std::strerror(stat_errno)),
                     t.stamp)
                     .what();
      }
      if (change.empty()) continue;
      ++report_.changed_after_count;
      report_.failures.push_back(
          NamedAsGiven(t, change) +
          (planned == 1 ? " after it was counted: the result counts it as planned"
                        : fmt::format(" after its {} ranges were counted: the result counts it "
                                      "as planned",
                                      planned)));
    }
    report_.top = std::move(r.top);
    report_.counts = std::move(r.counts);
    report_.outcome = report_.failures.empty() ? JobOutcome::kDone : JobOutcome::kInputFailed;
    return true;
  }

  const JobConfig& c_;
  const RunOptions& o_;
  JobObserver* observer_;
  JobStore store_;
  const WorkerMix mix_;
  JobReport report_;
  JobSpec spec_;
  std::unique_ptr<CoordinatorRedis> redis_;
  std::unique_ptr<LocalWorkers> workers_;
  Clock::time_point t0_;
  std::unique_ptr<JobClaim> claim_;
  std::unique_ptr<JobKeeper> keeper_;
  std::string state_root_;
  fs::path spill_root_;        // SpillRoot()
  SpillArea spill_;            // shuffle: SPILL_DIR/job-<id>
  int64_t done_before_ = 0;    // tasks done when this run began
  bool already_done_ = false;  // the job was done before this run
  int64_t live_consumers_ = -1;
  bool crash_postponed_ = false;  // a forced crash is due and waits for a good checkpoint
  Clock::time_point consumers_read_{};
};

}  // namespace

JobReport RunJob(const JobConfig& config, const RunOptions& options, JobObserver* observer) {
  JobReport r = Coordinator(config, options, observer).Run();
  // However the job ended short of success, LOGFILE's last coordinator line says how and why,
  // as a worker's `exit` line does (stderr alone is gone once the terminal is). A stop asked
  // for by a signal has its own line (`interrupted signal=N`).
  if (r.outcome != JobOutcome::kDone && r.outcome != JobOutcome::kInterrupted) {
    std::string error = r.error;
    if (r.outcome == JobOutcome::kInputFailed && !r.failures.empty()) {
      error = fmt::format("{} not counted, first: {}",
                          r.failures.size() == 1 ? std::string("1 file")
                                                 : fmt::format("{} files", r.failures.size()),
                          r.failures.front());
    }
    Log::Error("exit", "reason={} error=\"{}\"", ReasonOf(r.outcome), error);
  }
  return r;
}

}  // namespace wc::job

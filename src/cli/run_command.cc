#include "cli/run_command.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>

#include "cli/exit_codes.h"
#include "count/counts_format.h"
#include "job/state_dir.h"
#include "util/error.h"
#include "util/log.h"
#include "util/safe_files.h"
#include "util/signals.h"

namespace wc::cli {

namespace {

using Clock = std::chrono::steady_clock;

// A rate in MB/s with a precision that shows it: "194 MB/s", "8.6 MB/s", "0.43 MB/s",
// "0.0012 MB/s" (never "0 MB/s" for a run that counted something).
std::string Rate(double mb_per_s) {
  if (mb_per_s >= 100 || mb_per_s <= 0) return fmt::format("{:.0f} MB/s", mb_per_s);
  if (mb_per_s < 0.01) return fmt::format("{:.2g} KB/s", mb_per_s * 1000);
  return fmt::format("{:.2g} MB/s", mb_per_s);
}

// The progress line: live on a terminal (stderr), a periodic line (and log event) otherwise.
// Never on stdout, so `word: count` lines and --out stay clean.
class ProgressLine : public job::JobObserver {
 public:
  explicit ProgressLine(bool quiet) : quiet_(quiet), tty_(::isatty(2) == 1) {}

  void RedisStarted(const std::string& url) override {
    if (quiet_) return;
    WriteStderr(fmt::format("embedded Redis at {} (wordcount status --redis ...)\n", url));
  }

  void Tick(const job::ProgressSnapshot& s) override {
    if (quiet_) return;
    auto period = tty_ ? std::chrono::milliseconds(500) : std::chrono::milliseconds(5000);
    if (Clock::now() - last_ < period) return;
    last_ = Clock::now();
    int64_t done = s.done_tasks;
    std::string line;
    if (s.already_done) {
      line = fmt::format("job already done ({} tasks): reading its result back", s.total_tasks);
    } else {
      double frac = s.total_tasks > 0 ? static_cast<double>(done) / s.total_tasks : 0;
      // The rate and ETA of this run's own work: tasks a resumed job had done before are not.
      double frac_here =
          s.total_tasks > 0
              ? static_cast<double>(std::max<int64_t>(0, done - s.done_before)) / s.total_tasks
              : 0;
      double mb = s.bytes / 1e6 * frac;
      double rate = s.seconds > 0 ? s.bytes / 1e6 * frac_here / s.seconds : 0;
      std::string eta = frac_here > 0 && frac < 1
                            ? fmt::format("{:.0f} s", s.seconds / frac_here * (1 - frac))
                            : "-";
      // Workers: the local ones alive, and whether any worker (remote ones too) showed a sign
      // of life in Redis lately; tasks held by silent workers are not "in progress".
      // Not before the job is as old as that silence: a job milliseconds old has had no time to
      // hear from anyone ("no worker seen yet" then).
      const bool none_seen = s.workers == 0 && s.live_consumers == 0;
      const bool none_alive = none_seen && s.seconds * 1000 >= s.silent_after_ms;
      std::string held = none_alive ? fmt::format("{} held by workers silent for {} s", s.pending,
                                                  s.silent_after_ms / 1000)
                                    : fmt::format("{} in progress", s.pending);
      std::string workers = none_alive ? "no worker alive (none read or heartbeat in Redis for " +
                                             std::to_string(s.silent_after_ms / 1000) +
                                             " s): waiting for workers to join (`wordcount worker`)"
                            : none_seen ? std::string(
                                              "no worker seen yet: waiting for workers to join "
                                              "(`wordcount worker`)")
                            : s.workers == 0 && s.live_consumers > 0
                                ? fmt::format("{} remote worker(s) alive", s.live_consumers)
                                : fmt::format("{} workers", s.workers);
      line = fmt::format("{}tasks {}/{} ({}), {:.1f}/{:.1f} MB, {}, ETA {}, {}, {} Redis restarts",
                         s.mode == job::Mode::kShuffle ? s.phase + " phase, " : "", done,
                         s.total_tasks, held, mb, s.bytes / 1e6, Rate(rate), eta, workers,
                         s.redis_restarts);
    }
    if (tty_) {
      WriteStderr("\r\033[K" + line);
      shown_ = true;
    } else {
      WriteStderr("progress: " + line + "\n");
      Log::Event("progress", "done={} total={} pending={} workers={}", done, s.total_tasks,
                 s.pending, s.workers);
    }
  }

  void Clear() {
    if (tty_ && shown_) WriteStderr("\r\033[K");
    shown_ = false;
  }

 private:
  bool quiet_, tty_;
  bool shown_ = false;
  Clock::time_point last_{};
};

// Tasks accepted more than once, counted from the workers' commit events in LOGFILE (direct:
// "commit tasks=N ... result=accepted"; shuffle: "map ..." and "reduce ... result=accepted",
// which includes map tasks redone because their output was lost). A worker killed between a
// commit's reply and its log line leaves no event, so this is a lower bound; -1 if no log.
int64_t TasksCountedAgainAtLeast(const std::string& logfile, int64_t tasks,
                                 const std::string& since) {
  // Only a regular file is read back: a device (/dev/null, /dev/zero) has no events, or no end.
  std::error_code ec;
  if (logfile.empty() || !std::filesystem::is_regular_file(logfile, ec)) return -1;
  std::ifstream in(logfile);
  if (!in) return -1;
  int64_t accepted = 0;
  std::string line;
  while (std::getline(in, line)) {
    // "<time> <process>[<pid>] <event> <key=value>...": only this run's lines (by time), and
    // the event by its position (a file name inside another event's fields cannot forge one).
    size_t p1 = line.find(' ');
    if (p1 == std::string::npos || line.compare(0, p1, since) < 0) continue;
    size_t p2 = line.find(' ', p1 + 1);
    if (p2 == std::string::npos) continue;
    size_t p3 = line.find(' ', p2 + 1);
    std::string_view event(line.data() + p2 + 1,
                           (p3 == std::string::npos ? line.size() : p3) - p2 - 1);
    if (!std::string_view(line).ends_with(" result=accepted")) continue;
    if (event == "commit" && p3 != std::string::npos && line.compare(p3 + 1, 6, "tasks=") == 0) {
      accepted += std::atoll(line.c_str() + p3 + 7);
    } else if (event == "map" || event == "reduce") {
      ++accepted;
    }
  }
  return std::max<int64_t>(0, accepted - tasks);
}

int ExitCode(job::JobOutcome o) {
  switch (o) {
    case job::JobOutcome::kDone:
      return kExitOk;
    case job::JobOutcome::kInputFailed:
      return kExitInputFailed;
    case job::JobOutcome::kNoInput:
      return kExitNoInput;
    case job::JobOutcome::kUsage:
      return kExitUsage;
    case job::JobOutcome::kRedis:
      return kExitRedis;
    case job::JobOutcome::kIncomplete:
      return kExitIncomplete;
    case job::JobOutcome::kInterrupted:
      return kExitInternal;  // replaced by 128 + signal below
    case job::JobOutcome::kRefused:
      return kExitRefused;
    case job::JobOutcome::kVerifyFailed:
      return kExitVerify;
    case job::JobOutcome::kOutput:
      return kExitOutput;
  }
  return kExitInternal;
}

// "1 task", "2 tasks".
std::string Counted(size_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

// `external`: run --redis or --sentinel (restarts are seen, not made: their cause is unknown).
// `replicated`: REDIS_HA sentinel or --sentinel (failovers are counted too).
void Summarize(const job::JobConfig& config, const job::JobReport& r, const std::string& since,
               bool external, bool replicated, bool quiet) {
  bool shuffle = r.mode == job::Mode::kShuffle;
  int64_t all_tasks = static_cast<int64_t>(r.tasks) + (shuffle ? r.partitions : 0);
  // A log that missed lines (a full disk) cannot give the count: unknown, not a lower bound.
  int64_t again =
      Log::Incomplete() ? -1 : TasksCountedAgainAtLeast(config.logfile, all_tasks, since);
  int restarts = r.forced_restarts + r.unplanned_restarts + r.seen_restarts;
  // Failed tasks and rejected files apart, as the summary says them.
  Log::Event("job_done",
             "tasks={} failed_tasks={} files={} rejected_files={} seconds={:.3f} redis_restarts={} "
             "forced={} unplanned={} seen={} failovers={} workers_killed={} workers_crashed={} "
             "counted_again_at_least={} job_creations={} already_done={} done_before={}",
             r.tasks, r.failed_tasks, r.files, r.rejected_files, r.seconds, restarts,
             r.forced_restarts, r.unplanned_restarts, r.seen_restarts, r.failovers,
             r.workers_killed, r.workers_crashed, again, r.job_creations, r.already_done,
             r.done_before);
  if (quiet) return;
  const size_t failed = r.failed_tasks;
  if (r.already_done) {
    // Nothing was counted by this run: no rate (its seconds were the read-back's).
    WriteStderr(fmt::format(
        "job {} was already done: result read back, nothing counted by this run ({} of {}{}{} "
        "over {}{}, {:.1f} MB, counted by an earlier run)\n",
        r.job_id, r.tasks - std::min(r.tasks, failed),
        Counted(r.tasks, shuffle ? "map task" : "task"),
        failed ? fmt::format(" ({} failed)", failed) : std::string(),
        shuffle ? " and " + Counted(r.partitions, "reduce task") : std::string(),
        Counted(r.files, "file"),
        r.rejected_files ? fmt::format(" ({} rejected)", r.rejected_files) : std::string(),
        r.bytes / 1e6));
    return;
  }
  // e.g. "counted 138 of 140 tasks (2 failed) over 49 files: 438.0 MB in 5.10 s (86 MB/s)", or
  // in shuffle mode "counted 10 of 10 map tasks and 4 reduce tasks over 10 files (1 rejected): ..."
  // A resumed job: the rate is of the part this run did ("3 done before this run").
  double here = all_tasks > 0
                    ? static_cast<double>(std::max<int64_t>(0, all_tasks - r.done_before)) /
                          static_cast<double>(all_tasks)
                    : 1;
  WriteStderr(fmt::format(
      "counted {} of {}{}{} over {}{}: {:.1f} MB in {:.2f} s ({}{})\n",
      r.tasks - std::min(r.tasks, failed), Counted(r.tasks, shuffle ? "map task" : "task"),
      failed ? fmt::format(" ({} failed)", failed) : std::string(),
      shuffle ? " and " + Counted(r.partitions, "reduce task") : std::string(),
      Counted(r.files, "file"),
      r.rejected_files ? fmt::format(" ({} rejected)", r.rejected_files) : std::string(),
      r.bytes / 1e6, r.seconds, Rate(r.seconds > 0 ? r.bytes / 1e6 * here / r.seconds : 0.0),
      r.done_before > 0
          ? fmt::format("; {} of {} tasks done before this run", r.done_before, all_tasks)
          : std::string()));
  std::string how =
      external ? fmt::format("{} seen on the external server", r.seen_restarts)
               : fmt::format("{} forced, {} unplanned", r.forced_restarts, r.unplanned_restarts);
  // A replicated Redis: its failovers (a replica promoted) too.
  if (replicated || r.failovers > 0) how += fmt::format("; {} failover(s)", r.failovers);
  WriteStderr(
      fmt::format("survived {} Redis restart(s) ({}) and {} killed worker(s), {} crashed (crash "
                  "point); {} task(s) counted again; {} checkpoint(s), {} failed\n",
                  restarts, how, r.workers_killed, r.workers_crashed,
                  again < 0 ? std::string("unknown") : fmt::format(">= {}", again), r.checkpoints,
                  r.checkpoint_failures));
}

// After a job of the embedded Redis finished (its own state directory removed): the stopped
// jobs of other runs kept under STATE_DIR (e.g. a run stopped, then rerun with changed data,
// which planned another job), named with their age, said on stderr (unless quiet) and in
// LOGFILE. They are not removed here: a run with their exact data may still resume them.
void NoteKeptJobs(const job::JobConfig& config, bool quiet) {
  std::string root;
  try {
    root = config.state_dir.empty() ? job::DefaultStateRoot() : config.state_dir;
  } catch (const UsageError&) {
    return;  // no STATE_DIR: nothing kept
  }
  std::vector<job::KeptJob> kept = job::FindKeptJobs(root);
  if (kept.empty()) return;
  std::string names, fields;
  for (const job::KeptJob& k : kept) {
    const std::string name = std::filesystem::path(k.path).filename().string();
    names += fmt::format("{}{} (last written {} ago)", names.empty() ? "" : ", ", name,
                         job::AgeText(k.age_s));
    fields += fmt::format("{}{}:{:.0f}", fields.empty() ? "" : ",", name, k.age_s);
  }
  Log::Event("kept_jobs", "state_dir=\"{}\" count={} jobs={}", root, kept.size(), fields);
  if (quiet) return;
  WriteStderrLine(fmt::format(
      "note: STATE_DIR {} keeps the state of {} stopped job(s) of other runs: {}; each resumes "
      "only by a `wordcount run` with its exact data (same config, files unchanged since); to "
      "discard one, remove its directory (rm -r {}/job-<...>)",
      root, kept.size(), names, root));
}

// Logs the end of a run whose output failed after the job (see RunJobCommand).
void LogOutputEnd(const std::string& error, int err);

// Writes the result of a finished job (counts file, top lines) and its summary; returns the
// exit code. Throws OutputError (or std::system_error) when an output cannot take it.
int WriteResult(const job::JobConfig& config, const RunArgs& args, const job::RunOptions& options,
                std::optional<OutputFile>& out, const job::JobReport& r, const std::string& since);

}  // namespace

int RunJobCommand(const job::JobConfig& config, const RunArgs& args) {
  // Created first: a destination that cannot be written fails at once (exit 6), before any
  // counting; it appears at its path only when every count is in it (util/safe_files.h).
  std::optional<OutputFile> out;
  if (!args.out.empty()) {
    if (args.out != "-") out.emplace(args.out);
  }
  ProgressLine progress(args.quiet);
  job::RunOptions options = args.job;
  options.want_counts = !args.out.empty();
  const std::string since = Log::Now();  // the summary reads this run's log lines only
  job::JobReport r = job::RunJob(config, options, &progress);
  progress.Clear();
  // A stop that comes after the job ended does not throw its result away (the job's state is
  // gone by now): the result is written, and exit 128 + signal only if an output could not take
  // it (a reader that does not read, below).
  switch (r.outcome) {
    case job::JobOutcome::kDone:
    case job::JobOutcome::kInputFailed:
      break;
    case job::JobOutcome::kInterrupted:
      // A reader that went away (SIGPIPE) is a closed pipe: exit 6, quietly.
      if (r.signal == SIGPIPE) return kExitOutput;
      WriteStderr("wordcount run: interrupted\n");
      return 128 + r.signal;
    default:
      WriteStderrLine("wordcount run: " + r.error);  // control bytes escaped
      return ExitCode(r.outcome);
  }
  const int rc = WriteResult(config, args, options, out, r, since);
  // Every exit 6 after the job (an output that could not take the result: its counts, top lines
  // or summary) leaves LOGFILE's last coordinator line saying so, as RunJob does for the job's
  // own failures: a reader that went away is the clean stop (`interrupted signal=13`), any other
  // output trouble `exit reason=output_error`. main() adds exit 6 for a standard error that
  // could not be written: it is said here too.
  if (rc == kExitOutput) LogOutputEnd("standard error: cannot write (its reader went away)", EPIPE);
  if (rc == kExitOk && StderrFailed()) {
    LogOutputEnd("standard error: cannot write", 0);
    return kExitOutput;
  }
  return rc;
}

namespace {

void LogOutputEnd(const std::string& error, int err) {
  if (err == EPIPE || StopSignal() == SIGPIPE) {
    Log::Warn("interrupted", "signal={}", SIGPIPE);
  } else {
    Log::Error("exit", "reason=output_error error=\"{}\"", error);
  }
}

int WriteResult(const job::JobConfig& config, const RunArgs& args, const job::RunOptions& options,
                std::optional<OutputFile>& out, const job::JobReport& r, const std::string& since) {
  try {
    errno = 0;
    bool written = true;
    if (r.counts) {
      // The counts file first: one that cannot be written is exit 6 before anything is
      // printed. `--out -` makes standard output the counts file alone (no top lines).
      const std::vector<WordCount>& sorted = r.counts->sorted;
      WriteCountsFile(out ? &*out : nullptr, sorted);
      if (out) out->Commit(OutputFile::Keep::kOnFailure);
      if (args.out != "-") {
        written = WriteTop(STDOUT_FILENO,
                           {sorted.begin(),
                            sorted.begin() + static_cast<ptrdiff_t>(std::min(
                                                 sorted.size(), static_cast<size_t>(config.top)))});
      }
    } else {
      std::vector<WordCount> views;
      for (const auto& [w, c] : r.top) views.push_back({w, c});
      written = WriteTop(STDOUT_FILENO, views);
    }
    // A standard output that cannot be written is an output error (exit 6), as for serial.
    if (!written) throw OutputError("standard output", "cannot write", errno);
  } catch (const OutputError& e) {
    // A signal while a reader that does not read held the output (util/signals.h): the clean
    // stop. The result stays in Redis: a rerun prints it.
    if (int sig = StopSignal(); sig != 0 && sig != SIGPIPE) {
      Log::Warn("interrupted", "signal={}", sig);
      WriteStderr("wordcount run: interrupted\n");
      return 128 + sig;
    }
    LogOutputEnd(e.what(), e.error());
    throw;
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::broken_pipe) LogOutputEnd(e.what(), EPIPE);
    throw;
  }
  bool sentinel = !options.sentinels.empty();
  Summarize(config, r, since, !options.redis_url.empty() || sentinel,
            sentinel || config.redis_ha == job::RedisHa::kSentinel, args.quiet);
  for (const auto& f : r.failures) WriteStderrLine("FAILED " + f);
  if (r.rejected_files + r.failed_tasks > 0) {
    std::string rejected = r.rejected_files ? Counted(r.rejected_files, "rejected file") : "";
    WriteStderr(fmt::format("not counted: {}{}{}\n", rejected,
                            rejected.empty() || !r.failed_tasks ? "" : " and ",
                            r.failed_tasks ? Counted(r.failed_tasks, "failed task") : ""));
  }
  if (r.changed_after_count > 0) {
    WriteStderr(fmt::format("counted as planned, changed on disk since: {}\n",
                            Counted(r.changed_after_count, "file")));
  }
  if (options.redis_url.empty() && !sentinel) NoteKeptJobs(config, args.quiet);
  if (StopSignal() == SIGPIPE) return kExitOutput;  // the summary's reader went away
  return ExitCode(r.outcome);
}

}  // namespace

}  // namespace wc::cli

// `wordcount run`: the coordinator of the distributed job (the lab's client.py). A small
// orchestrator in the style of leveldb's DBImpl: its state lives in the units it runs.
//
// It plans the job (job/job_spec.h), starts its Redis (job/coordinator_redis.h: an embedded
// redis-server, or --redis URL), begins or resumes the job (job/job_claim.h) and has it written
// and saved (job/job_keeper.h), starts the local workers (job/local_workers.h), then supervises
// until Redis says the job is complete: checkpoints, forced Redis crashes and restarts,
// re-creating a job a restart lost, replacing killed workers, saving the shuffle reduce phase,
// progress (job/progress.h). Then it reads the results (job/results.h; again if Redis restarted
// while they were read) and returns them in a JobReport.
//
// Errors: nothing is thrown for input, Redis or interruption problems: they are the report's
// outcome (cli/ maps outcomes to exit codes and prints). UsageError for bad configuration.
// A stop (util/signals.h: main answers the terminating signals of `run` with kStopCleanly) ends
// it cleanly from any wait: outcome kInterrupted with the signal (SIGPIPE: a reader went away).
// Thread-safety: one job per process.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "count/word_table.h"
#include "job/config.h"
#include "job/job_spec.h"
#include "job/job_store.h"
#include "job/progress.h"
#include "job/task.h"

namespace wc::job {

struct RunOptions {
  bool want_counts = false;  // --out: every count (job/results.h)
  // DATA_PATH (or --data) expanded by the caller before the run wrote anything (JobInputs).
  JobInputs inputs;
  std::optional<int> workers;  // --workers: overrides N_NORMAL_WORKERS (and zeroes the others)
  std::string redis_url;       // --redis: use this server instead of an embedded one
  // --sentinel, --master-name: use the primary these Sentinels name (a replicated deployment).
  std::string sentinels, master_name;
  std::string self_exe = "/proc/self/exe";  // the wordcount binary, for spawning workers
  bool replace = false;  // --replace: discard an unfinished job with another plan
};

enum class JobOutcome {
  kDone,          // every task counted
  kInputFailed,   // some tasks failed (report.failures); the rest counted
  kNoInput,       // no input file matched
  kUsage,         // the environment is unusable as configured (e.g. SPILL_DIR)
  kRedis,         // Redis unreachable or failing past the retry limit
  kIncomplete,    // the job could not be completed
  kInterrupted,   // a stop signal (util/signals.h), or SIGPIPE: stdout/stderr lost its reader
  kRefused,       // another job holds the keys (or took them), or Redis may evict them
  kVerifyFailed,  // the result in Redis differs from the totals the job recorded
  kOutput,        // a worker could not write its output (SPILL_DIR full or unwritable)
};

struct JobReport {
  JobOutcome outcome = JobOutcome::kDone;
  std::string job_id;
  std::string error;  // kNoInput, kUsage, kRedis, kIncomplete: what went wrong
  int signal = 0;     // kInterrupted: the signal (SIGPIPE for a reader that went away)
  Mode mode = Mode::kDirect;
  size_t tasks = 0, files = 0;
  size_t rejected_files = 0;  // input files refused while planning (no task; first in failures)
  uint32_t partitions = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  // Why files failed, one message per file: the files rejected while planning, then the files
  // of failed tasks, then the files changed after they were counted.
  std::vector<std::string> failures;
  size_t failed_tasks = 0;               // tasks (ranges) failed: not counted
  size_t changed_after_count = 0;        // files changed after all their tasks were counted
  WordCountPairs top;                    // without want_counts
  std::unique_ptr<ResultCounts> counts;  // with want_counts (counts-file order)
  int forced_restarts = 0, unplanned_restarts = 0, workers_killed = 0, job_creations = 0;
  int workers_crashed = 0;    // local workers that exited at the crash point (--crash, exit 17)
  bool already_done = false;  // the job was done before this run: nothing counted, result read
  int64_t done_before = 0;    // tasks (maps + reduces) done before this run (a resumed job)
  int seen_restarts = 0;      // an external Redis: restarts seen (the cause unknown)
  int failovers = 0;  // replicated Redis: a replica promoted (made, or seen through Sentinel)
  int checkpoints = 0, checkpoint_failures = 0;
};

JobReport RunJob(const JobConfig& config, const RunOptions& options, JobObserver* observer);

}  // namespace wc::job

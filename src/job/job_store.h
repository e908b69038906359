// JobStore: the job as it lives in Redis. The only code that knows the key names (job/keys.h),
// the task entry codec (job/task.h) and wordcount's Redis functions (mylib.lua). Callers get
// typed results; no caller spells a command.
//
// Every method makes one attempt on the Connection it is given and throws like it
// (redis/errors.h): RedisIoError if the connection broke (a write whose reply was lost may have
// been applied: every write here is safe to repeat), RedisReplyError for an error reply.
// Retrying is the caller's policy (RedisSession). Methods that read several replies keep the
// connection clean on error replies (redis::Pipeline).
// Thread-safety: a JobStore is immutable after construction; the Connection is not shared.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "count/word_table.h"
#include "job/keys.h"
#include "job/plan.h"
#include "job/task.h"
#include "redis/connection.h"

namespace wc::job {

// The job's completion state, read atomically (wc_progress_v3).
struct Progress {
  int64_t entries = 0;    // stream entries (tasks added so far, all phases)
  int64_t pending = 0;    // delivered, not acknowledged
  int64_t delivered = 0;  // acknowledged = delivered - pending
  bool done = false;      // the job is complete (shuffle: reduce phase finished too)
  std::string phase;      // direct, map or reduce
};

// What the coordinator writes when it creates a job.
struct JobSpec {
  Mode mode = Mode::kDirect;
  uint32_t partitions = 0;  // shuffle: R
  std::string spill;        // shuffle: the job's directory name under SPILL_DIR
};

// Stream entries read for a consumer: the tasks, and the entries that are not valid tasks.
struct Entries {
  std::vector<Task> tasks;
  std::vector<std::pair<std::string, std::string>> malformed;  // (entry id, why)
};

struct ConsumerInfo {
  std::string name;
  int64_t pending = 0;
  int64_t idle_ms = 0;
};

using WordCountPairs = std::vector<std::pair<std::string, uint64_t>>;

class JobStore {
 public:
  explicit JobStore(JobKeys keys) : keys_(std::move(keys)) {}
  const JobKeys& keys() const { return keys_; }

  // ---- coordinator ----
  // Loads the functions, deletes the job's keys (never FLUSHALL: the server may hold other
  // data), creates the stream, the group and every task. The marker of a complete creation
  // (`tasks` in the job hash) is written last.
  void Create(redis::Connection& c, const JobSpec& spec, const Plan& plan);
  // Holds Redis the whole job (every planned task, creation marker)? `*map_phase` says whether
  // a shuffle job is (back) in its map phase. Throws nothing for a missing job: returns false.
  bool Intact(redis::Connection& c, size_t planned_tasks, bool* map_phase);
  // Shuffle: once every map task is acknowledged, adds the reduce tasks and sets the phase, in
  // one function call. Returns 1 started now, 0 not a job in its map phase, -1 maps remain.
  int StartReduce(redis::Connection& c);
  // Throws RedisReplyError NOSTREAM / NOGROUP if the job is not there.
  Progress ReadProgress(redis::Connection& c);
  // The failed tasks' messages.
  std::vector<std::string> Failures(redis::Connection& c);
  // The top n in the project's order (count descending, then word bytes ascending).
  WordCountPairs Top(redis::Connection& c, int n);
  // Every (word, count) of the result.
  WordTable Counts(redis::Connection& c);

  // ---- status ----
  std::map<std::string, std::string> Meta(redis::Connection& c);
  std::vector<ConsumerInfo> Consumers(redis::Connection& c);
  std::vector<std::pair<std::string, std::string>> FailureRecords(redis::Connection& c);
  int64_t DistinctWords(redis::Connection& c);

  // ---- worker ----
  // The consumer's own pending history (id 0), up to 1000 entries.
  Entries ReadHistory(redis::Connection& c, const std::string& consumer);
  // One new entry, waiting up to block_ms (0: none).
  Entries ReadNew(redis::Connection& c, const std::string& consumer, int64_t block_ms);
  // One XAUTOCLAIM step of at most `count` entries idle >= idle_ms; *cursor is advanced ("0-0"
  // when the scan is complete).
  Entries Steal(redis::Connection& c, const std::string& consumer, int64_t idle_ms, int count,
                std::string* cursor);
  // Of `ids`, those still pending for `consumer`, claimed again by it without counting a
  // delivery (heartbeat).
  void Touch(redis::Connection& c, const std::string& consumer,
             const std::vector<std::string>& ids);
  // How often entry `id` was delivered (0 if it is not pending).
  int Deliveries(redis::Connection& c, const std::string& id);

  struct CommitResult {
    bool accepted = false;
    int64_t words = 0;        // accepted: words applied
    std::string stale_entry;  // not accepted: the first entry committed elsewhere
  };
  // Direct mode: acknowledges `ids` and adds `table`'s counts, all or nothing (wc_commit_v1).
  CommitResult Commit(redis::Connection& c, const std::vector<std::string>& ids,
                      const WordTable& table);
  // A task that cannot be counted: acknowledged, its message recorded. True if this call did.
  bool Fail(redis::Connection& c, const Task& t, const std::string& message);
  // Shuffle: map task t's output is written. True if this call acknowledged it.
  bool MapDone(redis::Connection& c, const Task& t);
  enum class RedoResult { kSentBack, kNotPending, kFailedMapsSkipped };
  // Shuffle: reduce task t found the outputs of `lost` (map, why) missing or corrupt.
  RedoResult RedoMaps(redis::Connection& c, const Task& t,
                      const std::vector<std::pair<uint32_t, std::string>>& lost, int max_redos);
  // Shuffle: writes partition t's totals (sorted by (count, word)) into COUNT, then acknowledges
  // t, in order on this one connection (a checkpoint holding the acknowledgement holds every
  // write before it). True if this call acknowledged it.
  bool Publish(redis::Connection& c, const Task& t,
               const std::vector<std::pair<uint64_t, std::string_view>>& sorted);

 private:
  Entries Parse(const redis::Reply& entries) const;
  JobKeys keys_;
};

}  // namespace wc::job

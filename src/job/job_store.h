// JobStore: the job as it lives in Redis. The only code that knows the key names (job/keys.h),
// the codecs (job/task.h) and wordcount's Redis functions (mylib.lua, library version 3, whose
// header states the protocol). Callers get typed results; no caller spells a command.
//
// Every write is a function call fenced by the job id (a worker or coordinator of another job
// gets RedisReplyError STALEJOB before anything is written; a coordinator whose lease epoch is
// old gets STALELEASE), and every function validates everything before its first write.
//
// Every method makes one attempt on the Connection it is given and throws like it
// (redis/errors.h): RedisIoError if the connection broke (a write whose reply was lost may have
// been applied: every write here is safe to repeat), RedisReplyError for an error reply.
// Retrying is the caller's policy (RedisSession). Methods that pipeline keep the connection
// clean on error replies (redis::Pipeline).
// Thread-safety: a JobStore is immutable after construction; the Connection is not shared.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "count/counts_format.h"
#include "count/word_table.h"
#include "job/keys.h"
#include "job/plan.h"
#include "job/task.h"
#include "redis/connection.h"

namespace wc::job {

// The job record and the stream's state, read atomically (wc_progress_v4). Fields by name.
struct JobState {
  std::map<std::string, std::string> fields;
  std::string Get(const std::string& name) const;
  int64_t Int(const std::string& name) const;  // 0 if absent or not a number
  std::string state() const {
    return Get("state");
  }  // none, creating, count, map, reduce, publish, done, failed
  std::string id() const { return Get("id"); }
  bool active() const;  // count, map, reduce or publish
  bool done() const { return state() == "done"; }
  // An unfinished job that lost what it needs to go on ("stream", "plan", "group", or "parts": a
  // shuffle job's reduced run): empty if none. Such a job is only ever made anew.
  std::string entries_lost() const { return Get("entries_lost"); }
  JobView View() const;
};

// The identity of a job: what makes a rerun "the same job" (resume) or another one.
struct JobIdentity {
  std::string digest;  // of the plan (job/plan.h: PlanDigest)
  Mode mode = Mode::kDirect;
  uint32_t tasks = 0;
  uint32_t parts = 0;  // shuffle: R
  std::string spill;   // shuffle: the job's directory name under SPILL_DIR
  std::string column = "text";
};

struct BeginResult {
  enum class Kind { kCreated, kResumed, kDone, kBusy, kMismatch, kFailed };
  Kind kind = Kind::kCreated;
  std::string id;
  int64_t epoch = 0;
  std::string state;           // resumed, busy, mismatch: the job's state
  std::string owner;           // busy, mismatch: who holds the job
  int64_t created_ms = 0;      // busy
  int64_t lease_left_ms = 0;   // busy
  std::string reason;          // failed
  std::string replaced_spill;  // created over a shuffle job: that job's spill directory name
  bool count_holder = false;   // busy: the job is another stream's, holding the COUNT we share
};

using WordCountPairs = std::vector<std::pair<std::string, uint64_t>>;

// Every count of a result in counts-file order (count descending, word bytes ascending). The
// views point into the storage the struct holds (moving it keeps them valid).
struct ResultCounts {
  std::vector<WordCount> sorted;
  std::vector<redis::Reply> pages;  // read from C: the replies the views point into
  std::vector<std::string> runs;    // shuffle: the reduced runs the views point into
};

struct ConsumerInfo {
  std::string name;
  int64_t pending = 0;
  int64_t idle_ms = 0;
};

class JobStore {
 public:
  explicit JobStore(JobKeys keys) : keys_(std::move(keys)) {}
  const JobKeys& keys() const { return keys_; }

  // ---- everyone ----
  JobState State(redis::Connection& c);

  // ---- coordinator ----
  // Claims the keys (wc_job_begin_v4): creates the job (id = new_id, state creating), resumes
  // it (same identity, lease expired), or says why not. `info` pairs are stored in the record.
  // The caller's connection runs this build's function library (the coordinator's session
  // calls redis::EnsureLibrary on every connection).
  BeginResult Begin(redis::Connection& c, const std::string& new_id, const JobIdentity& ident,
                    const std::string& owner, int64_t lease_ms, bool replace,
                    const std::vector<std::pair<std::string, std::string>>& info);
  // Adds the plan (idempotent: tasks already there are skipped) and starts the job; returns the
  // state it starts in.
  std::string AddPlanAndStart(redis::Connection& c, const std::string& id, int64_t epoch,
                              const std::vector<PlannedTask>& tasks);
  // Renews the lease; throws RedisReplyError STALELEASE if another epoch holds the job.
  void Renew(redis::Connection& c, const std::string& id, int64_t epoch, int64_t lease_ms,
             const std::string& owner);
  void Release(redis::Connection& c, const std::string& id, int64_t epoch);
  // Ends the lease of `owner` (exactly as the record names it), whose process the caller saw
  // dead. True if it was that owner's.
  bool TakeOver(redis::Connection& c, const std::string& id, const std::string& owner);
  void FailJob(redis::Connection& c, const std::string& id, int64_t epoch,
               const std::string& reason);
  // Failure messages of tasks (task:<n> and map:<n> records).
  std::vector<std::pair<std::string, std::string>> Failures(redis::Connection& c);
  // The top n in the project's order (count descending, then word bytes ascending).
  WordCountPairs Top(redis::Connection& c, int n);
  // Every (word, count) of the result, in counts-file order (pipelined pages, no sort).
  ResultCounts ReadCounts(redis::Connection& c);
  int64_t DistinctWords(redis::Connection& c);
  // The result's distinct words and the total of its counts, summed inside Redis
  // (wc_result_sum_v4): what the coordinator checks against the record without reading C.
  std::pair<int64_t, uint64_t> ResultSum(redis::Connection& c);
  // What a job of `mode` needs that the ACL user of `c` may not do, checked inside Redis
  // (wc_acl_check_v4, redis.acl_check_cmd): every command the functions call on the keys they
  // call it on, the commands this store sends itself (DirectCommands) and `also` (the caller's
  // own, e.g. the checkpoints'), each named by its command and first job key ("HSET
  // files:job"); empty if it may do all. Nothing is written.
  std::vector<std::string> DeniedCommands(redis::Connection& c, Mode mode,
                                          const std::vector<redis::Args>& also);
  // The commands this store sends itself (not through the functions), with the job's keys:
  // the coordinator's reads (results, failures, consumers, the plan) and the workers'
  // (XREADGROUP, XAUTOCLAIM, XPENDING of their own history).
  // Every command this file sends with a job key is one of them (job_test checks the source).
  std::vector<redis::Args> DirectCommands(Mode mode) const;
  // The largest argument the server takes (proto-max-bulk-len); 0 if CONFIG is denied.
  int64_t MaxArgumentBytes(redis::Connection& c);
  // "Redis <server> is out of memory (...)" if it uses 95% of its maxmemory or more, else "".
  std::string OutOfMemory(redis::Connection& c, const std::string& server);
  // Which of the job's keys another client deleted (FLUSHALL, DEL, an eviction) - the stream,
  // its consumer group, the job record - as a sentence; "" if they are all there.
  std::string LostKeys(redis::Connection& c);
  std::vector<ConsumerInfo> Consumers(redis::Connection& c);
  // Which of the job's keys hold a value of another type than the job keeps there (a WRONGTYPE
  // reply: the key belongs to something else), as a sentence naming each with its type and the
  // one wanted; "" if none does. Keys that do not exist are fine.
  std::string WrongTypes(redis::Connection& c);

  // ---- worker ----
  std::vector<PlannedTask> ReadPlan(redis::Connection& c, uint32_t tasks);
  // Plan task numbers that failed for good (a reducer skips their outputs).
  std::vector<bool> FailedTasks(redis::Connection& c, uint32_t tasks);

  struct Entries {
    std::vector<Task> tasks;
    std::vector<Foreign> foreign;
  };
  // The consumer's own pending history (id 0), up to 1000 entries.
  Entries ReadHistory(redis::Connection& c, const std::string& consumer, const JobView& job,
                      const std::vector<PlannedTask>& plan);
  // One new entry, waiting up to block_ms (0: none).
  Entries ReadNew(redis::Connection& c, const std::string& consumer, int64_t block_ms,
                  const JobView& job, const std::vector<PlannedTask>& plan);
  // One XAUTOCLAIM step of at most `count` entries idle >= idle_ms; *cursor advanced ("0-0" when
  // the scan is complete).
  Entries Steal(redis::Connection& c, const std::string& consumer, int64_t idle_ms, int count,
                std::string* cursor, const JobView& job, const std::vector<PlannedTask>& plan);
  // Of `entries`, those still pending for `consumer`, claimed again without counting a delivery.
  void Touch(redis::Connection& c, const std::string& consumer,
             const std::vector<std::string>& entries);
  // How often entry `entry` was delivered (0 if it is not pending).
  int Deliveries(redis::Connection& c, const std::string& entry);

  struct CommitResult {
    bool accepted = false;
    int64_t words = 0;        // accepted: (word, count) pairs applied
    bool job_done = false;    // accepted: this commit finished the job
    std::string stale_entry;  // not accepted: the first entry committed elsewhere
  };
  // Direct mode: acknowledges `tasks` and adds `table`'s counts, all or nothing.
  CommitResult Commit(redis::Connection& c, const std::string& job, const std::vector<Task>& tasks,
                      const WordTable& table);
  // A plan task that cannot be counted: acknowledged, recorded. True if this call recorded it.
  bool Fail(redis::Connection& c, const std::string& job, const Task& t, const std::string& why);
  // An entry that is no task of the job: acknowledged, never counted. True if this call did.
  bool MarkForeign(redis::Connection& c, const std::string& job, const Foreign& f);
  // Shuffle: map task t's output is written. True if this call finished it.
  bool MapDone(redis::Connection& c, const std::string& job, const Task& t);
  // If plan task t (count or map) is already finished - its bit in P:done is set: another entry
  // of it was committed, or it failed for good - acknowledges t's entry and returns true; check
  // and acknowledgement are one call (wc_ack_finished_v4), so a bit cleared in between (a lost
  // map output sent back) is seen. False for an unfinished task or a reduce/publish task: the
  // caller does the task as usual.
  bool AckIfFinished(redis::Connection& c, const std::string& job, const Task& t);
  enum class RedoResult { kSentBack, kNotPending, kFailedMapsSkipped };
  // Shuffle: reduce task t found the outputs of `lost` (map, why) missing or corrupt.
  RedoResult RedoMaps(redis::Connection& c, const std::string& job, const Task& t,
                      const std::vector<std::pair<uint32_t, std::string>>& lost, int max_redos);
  // Shuffle: partition t is reduced: acknowledges it and hands Redis its run (shuffle/run.h)
  // with its totals, in one atomic call. True if this call finished the partition. `state`, if
  // given, receives the job's state after the call ("done" once the last partition of a job
  // without words is finished).
  bool ReduceDone(redis::Connection& c, const std::string& job, const Task& t, uint64_t distinct,
                  uint64_t total, const std::string& run, std::string* state = nullptr);
  // Shuffle: the R reduced runs, in partition order. Throws shuffle::RunError naming a missing one.
  std::vector<std::string> Runs(redis::Connection& c, uint32_t parts);
  // The RESTORE payload of the result (redis/zset_dump.h), from words in DUMP order
  // (shuffle::MergeRuns). At least one word.
  static std::string ResultPayload(const std::vector<WordCount>& dump_order);
  struct PublishResult {
    enum class Kind { kPublished, kNotPending, kRefused };
    Kind kind = Kind::kPublished;
    std::string refusal;  // kRefused: the server's error for RESTORE
  };
  // Shuffle: publish task t: the result (distinct words, total) into C and the job done, in one
  // atomic call: with `payload`, one RESTORE of it (kRefused, nothing written, if the server
  // refuses it); without, C must already hold the result (PublishWrite). kNotPending: another
  // publisher finished it, or the entry is no longer ours.
  PublishResult Publish(redis::Connection& c, const std::string& job, const Task& t,
                        uint64_t distinct, uint64_t total, const std::string* payload);
  // Shuffle, publish phase, the fallback when RESTORE is refused: every count into C with ZADD
  // batches through the fenced write function (pipelined; safe to repeat).
  void PublishWrite(redis::Connection& c, const std::string& job,
                    const std::vector<WordCount>& counts);

 private:
  Entries Classified(const redis::Reply& entries, const JobView& job,
                     const std::vector<PlannedTask>& plan) const;
  redis::Reply Call(redis::Connection& c, std::string_view function, const redis::Args& args);
  // For the `no-writes` functions (progress, result sum, ACL check): FCALL_RO, which a user who
  // may only read the job's keys may call (held-out pass 27: %R~count refused the ACL check's
  // own FCALL, and `status` of a read-only user).
  redis::Reply CallReadOnly(redis::Connection& c, std::string_view function,
                            const redis::Args& args);
  JobKeys keys_;
};

}  // namespace wc::job

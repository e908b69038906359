// `wordcount status` and `wordcount top`: a job's state and its current top words, read from
// Redis (running or finished). Each returns an exit code (cli/exit_codes.h); Redis problems are
// reported on stderr (exit 4), a password missing or refused too (exit 2, saying where the
// password comes from).
//
// `status` reads a JobStatus once; its text and its --json output are two renderings of that
// one struct (StatusText, StatusJson: pure, no I/O).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "job/config.h"
#include "job/job_store.h"

namespace wc::cli {

// Where the job's Redis is: --redis URL, or --sentinel host:port,... with --master-name (the
// primary they name), or neither: the embedded Redis of the job running on this host.
struct RedisLocation {
  std::string url;
  std::string url_source = "--redis";  // where url came from, for messages: or "$WC_REDIS"
  std::string sentinels, master_name;
};

// The fields of the job record (mylib.lua's, the job's info, wc_progress's additions) that hold
// integers, and the "redos:<m>" counters: --json gives them as JSON integers.
inline const std::set<std::string> kNumericRecordFields = {
    "bytes",         "created_ms",     "distinct",       "done_parts", "done_tasks",
    "entries",       "epoch",          "failed_tasks",   "files",      "foreign",
    "lease_ms_left", "lease_until_ms", "max_deliveries", "now_ms",     "parts",
    "pending",       "state_ms",       "tasks",          "words"};

// A done job's result in COUNT against what the job recorded with its last commit (the
// record's `distinct` and `words`), both summed inside Redis (JobStore::ResultSum). A result
// evicted, deleted or changed by another writer differs in one of them: `top` refuses to print
// it (exit 8), `status` flags it. The one check both use.
// The key `job` (a record read on IN) counts into, if it is another than `counts_key` (COUNT
// of the config): a second job on the same IN with another COUNT; "" otherwise.
std::string OtherCountsKey(const job::JobState& job, const std::string& counts_key);

// A job of another stream that took COUNT over (its record's `count_taken_by`, from
// wc_progress_v4) makes the result another job's whatever the numbers say: two jobs of equal
// totals would pass them.
struct ResultCheck {
  int64_t distinct_recorded = 0, distinct_present = 0;
  int64_t words_recorded = 0;
  uint64_t words_present = 0;
  std::string taken_by;  // the stream whose job took COUNT over, if one did
  static ResultCheck Of(const job::JobState& done_job, std::pair<int64_t, uint64_t> sum);
  bool differs() const {
    return !taken_by.empty() || distinct_present != distinct_recorded ||
           words_present != static_cast<uint64_t>(words_recorded);
  }
  // "<d> distinct words recorded, <d'> present, <w> words recorded, <w'> present".
  std::string Numbers() const;
  // Why the result is not the job's: "the job of stream 'S' took it over (...)", else the
  // numbers and "evicted, or written by someone else?".
  std::string Why() const;
};

// What `status` shows of the job on one stream.
struct JobStatus {
  std::string stream;      // IN
  std::string counts_key;  // COUNT
  // The job record and its stream's state as Redis holds them (wc_progress, by name); the
  // state is "none" when the stream has no job. --json shows every field.
  std::map<std::string, std::string> record;
  // The record's owner (a coordinator) was on this host and its process is gone: its pid
  // (job/job_claim.h DeadOwnerHere), else 0.
  int64_t owner_gone_pid = 0;
  struct Tasks {
    int64_t total = 0;  // count tasks, or maps + partitions
    int64_t done = 0;   // tasks (and partitions) finished
    int64_t failed = 0, pending = 0, foreign = 0;
    std::string state;
    bool complete = false;
  };
  std::optional<Tasks> tasks;  // none: no job on the stream
  std::vector<job::ConsumerInfo> consumers;
  std::vector<std::pair<std::string, std::string>> failed;  // (task, why)
  int64_t distinct_words = 0;                               // members of COUNT
  std::optional<ResultCheck> result;                        // a done job's result, checked
  // The job on the stream counts into another key than COUNT (its record's count_key): two
  // jobs share IN. Its result is not in COUNT, which is then not checked against its record.
  std::string job_counts_key;
  // No job on the stream, and COUNT held by another stream's job: said (HolderNote), unchecked.
  std::string holder_note;
  struct Checkpoint {
    int64_t last_save_unix = 0, seconds_ago = 0;
    bool in_progress = false;  // a BGSAVE runs
    std::string last_status;   // of the last BGSAVE
    bool aof = false;
  } checkpoint;
  // A replicated Redis (--sentinel, or an embedded one with REDIS_HA sentinel): the roles as
  // the primary (INFO replication) and each Sentinel see them.
  struct Ha {
    std::string primary;  // host:port of the server read: the one named the primary
    std::string role;     // what it says it is (INFO replication): "master", or not (yet)
    struct Replica {
      std::string address, state;  // state: online, wait_bgsave, send_bulk...
      int64_t lag_s = -1;          // since its last acknowledgement
    };
    std::vector<Replica> replicas;  // connected to the primary
    struct Sentinel {
      std::string address;
      bool reachable = false;
      std::string names;  // the primary it names (reachable), or why it did not answer
    };
    std::vector<Sentinel> sentinels;
  };
  std::optional<Ha> ha;
};

// The text `status` prints (lines ending in '\n'; control bytes of every value from Redis
// escaped, util/escape.h; a lease past its end is said to have expired, not shown as negative
// time left), and its --json output (indented by 2, ASCII only, ending in '\n'; the record's
// numeric fields, kNumericRecordFields, as JSON integers, every other field a string).
// StatusJson throws nlohmann::json::type_error if a string is not UTF-8.
std::string StatusText(const JobStatus& s);
std::string StatusJson(const JobStatus& s);

int PrintStatus(const job::JobConfig& config, const RedisLocation& where, bool json);
int PrintTop(const job::JobConfig& config, const RedisLocation& where, int n);

}  // namespace wc::cli

// The job's configuration: the lab's config.json keys (shared/reference.md) plus wordcount's
// own. Every key is optional (defaults below); an unknown key, a value of the wrong type or out
// of range is a UsageError naming the key and the accepted values, so typos never pass silently
// (integers never wrap: N_NORMAL_WORKERS 4294967297 is refused, not read as 1).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "util/bounds.h"

namespace wc::job {

enum class Mode { kDirect, kShuffle };
enum class Persistence { kRdb, kAof };
enum class RedisHa { kNone, kSentinel };
// "direct"/"shuffle", "rdb"/"aof".
const char* ToString(Mode m);
const char* ToString(Persistence p);
const char* ToString(RedisHa h);
// Throws UsageError naming `key` and the accepted values.
inline constexpr int kMaxPartitions = 4096;

// The values each key accepts, shared with the command-line options that mirror a key (run
// --workers, serial --top, top N, worker --claim-idle-ms, ...): one check, one message
// (util/bounds.h).
// Local workers: each N_*_WORKERS key, their sum, and run --workers. More processes than this
// on one host only compete for its cores and Redis's connections; remote workers are unlimited.
inline constexpr IntRange kWorkersRange{0, 256};
inline constexpr IntRange kTopRange{0, 100'000'000};  // TOP, serial --top, top N
inline constexpr IntRange kPartitionsRange{0, kMaxPartitions};
inline constexpr IntRange kClaimIdleMsRange{1, 86'400'000};       // also worker --claim-idle-ms
inline constexpr IntRange kChunkBytesRange{1, int64_t{1} << 40};  // also serial --chunk-bytes
inline constexpr IntRange kCommitMaxWordsRange{1, 3'000'000};     // also worker --commit-max-words
inline constexpr IntRange kCommitMaxTasksRange{1, 100'000};       // also worker --commit-max-tasks
inline constexpr IntRange kMaxDeliveriesRange{1, 1000};           // also worker --max-deliveries
inline constexpr IntRange kCommitWaitReplicasRange{0, 4};         // also --commit-wait-replicas
inline constexpr IntRange kRedisReplicasRange{1, 4};
inline constexpr IntRange kSentinelDownAfterMsRange{100, 60'000};
inline constexpr SecondsRange kCheckpointIntervalRange{0, 86400};
inline constexpr SecondsRange kRedisDowntimeRange{0, 3600};
// REDIS_RESTART_INTERVAL: 0 (no forced crashes) or at least 1 s, counted from the moment the
// restarted Redis answers (its checkpoint loaded). A client that lost its connection retries
// with a backoff capped at 1 s (job/redis_session.h), so a Redis up for less than that can be
// missed by every worker, and crashed again before anyone committed: measured, 0.1 s never
// finishes (README, "Configuration").
inline constexpr double kMinRestartIntervalSeconds = 1;
inline constexpr SecondsRange kRestartIntervalRange{kMinRestartIntervalSeconds, 86400, true};
// At least 1 s (also worker --redis-retry-seconds): 0 meant "no bound" to a retrying client and
// "no time to answer" to status/top (held-out pass 12), and below a second a healthy server's
// first reply could miss the bound.
inline constexpr SecondsRange kRetrySecondsRange{1, 86400};
Mode ParseMode(const std::string& s, const std::string& key = "MODE");
Persistence ParsePersistence(const std::string& s, const std::string& key = "PERSISTENCE");
RedisHa ParseRedisHa(const std::string& s, const std::string& key = "REDIS_HA");

// Defaults shared by JobConfig and WorkerOptions (a worker started by hand gets the same ones).
inline constexpr int64_t kDefaultClaimIdleMs = 5000;
inline constexpr int64_t kDefaultCommitMaxWords = 400000;  // ~1 s of Redis time per commit
inline constexpr int kDefaultCommitMaxTasks = 64;
inline constexpr int kDefaultMaxDeliveries = 3;
inline constexpr double kDefaultRedisRetrySeconds = 60;

struct JobConfig {
  // --- the lab's keys ---
  std::string logfile = "/tmp/wc.log";   // LOGFILE: truncated by `run` at start
  int n_normal_workers = 5;              // N_NORMAL_WORKERS
  int n_crashing_workers = 2;            // N_CRASHING_WORKERS: exit right after reading a task
  int n_sleeping_workers = 1;            // N_SLEEPING_WORKERS: sleep 1 s per task
  std::string data_path = "data/*.csv";  // DATA_PATH: glob (or file or directory) of inputs
  std::string in = "files";              // IN: task stream
  std::string fname = "fname";           // FNAME: field of a task entry holding the file path
  std::string count = "count";           // COUNT: sorted set of word counts
  double checkpoint_interval = 2;        // CHECKPOINT_INTERVAL (s): BGSAVE period
  double redis_downtime = 1;             // REDIS_DOWNTIME (s): how long a crashed Redis stays down
  // --- wordcount's keys ---
  // TOP: how many top words `run` prints.
  int top = 3;
  // MODE: direct (the lab's design: workers add their counts into COUNT) or shuffle (map tasks
  // write partitioned counts to SPILL_DIR, reduce tasks write each word's total into COUNT).
  Mode mode = Mode::kDirect;
  // SPILL_DIR (shuffle): where map outputs go, in a directory of their own per job, removed at
  // the end. Must be on a file system every worker sees. Empty: STATE_DIR/spill (private to
  // this user and host: local workers only).
  std::string spill_dir;
  // PARTITIONS (shuffle): reduce tasks R. 0: 2 per worker, and at least one per 128 MB of input.
  int partitions = 0;
  // CLAIM_IDLE_MS: a task pending this long means its worker is presumed dead.
  int64_t claim_idle_ms = kDefaultClaimIdleMs;
  // REDIS_RESTART_INTERVAL (s): forced Redis crashes while work is pending; 0 = off.
  double redis_restart_interval = 0;
  // REDIS_PASSWORD: for the embedded Redis. Empty: a random one, kept in its state directory
  // (workers get it through the environment; `status` and `top` find it there).
  std::string redis_password;
  // STATE_DIR: the embedded Redis's private state (checkpoints, password), one 0700 directory
  // per job, kept until the job is done so that a rerun resumes it. Empty: $XDG_STATE_HOME/
  // wordcount or ~/.local/state/wordcount.
  std::string state_dir;
  // CHUNK_BYTES: files above this become record-aligned byte-range tasks.
  uint64_t chunk_bytes = 16ull << 20;
  // COMMIT_MAX_WORDS: distinct words per commit (keeps each FCALL far below Redis's 5 s
  // busy-script threshold).
  int64_t commit_max_words = kDefaultCommitMaxWords;
  // COMMIT_MAX_TASKS: tasks acknowledged by one commit.
  int commit_max_tasks = kDefaultCommitMaxTasks;
  // COMMIT_WAIT_REPLICAS (a replicated Redis): after each acknowledging call a worker WAITs until
  // this many replicas hold it (at most 1 s), so that a failover does not lose it. 0: no wait.
  int commit_wait_replicas = 0;
  // MAX_DELIVERIES: an unreadable task is retried until it was delivered this often.
  int max_deliveries = kDefaultMaxDeliveries;
  // REDIS_RETRY_SECONDS: how long everyone waits for an unreachable Redis.
  double redis_retry_seconds = kDefaultRedisRetrySeconds;
  // COLUMN: the column whose words are counted.
  std::string column = "text";
  // REDIS_ARGS: more redis-server options for the embedded server, e.g. ["--maxmemory", "2gb"]
  // (ValidateRedisArgs).
  std::vector<std::string> redis_args;
  // PERSISTENCE: rdb (BGSAVE checkpoints, the lab's way) or aof (append-only, fsync every second).
  Persistence persistence = Persistence::kRdb;
  // REDIS_HA: none (one embedded redis-server, checkpoints and restarts: the lab's way) or
  // sentinel (a primary, REDIS_REPLICAS replicas and three Sentinels; a crashed primary is
  // replaced by a promoted replica; job/ha_redis.h).
  RedisHa redis_ha = RedisHa::kNone;
  // REDIS_REPLICAS (sentinel): replicas of the embedded primary.
  int redis_replicas = 2;
  // SENTINEL_DOWN_AFTER_MS (sentinel): a primary silent this long is failed over. Longer than
  // any commit (COMMIT_MAX_WORDS keeps them ~1 s), or a busy primary is taken for a dead one
  // (harmless, the job stays exact, but slower).
  int64_t sentinel_down_after_ms = 2000;
};

// Reads `path` (a JSON object). Throws UsageError for a missing/unparsable file, an unknown
// key, or a value of the wrong type or range.
JobConfig LoadConfig(const std::string& path);

// Validates values that depend on each other, and REDIS_ARGS; throws UsageError.
void Validate(const JobConfig& c);

// REDIS_ARGS: a UsageError naming the directive if one is wordcount's own (port, bind,
// unixsocket, dir, dbfilename, appenddirname, logfile, requirepass, masterauth, aclfile, user,
// include, save, appendonly, replicaof, ...), or if the list is not "--directive value..."
// (a directive and its value in one string, a lone "-"). Whether redis-server knows the
// directive and accepts its value is its own check: the coordinator reports its complaint
// (exit 2) if it refuses to start.
void ValidateRedisArgs(const std::vector<std::string>& args);

}  // namespace wc::job

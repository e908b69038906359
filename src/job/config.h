// The job's configuration: the lab's config.json keys (shared/reference.md) plus wordcount's
// own. Every key is optional (defaults below); an unknown key or a value of the wrong type is
// a UsageError naming the key and the expected type, so typos never pass silently.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace wc::job {

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
  int top = 3;                          // TOP: how many top words `run` prints
  std::string mode = "direct";          // MODE: direct (the lab's design)
  int64_t claim_idle_ms = 5000;         // CLAIM_IDLE_MS: pending this long = worker presumed dead
  double redis_restart_interval = 0;    // REDIS_RESTART_INTERVAL (s): forced Redis crashes; 0 = off
  std::string redis_password;           // REDIS_PASSWORD: for the embedded Redis (and the URL)
  uint64_t chunk_bytes = 16ull << 20;   // CHUNK_BYTES: files above this become byte-range tasks
  int64_t commit_max_words = 400000;    // COMMIT_MAX_WORDS: distinct words per commit (keeps each
                                        // FCALL far below Redis's 5 s busy-script threshold)
  int commit_max_tasks = 64;            // COMMIT_MAX_TASKS: tasks acknowledged by one commit
  int max_deliveries = 3;               // MAX_DELIVERIES: an unreadable task is retried this often
  double redis_retry_seconds = 60;      // REDIS_RETRY_SECONDS: how long to wait for Redis
  std::string column = "text";          // COLUMN: the column whose words are counted
  std::vector<std::string> redis_args;  // REDIS_ARGS: more redis-server options for the embedded
                                        // server, e.g. ["--maxmemory", "2gb"]
  std::string persistence = "rdb";      // PERSISTENCE: rdb (BGSAVE checkpoints, the lab's way) or
                                        // aof (append-only file, fsync every second)
};

// Reads `path` (a JSON object). Throws UsageError for a missing/unparsable file, an unknown
// key, or a value of the wrong type or range.
JobConfig LoadConfig(const std::string& path);

// Validates values that depend on each other; throws UsageError.
void Validate(const JobConfig& c);

}  // namespace wc::job

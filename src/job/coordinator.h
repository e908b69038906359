// `wordcount run`: the coordinator of the distributed job (the lab's client.py).
//
// It plans the tasks (one per file; files above CHUNK_BYTES become record-aligned byte-range
// tasks, which also validates them), prepares Redis (embedded redis-server, or --redis URL),
// deletes only its own keys, creates the stream and the group, adds the tasks, spawns the
// workers, replaces workers that die by a signal, and when the workers have exited verifies
// from Redis that every task is acknowledged (spawning fresh workers, a bounded number of
// rounds, if not). Then it prints the top words and writes --out from the COUNT sorted set.
//
// Errors: returns an exit code (cli/exit_codes.h); UsageError for bad configuration.
#pragma once

#include <optional>
#include <string>

#include "job/config.h"

namespace wc::job {

struct RunOptions {
  std::string out;                  // --out: write every count here
  std::optional<std::string> data;  // --data: overrides DATA_PATH
  std::optional<int> workers;       // --workers: overrides N_NORMAL_WORKERS (and zeroes the others)
  std::string redis_url;            // --redis: use this server instead of an embedded one
  std::string self_exe = "/proc/self/exe";  // the wordcount binary, for spawning workers
  bool quiet = false;
};

int RunJob(const JobConfig& config, const RunOptions& options);

// `wordcount top N`: the top words of the COUNT sorted set on `redis_url`.
int PrintTop(const JobConfig& config, const std::string& redis_url, int n);

}  // namespace wc::job

// `wordcount worker`: a stateless worker of the distributed job (the lab's worker.py).
//
// Loop: read one task from the consumer group (its own pending history first, then new
// entries); count it into the current batch; commit the batch through wc_commit_v1 when it is
// big enough or when no new task is waiting. When nothing new arrives it steals tasks that have
// been pending longer than claim_idle (XAUTOCLAIM). It exits only when the job is complete:
// nothing pending and every entry delivered. A heartbeat thread keeps the claims of the tasks
// it holds fresh, so a slow worker is not mistaken for a dead one.
//
// Exactly-once: a commit acknowledges its tasks and adds their counts in one atomic function
// call, only if all its tasks are still pending; counting is deterministic, so whoever commits
// a task first commits the right counts, and every later commit of it changes nothing.
//
// Errors: input problems are recorded per task (wc_fail_v1) after max_deliveries tries (at
// once for a file that does not parse, or a path outside the data root); RedisUnavailable
// ends the worker with an error exit code. Nothing is thrown out of RunWorker.
#pragma once

#include <chrono>
#include <string>

#include "job/task.h"
#include "redis/connection.h"

namespace wc::job {

struct WorkerOptions {
  redis::ConnectOptions redis;
  std::string name = "worker";  // consumer name; keep it stable across restarts
  bool crash = false;           // the lab's crash point: exit right after reading a task
  bool slow = false;            // sleep 1 s per task (alive but slow)
  JobKeys keys;
  std::string data_root = "/";  // tasks outside this directory are rejected
  std::string column = "text";
  std::string spill_root;  // shuffle: SPILL_DIR; a task's spill name is a directory in it
  std::chrono::milliseconds claim_idle{kDefaultClaimIdleMs};
  std::chrono::milliseconds block{100};  // XREADGROUP BLOCK; < the socket timeout
  size_t commit_max_words = kDefaultCommitMaxWords;
  size_t commit_max_tasks = kDefaultCommitMaxTasks;
  int max_deliveries = kDefaultMaxDeliveries;
  std::chrono::milliseconds redis_retry{static_cast<int64_t>(kDefaultRedisRetrySeconds * 1000)};
};

inline constexpr int kWorkerExitDone = 0;
inline constexpr int kWorkerExitRedis = 4;     // Redis unreachable past the retry limit
inline constexpr int kWorkerExitCrashed = 17;  // the deliberate crash point

int RunWorker(const WorkerOptions& options);

}  // namespace wc::job

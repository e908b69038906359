// `wordcount worker`: a stateless worker of the distributed job (the lab's worker.py).
//
// Loop: read one task from the consumer group (its own pending history first, then new
// entries); direct mode: count it into the current batch and commit the batch when it is big
// enough or when no new task is waiting; shuffle mode: run the map task (shuffle/mapper.h) or
// the reduce task (shuffle/reducer.h) and report it. When nothing new arrives it steals tasks
// that have been pending longer than claim_idle. It exits only when the job is complete. A
// heartbeat thread keeps the claims of the tasks it holds fresh, so a slow worker is not
// mistaken for a dead one.
//
// Exactly-once: a commit acknowledges its tasks and adds their counts in one atomic function
// call, only if all its tasks are still pending; counting is deterministic, so whoever commits
// a task first commits the right counts, and every later commit of it changes nothing.
//
// Errors: input problems are recorded per task after max_deliveries tries (at once for a file
// that does not parse, or a path outside the data root); RedisUnavailable or a Redis error
// ends the worker with kWorkerExitRedis, a NOPERM (Redis's ACL denies it a command) with
// kWorkerExitRefused (its 'exit' line: reason=refused). Nothing is thrown out of RunWorker.
#pragma once

#include <string>

#include "job/worker_options.h"

namespace wc::job {

int RunWorker(const WorkerOptions& options);

// How a worker names its server in its `exit reason=redis_error error="<this>: <Redis's words>"`
// line: its URL (never with the password), or the Sentinels' primary by name. The coordinator
// (WorkerPool) strips it again from its own workers' lines: it names the server itself.
std::string RedisErrorPrefix(const WorkerOptions& options);

}  // namespace wc::job

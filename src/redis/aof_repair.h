// Repairs the tail of a redis-server's append-only file before the server loads it.
//
// Why: Redis writes the effects of a function (or a transaction) to the AOF as one MULTI ...
// EXEC block. A server killed in the middle of writing one leaves a block without its EXEC. On
// the next start, Redis 7.0 with `aof-load-truncated yes` (the default) cuts the file after the
// last *whole command*, which is inside that block: the MULTI stays in the file, with no EXEC.
// That start loads correctly (the open block is dropped), but every write after it is appended
// behind the dangling MULTI, and the start after that executes the dropped half-block together
// with the next block: one function's effects applied in part (seen: tasks acknowledged without
// their counts, done_tasks above the number of tasks). Fixed upstream in Valkey (PR 4342), not
// in Redis 7.0.15. `redis-check-aof --fix` cuts before the MULTI instead, so the file ends with
// whole blocks only; running it before every start closes the hole.
//
// RepairAofTail runs `redis-check-aof --fix <dir>/appendonlydir/appendonly.aof.manifest`
// (Debian's redis-tools, next to redis-server) and answers its "Continue? [y/N]" with y. It
// only ever shortens the last file to its longest prefix of whole commands and whole blocks:
// an older state, which the job protocol treats like an older checkpoint.
//
// Errors: throws std::runtime_error if the tool cannot be run or fails (the message has its
// output). Thread-safety: reentrant (one child process per call).
#pragma once

#include <string>

namespace wc::redis {

struct AofRepair {
  bool checked = false;    // an AOF manifest was there
  bool truncated = false;  // the tool cut the tail
  std::string report;      // the tool's output (its last lines)
};

AofRepair RepairAofTail(const std::string& dir, const std::string& tool = "redis-check-aof");

}  // namespace wc::redis

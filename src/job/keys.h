// The Redis key names of one job. Every key derives from two config values: the task stream
// (IN) and the sorted set of counts (COUNT); the consumer group is the lab's "worker".
// Value type; no I/O.
#pragma once

#include <string>

#include "job/config.h"
#include "redis/connection.h"

namespace wc::job {

struct JobKeys {
  std::string stream = "files";                              // IN
  std::string group = "worker";                              // the lab's consumer group name
  std::string counts = "count";                              // COUNT
  std::string fname = "fname";                               // FNAME
  std::string failed() const { return stream + ":failed"; }  // hash: task id -> error
  std::string meta() const { return stream + ":job"; }       // hash: job description
  // Shuffle mode's state (see mylib.lua).
  std::string maps() const { return stream + ":maps"; }
  std::string redo() const { return stream + ":redo"; }
  std::string blocked() const { return stream + ":blocked"; }
  // KEYS of wc_progress_v3 and the shuffle functions.
  redis::Args FunctionKeys() const { return {stream, failed(), meta(), maps(), redo(), blocked()}; }
  // Every key of the job (for deleting it).
  redis::Args All() const { return {stream, counts, failed(), meta(), maps(), redo(), blocked()}; }
};

// The keys named by a job's configuration (IN, COUNT, FNAME).
inline JobKeys KeysOf(const JobConfig& c) {
  return JobKeys{.stream = c.in, .counts = c.count, .fname = c.fname};
}

}  // namespace wc::job

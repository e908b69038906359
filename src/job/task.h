// A task of the job: one file, or one record-aligned byte range of a big file, as it is stored
// in the task stream: an entry with FNAME=<path> and, for a range, "range"="<begin>-<end>".
#pragma once

#include <map>
#include <string>
#include <vector>

#include "csv/record_ranges.h"
#include "job/config.h"
#include "redis/connection.h"

namespace wc::job {

// The Redis names of one job (from JobConfig).
struct JobKeys {
  std::string stream = "files";                              // IN
  std::string group = "worker";                              // the lab's consumer group name
  std::string counts = "count";                              // COUNT
  std::string fname = "fname";                               // FNAME
  std::string failed() const { return stream + ":failed"; }  // hash: task id -> error
  std::string meta() const { return stream + ":job"; }       // hash: job description
};

// The keys named by a job's configuration (IN, COUNT, FNAME).
JobKeys KeysOf(const JobConfig& c);

struct Task {
  std::string id;  // stream entry id
  std::string path;
  csv::ByteRange range;
};

// The stream entry fields of a task (without id).
redis::Args TaskFields(const JobKeys& keys, const std::string& path, const csv::ByteRange& range);
// Parses one stream entry ([id, [field, value, ...]]). A malformed entry throws
// std::invalid_argument naming the id.
Task ParseTask(const JobKeys& keys, const redis::Reply& entry);

}  // namespace wc::job

// A task of the job, as it is stored in the task stream.
//   direct mode, count task:  FNAME=<path> [range=<begin>-<end>]   (the lab's entry, plus ranges)
//   shuffle mode, map task:   FNAME=<path> [range=...] kind=map map=<m> parts=<R> spill=<dir name>
//   shuffle mode, reduce:     kind=reduce part=<r> maps=<M> parts=<R> spill=<dir name>
// A range is a record-aligned byte range of a big file; without one the task is the whole file.
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
JobKeys KeysOf(const JobConfig& c);

struct Task {
  enum class Kind { kCount, kMap, kReduce };
  std::string id;  // stream entry id
  Kind kind = Kind::kCount;
  std::string path;  // count and map tasks
  csv::ByteRange range;
  uint32_t map = 0;    // map: its number m
  uint32_t part = 0;   // reduce: its partition r
  uint32_t maps = 0;   // reduce: M
  uint32_t parts = 0;  // map and reduce: R
  std::string spill;   // map and reduce: the job's directory name under the spill root
};

// The stream entry fields of a count task (without id).
redis::Args TaskFields(const JobKeys& keys, const std::string& path, const csv::ByteRange& range);
// The fields of map task m of a shuffle job (mylib.lua's wc_redo_maps_v1 writes the same).
redis::Args MapTaskFields(const JobKeys& keys, const std::string& path, const csv::ByteRange& range,
                          uint32_t m, uint32_t parts, const std::string& spill);
// The value of field m of the maps hash: "<range>|<path>", range empty for a whole file.
std::string MapDescription(const std::string& path, const csv::ByteRange& range);

// The job's state, read atomically by wc_progress_v3.
struct Progress {
  int64_t entries = 0;  // stream entries (tasks added so far, all phases)
  int64_t pending = 0;  // delivered, not acknowledged
  bool all_delivered = false;
  int64_t delivered = 0;  // acknowledged = delivered - pending
  bool done = false;      // the job is complete (shuffle: reduce phase finished too)
  std::string phase;      // direct, map or reduce
};
// Throws RedisReplyError NOSTREAM / NOGROUP if the job is not there.
Progress ReadProgress(redis::Connection& c, const JobKeys& keys);
// Parses one stream entry ([id, [field, value, ...]]). A malformed entry (missing or bad field,
// spill name other than [A-Za-z0-9._-]+) throws std::invalid_argument naming the id.
Task ParseTask(const JobKeys& keys, const redis::Reply& entry);

}  // namespace wc::job

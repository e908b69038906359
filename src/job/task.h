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
#include "job/keys.h"
#include "redis/connection.h"

namespace wc::job {

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

// Parses one stream entry ([id, [field, value, ...]]). A malformed entry (missing or bad field,
// spill name other than [A-Za-z0-9._-]+) throws std::invalid_argument naming the id.
Task ParseTask(const JobKeys& keys, const redis::Reply& entry);

}  // namespace wc::job

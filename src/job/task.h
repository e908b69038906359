// The job's two codecs (library version 4 of mylib.lua; see its header for the protocol):
//
//   plan descriptors  P:plan field n = "<begin>-<end>,<size>,<mtime>,<ctime>,<inode>|<path>", or
//                     ",<size>,<mtime>,<ctime>,<inode>|<path>" for a whole file (the file's
//                     FileStamp when planned: size in bytes, times in ns): the authenticated
//                     description of task n, written by the coordinator only;
//   stream entries    count/map task n:  <FNAME> <path> job <id> task <n>
//                     reduce task r:     job <id> part <r>
//                     publish task:      job <id> publish 1 (added by the job's own function;
//                                        the record's publish_entry names the only real one)
//
// A worker takes a task's path and range from the plan, never from the entry. An entry is a
// task of job J only if Classify says so; the rule is the one mylib.lua's classify() applies
// (both sides must agree, or an entry could be refused by both): exactly one of task/part/publish,
// job == J's id, each of job/task/part/publish at most once, numbers ^[0-9]+$ of fewer than 10
// digits, task < tasks, part < parts and only in a shuffle job. Value types; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "csv/record_ranges.h"
#include "job/config.h"
#include "job/plan.h"
#include "redis/connection.h"

namespace wc::job {

// What a worker knows of the job it serves (from the job record).
struct JobView {
  std::string id;
  Mode mode = Mode::kDirect;
  uint32_t tasks = 0;  // N: count or map tasks
  uint32_t parts = 0;  // R: reduce partitions (shuffle)
  std::string spill;   // shuffle: the job's directory name under SPILL_DIR
  std::string column = "text";
  // MAX_DELIVERIES of the coordinator that created the job (the job record's max_deliveries);
  // 0 for a record without it (an older coordinator): the worker's own --max-deliveries then.
  int max_deliveries = 0;
  // The job record's epoch (its coordinator's fencing token) when the worker joined: a record of
  // another job with an older epoch is a Redis rolled back to before this job, not a newer job.
  int64_t epoch = 0;
};

struct Task {
  enum class Kind { kCount, kMap, kReduce, kPublish };
  std::string entry;  // stream entry id
  Kind kind = Kind::kCount;
  uint32_t n = 0;    // count/map: plan task number; reduce: partition; publish: 0
  std::string path;  // count/map: from the plan
  csv::ByteRange range;
  FileStamp stamp;  // count/map: the file as planned (job/plan.h)
};

// "<begin>-<end>,<size>,<mtime>,<ctime>,<inode>|<path>", or
// ",<size>,<mtime>,<ctime>,<inode>|<path>" for a whole file.
std::string Descriptor(const PlannedTask& t);
// The inverse; nullopt if malformed.
std::optional<PlannedTask> ParseDescriptor(std::string_view d);

// An entry that is no task of the job: its id and why.
struct Foreign {
  std::string entry;
  std::string why;
};

// Classifies one stream entry ([id, [field, value, ...]]) against the job. For a count or map
// task the path and range come from `plan` (index n); a task number without a plan entry is
// foreign too.
std::variant<Task, Foreign> Classify(const redis::Reply& entry, const JobView& job,
                                     const std::vector<PlannedTask>& plan);

}  // namespace wc::job

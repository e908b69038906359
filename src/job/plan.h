// Planning a job: input files -> tasks. Pure (checks every file as a reader would open it, reads
// the files' sizes and, for files above CHUNK_BYTES, splits them into record-aligned ranges,
// which also validates them); no Redis.
//
// Errors: a file that is not a regular file we can open (missing, a dangling link or a link
// loop, no permission, a FIFO, socket, device or directory: util/mapped_file.h's OpenInputFile,
// never opening a FIFO) or that cannot be split is rejected: recorded in Plan::failures (its
// message complete, naming the file as given, not its link's target, and the line, in the
// words `wordcount serial` uses) and contributes no task; nothing is thrown for bad input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "count/count_task.h"
#include "csv/record_ranges.h"
#include "job/config.h"

namespace wc::job {

struct PlannedTask {
  std::string path;  // absolute, symlinks resolved: what workers open
  csv::ByteRange range;
  // Which file was planned (and its ranges cut), in which state: a worker counts the task only
  // from a file that still has this stamp (size, mtime, ctime, inode: count/count_task.h).
  FileStamp stamp;
  std::string input;  // the input as given (DATA_PATH expanded): the name in messages
};

struct Plan {
  std::vector<PlannedTask> tasks;
  std::vector<std::string> failures;  // files rejected while planning (complete messages)
  uint64_t bytes = 0;                 // input bytes of the tasks
  size_t files = 0;                   // input files, rejected ones included
  size_t missing = 0;                 // of those, files that do not exist (ENOENT, ENOTDIR)
  std::string data_root;              // the deepest directory holding every task's file
};

// One task per file, or per range of a file above chunk_bytes; `column` is the counted column.
Plan MakePlan(const std::vector<std::string>& files, uint64_t chunk_bytes,
              const std::string& column);

// `message`, a failure of `task` that names the task's resolved path (a worker's InputError:
// "<path>:<line>: ..."), naming the input as given instead, as `wordcount serial` does; any
// other message unchanged.
std::string NamedAsGiven(const PlannedTask& task, const std::string& message);

// Input bytes of each task (a whole file's: its size now).
std::vector<uint64_t> TaskInputBytes(const Plan& plan);

// Shuffle mode's default number of partitions: two per worker, at least one per 128 MB of
// input, at most kMaxPartitions.
uint32_t DefaultPartitions(uint64_t bytes, int workers);

// A digest (32 hex chars) of everything that makes a job's result: every task's path, range,
// and file size, inode, modification and change time, and `extra` (mode, column, keys,
// partitions...), and the plan's format (a job planned by a build whose plan descriptors differ
// is another job, never resumed by this one). Two runs with the same digest count the same thing (a
// file rewritten in place changes its ctime, which cannot be set back; contents are not hashed).
std::string PlanDigest(const Plan& plan, const std::string& extra);

}  // namespace wc::job

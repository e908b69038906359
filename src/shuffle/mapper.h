// Shuffle mode's map task, without Redis: count one input range and write it as a partitioned
// map output (shuffle/spill.h). The worker (job/worker.cc) runs it and reports to Redis.
//
// Errors: throws InputError / csv::CsvError for the input (as count/count_task.h), and the spill
// writer's error for the output. Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "count/count_task.h"
#include "csv/record_ranges.h"
#include "shuffle/spill.h"

namespace wc::shuffle {

struct MapStats {
  TaskStats input;
  SpillStats output;
};

// Counts `range` of `path` (column `column`; the file as planned: `planned`, else
// FileChangedSincePlanError) and writes it as map output `map` of job `job` in `dir`, split into
// `parts` partitions. Idempotent: the same input writes the same file, renamed into place.
MapStats RunMap(const std::string& path, csv::ByteRange range, const FileStamp& planned,
                const std::string& column, const std::string& dir, std::string_view job,
                uint32_t map, uint32_t parts);

}  // namespace wc::shuffle

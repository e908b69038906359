// Shuffle mode's map task, without Redis: count one input range and write it as a partitioned
// map output (shuffle/spill.h). The worker (job/worker.cc) runs it and reports to Redis.
//
// Errors: throws InputError / csv::CsvError for the input (as count/count_task.h), and the spill
// writer's error for the output. Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>

#include "count/count_task.h"
#include "csv/record_ranges.h"
#include "shuffle/spill.h"

namespace wc::shuffle {

struct MapStats {
  TaskStats input;
  SpillStats output;
};

// Counts `range` of `path` (column `column`) and writes it as map output `map` in `dir`, split
// into `parts` partitions. Idempotent: the same input writes the same file, renamed into place.
MapStats RunMap(const std::string& path, csv::ByteRange range, const std::string& column,
                const std::string& dir, uint32_t map, uint32_t parts);

}  // namespace wc::shuffle

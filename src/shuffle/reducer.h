// Shuffle mode's reduce task, without Redis: partition r of every map output, summed, and put in
// the order Redis inserts fastest. The worker (job/worker.cc) runs it and publishes to Redis.
//
// Errors: MergePartition never throws for a missing or corrupt map output: it lists it in
// `lost` (the reducer sends that map task back). Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "count/word_table.h"

namespace wc::shuffle {

struct Partition {
  WordTable totals{1 << 16};
  std::vector<std::pair<uint32_t, std::string>> lost;  // (map, why) outputs missing or corrupt
  uint64_t records = 0;                                // records read
};

// Sums slice `part` of the outputs of maps 0..maps-1 of job `job` in `dir`, skipping the maps m
// with skip[m] (maps that failed for good and have no output). Another job's output is lost.
Partition MergePartition(const std::string& dir, std::string_view job, uint32_t maps,
                         uint32_t parts, uint32_t part, const std::vector<bool>& skip = {});

// (count, word) of every word of `table`, sorted by (count, word): the order in which Redis
// inserts new sorted-set members fastest. Views point into `table`.
std::vector<std::pair<uint64_t, std::string_view>> SortedByCount(const WordTable& table);

}  // namespace wc::shuffle

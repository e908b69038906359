// A reduced run: the result of one reduce partition, (word, count) records in descending
// (count, word bytes) order, as one byte string. The reducer encodes it and hands it to Redis
// with the acknowledgement of its partition (wc_reduce_done_v4 keeps it in P:parts); the
// publisher decodes the R runs, merges them and builds the result (job/publisher.h).
//
// Format (integers little-endian):
//   magic "WCRUN001", uint32 part, uint32 parts, uint64 records, uint64 total (sum of counts)
//   records: {varint length, word bytes, varint count}, descending by (count, word bytes)
//   uint64 XXH3-64 of everything before it
// Descending order is Redis's DUMP order for sorted sets (redis/zset_dump.h: every member then
// lands at the head of the skip list), so the publisher merges the runs without sorting.
//
// Errors: DecodeRun throws RunError naming the partition for anything malformed: checksum,
// header, a record that runs past the end, a zero count, records out of order or repeated, a
// word that hashes to another partition (shuffle::PartitionOf), totals that do not add up.
// Thread-safety: reentrant. Decoded views point into the run string, which must outlive them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "count/counts_format.h"

namespace wc::shuffle {

class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encodes partition `part` of `parts` from `ascending`, sorted ascending by (count, word) as
// SortedByCount returns it (the run holds it reversed).
std::string EncodeRun(uint32_t part, uint32_t parts,
                      const std::vector<std::pair<uint64_t, std::string_view>>& ascending);

struct DecodedRun {
  std::vector<WordCount> records;  // descending by (count, word); views into the run
  uint64_t total = 0;
};

// Decodes and checks the run of partition `part` of `parts`.
DecodedRun DecodeRun(std::string_view run, uint32_t part, uint32_t parts);

// The runs merged into one descending (count, word) sequence (DUMP order). Runs hold disjoint
// words (each word belongs to one partition).
std::vector<WordCount> MergeRuns(const std::vector<DecodedRun>& runs);

// The runs of partitions 0..parts-1 (runs[r] is partition r's), decoded, checked and merged:
// MergeRuns of their DecodeRun; *total gets the sum of every count. Throws RunError like
// DecodeRun. Views point into `runs`.
std::vector<WordCount> DecodeAndMergeRuns(const std::vector<std::string>& runs, uint64_t* total);

// Puts a descending (count, word) sequence into counts-file order (count descending, word
// ascending) in place, by reversing each group of equal counts. O(n).
void DumpOrderToCountsOrder(std::vector<WordCount>& counts);

}  // namespace wc::shuffle

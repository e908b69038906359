// Splitting one CSV file into record-aligned byte ranges that can be counted independently.
//
// A ByteRange stands for "the records that start in [begin, end)". The first range of a file
// begins at 0 and so also covers the header, which every counter reads itself (ReadSchema), so
// ranges are self-contained: (path, begin, end) is a complete task description. Boundaries are
// real record starts, found by a quote-aware scan with the reference's grammar (a '\n' inside
// quotes is data), so counting all ranges and adding up gives exactly the whole-file counts.
//
// The scan parses every record, so it also finds the file's structural errors (unterminated
// quote, a row with too many fields) before anything is counted; it throws CsvError for them.
// Cost: one sequential pass at memory-scan speed (see bench/count_bench.cc).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "csv/csv_scanner.h"

namespace wc::csv {

struct ByteRange {
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();
  uint64_t begin = 0;
  uint64_t end = kToEnd;  // kToEnd: to the end of the file
  bool operator==(const ByteRange&) const = default;
};

// Ranges of about `target_bytes` each (at least one record each) covering the whole file.
// REQUIRES: target_bytes > 0; data has 16 readable bytes past its end.
std::vector<ByteRange> SplitRecordRanges(std::string_view data, const std::string& path,
                                         const Schema& schema, uint64_t target_bytes);

}  // namespace wc::csv

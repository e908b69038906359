#include "count/count_task.h"

#include <algorithm>
#include <filesystem>

#include "count/tokenizer.h"

namespace wc {

namespace {

struct CountingVisitor {
  PrefetchingAdder& adder;
  uint64_t records = 0;
  uint64_t words = 0;
  void OnRecord(size_t) { ++records; }
  void OnText(std::string_view text) {
    ForEachWord(text, [this](const char* w, size_t n) {
      adder.Add(w, n);
      ++words;
    });
  }
};

// Large ranges are scanned in slices so the pages already read can be released: the resident
// set stays bounded whatever the file size.
constexpr size_t kReleaseSlice = 64 << 20;

}  // namespace

TaskStats CountRange(const MappedFile& file, const csv::Schema& schema, csv::ByteRange range,
                     WordTable& table, uint64_t delta) {
  const size_t size = file.size();
  const size_t begin = std::max<uint64_t>(range.begin, schema.data_begin);
  const size_t end = std::min<uint64_t>(range.end, size);
  csv::TextScanner scanner(file.view(), file.path(), schema);
  PrefetchingAdder adder(table, delta);
  CountingVisitor visitor{adder};
  TaskStats stats;
  stats.bytes = end > range.begin ? end - range.begin : 0;
  size_t pos = begin;
  while (pos < end) {
    size_t slice_end = std::min(end, pos + kReleaseSlice);
    size_t next = scanner.Scan(pos, slice_end, visitor);
    if (slice_end < end) file.Release(pos, next);
    pos = next;
  }
  adder.Flush();
  stats.records = visitor.records;
  stats.words = visitor.words;
  return stats;
}

TaskStats CountFileRange(const std::string& path, csv::ByteRange range, WordTable& table,
                         const std::string& column, uint64_t delta) {
  MappedFile file(path);
  csv::Schema schema = csv::ReadSchema(file.view(), path, column);
  return CountRange(file, schema, range, table, delta);
}

TaskStats CountFileRangeOrNothing(const std::string& path, csv::ByteRange range, WordTable& table,
                                  const std::string& column) {
  try {
    return CountFileRange(path, range, table, column);
  } catch (const csv::CsvError& e) {
    CountFileRange(path, csv::ByteRange{range.begin, e.record_begin()}, table, column,
                   ~uint64_t{0});
    throw;
  }
}

std::vector<csv::ByteRange> PlanFileTasks(const std::string& path, uint64_t chunk_bytes,
                                          const std::string& column, uint64_t* size) {
  std::error_code ec;
  *size = std::filesystem::file_size(path, ec);
  if (ec) *size = 0;
  if (ec || *size <= chunk_bytes) return {csv::ByteRange{}};
  MappedFile file(path);
  csv::Schema schema = csv::ReadSchema(file.view(), path, column);
  return csv::SplitRecordRanges(file.view(), path, schema, chunk_bytes);
}

}  // namespace wc

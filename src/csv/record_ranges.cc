#include "csv/record_ranges.h"

namespace wc::csv {

namespace {
struct Cutter {
  std::vector<ByteRange>* ranges;
  uint64_t target;
  uint64_t next_cut;
  void OnRecord(size_t record) {
    if (record >= next_cut) {
      ranges->back().end = record;
      ranges->push_back(ByteRange{record, ByteRange::kToEnd});
      next_cut = record + target;
    }
  }
  void OnText(std::string_view) {}
};
}  // namespace

std::vector<ByteRange> SplitRecordRanges(std::string_view data, const std::string& path,
                                         const Schema& schema, uint64_t target_bytes) {
  std::vector<ByteRange> ranges{ByteRange{0, ByteRange::kToEnd}};
  Schema structure_only = schema;
  structure_only.text_index = kNoColumn;
  TextScanner scanner(data, path, structure_only);
  Cutter cutter{&ranges, target_bytes, target_bytes};
  scanner.Scan(schema.data_begin, data.size(), cutter);
  ranges.back().end = data.size();
  return ranges;
}

}  // namespace wc::csv

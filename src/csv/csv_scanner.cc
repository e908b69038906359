#include "csv/csv_scanner.h"

#include <algorithm>
#include <array>

namespace wc::csv {

bool IsNaString(std::string_view s) {
  // pandas 2.x STR_NA_VALUES (1.5 lacks "None"), plus the empty string.
  static constexpr std::array<std::string_view, 19> kNa = {
      "",     "#N/A",   "#N/A N/A", "#NA",  "-1.#IND", "-1.#QNAN", "-NaN",
      "-nan", "1.#IND", "1.#QNAN",  "<NA>", "N/A",     "NA",       "NULL",
      "NaN",  "None",   "n/a",      "nan",  "null"};
  return std::find(kNa.begin(), kNa.end(), s) != kNa.end();
}

uint64_t LineAt(std::string_view data, size_t offset) {
  offset = std::min(offset, data.size());
  return 1 + static_cast<uint64_t>(std::count(data.begin(), data.begin() + offset, '\n'));
}

void TextScanner::Fail(size_t record, size_t at, const std::string& message) const {
  throw CsvError(path_, LineAt({d_, size_}, at), message, record);
}

size_t TextScanner::SlowQuotedField(size_t pos, bool* last, size_t record, PaddedBuffer* out) {
  size_t q = pos;  // an opening quote, or the second quote of a "" pair
  for (;;) {
    size_t close = EndOfQuoted(q, record);
    out->append(d_ + q + 1, close - q - 1);
    if (close + 1 < size_ && d_[close + 1] == '"') {
      out->push_back('"');
      q = close + 1;
      continue;
    }
    pos = close + 1;
    break;
  }
  // After the closing quote the field continues unquoted up to ',' or '\n'.
  const char* e = simd::FindFirstOf(d_ + pos, d_ + size_, ',', '\n');
  out->append(d_ + pos, static_cast<size_t>(e - (d_ + pos)));
  size_t at = static_cast<size_t>(e - d_);
  *last = at >= size_ || *e == '\n';
  if (const void* nul = std::memchr(out->data(), '\0', out->size())) {
    out->truncate(static_cast<size_t>(static_cast<const char*>(nul) - out->data()));
  }
  return at + 1;
}

size_t TextScanner::ReadFields(size_t pos, std::vector<std::string>* fields) {
  fields->clear();
  const size_t record = pos;
  bool last = false;
  while (!last) {
    std::string_view value;
    pos = TextField(pos, &last, record, &value);
    fields->emplace_back(value);
  }
  return std::min(pos, size_);
}

size_t TextScanner::CountFields(size_t pos, size_t* fields) {
  const size_t record = pos;
  bool last = false;
  *fields = 0;
  while (!last) {
    pos = SkipField(pos, &last, record);
    ++*fields;
  }
  return std::min(pos, size_);
}

namespace {

Schema ReadSchemaOrThrow(std::string_view data, const std::string& path,
                         std::string_view required_column) {
  Schema schema;
  TextScanner scanner(data, path, schema);
  size_t pos = 0;
  if (data.size() >= 3 && data.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  pos = scanner.SkipBlankLines(pos, data.size());
  if (pos >= data.size()) throw CsvError(path, 0, "no columns to parse (empty file)", 0);

  std::vector<std::string> names;
  schema.header_begin = pos;
  schema.data_begin = scanner.ReadFields(pos, &names);
  schema.header_end = schema.data_begin;
  if (schema.header_end > schema.header_begin && schema.header_end <= data.size() &&
      data[schema.header_end - 1] == '\n') {
    --schema.header_end;
  }
  schema.header_fields = names.size();

  // pandas: if the first data record is wider than the header, the extra leading fields
  // become an implicit index and all columns shift right.
  size_t first = scanner.SkipBlankLines(schema.data_begin, data.size());
  if (first < data.size()) {
    size_t fields = 0;
    scanner.CountFields(first, &fields);
    if (fields > schema.header_fields) schema.leading_fields = fields - schema.header_fields;
  }
  schema.expected_fields = schema.header_fields + schema.leading_fields;

  if (!required_column.empty()) {
    auto it = std::find(names.begin(), names.end(), required_column);
    if (it == names.end()) {
      throw CsvError(path, LineAt(data, schema.header_begin),
                     "no column named '" + std::string(required_column) + "' in the header", 0);
    }
    schema.text_index = static_cast<size_t>(it - names.begin()) + schema.leading_fields;
  }
  return schema;
}

}  // namespace

Schema ReadSchema(std::string_view data, const std::string& path,
                  std::string_view required_column) {
  try {
    return ReadSchemaOrThrow(data, path, required_column);
  } catch (const CsvError& e) {
    // Nothing has been counted when the schema fails, whichever record broke it.
    if (e.record_begin() == 0) throw;
    throw CsvError(e.path(), e.line(), e.message(), 0);
  }
}

}  // namespace wc::csv

// Reading the text column of a CSV file exactly as the lab's reference does
// (pandas `read_csv(path, lineterminator='\n')`, then `str(value)`), see shared/reference.md.
//
// The grammar, as pandas' C tokenizer implements it:
//   * only '\n' ends a record; '\r' is data; fields are separated by ',';
//   * a field that starts with '"' is quoted: "" inside is one '"', ',' and '\n' are data; after
//     the closing quote the field goes on unquoted ("abc"def -> abcdef), and in an unquoted field
//     a '"' is an ordinary byte;
//   * an empty line, or one of only spaces and tabs, outside quotes is skipped;
//   * a UTF-8 byte-order mark at the start of the file is dropped;
//   * the first record is the header; if the first data record has k more fields than the
//     header, its first k fields are an implicit index and every text lookup shifts by k;
//   * a record with more fields than that is an error; a shorter one is padded with missing
//     values; a NUL byte ends a field's value;
//   * a missing text (empty, a default NA string, or a row too short) reads as "nan";
//     a text that is exactly "\n" is skipped.
// Known divergence: if every text of a file parses as a number, pandas converts the column to
// numbers ("1" becomes "1.0" when another text is missing); we always keep texts as bytes.
// Likewise pandas rejects invalid UTF-8; we count bytes.
//
// Thread-safety: the functions are reentrant; a TextScanner is single-threaded.
// Errors: throw CsvError (an InputError with the byte offset of the failing record). When a scan
// throws, the visitor has seen every record before the failing one and nothing of it or after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "csv/simd.h"
#include "util/error.h"
#include "util/padded_buffer.h"

namespace wc::csv {

inline constexpr size_t kNoColumn = std::numeric_limits<size_t>::max();

// A failure to parse a record. record_begin is the byte offset where the failing record starts;
// the records before it were delivered.
class CsvError : public InputError {
 public:
  CsvError(std::string path, uint64_t line, const std::string& message, uint64_t record_begin)
      : InputError(std::move(path), line, message), record_begin_(record_begin) {}
  uint64_t record_begin() const { return record_begin_; }

 private:
  uint64_t record_begin_;
};

// What the header and the first data record say about a file.
struct Schema {
  size_t header_begin = 0;        // offset of the header record (after any BOM)
  size_t header_end = 0;          // offset of the header's '\n' (or EOF); excludes the '\n'
  size_t data_begin = 0;          // offset just past the header record
  size_t header_fields = 0;       // fields in the header
  size_t leading_fields = 0;      // implicit index fields of pandas (see above)
  size_t expected_fields = 0;     // header_fields + leading_fields: the most a record may have
  size_t text_index = kNoColumn;  // index of the text field within a record, or kNoColumn
};

// Parses the header and the first data record of `data` (a whole file; REQUIRES 16 readable
// bytes past its end). Throws CsvError if there is no header ("no columns to parse", like
// pandas for a 0-byte or blank file) or it cannot be parsed. If `required_column` is not empty
// and no header field equals it, throws CsvError naming the column.
Schema ReadSchema(std::string_view data, const std::string& path,
                  std::string_view required_column = "text");

// 1-based line number of byte `offset` in `data` (error path only: it scans from the start).
uint64_t LineAt(std::string_view data, size_t offset);

// The reference's missing-value strings (pandas 2.x default NA set plus "").
bool IsNaString(std::string_view s);

// Scans the records that start in [begin, end) and reports each record start and each text
// value, as the reference sees it, to a visitor:
//   void OnRecord(size_t record_begin);     // before the record is parsed
//   void OnText(std::string_view text);     // after the record was validated; 16 bytes
//                                           // past text.end() are readable
// A record that starts before `end` is finished even if it runs past it; `begin` must be a
// record start (or the start of a skippable line). Returns the offset where scanning stopped:
// the start of the first record at or past `end`, or data.size().
class TextScanner {
 public:
  TextScanner(std::string_view data, const std::string& path, const Schema& schema)
      : d_(data.data()), size_(data.size()), path_(path), schema_(schema) {}

  template <class Visitor>
  size_t Scan(size_t begin, size_t end, Visitor& visitor);

  // Offset of the first record start at or after `pos`, skipping empty and blank-only lines;
  // returns a value >= limit if none starts before `limit`.
  size_t SkipBlankLines(size_t pos, size_t limit) const;
  // Parses the record at `pos` into its field values; returns the offset past it.
  size_t ReadFields(size_t pos, std::vector<std::string>* fields);
  // Counts the fields of the record at `pos`; returns the offset past it.
  size_t CountFields(size_t pos, size_t* fields);

 private:
  // Field parsers. `pos` is the field's first byte; they return the offset just past the
  // field's terminator and set *last when that terminator ended the record ('\n' or EOF).
  size_t SkipField(size_t pos, bool* last, size_t record);
  size_t TextField(size_t pos, bool* last, size_t record, std::string_view* value);
  size_t SlowQuotedField(size_t pos, bool* last, size_t record, PaddedBuffer* out);
  [[noreturn]] void Fail(size_t record, size_t at, const std::string& message) const;
  size_t EndOfQuoted(size_t quote, size_t record) const;

  const char* d_;
  size_t size_;
  const std::string& path_;
  const Schema& schema_;
  PaddedBuffer scratch_;
};

// ---- implementation of the hot path ----

inline size_t TextScanner::EndOfQuoted(size_t quote, size_t record) const {
  // Position of the quote that ends (or escapes inside) the quoted run opened at `quote`.
  const void* q = std::memchr(d_ + quote + 1, '"', size_ - quote - 1);
  if (q == nullptr) Fail(record, quote, "end of file inside a quoted field that starts here");
  return static_cast<size_t>(static_cast<const char*>(q) - d_);
}

inline size_t TextScanner::SkipField(size_t pos, bool* last, size_t record) {
  if (pos < size_ && d_[pos] == '"') {
    size_t q = pos;
    for (;;) {
      q = EndOfQuoted(q, record);
      if (q + 1 < size_ && d_[q + 1] == '"') {
        q += 1;  // "" is an escaped quote: the quoted run goes on after it
        continue;
      }
      pos = q + 1;
      break;
    }
    // Whatever follows the closing quote up to ',' or '\n' belongs to the field, unquoted.
  }
  const char* e = simd::FindFirstOf(d_ + pos, d_ + size_, ',', '\n');
  size_t at = static_cast<size_t>(e - d_);
  *last = at >= size_ || *e == '\n';
  return at + 1;
}

inline size_t TextScanner::TextField(size_t pos, bool* last, size_t record,
                                     std::string_view* value) {
  if (pos < size_ && d_[pos] == '"') {
    // Fast path: "plain text" followed by a terminator, no NUL, no "" escape.
    const char* s = d_ + pos + 1;
    const char* e = simd::FindFirstOf(s, d_ + size_, '"', '\0');
    if (e < d_ + size_ && *e == '"') {
      size_t after = static_cast<size_t>(e - d_) + 1;
      if (after >= size_ || d_[after] == ',' || d_[after] == '\n') {
        *value = std::string_view(s, static_cast<size_t>(e - s));
        *last = after >= size_ || d_[after] == '\n';
        return after + 1;
      }
    }
    scratch_.clear();
    size_t next = SlowQuotedField(pos, last, record, &scratch_);
    *value = scratch_.view();
    return next;
  }
  const char* e = simd::FindFirstOf(d_ + pos, d_ + size_, ',', '\n', '\0');
  size_t at = static_cast<size_t>(e - d_);
  *value = std::string_view(d_ + pos, at - pos);
  if (at < size_ && *e == '\0') {
    // A NUL ends the value (pandas reads fields as C strings); the field goes on.
    e = simd::FindFirstOf(e, d_ + size_, ',', '\n');
    at = static_cast<size_t>(e - d_);
  }
  *last = at >= size_ || *e == '\n';
  return at + 1;
}

inline size_t TextScanner::SkipBlankLines(size_t pos, size_t limit) const {
  while (pos < limit && pos < size_) {
    char c = d_[pos];
    if (c == '\n') {
      ++pos;
      continue;
    }
    if (c != ' ' && c != '\t') return pos;
    size_t q = pos;
    while (q < size_ && (d_[q] == ' ' || d_[q] == '\t')) ++q;
    if (q >= size_) return size_;   // blanks up to EOF: nothing more
    if (d_[q] != '\n') return pos;  // blanks then data: the record starts at the blanks
    pos = q + 1;
  }
  return pos;
}

template <class Visitor>
size_t TextScanner::Scan(size_t begin, size_t end, Visitor& visitor) {
  static const char kNan[PaddedBuffer::kPadding] = "nan";
  const size_t text_index = schema_.text_index;
  const size_t expected = schema_.expected_fields;
  size_t pos = begin;
  for (;;) {
    pos = SkipBlankLines(pos, end);
    if (pos >= end || pos >= size_) break;
    const size_t record = pos;
    visitor.OnRecord(record);
    std::string_view text(kNan, 3);  // a row too short to reach the text column
    size_t fields = 0;
    bool last = false;
    while (!last) {
      if (fields == text_index) {
        pos = TextField(pos, &last, record, &text);
      } else {
        pos = SkipField(pos, &last, record);
      }
      ++fields;
    }
    if (fields > expected) {
      Fail(record, record,
           "expected " + std::to_string(expected) + " fields, saw " + std::to_string(fields));
    }
    if (text_index == kNoColumn) continue;
    if (text.size() == 1 && text[0] == '\n') continue;  // the reference skips "\n"
    if (text.size() <= 9 && IsNaString(text)) text = std::string_view(kNan, 3);
    visitor.OnText(text);
  }
  return pos < size_ ? pos : size_;
}

}  // namespace wc::csv

// The project's counts formats.
//
// Counts file (`--out`): one line per word, "<count>\t<escaped word>\n", sorted by count
// descending, then by the word's bytes ascending. Escapes: '\\' -> "\\\\", tab -> "\\t",
// newline -> "\\n", carriage return -> "\\r", any other byte below 0x20 or 0x7f -> "\\xHH"
// (lowercase hex); every other byte as is (util/escape.h, Backslash::kEscape). Every command
// that writes counts uses this format.
//
// Top lines: "<word>: <count>\n" with the word as the lab's reference prints it, except that
// control bytes (C0, DEL, C1: ESC sequences, CR, newline) are escaped like log lines
// (util/escape.h, Backslash::kKeep): a word from a CSV cannot drive the terminal or break the
// line. Printable words, UTF-8 and backslashes included, are written byte for byte; the
// counts file has every word exactly.
//
// Errors: WriteCountsFile throws OutputError naming the output ("standard output" for none) if it
// cannot be written. WriteTop never throws: it returns false (errno set) on a write error.
// Standard output is written with WriteUnlessStopped (util/signals.h): a reader that does not
// read holds `run` only until a signal (errno EINTR then).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "count/word_table.h"
#include "util/safe_files.h"

namespace wc {

struct WordCount {
  std::string_view word;  // points into the WordTable it came from
  uint64_t count;
  bool operator==(const WordCount&) const = default;
};

// Every word with a non-zero count, in counts-file order.
std::vector<WordCount> SortedCounts(const WordTable& table);
// Sorts into counts-file order (count descending, then the word's bytes ascending).
void SortCounts(std::vector<WordCount>& counts);
// The first n of SortedCounts, without sorting everything.
std::vector<WordCount> TopCounts(const WordTable& table, size_t n);

std::string EscapeWord(std::string_view word);
// Inverse of EscapeWord; throws std::invalid_argument on a malformed escape.
std::string UnescapeWord(std::string_view escaped);

// Writes the counts to `out` (util/safe_files.h; the caller commits it), or to standard output
// (descriptor 1, unbuffered: flush stdio's stdout before) if `out` is null.
void WriteCountsFile(OutputFile* out, const std::vector<WordCount>& counts);
// Writes "word: count" lines to descriptor `fd` (unbuffered: flush stdio's stdout before).
bool WriteTop(int fd, const std::vector<WordCount>& top);

}  // namespace wc

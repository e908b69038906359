// The in-process counter behind `wordcount serial`: counts many files with N threads and gives
// the exact reference result for every file that parses, and nothing at all from a file that
// does not (a failed file's partial counts are taken back).
//
// How: files larger than chunk_bytes are split into record-aligned ranges (which also validates
// their structure up front); every thread counts tasks into its own WordTable; a task that fails
// remembers how far it had counted; at the end those counted parts of failed files are counted
// again with delta -1, then the tables are merged.
//
// A file that changes while it is counted (util/mapped_file.h) is a failure like a file that
// does not parse, "<path>: changed while it was read", and contributes nothing: the counts it
// left cannot be taken back by counting again, so the table holding them is dropped and the
// other files' tasks in it are counted again. The same happens if a failed file changes
// between its count and its undo. The other files' counts stay exact.
//
// Thread-safety: CountFiles is reentrant; it runs its own threads and joins them before
// returning. Errors: input problems are reported in SerialResult::failures, never thrown;
// UsageError for bad options; std::bad_alloc propagates.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "count/word_table.h"

namespace wc {

struct SerialOptions {
  // Worker threads; 0 means one per hardware thread.
  unsigned threads = 0;
  // Files larger than this are split into record-aligned ranges of about this size, so one big
  // file is counted by all threads.
  uint64_t chunk_bytes = 64ull << 20;
  // Name of the column whose words are counted.
  std::string column = "text";
};

struct FileFailure {
  std::string path;
  std::string message;  // complete, names the file and line
};

struct SerialResult {
  WordTable counts;
  std::vector<FileFailure> failures;  // in input order
  uint64_t files_counted = 0;
  uint64_t bytes_counted = 0;
  uint64_t records = 0;
  uint64_t words = 0;
  uint64_t distinct = 0;  // words with a non-zero count (counts.size() also holds the words of
                          // failed files, taken back to 0)
};

SerialResult CountFiles(const std::vector<std::string>& paths, const SerialOptions& options);

}  // namespace wc

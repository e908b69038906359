// Counting one task: the text-column words of one file, or of one record-aligned byte range of
// it, into a WordTable.
//
// Errors: throws InputError if the file cannot be opened, csv::CsvError if it does not parse.
// After a CsvError the records before the failing one (within the range) have been counted;
// CsvError::record_begin() says where counting stopped, so a caller can take them back by
// counting [range.begin, record_begin) again with the opposite delta (see SerialCounter).
//
// A file that changes while it is counted (truncated, rewritten: see util/mapped_file.h) never
// crashes the process and is never counted silently: the count throws FileChangedError (an
// InputError, "<path>: changed while it was read"), also in place of a CsvError the change
// caused. The table then holds an unknown part of the range's counts, which counting again
// cannot take back (the bytes are gone): the caller must discard the table, or give up exactness.
// Thread-safety: reentrant; the table must not be shared between threads.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "count/word_table.h"
#include "csv/csv_scanner.h"
#include "csv/record_ranges.h"
#include "util/mapped_file.h"

namespace wc {

struct TaskStats {
  uint64_t bytes = 0;    // input bytes covered by the range
  uint64_t records = 0;  // data records seen
  uint64_t words = 0;    // words counted (with multiplicity)
};

// Which file a job planned, and in which state (job/plan.h): its size, modification time, status
// change time and inode number. A task counts its file only if it still has all four, so that the
// byte ranges planned from it and its counts belong to the same file: a file replaced by a rename
// (another inode) or written since (the kernel moves ctime on every change, and nobody can set it
// back) is not the one planned, even with the same size and mtime (`rsync -a`, `touch -d`).
// The device is not part of it: hosts that share a file system see it as different devices, but
// with the same inode numbers and times (NFS does).
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp StampOf(const MappedFile::Version& version);

// The file is not the one the job was planned from: "<path>: changed since the job was planned
// (...)", saying what differs: "another file in its place (inode I, planned I')", "size S,
// planned S'", "modified at T, planned T'", or, with all of those as planned, "written or its
// status changed since (ctime C, planned C')". Counting it again gives the same answer: the task
// fails at once.
class FileChangedSincePlanError : public InputError {
 public:
  FileChangedSincePlanError(const std::string& path, const FileStamp& now,
                            const FileStamp& planned);
  // `now` says what the file is now, when it has no stamp ("a FIFO now", "cannot be stat'ed
  // now: ..."): "(<now>; planned: size S, modified at T, ctime C, inode I)".
  FileChangedSincePlanError(const std::string& path, const std::string& now,
                            const FileStamp& planned);
};

// Whether the file at `path` (symbolic links followed) is still the one planned with `planned`:
// "" if it is a regular file with the planned stamp, else the FileChangedSincePlanError message
// (what()) that says how it differs ("a FIFO now" if it is no regular file). A path that cannot
// be stat'ed (missing, no permission) gives "" and its errno in `*stat_errno` (0 otherwise): the
// caller decides whether that is a change. Reentrant; one stat, nothing opened.
std::string ChangeSincePlan(const std::string& path, const FileStamp& planned, int* stat_errno);

// Counts the records of `file` that start in `range` into `table`, adding `delta` per word.
TaskStats CountRange(const MappedFile& file, const csv::Schema& schema, csv::ByteRange range,
                     WordTable& table, uint64_t delta = 1);

// The schema of `file` (csv::ReadSchema), or FileChangedError if a change made it unreadable.
csv::Schema ReadSchemaOf(const MappedFile& file, const std::string& column);

// Opens `path`, reads its schema (text column `column`) and counts `range` of it.
TaskStats CountFileRange(const std::string& path, csv::ByteRange range, WordTable& table,
                         const std::string& column = "text", uint64_t delta = 1);

// Like CountFileRange, but all or nothing: if the range fails to parse, the records already
// counted are taken back (counted again with the opposite delta) before the error propagates.
// If the file changed while it was counted, that is impossible: it throws SpoiledTableError.
// With `planned`, a file opened with another stamp throws FileChangedSincePlanError before
// anything is counted.
TaskStats CountFileRangeOrNothing(const std::string& path, csv::ByteRange range, WordTable& table,
                                  const std::string& column = "text",
                                  const FileStamp* planned = nullptr);

// The plan of one input file, made from one opening of it (OpenInputFile, util/mapped_file.h:
// the resolution checked is the one read): its tasks, and which file they belong to.
struct FilePlan {
  // The whole file if it is at most `chunk_bytes` long, else its record-aligned ranges of about
  // `chunk_bytes` (splitting parses every record, so a malformed big file fails here, before
  // anything is counted).
  std::vector<csv::ByteRange> ranges;
  FileStamp stamp;              // which file, as split
  MappedFile::Version version;  // which file: a reader of a range checks it opened this one
  std::string resolved;         // its real path, as resolved when it was checked and opened
};

// Plans `path`. Throws InputError (the file cannot be opened, is no regular file, changed while
// it was split) / csv::CsvError, naming `path` as given.
FilePlan PlanFile(const std::string& path, uint64_t chunk_bytes, const std::string& column);

// The table holds part of a range's counts that cannot be taken back, because the range's file
// changed while it was counted. Whoever owns the table must discard it (and everything counted
// into it). Deliberately not an InputError: a loop that skips or retries bad inputs must not
// keep using the table.
class SpoiledTableError : public std::runtime_error {
 public:
  explicit SpoiledTableError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace wc

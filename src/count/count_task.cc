#include "count/count_task.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

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

std::string Seconds(int64_t ns) {
  return fmt::format("{}{}.{:09}", ns < 0 ? "-" : "", std::abs(ns / 1000000000),
                     std::abs(ns % 1000000000));
}

std::string Describe(const FileStamp& s) {
  return fmt::format("size {}, modified at {}, ctime {}, inode {}", s.size, Seconds(s.mtime_ns),
                     Seconds(s.ctime_ns), s.inode);
}

// What differs between two stamps of a path, the most telling first (a ctime differs whenever
// anything else does: said only when nothing else is).
std::string StampChange(const FileStamp& now, const FileStamp& planned) {
  std::vector<std::string> what;
  if (now.inode != planned.inode)
    what.push_back(
        fmt::format("another file in its place (inode {}, planned {})", now.inode, planned.inode));
  if (now.size != planned.size)
    what.push_back(fmt::format("size {}, planned {}", now.size, planned.size));
  if (now.mtime_ns != planned.mtime_ns) {
    what.push_back(fmt::format("modified at {}, planned {}", Seconds(now.mtime_ns),
                               Seconds(planned.mtime_ns)));
  }
  if (what.empty()) {
    what.push_back(
        fmt::format("written or its status changed since (ctime {}, planned {}; size "
                    "and mtime as planned)",
                    Seconds(now.ctime_ns), Seconds(planned.ctime_ns)));
  }
  return fmt::format("{}", fmt::join(what, "; "));
}

}  // namespace

FileStamp StampOf(const MappedFile::Version& v) {
  return {.size = v.size, .mtime_ns = v.mtime_ns, .ctime_ns = v.ctime_ns, .inode = v.inode};
}

FileChangedSincePlanError::FileChangedSincePlanError(const std::string& path, const FileStamp& now,
                                                     const FileStamp& planned)
    : InputError(path, 0,
                 fmt::format("changed since the job was planned ({})", StampChange(now, planned))) {
}

FileChangedSincePlanError::FileChangedSincePlanError(const std::string& path,
                                                     const std::string& now,
                                                     const FileStamp& planned)
    : InputError(path, 0,
                 fmt::format("changed since the job was planned ({}; planned: {})", now,
                             Describe(planned))) {}

std::string ChangeSincePlan(const std::string& path, const FileStamp& planned, int* stat_errno) {
  struct stat st {};
  *stat_errno = 0;
  if (::stat(path.c_str(), &st) != 0) {
    *stat_errno = errno;
    return {};
  }
  if (!S_ISREG(st.st_mode)) {
    return FileChangedSincePlanError(path, fmt::format("a {} now", FileTypeName(st.st_mode)),
                                     planned)
        .what();
  }
  const FileStamp now = StampOf(MappedFile::VersionOf(st));
  return now == planned ? std::string() : FileChangedSincePlanError(path, now, planned).what();
}

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
  try {
    while (pos < end) {
      size_t slice_end = std::min(end, pos + kReleaseSlice);
      size_t next = scanner.Scan(pos, slice_end, visitor);
      if (slice_end < end) file.Release(pos, next);
      pos = next;
      if (pos < end && file.Changed()) break;  // no point in scanning zeros
    }
  } catch (const csv::CsvError&) {
    file.CheckUnchanged();  // a change explains the error better
    throw;
  }
  adder.Flush();
  file.CheckUnchanged();
  stats.records = visitor.records;
  stats.words = visitor.words;
  return stats;
}

csv::Schema ReadSchemaOf(const MappedFile& file, const std::string& column) {
  try {
    return csv::ReadSchema(file.view(), file.path(), column);
  } catch (const csv::CsvError&) {
    file.CheckUnchanged();  // a change explains the error better
    throw;
  }
}

TaskStats CountFileRange(const std::string& path, csv::ByteRange range, WordTable& table,
                         const std::string& column, uint64_t delta) {
  MappedFile file(path);
  return CountRange(file, ReadSchemaOf(file, column), range, table, delta);
}

TaskStats CountFileRangeOrNothing(const std::string& path, csv::ByteRange range, WordTable& table,
                                  const std::string& column, const FileStamp* planned) {
  MappedFile file(path);
  if (planned != nullptr && !(StampOf(file.version()) == *planned))
    throw FileChangedSincePlanError(path, StampOf(file.version()), *planned);
  const csv::Schema schema = ReadSchemaOf(file, column);  // nothing counted if this throws
  try {
    return CountRange(file, schema, range, table);
  } catch (const FileChangedError& e) {
    throw SpoiledTableError(e.what());
  } catch (const csv::CsvError& e) {
    // Counting is deterministic: the same bytes counted with -1 cancel exactly. They are the same
    // bytes if the file did not change since it was opened, which CountRange checks at its end.
    try {
      CountRange(file, schema, csv::ByteRange{range.begin, e.record_begin()}, table, ~uint64_t{0});
    } catch (const InputError& undo) {
      throw SpoiledTableError(undo.what());
    }
    throw;
  }
}

FilePlan PlanFile(const std::string& path, uint64_t chunk_bytes, const std::string& column) {
  FilePlan plan;
  struct stat st {};
  UniqueFd fd = OpenInputFile(path, &st, &plan.resolved);  // a small file: closed, read later
  plan.version = MappedFile::VersionOf(st);
  plan.stamp = StampOf(plan.version);
  if (plan.stamp.size <= chunk_bytes) {
    plan.ranges = {csv::ByteRange{}};
    return plan;
  }
  // The ranges are those of the bytes mapped: of the file opened and stamped above.
  MappedFile file(path, std::move(fd), st, plan.resolved);
  csv::Schema schema = csv::ReadSchema(file.view(), path, column);
  plan.ranges = csv::SplitRecordRanges(file.view(), path, schema, chunk_bytes);
  file.CheckUnchanged();
  return plan;
}

}  // namespace wc

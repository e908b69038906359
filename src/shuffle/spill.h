// Map output files of shuffle mode ("spill files"): one per map task, holding that task's word
// counts split into R hash partitions, so that the reducer of partition r reads only its slice.
//
// File map-<m>.wcs (all integers little-endian):
//   header  magic "WCSPILL2", uint32 parts, uint32 job id length L, uint64 map index, job id
//           (L bytes: the file belongs to that job's map task m, and to no other)
//   index   parts x {uint64 offset, uint64 bytes, uint64 words, uint64 XXH3-64 of the slice}
//   uint64  XXH3-64 of header + index
//   slices  per partition, back to back: records {varint length, word bytes, varint count}
// A file is written under a temporary name in the same directory and renamed, so a reader sees
// a whole file or none. It is not fsynced: a file a machine crash emptied or cut fails its
// checksums, and the reducer sends its map task back to be redone.
//
// Which partition a word belongs to (PartitionOf) depends only on its bytes and the number of
// partitions, on every host and in every process.
//
// Errors: WriteMapOutput throws OutputError (naming the file) when the file cannot be written
// (disk full, no permission, missing directory) and leaves no file behind: an output failure,
// not a problem of the map task's input. ReadPartition throws SpillError (missing or corrupt,
// naming the file), also when the file cannot be read.
// Thread-safety: all functions are reentrant.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "count/word_table.h"

namespace wc::shuffle {

// The partition of `word` among `parts` (>= 1).
uint32_t PartitionOf(std::string_view word, uint32_t parts);

// dir/map-<map>.wcs
std::string MapOutputPath(const std::string& dir, uint64_t map);

struct SpillStats {
  uint64_t bytes = 0;  // file size
  uint64_t words = 0;  // records written (distinct words of the task)
};

// Writes the non-zero counts of `table` as the output of map task `map` of job `job` (its id,
// at most 255 bytes), atomically.
SpillStats WriteMapOutput(const std::string& dir, std::string_view job, uint64_t map,
                          uint32_t parts, const WordTable& table);

class SpillError : public std::runtime_error {
 public:
  enum class Kind { kMissing, kCorrupt };
  SpillError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Calls f(std::string_view word, uint64_t count) for every record of slice `part` of the output
// of map task `map` of job `job` at `path`, written with `parts` partitions. The file header and
// the slice are checked (magic, job id, map index, partition count, bounds, both checksums,
// every record) before the first call: if it throws, f was not called. Another job's output
// (left at the path, or planted there) is corrupt for this job: "holds job X's output". Every view
// passed to f is followed by at least 16 readable bytes (WordTable::Add's padding requirement) and
// lives until ReadPartition returns. Returns the number of records.
template <class F>
uint64_t ReadPartition(const std::string& path, std::string_view job, uint64_t map, uint32_t parts,
                       uint32_t part, F&& f);

// ---- implementation ----

namespace internal {
constexpr size_t kSlicePadding = 16;
// Reads and checks slice `part`; returns its bytes followed by kSlicePadding zero bytes (not part
// of the slice) and sets *words.
std::string ReadSlice(const std::string& path, std::string_view job, uint64_t map, uint32_t parts,
                      uint32_t part, uint64_t* words);
// Decodes one varint at *p (< end); false if it runs past end or over 10 bytes.
bool ReadVarint(const char** p, const char* end, uint64_t* v);

// Decodes every record of a slice, calling f(word, count); throws SpillError on a malformed one.
template <class F>
uint64_t ForEachRecord(const std::string& slice, const std::string& path, uint64_t words, F&& f) {
  const char* p = slice.data();
  const char* end = p + slice.size() - kSlicePadding;
  uint64_t n = 0;
  while (p < end) {
    uint64_t len = 0, count = 0;
    if (!ReadVarint(&p, end, &len) || len > static_cast<uint64_t>(end - p))
      throw SpillError(SpillError::Kind::kCorrupt, path + ": corrupt map output: malformed record");
    std::string_view word(p, len);
    p += len;
    if (!ReadVarint(&p, end, &count) || count == 0)
      throw SpillError(SpillError::Kind::kCorrupt, path + ": corrupt map output: malformed record");
    f(word, count);
    ++n;
  }
  if (n != words)
    throw SpillError(SpillError::Kind::kCorrupt,
                     path + ": corrupt map output: record count mismatch");
  return n;
}
}  // namespace internal

template <class F>
uint64_t ReadPartition(const std::string& path, std::string_view job, uint64_t map, uint32_t parts,
                       uint32_t part, F&& f) {
  uint64_t words = 0;
  std::string slice = internal::ReadSlice(path, job, map, parts, part, &words);
  internal::ForEachRecord(slice, path, words, [](std::string_view, uint64_t) {});
  return internal::ForEachRecord(slice, path, words, f);
}

}  // namespace wc::shuffle

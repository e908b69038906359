#include "shuffle/spill.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>
#include <vector>

#include "shuffle/bytes.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace wc::shuffle {

namespace {

constexpr char kMagic[8] = {'W', 'C', 'S', 'P', 'I', 'L', 'L', '2'};
constexpr size_t kHeaderBytes = 24;      // magic, parts, job id length, map (then the job id)
constexpr size_t kIndexEntryBytes = 32;  // offset, bytes, words, checksum

using bytes::GetU32;
using bytes::GetU64;
using bytes::PutU32;
using bytes::PutU64;
using bytes::PutVarint;

SpillError Corrupt(const std::string& path, const std::string& what) {
  return SpillError(SpillError::Kind::kCorrupt,
                    fmt::format("{}: corrupt map output: {}", path, what));
}

// Reads exactly n bytes at offset; false on a short file.
bool PreadAll(int fd, char* buf, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw SpillError(SpillError::Kind::kCorrupt, ErrnoMessage(path + ": read failed", errno));
    }
    if (r == 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

void WriteAll(int fd, const std::vector<iovec>& iov_in, const std::string& path) {
  std::vector<iovec> iov = iov_in;
  size_t i = 0;
  while (i < iov.size()) {
    int n = static_cast<int>(std::min<size_t>(iov.size() - i, IOV_MAX));
    ssize_t w = ::writev(fd, &iov[i], n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw OutputError(path, "cannot write map output", errno);
    }
    auto left = static_cast<size_t>(w);
    while (i < iov.size() && left >= iov[i].iov_len) left -= iov[i++].iov_len;
    if (i < iov.size()) {
      iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
      iov[i].iov_len -= left;
    }
  }
}

}  // namespace

uint32_t PartitionOf(std::string_view word, uint32_t parts) {
  return static_cast<uint32_t>(XXH3_64bits(word.data(), word.size()) % parts);
}

std::string MapOutputPath(const std::string& dir, uint64_t map) {
  return fmt::format("{}/map-{}.wcs", dir, map);
}

SpillStats WriteMapOutput(const std::string& dir, std::string_view job, uint64_t map,
                          uint32_t parts, const WordTable& table) {
  if (job.size() > 255) throw UsageError("a job id has at most 255 bytes");
  std::vector<std::string> slices(parts);
  std::vector<uint64_t> words(parts, 0);
  for (auto& s : slices) s.reserve(table.size() * 12 / parts + 64);
  table.ForEach([&](std::string_view w, uint64_t c) {
    uint32_t p = PartitionOf(w, parts);
    std::string& s = slices[p];
    PutVarint(s, w.size());
    s.append(w);
    PutVarint(s, c);
    ++words[p];
  });

  std::string head;
  head.append(kMagic, sizeof kMagic);
  PutU32(head, parts);
  PutU32(head, static_cast<uint32_t>(job.size()));
  PutU64(head, map);
  head.append(job);
  uint64_t offset = kHeaderBytes + job.size() + kIndexEntryBytes * parts + 8;
  for (uint32_t p = 0; p < parts; ++p) {
    PutU64(head, offset);
    PutU64(head, slices[p].size());
    PutU64(head, words[p]);
    PutU64(head, XXH3_64bits(slices[p].data(), slices[p].size()));
    offset += slices[p].size();
  }
  PutU64(head, XXH3_64bits(head.data(), head.size()));

  const std::string path = MapOutputPath(dir, map);
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw OutputError(tmp, "cannot create map output", errno);
  try {
    std::vector<iovec> iov;
    iov.push_back({head.data(), head.size()});
    for (auto& s : slices) {
      if (!s.empty()) iov.push_back({s.data(), s.size()});
    }
    WriteAll(fd.get(), iov, tmp);
    if (::close(fd.Release()) != 0) throw OutputError(tmp, "cannot write map output", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw OutputError(path, "cannot rename map output into place", errno);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  SpillStats st;
  st.bytes = offset;
  for (uint64_t w : words) st.words += w;
  return st;
}

namespace internal {

bool ReadVarint(const char** p, const char* end, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 70 && *p < end; shift += 7) {
    auto b = static_cast<uint8_t>(*(*p)++);
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

std::string ReadSlice(const std::string& path, std::string_view job, uint64_t map, uint32_t parts,
                      uint32_t part, uint64_t* words) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    throw SpillError(err == ENOENT ? SpillError::Kind::kMissing : SpillError::Kind::kCorrupt,
                     ErrnoMessage(path + ": cannot open map output", err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw SpillError(SpillError::Kind::kCorrupt, ErrnoMessage(path + ": stat failed", errno));
  const auto size = static_cast<uint64_t>(st.st_size);
  const size_t head_bytes = kHeaderBytes + job.size() + kIndexEntryBytes * parts + 8;
  std::string head(head_bytes, '\0');
  if (!PreadAll(fd.get(), head.data(), head_bytes, 0, path)) throw Corrupt(path, "file too short");
  if (std::memcmp(head.data(), kMagic, sizeof kMagic) != 0) throw Corrupt(path, "bad magic");
  if (GetU32(head.data() + 12) != job.size())
    throw Corrupt(path, fmt::format("holds another job's output, not job {}'s", job));
  if (GetU64(head.data() + head_bytes - 8) != XXH3_64bits(head.data(), head_bytes - 8))
    throw Corrupt(path, "header checksum mismatch");
  if (std::string_view(head.data() + kHeaderBytes, job.size()) != job)
    throw Corrupt(path, fmt::format("holds job {}'s output, not job {}'s",
                                    std::string_view(head.data() + kHeaderBytes, job.size()), job));
  if (GetU32(head.data() + 8) != parts)
    throw Corrupt(path, fmt::format("written for {} partitions, expected {}",
                                    GetU32(head.data() + 8), parts));
  if (GetU64(head.data() + 16) != map)
    throw Corrupt(path,
                  fmt::format("holds map task {}, expected {}", GetU64(head.data() + 16), map));
  const char* e = head.data() + kHeaderBytes + job.size() + kIndexEntryBytes * part;
  uint64_t offset = GetU64(e), bytes = GetU64(e + 8), checksum = GetU64(e + 24);
  *words = GetU64(e + 16);
  if (offset > size || bytes > size - offset) throw Corrupt(path, "slice past the end of the file");
  std::string slice(bytes + kSlicePadding, '\0');
  if (!PreadAll(fd.get(), slice.data(), bytes, offset, path)) throw Corrupt(path, "file too short");
  if (XXH3_64bits(slice.data(), bytes) != checksum)
    throw Corrupt(path, fmt::format("checksum mismatch in partition {}", part));
  return slice;
}

}  // namespace internal

}  // namespace wc::shuffle

// Read-only, zero-padded memory mapping of a whole file.
//
// Ownership: a MappedFile owns its mapping and file descriptor; it is move-only and unmaps on
// destruction. Views handed out (data(), view()) live exactly as long as the MappedFile.
// Padding: at least kPadding readable zero bytes follow the last byte of the file, so hot loops
// may load 16 or 32 bytes at any position inside the file without a bounds check. Those bytes
// are never part of the file's contents.
// Thread-safety: const methods may be used from any number of threads at once.
// Errors: the constructor throws InputError naming the path (as OpenInputFile below, or an mmap
// failure). A 0-byte file maps fine (size() == 0, data() points at kPadding zeros).
//
// A file that changes while it is mapped. Truncating a mapped file makes its pages past the new
// end vanish, and touching one raises SIGBUS, which would kill the process. A MappedFile never
// lets that happen: the first one installs a process-wide SIGBUS handler that, for a fault
// inside a live MappedFile, maps zero pages over the rest of that mapping, marks it changed, and
// lets the read go on (a fault anywhere else gets the action that was there before, by default
// death). So after a truncation readers see zero bytes, not a crash, and must not trust them:
// a reader that needs the file's exact bytes calls CheckUnchanged() when it is done. It throws
// FileChangedError ("<path>: changed while it was read") if a vanished page was touched or the
// file's size, modification time or change time (ctime) differ from when it was opened; if it
// does not throw, the bytes read were the file's bytes (ctime cannot be set back: any write, even
// one that restores size and mtime, is seen; so is a chmod or a new hard link, on the safe
// side). The counting code (count/count_task.h) turns this into its error outcome: a file that
// changes while it is counted is reported, never counted inconsistently.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.h"
#include "util/unique_fd.h"

namespace wc {

// The file changed (was truncated or rewritten) while it was read.
class FileChangedError : public InputError {
 public:
  explicit FileChangedError(std::string path)
      : InputError(std::move(path), 0, "changed while it was read") {}
};

namespace internal {
struct FaultSlot;  // mapped_file.cc: a live mapping, as the SIGBUS handler knows it
}

// Opens `path` (symbolic links followed) to read it as an input file, the one way every reader
// and the job's planning check an input. The path is resolved one component at a time
// (openat(O_PATH | O_NOFOLLOW) from /, each symbolic link read and its owner noted, links inside
// link targets too), never by the kernel's own resolution, and the file is opened from that
// resolution (its name in its resolved directory, O_NOFOLLOW, then checked to be the same inode):
// what was checked is what is read. A FIFO, socket, device or directory is refused by its type
// without being opened ("not a regular file (FIFO)": a FIFO never blocks, a device is never
// touched); the open is O_RDONLY | O_NONBLOCK | O_NOCTTY. A path that cannot be resolved or
// opened (missing, a dangling link, a link loop, no permission) throws "cannot open:
// <strerror>"; a file swapped during the open, "replaced while it was opened". A file reached
// through a symbolic link of another user (not this user's, not root's; anywhere on the way) is
// refused ("... not followed") unless that user could read it anyway: search permission on every
// directory resolved and read permission on the file, by the mode bits for that user and its
// groups. Throws InputError naming `path` as given; `*st` gets the opened file's fstat and
// `*resolved` (if given) its real path as resolved (no links, no "." or ".."): the name of what
// was checked and opened. The caller owns the descriptor returned. Reentrant.
UniqueFd OpenInputFile(const std::string& path, struct stat* st, std::string* resolved = nullptr);

// What a stat's st_mode says the file is: "regular file", "directory", "FIFO", "socket",
// "character device", "block device", "symbolic link" (lstat) or "unknown file type".
const char* FileTypeName(mode_t mode);

class MappedFile {
 public:
  static constexpr size_t kPadding = 64;

  // Opens `path` with OpenInputFile and maps it. Throws InputError as OpenInputFile does, or
  // naming `path` if it cannot be mapped.
  explicit MappedFile(const std::string& path);
  // Maps the file OpenInputFile(path, &st, &resolved) opened as `fd` (owned from now on): the
  // file checked is the one mapped, with no second resolution of `path`.
  MappedFile(std::string path, UniqueFd fd, const struct stat& st, std::string resolved);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // The real path of the file mapped, as OpenInputFile resolved it when it was opened.
  const std::string& resolved_path() const { return resolved_; }

  // Tells the kernel the pages of [begin, end) are no longer needed by this process (they stay
  // in the page cache). Keeps the resident set bounded while streaming over multi-GB files.
  void Release(size_t begin, size_t end) const;

  // True if the file changed since it was opened: a vanished page was touched (it now reads as
  // zeros), or its version (size, modification or change time) differs. Costs one fstat.
  bool Changed() const;
  // Throws FileChangedError naming the path if Changed().
  void CheckUnchanged() const;

  // Which file, in which state, was opened: two MappedFiles of one path with equal versions saw
  // the same bytes (unless both were opened during a write, which CheckUnchanged then sees).
  struct Version {
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;  // modification time, ns since the epoch
    int64_t ctime_ns = 0;  // status change time: set by the kernel on every change, never back
    bool operator==(const Version&) const = default;
  };
  static Version VersionOf(const struct stat& st);
  const Version& version() const { return version_; }

  // Test hook: called with the path at the end of every constructor that mapped a file, so a
  // test can truncate the file between open and read deterministically. nullptr: none. Set it
  // only while no other thread constructs a MappedFile.
  using TestHook = void (*)(const std::string& path);
  static void SetTestHook(TestHook hook);

 private:
  void Map(const struct stat& st);  // the constructors' common part
  void Reset() noexcept;

  std::string path_;
  std::string resolved_;
  UniqueFd fd_;  // kept for Changed()
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t reserved_ = 0;  // bytes of address space reserved (file pages + padding pages)
  Version version_;
  internal::FaultSlot* slot_ = nullptr;  // registration with the SIGBUS handler, if mapped
};

}  // namespace wc

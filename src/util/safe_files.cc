#include "util/safe_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <vector>

#include "util/error.h"
#include "util/escape.h"
#include "util/paths.h"

namespace wc {

UniqueFd OpenNoFollow(const std::string& path, int flags, mode_t mode) {
  return UniqueFd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
}

std::string MakePrivateDir(const std::string& parent, const std::string& prefix) {
  const std::string pattern = parent + "/" + prefix + "XXXXXX";
  std::string path = pattern;  // mkdtemp fills in the X's, also when it fails
  if (::mkdtemp(path.data()) == nullptr) {
    throw OutputError(pattern, "cannot create a private directory", errno);
  }
  // mkdtemp asks for 0700 but the umask may take bits away: set it exactly, on the directory
  // just made (O_NOFOLLOW: the name is ours, no one else can have replaced it with a link in a
  // sticky /tmp, and if they could, we refuse rather than chmod their target).
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0 || ::fchmod(dir.get(), 0700) != 0) {
    int err = errno;
    ::rmdir(path.c_str());
    throw OutputError(path, "cannot make the private directory 0700", err);
  }
  return path;
}

namespace {

// Why directory `st` is unsafe to write in, or "" if it is safe.
std::string UnsafeDirectory(const struct stat& st) {
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return fmt::format("it belongs to another user (uid {})", st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
    return fmt::format("it is writable by other users without the sticky bit (mode {:04o})",
                       st.st_mode & 07777);
  return "";
}

// CheckSafeDirectory, its messages naming `shown` (the directory, or the file to be written in
// it) after `what`.
void CheckSafeDirectoryShown(const std::string& dir, std::string_view what,
                             const std::string& shown) {
  auto refuse = [&](const std::string& at, const std::string& why) {
    throw UsageError(
        fmt::format("{} {}: {}: {}; refused (another user could replace what the "
                    "command writes there)",
                    what, shown, at, why));
  };
  std::vector<std::string> todo;
  PushPathComponents(dir.empty() ? "." : dir, &todo);
  if (dir.empty() || dir[0] != '/') {
    std::error_code ec;
    std::string cwd = std::filesystem::current_path(ec).string();
    if (ec) throw UsageError(fmt::format("{} {}: {}", what, shown, ec.message()));
    PushPathComponents(cwd, &todo);
  }
  std::string cur;  // the real path walked so far, "" for /
  struct stat cur_st {};
  if (::lstat("/", &cur_st) != 0) return;
  if (std::string why = UnsafeDirectory(cur_st); !why.empty()) refuse("/", why);
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == ".") continue;
    if (name == "..") {  // `cur` has no links in it: its parent is lexical
      cur.erase(cur.rfind('/') == std::string::npos ? 0 : cur.rfind('/'));
      if (::lstat(cur.empty() ? "/" : cur.c_str(), &cur_st) != 0) return;
      continue;
    }
    const std::string next = cur + "/" + name;
    struct stat st {};
    if (::lstat(next.c_str(), &st) != 0) return;  // to be created (or the caller's error)
    if (S_ISLNK(st.st_mode)) {
      if ((cur_st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && st.st_uid != 0 &&
          st.st_uid != ::geteuid()) {
        refuse(next, fmt::format("a symbolic link owned by another user (uid {}) in a directory "
                                 "others can write to; not followed",
                                 st.st_uid));
      }
      if (++links > 40) refuse(next, "too many levels of symbolic links");
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(next.c_str(), target.data(), target.size());
      if (n < 0 || static_cast<size_t>(n) >= target.size()) return;  // changed: caller's error
      target.resize(static_cast<size_t>(n));
      if (!target.empty() && target[0] == '/') {
        cur.clear();
        ::lstat("/", &cur_st);
      }
      PushPathComponents(target, &todo);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return;  // the caller's open or mkdir says ENOTDIR
    if (std::string why = UnsafeDirectory(st); !why.empty()) refuse(next, why);
    cur = next;
    cur_st = st;
  }
}

}  // namespace

void CheckSafeDirectory(const std::string& dir, std::string_view what) {
  CheckSafeDirectoryShown(dir, what, dir);
}

std::string NoReaderHint(const std::string& path, int err) {
  struct stat st {};
  if (err != ENXIO || ::stat(path.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) return {};
  return " (a FIFO that no process reads: start its reader first)";
}

void CheckSafeParent(const std::string& file, std::string_view what) {
  const std::filesystem::path parent = std::filesystem::path(file).parent_path();
  CheckSafeDirectoryShown(parent.empty() ? "." : parent.string(), what, file);
}

namespace {

// mkdir -p with 0755 (less what the umask takes): never writable by others, also with umask 0
// (CheckSafeDirectory would refuse what it made). With `made_dirs`, each directory it makes is
// registered for the signal handler (util/signals.h) in `guards` and put first in `made_dirs`.
std::error_code MakeDirectories(const std::string& dir, std::vector<std::string>* made_dirs,
                                std::vector<TempFileGuard>* guards) {
  std::error_code ec;
  std::filesystem::path made;
  for (const auto& part : std::filesystem::path(dir)) {
    made /= part;
    if (made_dirs != nullptr) {
      CreationWindow window;
      if (::mkdir(made.c_str(), 0755) == 0) {
        guards->emplace_back(made.string(), TempFileGuard::Kind::kDirectory);
        made_dirs->insert(made_dirs->begin(), made.string());
        continue;
      }
    } else if (::mkdir(made.c_str(), 0755) == 0) {
      continue;
    }
    if (errno == EEXIST) continue;
    ec = std::error_code(errno, std::generic_category());
    break;
  }
  if (!ec && !std::filesystem::is_directory(dir, ec) && !ec)
    ec = std::make_error_code(std::errc::not_a_directory);
  return ec;
}

}  // namespace

std::error_code MakeSafeDirectories(const std::string& dir, std::string_view what) {
  CheckSafeDirectory(dir, what);
  std::error_code ec = MakeDirectories(dir, nullptr, nullptr);
  CheckSafeDirectory(dir, what);
  return ec;
}

OutputDirectories::OutputDirectories(OutputDirectories&& o) noexcept
    : made_(std::move(o.made_)), guards_(std::move(o.guards_)), kept_(o.kept_) {
  o.made_.clear();
  o.guards_.clear();
}

OutputDirectories::~OutputDirectories() {
  if (kept_) return;
  for (const auto& d : made_) {
    std::error_code ec;
    if (!std::filesystem::remove(d, ec)) break;  // not empty (or gone): its parents are not ours
  }
}

void OutputDirectories::Keep() {
  kept_ = true;
  guards_.clear();
}

OutputDirectories MakeOutputDirectories(const std::string& dir, std::string_view what) {
  OutputDirectories out;
  CheckSafeDirectory(dir, what);
  std::error_code ec = MakeDirectories(dir, &out.made_, &out.guards_);
  CheckSafeDirectory(dir, what);  // also what appeared meanwhile (out removes what it made)
  if (ec) throw OutputError(dir, "cannot create directory: " + ec.message());
  return out;
}

namespace {

// 12 hex digits from the kernel's random source (getrandom never fails for 6 bytes once the pool
// is initialised; a clock fallback keeps the name unique if it ever does).
std::string RandomHex() {
  unsigned char b[6] = {};
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
    auto t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (unsigned char& c : b) c = static_cast<unsigned char>(t >>= 8);
  }
  return fmt::format("{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
}

// 0666 & ~umask, read without changing the umask (other threads may create files meanwhile):
// /proc/self/status has it since Linux 4.7; else the umask(2) round trip.
mode_t NewFileMode() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0)
      return 0666 & ~static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  }
  mode_t mask = ::umask(022);
  ::umask(mask);
  return 0666 & ~mask;
}

// Inode flags (chattr) of `path`, 0 if they cannot be read (not supported, no permission).
long InodeFlags(const std::string& path, int extra_flags) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | extra_flags));
  long flags = 0;
  if (fd.get() < 0 || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) return 0;
  return flags;
}

// Refuses at once (OutputError, EPERM) a target that the final rename could not replace, so the
// command fails before its work instead of after it: the file of another user in a directory
// with the sticky bit (/tmp), an immutable or append-only file, or an immutable or append-only
// directory. `st`: the target's lstat, null if it does not exist.
void CheckReplaceable(const std::string& path, const struct stat* st,
                      const std::filesystem::path& dir, const struct stat& dir_st) {
  const uid_t me = ::geteuid();
  if (st != nullptr && (dir_st.st_mode & S_ISVTX) != 0 && me != 0 && st->st_uid != me &&
      dir_st.st_uid != me) {
    throw OutputError(path,
                      fmt::format("cannot replace it: it belongs to another user (uid {}) in a "
                                  "directory with the sticky bit",
                                  st->st_uid),
                      EPERM);
  }
  constexpr long kFixed = FS_IMMUTABLE_FL | FS_APPEND_FL;
  if (st != nullptr && S_ISREG(st->st_mode) && (InodeFlags(path, 0) & kFixed) != 0)
    throw OutputError(path, "cannot replace it: it is immutable or append-only (chattr)", EPERM);
  if ((InodeFlags(dir.string(), O_DIRECTORY) & kFixed) != 0) {
    throw OutputError(path, "cannot create it: its directory is immutable or append-only (chattr)",
                      EPERM);
  }
}

// Removes the temporary files of `stem` in `dir` that a process of this user left when it died
// of SIGKILL or a fault signal (".<stem>.<pid>-<12 hex>.tmp" whose pid is gone). Once per
// directory and stem per process; a file of another user, or of a live process, stays.
void RemoveStaleTemporaries(const std::filesystem::path& dir, const std::string& stem) {
  static std::mutex mu;
  static std::set<std::string> done;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!done.insert(dir.string() + '\0' + stem).second) return;
  }
  const std::string prefix = "." + stem + ".";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(".tmp")) continue;
    std::string_view rest(name);
    rest.remove_prefix(prefix.size());
    rest.remove_suffix(4);
    const size_t dash = rest.find('-');
    if (dash == std::string_view::npos || dash == 0 || rest.size() - dash - 1 != 12) continue;
    pid_t pid = 0;
    auto [end, err] = std::from_chars(rest.data(), rest.data() + dash, pid);
    if (err != std::errc() || end != rest.data() + dash || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to ask)
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid())
      ::unlink(e.path().c_str());
  }
}

// A name of one of this process's own descriptors: written through, never replaced.
bool OwnDescriptorName(const std::string& path) {
  return path == "/dev/stdout" || path == "/dev/stderr" || path.starts_with("/dev/fd/") ||
         path.starts_with("/proc/self/fd/");
}

}  // namespace

int DescriptorNamed(const std::string& path) {
  if (path == "/dev/stdout") return 1;
  if (path == "/dev/stderr") return 2;
  for (std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (!path.starts_with(prefix)) continue;
    const std::string_view digits = std::string_view(path).substr(prefix.size());
    int fd = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) return fd;
  }
  return -1;
}

void RefuseInputAsOutput(const std::string& out, const std::vector<std::string>& inputs,
                         std::string_view what, std::string_view harm) {
  struct stat o {};
  // A descriptor's name (/dev/fd/3) is written in place: the file it is open on counts.
  const int fd = DescriptorNamed(out);
  if ((fd >= 0 ? ::fstat(fd, &o) : ::lstat(out.c_str(), &o)) != 0 || !S_ISREG(o.st_mode)) return;
  for (const std::string& in : inputs) {
    struct stat i {};
    if (::stat(in.c_str(), &i) == 0 && i.st_dev == o.st_dev && i.st_ino == o.st_ino) {
      throw UsageError(fmt::format("{} {} is the input file {}: refused ({})", what,
                                   EscapeForLog(out), EscapeForLog(in), harm));
    }
  }
}

void RefuseInputAsStandardStreams(const std::vector<std::string>& inputs) {
  try {
    RefuseInputAsOutput("/dev/stderr", inputs, "standard error",
                        "messages would be written into it");
  } catch (const UsageError&) {
    // The refusal itself would go there: standard error becomes /dev/null first (exit 2, said
    // nowhere: the input stays as it was).
    UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (null.get() >= 0) ::dup2(null.get(), STDERR_FILENO);
    throw;
  }
  RefuseInputAsOutput("/dev/stdout", inputs, "standard output",
                      "its lines would be written into it");
}

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  struct stat st {};
  const bool exists = ::lstat(path_.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) throw OutputError(path_, "cannot write: it is a directory");
  const bool own = OwnDescriptorName(path_);
  if (!own) CheckSafeParent(path_, "output file");
  const fs::path target(path_);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  struct stat dir_st {};
  const bool dir_known = !own && ::stat(dir.c_str(), &dir_st) == 0;
  if (own || (exists && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))) {
    // A device, FIFO or socket named as such (not through a link) cannot be replaced: written
    // in place. One that another user made in a directory others can write to (a FIFO planted
    // in /tmp) is refused, as the kernel's protected_fifos does: its owner would read the
    // counts, or hold them.
    if (exists && !own && st.st_uid != ::geteuid() && dir_known &&
        (dir_st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      throw OutputError(
          path_, fmt::format("cannot write: a {} that belongs to another user (uid "
                             "{}) in a directory others can write to; refused",
                             S_ISFIFO(st.st_mode) ? "named pipe" : "special file", st.st_uid));
    }
    // A descriptor's name is that descriptor, duplicated: opening /dev/stdout again would make
    // another open file at offset 0 (without O_APPEND), written over what the shell's
    // redirection (`>> file`) or this process's own output put there.
    if (const int fd = DescriptorNamed(path_); fd >= 0) {
      fd_ = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
      if (fd_.get() < 0) throw OutputError(path_, "cannot open", errno);
      in_place_ = true;
      return;
    }
    // O_NONBLOCK: a FIFO without a reader fails at once instead of hanging.
    fd_ =
        UniqueFd(::open(path_.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK | (own ? 0 : O_NOFOLLOW)));
    if (fd_.get() < 0) {
      const int err = errno;
      throw OutputError(path_, ErrnoMessage("cannot open", err) + NoReaderHint(path_, err));
    }
    int flags = ::fcntl(fd_.get(), F_GETFL);
    if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags & ~O_NONBLOCK);
    in_place_ = true;
    return;
  }
  if (!target.has_filename()) throw OutputError(path_, "cannot write: not a file name");
  if (dir_known) CheckReplaceable(path_, exists ? &st : nullptr, dir, dir_st);
  const std::string stem = target.filename().string().substr(0, 200);
  RemoveStaleTemporaries(dir, stem);
  for (int attempt = 0;; ++attempt) {
    std::string tmp = (dir / fmt::format(".{}.{}-{}.tmp", stem, ::getpid(), RandomHex())).string();
    CreationWindow window;  // util/signals.h: registered before a signal can remove the files
    fd_ = UniqueFd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd_.get() >= 0) {
      tmp_ = std::move(tmp);
      guard_.emplace(tmp_);
      break;
    }
    if (errno != EEXIST || attempt == 100) throw OutputError(path_, "cannot create", errno);
  }
}

OutputFile::~OutputFile() {
  if (!committed_) Abandon();
}

void OutputFile::Abandon() noexcept {
  abandoned_ = true;
  fd_ = UniqueFd();
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
  guard_.reset();
}

void OutputFile::Write(std::string_view bytes) {
  if (fd_.get() < 0) throw OutputError(path_, "cannot write: the file was finished or abandoned");
  // util/signals.h: a pipe or FIFO whose reader does not read holds `run` only until a signal.
  if (!WriteUnlessStopped(fd_.get(), bytes)) {
    int err = errno;
    Abandon();
    throw OutputError(path_, err == EINTR ? "not written: stopped by a signal" : "cannot write",
                      err == EINTR ? 0 : err);
  }
}

void OutputFile::Finish() {
  if (abandoned_) throw OutputError(path_, "cannot write: the file was abandoned");
  if (fd_.get() < 0) return;
  int fd = fd_.Release();
  bool ok = true;
  int err = 0;
  if (in_place_) {
    // fsync of a pipe or a terminal fails with EINVAL: nothing to make durable there.
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) ok = false, err = errno;
  } else if (::fchmod(fd, NewFileMode()) != 0 || ::fsync(fd) != 0) {
    ok = false, err = errno;
  }
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (!ok) {
    Abandon();
    throw OutputError(path_, "cannot write", err);
  }
}

void OutputFile::Commit(Keep keep) {
  Finish();
  if (in_place_) {
    committed_ = true;
    return;
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    struct stat tmp_st {};
    if (keep == Keep::kOnFailure && ::lstat(tmp_.c_str(), &tmp_st) == 0) {
      // Something appeared in the way since the start (another user's directory): the whole
      // result stays, under its temporary name, and the message says where. (Gone with its
      // directory, it is not said to be kept: the error below says the rename failed.)
      const std::string kept = std::move(tmp_);
      tmp_.clear();
      guard_.reset();
      committed_ = true;
      throw OutputError(path_,
                        fmt::format("cannot rename the finished file into place (the counts are "
                                    "kept in {})",
                                    EscapeForLog(kept)),
                        err);
    }
    const bool gone = err == ENOENT && ::lstat(tmp_.c_str(), &tmp_st) != 0;
    Abandon();
    throw OutputError(path_,
                      gone ? "cannot rename the finished file into place (its temporary file is "
                             "gone: was its directory removed? nothing was kept)"
                           : "cannot rename the finished file into place",
                      err);
  }
  committed_ = true;
  tmp_.clear();
  guard_.reset();
  // The rename itself durable: fsync the directory (a failure here loses nothing written).
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  UniqueFd dir(::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
}

void RefuseCsvFiles(const std::string& outdir, std::string_view command) {
  std::error_code ec;
  std::filesystem::directory_iterator it(outdir, ec), end;
  if (ec) return;  // missing (created next) or unreadable (the first file fails, named)
  std::vector<std::string> found;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    if (it->path().extension() == ".csv") found.push_back(it->path().filename().string());
  }
  if (found.empty()) return;
  std::sort(found.begin(), found.end());
  std::string names;
  for (size_t i = 0; i < found.size() && i < 3; ++i) names += (i ? ", " : "") + found[i];
  if (found.size() > 3) names += ", ...";
  throw OutputError(outdir, fmt::format("already holds {} .csv file(s) ({}); {} writes only "
                                        "into a new directory or one without .csv files, so "
                                        "that the directory counts exactly like the input",
                                        found.size(), names, command));
}

}  // namespace wc

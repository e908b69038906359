#include "job/state_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "util/error.h"
#include "util/escape.h"
#include "util/log.h"
#include "util/safe_files.h"

namespace wc::job {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSocketName = "redis.sock";

}  // namespace

void MakeStateRoot(const std::string& dir) {
  CheckSafeDirectory(dir, "STATE_DIR");
  const fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty()) MakeSafeDirectories(parent.string(), "STATE_DIR");
  if (::mkdir(dir.c_str(), 0700) == 0) {
    ::chmod(dir.c_str(), 0700);  // ours, just made: exactly 0700 whatever the umask
  } else if (errno != EEXIST) {
    throw UsageError(ErrnoMessage("cannot create the state directory " + dir, errno));
  }
  CheckSafeDirectory(dir, "STATE_DIR");
}

namespace {

// Creates the job's directory `dir` 0700; an existing one (an earlier run's) must be a real
// directory (not a link) of this user that only this user can use. Its mode is never changed.
void JobDirectory(const std::string& dir) {
  const bool made = ::mkdir(dir.c_str(), 0700) == 0;
  if (!made && errno != EEXIST)
    throw UsageError(ErrnoMessage("cannot create the state directory " + dir, errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    throw UsageError(ErrnoMessage("cannot use the state directory " + dir, errno));
  if (!S_ISDIR(st.st_mode))
    throw UsageError(dir +
                     " is not a directory (a symbolic link?): refusing it as state directory");
  if (st.st_uid != ::geteuid())
    throw UsageError(dir + " belongs to another user: refusing it as state directory");
  if (made) {
    if (::chmod(dir.c_str(), 0700) != 0)
      throw UsageError(ErrnoMessage("cannot make " + dir + " private", errno));
  } else if ((st.st_mode & 077) != 0) {
    throw UsageError(fmt::format(
        "{} is open to other users (mode {:04o}): refusing it as state directory (it holds the "
        "Redis password; chmod 700 it if it is yours)",
        dir, st.st_mode & 07777));
  }
}

std::string ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// Writes `content` to `path` (0600, never through a symbolic link), replacing it.
// A file that cannot be written (a full disk, a read-only file system) is an output error
// (exit 6), named.
void WriteSmallFile(const std::string& path, const std::string& content) {
  constexpr const char* kWhat = "cannot write the embedded Redis's state (STATE_DIR)";
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw OutputError(tmp, kWhat, errno);
  int error = 0;
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    error = errno ? errno : ENOSPC;  // a short write: the disk is full
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(tmp.c_str());
    throw OutputError(path, kWhat, error);
  }
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;  // /dev/urandom
  std::string out;
  for (size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xff);
  return out;
}

}  // namespace

std::string DefaultStateRoot() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/wordcount";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.local/state/wordcount";
  throw UsageError("neither XDG_STATE_HOME nor HOME is set: give STATE_DIR in the config");
}

namespace {

// What `path` is, if it exists and another user made it (in a shared, sticky STATE_DIR this user
// can neither use nor remove it): its owner.
std::optional<uid_t> OtherUsers(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || st.st_uid == ::geteuid()) return std::nullopt;
  return st.st_uid;
}

// This user's fallback directories of `name` under `root` (<name>.<6 characters>, real
// directories), sorted by name.
std::vector<std::string> OwnFallbacks(const fs::path& root, const std::string& name) {
  const std::string prefix = name + ".";
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (entry.size() != prefix.size() + 6 || entry.rfind(prefix, 0) != 0) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid())
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

OwnEntry FindOwnEntry(const std::string& root, const std::string& name) {
  std::error_code ec;
  const fs::path r = fs::absolute(root, ec);
  OwnEntry e{.path = (r / name).string()};
  e.taken_by = OtherUsers(e.path);
  const bool exists = fs::exists(fs::symlink_status(e.path, ec));
  // A fallback of an earlier run is used again also once the other user's entry is gone (a
  // job's checkpoint is there).
  std::vector<std::string> own =
      e.taken_by || !exists ? OwnFallbacks(r, name) : std::vector<std::string>{};
  if (e.taken_by && own.empty()) {
    // Nothing is made in a root another user could swap or owns (held-out pass 23: a shuffle
    // run made spill.XXXXXX in another user's STATE_DIR, then refused it and left it there).
    CheckSafeDirectory(r.string(), "STATE_DIR");
    std::string tmpl = e.path + ".XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw UsageError(ErrnoMessage("cannot create the directory " + tmpl, errno));
    e.made = true;
    // Two runs that both made one use the first by name; this one's own, unused, goes.
    own = OwnFallbacks(r, name);
    if (own.empty()) own.push_back(tmpl);
    if (own.front() != tmpl) {
      ::rmdir(tmpl.c_str());
      e.made = false;
    }
  }
  if (e.taken_by) {
    Log::Warn("dir_taken", "dir=\"{}\" owner_uid={} using=\"{}\"", EscapeForLog(e.path),
              *e.taken_by, EscapeForLog(own.front()));
  }
  if (!own.empty()) e.path = own.front();
  return e;
}

StateDir::StateDir(const std::string& root, const std::string& key) {
  std::error_code ec;
  MakeStateRoot(fs::absolute(root, ec).string());
  // In a shared STATE_DIR another user may hold job-<key> (a name anyone can compute from the
  // same data: their run of the same files, or a squatter): this user's state then lives in a
  // fallback directory of an unpredictable name, job-<key>.XXXXXX, found again by a rerun.
  OwnEntry own = FindOwnEntry(root, "job-" + key);
  path_ = own.path;
  fresh_ = own.made || !fs::exists(fs::symlink_status(path_, ec));
  JobDirectory(path_);
  std::string lock = path_ + "/lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) throw UsageError(ErrnoMessage("cannot open " + lock, errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw StateBusy("another `wordcount run` of this job is using " + path_ +
                    " on this host; refusing to start a second one");
  }
}

StateDir::~StateDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string StateDir::Password(const std::string& configured) {
  std::string pw = configured;
  if (pw.empty()) {
    pw = ReadSmallFile(path_ + "/password");
    if (pw.empty()) pw = RandomHex(16);
  }
  WriteSmallFile(path_ + "/password", pw);
  return pw;
}

void StateDir::WriteEndpoint(int port, pid_t pid) {
  WriteSmallFile(path_ + "/endpoint", fmt::format("{} {}\n", port, pid));
}

void StateDir::WriteSocketEndpoint(pid_t pid) {
  WriteSmallFile(path_ + "/endpoint", fmt::format("unix {}\n", pid));
}

std::string StateDir::SocketPath() const { return SocketPathFor(path_); }

std::string StateDir::PathFor(const std::string& root, const std::string& key) {
  std::error_code ec;
  return (fs::absolute(root, ec) / ("job-" + key)).string();
}

std::string StateDir::SocketPathFor(const std::string& path) {
  std::string socket = path + "/" + kSocketName;
  if (socket.size() > redis::kMaxUnixSocketPath) {
    throw UsageError(fmt::format(
        "the embedded Redis's socket {} would be longer than a unix socket path can be ({} "
        "bytes): give a shorter STATE_DIR",
        socket, redis::kMaxUnixSocketPath));
  }
  return socket;
}

void StateDir::Remove() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

bool IsStateDirName(std::string_view name) {
  constexpr size_t kKey = 4 + 16;  // "job-" and the key
  if (!name.starts_with("job-") || (name.size() != kKey && name.size() != kKey + 7)) return false;
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (!std::all_of(name.begin() + 4, name.begin() + kKey, hex)) return false;
  if (name.size() == kKey) return true;
  return name[kKey] == '.' && std::all_of(name.begin() + kKey + 1, name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0;
         });
}

std::vector<redis::ConnectOptions> FindEmbeddedServers(const std::string& root) {
  std::vector<redis::ConnectOptions> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::absolute(root, ec), ec)) {
    if (!IsStateDirName(e.path().filename().string())) continue;
    // Another user's job (in a shared STATE_DIR): its server is never sent a password.
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
      continue;
    std::istringstream endpoint(ReadSmallFile((e.path() / "endpoint").string()));
    std::string address;
    pid_t pid = 0;
    if (!(endpoint >> address >> pid) || pid <= 0 || ::kill(pid, 0) != 0) continue;
    redis::ConnectOptions o;
    if (address == "unix") {
      o.unix_socket = (e.path() / kSocketName).string();
    } else {
      try {
        o.port = std::stoi(address);
      } catch (const std::exception&) {
        continue;
      }
    }
    o.password = ReadSmallFile((e.path() / "password").string());
    out.push_back(o);
  }
  return out;
}

pid_t FlockHolder(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return 0;
  // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (device as hex major:minor); waiters
  // ("1: -> FLOCK ...") hold nothing.
  const std::string id = fmt::format(":{:02x}:{:02x}:{} ", major(st.st_dev), minor(st.st_dev),
                                     static_cast<unsigned long>(st.st_ino));
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream f(line);
    std::string n, kind, advisory, mode, dev;
    long pid = 0;
    if (!(f >> n >> kind) || kind != "FLOCK" || !(f >> advisory >> mode >> pid >> dev)) continue;
    if ((":" + dev + " ").find(id) == 0 && pid > 0) return static_cast<pid_t>(pid);
  }
  return 0;
}

std::vector<KeptJob> FindKeptJobs(const std::string& root, const std::string& except) {
  std::vector<KeptJob> out;
  std::error_code ec;
  const fs::path skip = except.empty() ? fs::path() : fs::absolute(except, ec);
  const auto now = std::chrono::system_clock::now();
  for (fs::directory_iterator it(fs::absolute(root, ec), ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!IsStateDirName(it->path().filename().string())) continue;
    if (!skip.empty() && it->path() == skip) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
      continue;  // another user's job is theirs to keep or remove
    if (FlockHolder((it->path() / "lock").string()) > 0) continue;  // its run runs
    const auto mtime = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
    out.push_back(
        {it->path().string(), std::max(0.0, std::chrono::duration<double>(now - mtime).count())});
  }
  std::sort(out.begin(), out.end(),
            [](const KeptJob& a, const KeptJob& b) { return a.age_s > b.age_s; });
  return out;
}

std::string AgeText(double s) {
  if (s < 90) return fmt::format("{:.0f} s", s);
  if (s < 90 * 60) return fmt::format("{:.0f} min", s / 60);
  if (s < 48 * 3600) return fmt::format("{:.1f} h", s / 3600);
  return fmt::format("{:.1f} days", s / 86400);
}

}  // namespace wc::job

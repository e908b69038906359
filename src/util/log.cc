#include "util/log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "util/error.h"
#include "util/escape.h"
#include "util/safe_files.h"
#include "util/signals.h"
#include "util/unique_fd.h"

namespace wc {

namespace {
struct State {
  std::mutex mu;
  int fd = -1;
  std::string process = "wordcount";
  LogLevel stderr_level = LogLevel::kWarn;
  // Open(truncate) until StartAfresh(): the file is not truncated yet, its lines wait here.
  bool holding = false;
  bool truncate_at_start = true;  // StartAfresh truncates (Open(truncate)); not after Hold()
  std::string held;
  std::string path;           // LOGFILE, for the message on a failed write
  bool write_failed = false;  // a line could not be written: the file misses events
  // A process that never started afresh appends what it held: the old log stays.
  ~State() {
    if (holding && fd >= 0) WriteAll(held);
  }
  // Writes `text` to the log; the first failure (a full disk) is said once on stderr.
  // A FIFO whose reader does not read holds the process only until a stop is requested
  // (util/signals.h WriteUnlessStopped): then the line is lost, like one a full disk refused.
  void WriteAll(std::string_view text) {
    if (WriteUnlessStopped(fd, text)) return;
    const int err = errno;
    if (!write_failed) {
      write_failed = true;
      const std::string what = fmt::format(
          "wordcount: {}: cannot write log file {} (its events from now on may be missing)",
          process, path);
      WriteStderrLine(err == EINTR ? what + ": its reader does not read, and a stop came"
                                   : ErrnoMessage(what, err));
    }
  }
};
State& S() {
  static State s;
  return s;
}
}  // namespace

namespace {

// Who holds a flock on the file `st` describes (/proc/locks), said for a refusal: "another
// `wordcount run` (pid N)", or the holding process with its user; "" if none is listed.
std::string FlockHolder(const struct stat& st) {
  std::ifstream locks("/proc/locks");
  const std::string file = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                                       static_cast<unsigned long>(st.st_ino));
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream fields(line);
    std::string id, type, mode, rw, pid, where;
    if (!(fields >> id >> type >> mode >> rw >> pid >> where) || type != "FLOCK" || where != file)
      continue;  // (a waiter's line, "N: -> FLOCK ...", has "->" as its type)
    std::ifstream comm_file("/proc/" + pid + "/comm");
    std::string comm;
    std::getline(comm_file, comm);
    struct stat proc {};
    if (::stat(("/proc/" + pid).c_str(), &proc) != 0) continue;  // gone meanwhile
    if (proc.st_uid == ::geteuid() && comm == "wordcount")
      return fmt::format("another `wordcount run` (pid {}) is writing it now", pid);
    return fmt::format(
        "process {} ({}, uid {}) holds a lock on it{}", pid, EscapeForLog(comm), proc.st_uid,
        proc.st_uid == ::geteuid() ? std::string()
                                   : " (another user could open it: its mode lets others read it)");
  }
  return "";
}

UniqueFd OpenLogFile(const std::string& path, bool truncate) {
  CheckSafeParent(path, "LOGFILE");
  // O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of hanging `run`.
  // 0600: the log names the inputs, also those of directories other users cannot list (held-out
  // pass 24: a 0644 log in /tmp showed them).
  UniqueFd fd = OpenNoFollow(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK, 0600);
  if (fd.get() < 0) {
    const int err = errno;
    struct stat st {};
    // Whatever open said (ELOOP, or EACCES where the kernel's protected_symlinks answered
    // first), a link there is refused as such.
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      throw UsageError(fmt::format(
          "log file {}: is a symbolic link: refused (it is never followed)", EscapeForLog(path)));
    }
    throw UsageError(ErrnoMessage("cannot open log file " + EscapeForLog(path), err) +
                     NoReaderHint(path, err));
  }
  // A file another user made (planted in a shared directory such as /tmp) is not ours to write:
  // its owner could feed it forged lines or hold it as a FIFO nobody reads.
  struct stat own {};
  if (::fstat(fd.get(), &own) == 0 && own.st_uid != ::geteuid()) {
    throw UsageError(fmt::format(
        "log file {}: belongs to another user (uid {}): refused (set LOGFILE, or the worker's "
        "--logfile, to a file of yours: the default /tmp/wc.log is shared by every user)",
        EscapeForLog(path), own.st_uid));
  }
  // The log a run starts afresh is that run's alone while it runs: a second run given the same
  // LOGFILE (the default /tmp/wc.log) cut it short under the first one, whose summary then
  // counted the second's commits as its own tasks counted again (held-out pass 24). The lock
  // goes with the process; workers append without it.
  // Another user holding a lock (held-out pass 25: any reader can flock a file) is named as
  // such, never taken for a run; the log is made 0600 once it is ours (it names the inputs, and
  // a file nobody else can open is one nobody else can lock).
  if (truncate && S_ISREG(own.st_mode)) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
      std::string holder = FlockHolder(own);
      throw UsageError(fmt::format(
          "log file {}: {}: refused (it would be cut short under it; set LOGFILE to a file of "
          "this run's own)",
          EscapeForLog(path), holder.empty() ? "another process holds a lock on it" : holder));
    }
    if ((own.st_mode & 077) != 0) ::fchmod(fd.get(), own.st_mode & 07700);
  }
  // Writes block again (a FIFO with a slow reader): one event is one whole write.
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

}  // namespace

void Log::Open(const std::string& path, std::string process, bool truncate, LogLevel stderr_level) {
  UniqueFd fd;
  if (!path.empty()) fd = OpenLogFile(path, truncate);  // throws before anything changes
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.holding && s.fd >= 0) s.WriteAll(s.held);  // never started afresh: appended
  if (s.fd >= 0) ::close(s.fd);
  s.fd = fd.Release();
  // One token, whatever the name (a worker's --name is the user's: held-out pass 26 made it
  // "w9[1] commit tasks=3 result=accepted x", a forged event at the start of every line).
  s.process = fmt::format("{}[{}]", BareForLog(EscapeForLog(process)), ::getpid());
  s.stderr_level = stderr_level;
  s.holding = truncate && s.fd >= 0;
  s.truncate_at_start = true;
  s.held.clear();
  s.path = path;
  s.write_failed = false;
}

bool Log::Incomplete() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.write_failed;
}

void Log::StartAfresh() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.holding) return;
  s.holding = false;
  // Regular files only: a FIFO or a terminal as LOGFILE has nothing to truncate.
  struct stat st {};
  if (s.truncate_at_start && ::fstat(s.fd, &st) == 0 && S_ISREG(st.st_mode)) {
    [[maybe_unused]] int r = ::ftruncate(s.fd, 0);
  }
  s.WriteAll(s.held);
  s.held.clear();
  s.held.shrink_to_fit();
}

namespace {

// SayStopSignalAtDeath: the log's descriptor and the line's prefix (" name[pid] WARN exit
// reason=interrupted signal="), copied where the signal handler reads them without a lock.
std::atomic<int> g_death_fd{-1};
char g_death_prefix[256];
// Hold(): the file the held lines go to, and a copy of their first 64 KiB, which a worker dying of
// a stop signal while it waits for its job writes before its last line (the heap copy is not the
// signal handler's to touch).
std::atomic<int> g_hold_fd{-1};
char g_held_copy[1 << 16];
std::atomic<size_t> g_held_copy_len{0};

// Appends the decimal `v` (zero-padded to `width`) at `p`; returns the end.
char* PutNumber(char* p, long long v, int width) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n < width) digits[n++] = '0';
  while (n > 0) *p++ = digits[--n];
  return p;
}

// The signal handler's half: the line as Log::Write would write it, built with arithmetic only
// (gmtime_r and fmt are not async-signal-safe).
void WriteDeathLine(int sig) {
  int fd = g_death_fd.load();
  if (fd < 0 && (fd = g_hold_fd.load()) >= 0) {
    [[maybe_unused]] ssize_t w = ::write(fd, g_held_copy, g_held_copy_len.load());
  }
  if (fd < 0) return;
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  long long secs = ts.tv_sec;
  long long days = secs / 86400, rem = secs % 86400;
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted).
  long long z = days + 719468, era = z / 146097, doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  long long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
  long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char line[400];
  char* p = PutNumber(line, year, 4);
  *p++ = '-';
  p = PutNumber(p, month, 2);
  *p++ = '-';
  p = PutNumber(p, day, 2);
  *p++ = 'T';
  p = PutNumber(p, rem / 3600, 2);
  *p++ = ':';
  p = PutNumber(p, rem / 60 % 60, 2);
  *p++ = ':';
  p = PutNumber(p, rem % 60, 2);
  *p++ = '.';
  p = PutNumber(p, ts.tv_nsec / 1000000, 3);
  *p++ = 'Z';
  for (const char* q = g_death_prefix; *q != '\0'; ++q) *p++ = *q;
  p = PutNumber(p, sig, 1);
  *p++ = '\n';
  [[maybe_unused]] ssize_t w = ::write(fd, line, static_cast<size_t>(p - line));
}

}  // namespace

void Log::SayStopSignalAtDeath() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  // The process name is escaped as Write escapes the whole line; a long one is cut.
  std::string prefix =
      EscapeForLog(" " + s.process).substr(0, 150) + " WARN exit reason=interrupted signal=";
  std::snprintf(g_death_prefix, sizeof g_death_prefix, "%s", prefix.c_str());
  g_death_fd.store(s.holding ? -1 : s.fd);
  SetDyingHook(&WriteDeathLine);
}

void Log::Hold() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.holding = s.fd >= 0;
  s.truncate_at_start = false;
  g_held_copy_len.store(0);
  g_hold_fd.store(s.fd);
  g_death_fd.store(-1);  // the death line comes after the held ones (WriteDeathLine)
}

void Log::Release() {
  StartAfresh();
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  g_hold_fd.store(-1);
  g_death_fd.store(s.fd);  // read only by the dying hook, which SayStopSignalAtDeath set (or not)
}

void Log::Drop() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  g_hold_fd.store(-1);
  g_death_fd.store(-1);
  if (s.fd >= 0) ::close(s.fd);
  s.fd = -1;
  s.holding = false;
  s.held.clear();
}

std::string Log::Now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void Log::Write(LogLevel level, std::string_view event, std::string_view fields) {
  State& s = S();
  static constexpr const char* kPrefix[] = {"", "", "WARN ", "ERROR "};
  std::string stamp = Now();
  std::lock_guard<std::mutex> lock(s.mu);
  std::string raw =
      fmt::format("{} {} {}{}{}{}", stamp, s.process, kPrefix[static_cast<int>(level)], event,
                  fields.empty() ? "" : " ", fields);
  std::string line = EscapeForLog(raw);
  line += '\n';
  if (s.holding) {
    s.held += line;
    if (g_hold_fd.load() >= 0) {  // Hold(): the copy a death by signal writes
      const size_t at = g_held_copy_len.load();
      if (at + line.size() <= sizeof g_held_copy) {
        std::memcpy(g_held_copy + at, line.data(), line.size());
        g_held_copy_len.store(at + line.size());
      }
    }
  } else if (s.fd >= 0) {
    s.WriteAll(line);
  }
  if (level >= s.stderr_level) WriteStderr(line);
}

namespace {
std::atomic<bool> g_stderr_failed{false};
}  // namespace

bool WriteStderr(std::string_view text) {
  if (WriteUnlessStopped(STDERR_FILENO, text)) return true;
  g_stderr_failed.store(true);
  if (errno == EPIPE) RequestStop(SIGPIPE);
  return false;
}

bool StderrFailed() { return g_stderr_failed.load(); }

void WriteStderrLine(std::string_view line) {
  std::string out = EscapeForLog(line);
  out += '\n';
  WriteStderr(out);
}

}  // namespace wc

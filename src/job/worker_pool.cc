#include "job/worker_pool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "job/worker.h"
#include "util/escape.h"
#include "util/log.h"
#include "util/process.h"
#include "util/unique_fd.h"

namespace wc::job {

namespace {

// The error of worker `pid`'s 'exit' line among LOGFILE's last 1 MiB
// (`... name[pid] ERROR exit reason=... error="..."`), "" if not found or not readable (a
// FIFO, gone). Opened without following a link or blocking; read only.
std::string ExitError(const std::string& logfile, pid_t pid) {
  if (logfile.empty()) return "";
  UniqueFd fd(::open(logfile.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  constexpr off_t kTail = 1 << 20;
  off_t from = std::max<off_t>(0, st.st_size - kTail);
  std::string text(static_cast<size_t>(st.st_size - from), '\0');
  ssize_t n = ::pread(fd.get(), text.data(), text.size(), from);
  if (n <= 0) return "";
  text.resize(static_cast<size_t>(n));
  const std::string key = fmt::format("[{}] ERROR exit reason=", pid);
  size_t at = text.rfind(key);
  if (at == std::string::npos) return "";
  size_t err = text.find(" error=\"", at);
  size_t end = text.find('\n', at);
  if (end == std::string::npos) end = text.size();
  if (err == std::string::npos || err > end) return "";
  err += 8;
  if (end > err && text[end - 1] == '"') --end;
  return UnquoteLogValue(std::string_view(text).substr(err, end - err));
}

}  // namespace

void WorkerPool::Spawn(const std::string& name, bool crash, bool slow) {
  WorkerOptions o = base_;
  o.name = name;
  o.crash = crash;
  o.slow = slow;
  std::vector<std::string> args = {exe_, "worker"};
  for (auto& a : ToArgv(o)) args.push_back(std::move(a));
  pid_t pid = SpawnChild(args, {.death_signal = SIGTERM});  // never outlive the coordinator
  workers_.push_back({pid, name, crash, slow});
  Log::Event("worker_spawned", "name={} pid={} crash={} slow={}", name, pid, crash, slow);
}

WorkerPool::Reaped WorkerPool::Reap(bool replace) {
  Reaped out;
  for (size_t i = 0; i < workers_.size();) {
    int status = 0;
    pid_t r = ::waitpid(workers_[i].pid, &status, WNOHANG);
    if (r != workers_[i].pid) {
      ++i;
      continue;
    }
    Proc w = workers_[i];
    workers_.erase(workers_.begin() + static_cast<long>(i));
    if (WIFSIGNALED(status)) {
      ++killed_;
      ++out.killed;
      Log::Warn("worker_died", "name={} pid={} signal={}", w.name, w.pid, WTERMSIG(status));
      if (replace && killed_ <= 1000) Spawn(fmt::format("{}-r{}", w.name, killed_), false, w.slow);
    } else {
      int code = WEXITSTATUS(status);
      Log::Event("worker_exited", "name={} pid={} code={}", w.name, w.pid, code);
      if (code == kWorkerExitCrashed) ++crashed_;
      if (code == kWorkerExitRedis && !out.redis_gave_up) {
        out.redis_gave_up = true;
        out.redis_error = ExitError(base_.logfile, w.pid);
        // Redis's own words: the coordinator names the server itself (FailOutOfMemory).
        if (const std::string prefix = RedisErrorPrefix(base_); out.redis_error.starts_with(prefix))
          out.redis_error.erase(0, prefix.size());
      }
      if (code == kWorkerExitOutput) out.output_failed = true;
      if (code == kWorkerExitUsage) out.usage_failed = true;
      if (code == kWorkerExitRefused && !out.refused) {
        out.refused = true;
        out.refused_error = ExitError(base_.logfile, w.pid);
      }
    }
  }
  return out;
}

void WorkerPool::Stop(std::chrono::milliseconds grace) {
  using Clock = std::chrono::steady_clock;
  auto until = Clock::now() + grace;
  while (!workers_.empty() && Clock::now() < until) {
    Reap(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // SIGCONT after SIGTERM: a stopped (SIGSTOP) child handles the SIGTERM once it runs again.
  // One that still does not exit (blocked, ignoring it): bounded wait, then SIGKILL.
  for (const auto& w : workers_) {
    ::kill(w.pid, SIGTERM);
    ::kill(w.pid, SIGCONT);
  }
  auto kill_at = Clock::now() + std::chrono::seconds(5);
  while (!workers_.empty()) {
    for (size_t i = 0; i < workers_.size();) {
      if (::waitpid(workers_[i].pid, nullptr, WNOHANG) == workers_[i].pid) {
        workers_.erase(workers_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    if (workers_.empty()) break;
    if (Clock::now() >= kill_at) {
      for (const auto& w : workers_) {
        Log::Warn("worker_killed", "name={} pid={} reason=did_not_stop_in_5s", w.name, w.pid);
        ::kill(w.pid, SIGKILL);
        ++killed_;  // a worker death like any other in the run's summary
      }
      kill_at = Clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace wc::job

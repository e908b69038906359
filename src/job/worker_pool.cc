#include "job/worker_pool.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "util/log.h"
#include "util/process.h"

namespace wc::job {

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
      if (code == kWorkerExitRedis) out.redis_gave_up = true;
      if (code == kWorkerExitOutput) out.output_failed = true;
      if (code == kWorkerExitUsage) out.usage_failed = true;
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

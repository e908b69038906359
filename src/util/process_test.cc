#include "util/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

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

}  // namespace
}  // namespace wc

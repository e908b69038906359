// StateDir's directories (issue 12, held-out pass: `run` made a shared 1777 STATE_DIR 0700).
#include "job/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_util.h"
#include "util/error.h"

namespace wc::job {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(StateDir, ASharedStickyRootKeepsItsModeAndTheJobDirectoryIsPrivate) {
  testing::TempDir tmp;
  const std::string root = tmp.path() + "/shared";
  ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(root.c_str(), 01777), 0);
  {
    StateDir state(root, "0123456789abcdef");
    EXPECT_EQ(ModeOf(root), 01777u);
    EXPECT_EQ(ModeOf(state.path()), 0700u);
  }
  StateDir again(root, "0123456789abcdef");  // an earlier run's job directory: used as it is
  EXPECT_EQ(ModeOf(root), 01777u);
}

TEST(StateDir, AnOwnRootKeepsItsModeAndAMissingOneIsMade0700) {
  testing::TempDir tmp;
  const std::string own = tmp.path() + "/own";
  ASSERT_EQ(::mkdir(own.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(own.c_str(), 0755), 0);
  StateDir a(own, "0123456789abcdef");
  EXPECT_EQ(ModeOf(own), 0755u);
  mode_t old = ::umask(0);
  StateDir b(tmp.path() + "/new/state", "0123456789abcdef");
  ::umask(old);
  EXPECT_EQ(ModeOf(tmp.path() + "/new/state"), 0700u);
}

TEST(StateDir, AnOpenJobDirectoryIsRefusedNotChanged) {
  testing::TempDir tmp;
  const std::string job = tmp.path() + "/state/job-0123456789abcdef";
  ASSERT_EQ(::mkdir((tmp.path() + "/state").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(job.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(job.c_str(), 0755), 0);
  EXPECT_NE(testing::UsageErrorOf([&] {
              StateDir(tmp.path() + "/state", "0123456789abcdef");
            }).find("is open to other users (mode 0755): refusing it as state directory"),
            std::string::npos);
  EXPECT_EQ(ModeOf(job), 0755u);
}

TEST(StateDir, ARootAnotherUserCouldSwapIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a directory of another user";
  testing::TempDir tmp;
  const std::string theirs = tmp.path() + "/theirs";
  ASSERT_EQ(::mkdir(theirs.c_str(), 0755), 0);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  EXPECT_NE(testing::UsageErrorOf([&] {
              StateDir(theirs + "/state", "0123456789abcdef");
            }).find(theirs + ": it belongs to another user (uid 65534)"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(theirs + "/state"));
}

}  // namespace
}  // namespace wc::job

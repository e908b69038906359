// StateDir's directories (issue 12, held-out pass: `run` made a shared 1777 STATE_DIR 0700).
#include "job/state_dir.h"

#include <fcntl.h>
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

// Held-out pass 10: in a shared (1777) STATE_DIR another user could create job-<key> (a name
// anyone computes from the same data) first, and this user's job was refused (exit 2): the two
// users could not even count the same files. This user's state now goes to a directory of an
// unpredictable name, job-<key>.XXXXXX, which a rerun finds again.
TEST(StateDir, AJobDirectoryTakenByAnotherUserGetsAPrivateFallbackThatARerunFinds) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a directory of another user";
  testing::TempDir tmp;
  const std::string root = tmp.path() + "/shared";
  ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(root.c_str(), 01777), 0);
  const std::string key = "0123456789abcdef";
  const std::string canonical = root + "/job-" + key;
  // Squatted by a directory, a file or a symbolic link of another user.
  for (int kind = 0; kind < 3; ++kind) {
    const int made = kind == 0   ? ::mkdir(canonical.c_str(), 0777)
                     : kind == 1 ? ::close(::creat(canonical.c_str(), 0666))
                                 : ::symlink(tmp.path().c_str(), canonical.c_str());
    ASSERT_EQ(made, 0) << kind;
    ASSERT_EQ(::lchown(canonical.c_str(), 65534, 65534), 0);
    std::string path;
    {
      StateDir state(root, key);
      path = state.path();
      EXPECT_EQ(path.rfind(canonical + ".", 0), 0u) << path;
      EXPECT_EQ(path.size(), canonical.size() + 7);
      EXPECT_TRUE(state.fresh());
      EXPECT_EQ(ModeOf(path), 0700u);
      EXPECT_THROW(StateDir(root, key), StateBusy);  // the lock is in the fallback
      EXPECT_EQ(state.Password(""), state.Password(""));
    }
    {
      StateDir again(root, key);  // a rerun: the same directory, kept
      EXPECT_EQ(again.path(), path);
      EXPECT_FALSE(again.fresh());
    }
    struct stat st {};
    ASSERT_EQ(::lstat(canonical.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u);  // theirs, untouched
    std::filesystem::remove(canonical);
    // Their entry gone, a rerun still resumes from the fallback (its checkpoint is there).
    StateDir later(root, key);
    EXPECT_EQ(later.path(), path);
    EXPECT_FALSE(later.fresh());
    EXPECT_FALSE(std::filesystem::exists(canonical));
    later.Remove();
  }
}

// Held-out pass 12: with SPILL_DIR = STATE_DIR, a stopped shuffle job's map output directory
// (job-<32 hex digits>, its job id) was listed as a second kept job; and any directory named
// job-... that another user planted was taken for a job's state directory.
TEST(StateDir, OnlyStateDirectoryNamesAreKeptJobs) {
  EXPECT_TRUE(IsStateDirName("job-0123456789abcdef"));
  EXPECT_TRUE(IsStateDirName("job-0123456789abcdef.a1B2c3"));
  for (const char* other :
       {"job-0123456789abcdef0123456789abcdef", "job-0123456789ABCDEF", "job-0123456789abcde",
        "job-0123456789abcdef.", "job-0123456789abcdef.a1-2c3", "job-0123456789abcdef.a1b2c3d",
        "job-4444\x1b[31mred", "spill", "job-"}) {
    EXPECT_FALSE(IsStateDirName(other)) << other;
  }
  testing::TempDir tmp;
  const std::string root = tmp.path() + "/state";
  ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
  for (const char* d : {"job-0123456789abcdef", "job-0123456789abcdef0123456789abcdef", "job-junk"})
    ASSERT_EQ(::mkdir((root + "/" + d).c_str(), 0700), 0);
  std::vector<KeptJob> kept = FindKeptJobs(root);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].path, root + "/job-0123456789abcdef");
}

}  // namespace
}  // namespace wc::job

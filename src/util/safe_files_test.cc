#include "util/safe_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "test_util.h"
#include "util/error.h"
#include "util/log.h"

namespace wc {
namespace {

using testing::ReadFile;
using testing::TempDir;

TEST(MakePrivateDir, Mode0700WhateverTheUmask) {
  TempDir parent;
  mode_t old = ::umask(0);
  std::string dir = MakePrivateDir(parent.path(), "wordcount-");
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(dir.rfind(parent.path() + "/wordcount-", 0), 0u) << dir;
}

TEST(MakePrivateDir, TwoCallsGiveTwoUnpredictableNames) {
  TempDir parent;
  std::string a = MakePrivateDir(parent.path(), "job-");
  std::string b = MakePrivateDir(parent.path(), "job-");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), parent.path().size() + 1 + 4 + 6);
}

TEST(MakePrivateDir, AMissingParentIsAnOutputErrorNamingIt) {
  TempDir parent;
  try {
    MakePrivateDir(parent.path() + "/missing", "job-");
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(e.error(), ENOENT);
    EXPECT_NE(std::string(e.what()).find(parent.path() + "/missing/job-XXXXXX"), std::string::npos);
  }
}

TEST(OpenNoFollow, RefusesASymlinkAndOpensAFile) {
  TempDir dir;
  std::string target = dir.Write("target", "keep");
  ASSERT_EQ(::symlink(target.c_str(), (dir.path() + "/link").c_str()), 0);
  UniqueFd link = OpenNoFollow(dir.path() + "/link", O_RDONLY);
  EXPECT_LT(link.get(), 0);
  EXPECT_EQ(errno, ELOOP);
  EXPECT_GE(OpenNoFollow(target, O_RDONLY).get(), 0);
}

class LogOpenTest : public ::testing::Test {
 protected:
  void TearDown() override { Log::Open("", "test", false, LogLevel::kError); }
  TempDir dir_;
};

// Regression: LOGFILE was opened with O_TRUNC following symlinks: a link planted at the
// predictable /tmp/wc.log made `run` truncate and fill its target.
TEST_F(LogOpenTest, ASymlinkIsRefusedAndItsTargetUntouched) {
  std::string target = dir_.Write("precious", "do not truncate me\n");
  std::string link = dir_.path() + "/wc.log";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  try {
    Log::Open(link, "coordinator", /*truncate=*/true, LogLevel::kError);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "log file " + link + ": is a symbolic link: refused (it is never followed)");
  }
  Log::Event("plan", "files=1");
  EXPECT_EQ(ReadFile(target), "do not truncate me\n");
}

// Regression: an unwritable LOGFILE was ignored silently.
TEST_F(LogOpenTest, AnUnwritableLogFileIsAUsageErrorNamingIt) {
  std::string path = dir_.path() + "/no/such/dir/wc.log";
  try {
    Log::Open(path, "coordinator", true, LogLevel::kError);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot open log file " + path + ": No such file or directory");
  }
}

TEST_F(LogOpenTest, AFifoWithoutReaderFailsAtOnce) {
  std::string fifo = dir_.path() + "/wc.log";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(Log::Open(fifo, "coordinator", true, LogLevel::kError), UsageError);
}

TEST_F(LogOpenTest, TruncatesARegularFileOrAppendsToIt) {
  std::string path = dir_.Write("wc.log", "old line\n");
  Log::Open(path, "w1", /*truncate=*/false, LogLevel::kError);
  Log::Event("exit", "reason=done");
  EXPECT_EQ(ReadFile(path).rfind("old line\n", 0), 0u);
  Log::Open(path, "coordinator", /*truncate=*/true, LogLevel::kError);
  Log::Event("plan", "files=1");
  std::string now = ReadFile(path);
  EXPECT_EQ(now.find("old line"), std::string::npos);
  EXPECT_NE(now.find(" coordinator["), std::string::npos);
}

}  // namespace
}  // namespace wc

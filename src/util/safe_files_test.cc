#include "util/safe_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/signals.h"

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
  Log::StartAfresh();
  std::string now = ReadFile(path);
  EXPECT_EQ(now.find("old line"), std::string::npos);
  EXPECT_NE(now.find(" coordinator["), std::string::npos) << now;
  EXPECT_NE(now.find(" plan files=1\n"), std::string::npos) << now;
}

// Held-out pass: `run` truncated LOGFILE before it knew its inputs, so a run that exited 3 (no
// input) emptied the log of the run before. The file is truncated only when the run has its job
// (StartAfresh); a run that ends before appends its lines and leaves the old log alone.
TEST_F(LogOpenTest, TruncatesOnlyOnceTheRunStartsAfresh) {
  std::string path = dir_.Write("wc.log", "old line\n");
  Log::Open(path, "coordinator", /*truncate=*/true, LogLevel::kError);
  Log::Event("plan", "files=0");
  EXPECT_EQ(ReadFile(path), "old line\n");
  Log::Open("", "test", false, LogLevel::kError);  // the run ends (as at exit) without its job
  std::string now = ReadFile(path);
  EXPECT_EQ(now.rfind("old line\n", 0), 0u) << now;
  EXPECT_NE(now.find(" coordinator["), std::string::npos) << now;
  EXPECT_NE(now.find(" plan files=0\n"), std::string::npos) << now;
}

// Held-out pass: a full disk under LOGFILE was silent (exit 0, an empty log, nothing on stderr).
TEST_F(LogOpenTest, AFailedWriteIsSaidOnceAndMarksTheLogIncomplete) {
  if (::geteuid() != 0) GTEST_SKIP() << "/dev/full is root's: a log file of another user";
  Log::Open("/dev/full", "w1", /*truncate=*/false, LogLevel::kError);  // every write: ENOSPC
  EXPECT_FALSE(Log::Incomplete());
  ::testing::internal::CaptureStderr();
  Log::Event("commit", "tasks=1 result=accepted");
  Log::Event("commit", "tasks=2 result=accepted");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(Log::Incomplete());
  EXPECT_NE(err.find("cannot write log file /dev/full"), std::string::npos) << err;
  EXPECT_EQ(err.find("cannot write log file"), err.rfind("cannot write log file")) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  Log::Open(dir_.path() + "/wc.log", "w1", /*truncate=*/false, LogLevel::kError);
  EXPECT_FALSE(Log::Incomplete());  // a new file
}

// ---- CheckSafeDirectory (issue 12, held-out pass: fs.protected_symlinks=0) ----

// A shared 1777 `pub` (root's, like /tmp) with another user's directory pub/nb and link
// pub/d -> victim, as that user (nobody) could make them.
class SafePathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to make files of another user (CI is root)";
    pub_ = dir_.path() + "/pub";
    victim_ = dir_.path() + "/victim";
    ASSERT_EQ(::mkdir(pub_.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(pub_.c_str(), 01777), 0);
    ASSERT_EQ(::mkdir(victim_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((pub_ + "/nb").c_str(), 0755), 0);
    ASSERT_EQ(::chown((pub_ + "/nb").c_str(), 65534, 65534), 0);
    ASSERT_EQ(::symlink(victim_.c_str(), (pub_ + "/d").c_str()), 0);
    ASSERT_EQ(::lchown((pub_ + "/d").c_str(), 65534, 65534), 0);
  }
  TempDir dir_;
  std::string pub_, victim_;
};

TEST_F(SafePathTest, AnotherUsersDirectoryOnTheWayIsRefused) {
  EXPECT_EQ(testing::UsageErrorOf([&] { CheckSafeDirectory(pub_ + "/nb/state", "STATE_DIR"); }),
            "STATE_DIR " + pub_ + "/nb/state: " + pub_ +
                "/nb: it belongs to another user (uid 65534); refused (another user could "
                "replace what the command writes there)");
}

TEST_F(SafePathTest, ALinkOfAnotherUserInASharedDirectoryIsNotFollowed) {
  std::string e = testing::UsageErrorOf([&] { CheckSafeParent(pub_ + "/d/wc.log", "LOGFILE"); });
  EXPECT_NE(e.find(pub_ + "/d: a symbolic link owned by another user (uid 65534)"),
            std::string::npos)
      << e;
  // Also when reached through "..", or through a safe relative link to it.
  EXPECT_NE(testing::UsageErrorOf([&] { CheckSafeDirectory(pub_ + "/../pub/d/x", "out"); }),
            "(no error)");
  ASSERT_EQ(::symlink("pub/d", (dir_.path() + "/rel").c_str()), 0);  // in root's 0700 dir_
  EXPECT_NE(testing::UsageErrorOf([&] { CheckSafeDirectory(dir_.path() + "/rel/x", "out"); }),
            "(no error)");
}

TEST_F(SafePathTest, SafeDirectoriesAndLinksArePassed) {
  ASSERT_EQ(::symlink(victim_.c_str(), (pub_ + "/rd").c_str()), 0);  // root's link in pub
  EXPECT_EQ(testing::UsageErrorOf([&] {
              CheckSafeDirectory(pub_ + "/rd", "out");          // followed
              CheckSafeDirectory(pub_ + "/new/deeper", "out");  // to be made
              CheckSafeDirectory(pub_ + "/../victim/./", "out");
              CheckSafeParent("relative.tsv", "out");  // the working directory
            }),
            "(no error)");
  ASSERT_EQ(::mkdir((dir_.path() + "/open").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((dir_.path() + "/open").c_str(), 0777), 0);
  EXPECT_NE(testing::UsageErrorOf([&] {
              CheckSafeDirectory(dir_.path() + "/open/x", "out");
            }).find("/open: it is writable by other users without the sticky bit (mode 0777)"),
            std::string::npos);
}

// OutputFile (--out, split and gen parts) refuses before it creates anything.
TEST_F(SafePathTest, AnOutputFileThroughTheLinkIsRefused) {
  EXPECT_THROW(OutputFile(pub_ + "/d/out.tsv"), UsageError);
  EXPECT_TRUE(std::filesystem::is_empty(victim_));
}

TEST_F(SafePathTest, MakeSafeDirectoriesMakesNothingThroughTheLink) {
  EXPECT_THROW(MakeSafeDirectories(pub_ + "/d/parts", "output directory"), UsageError);
  EXPECT_TRUE(std::filesystem::is_empty(victim_));
}

TEST_F(SafePathTest, MakeOutputDirectoriesRefusesTheLinkAndMakesNothing) {
  EXPECT_THROW(MakeOutputDirectories(pub_ + "/d/a/b", "output directory"), UsageError);
  EXPECT_TRUE(std::filesystem::is_empty(victim_));
}

// It reports what it made, deepest first, and takes back exactly that unless kept: an existing
// parent stays, and a made directory that something filled stays with its parents.
TEST(MakeOutputDirectories, TakesBackWhatItMadeUnlessKept) {
  TempDir dir;
  const std::string base = dir.path() + "/out";
  ASSERT_EQ(::mkdir(base.c_str(), 0700), 0);
  {
    OutputDirectories made = MakeOutputDirectories(base + "/a/b/", "output directory");
    EXPECT_EQ(made.made(), (std::vector<std::string>{base + "/a/b", base + "/a"}));
    EXPECT_TRUE(std::filesystem::is_directory(base + "/a/b"));
    EXPECT_TRUE(MakeOutputDirectories(base + "/a/b", "output directory").made().empty());
    { std::ofstream(base + "/a/kept.csv") << "x"; }
  }
  EXPECT_FALSE(std::filesystem::exists(base + "/a/b"));
  EXPECT_TRUE(std::filesystem::exists(base + "/a/kept.csv"));
  std::filesystem::remove(base + "/a/kept.csv");
  { OutputDirectories made = MakeOutputDirectories(base + "/a/c", "output directory"); }
  EXPECT_FALSE(std::filesystem::exists(base + "/a/c"));
  EXPECT_TRUE(std::filesystem::is_directory(base + "/a"));  // made before: not this call's
  {
    OutputDirectories made = MakeOutputDirectories(base + "/k/l", "output directory");
    OutputDirectories moved(std::move(made));
    moved.Keep();
  }
  EXPECT_TRUE(std::filesystem::is_directory(base + "/k/l"));
}

// A path through a regular file cannot be made: OutputError naming it, nothing left behind.
TEST(MakeOutputDirectories, AFailureNamesTheDirectoryAndLeavesNothing) {
  TempDir dir;
  { std::ofstream(dir.path() + "/file") << "x"; }
  try {
    MakeOutputDirectories(dir.path() + "/file/sub", "output directory");
    ADD_FAILURE() << "no error";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("/file/sub"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.path() + "/file"));
}

// ---- OutputFile ----

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(OutputFile, AppearsWholeAtCommitWithTheModeOfANewFile) {
  TempDir dir;
  const std::string path = dir.path() + "/out.txt";
  mode_t old = ::umask(027);
  {
    OutputFile out(path);
    out.Write("hello ");
    out.Write("world\n");
    auto names = Names(dir.path());
    ASSERT_EQ(names.size(), 1u);  // only the temporary file, hidden, with a random name
    EXPECT_EQ(names[0].rfind(".out.txt.", 0), 0u) << names[0];
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() + "/" + names[0]).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);  // private while it is written
    out.Commit();
  }
  ::umask(old);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"out.txt"});
  EXPECT_EQ(ReadFile(path), "hello world\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// Held-out pass: --out and split parts followed a symbolic link planted at the target's name and
// wrote into the link's target.
TEST(OutputFile, ALinkPlantedAtTheTargetIsReplacedNeverFollowed) {
  TempDir dir;
  const std::string precious = dir.Write("precious", "keep me\n");
  const std::string path = dir.path() + "/out.txt";
  ASSERT_EQ(::symlink(precious.c_str(), path.c_str()), 0);
  OutputFile out(path);
  out.Write("counts\n");
  out.Commit();
  EXPECT_EQ(ReadFile(precious), "keep me\n");
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(ReadFile(path), "counts\n");
}

// Held-out pass: an unwritable --out was found only when the job's counting was done.
TEST(OutputFile, AnUnwritableDestinationFailsWhenItIsCreated) {
  TempDir dir;
  for (const std::string& path : {dir.path() + "/no/such/dir/out.txt", dir.path()}) {
    try {
      OutputFile out(path);
      ADD_FAILURE() << "created " << path;
    } catch (const OutputError& e) {
      EXPECT_EQ(e.path(), path);
      EXPECT_EQ(std::string(e.what()).rfind(path + ": cannot ", 0), 0u) << e.what();
    }
  }
}

// Held-out pass: a full disk left a partial --out behind. A failed write (RLIMIT_FSIZE here, as
// on a full disk) or an object destroyed without Commit leaves the old file as it was and no
// temporary file.
TEST(OutputFile, AFailedOrAbandonedFileLeavesTheOldOneAndNoTemporary) {
  TempDir dir;
  const std::string path = dir.Write("out.txt", "old\n");
  {
    OutputFile out(path);
    out.Write("new\n");
  }
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"out.txt"});
  int error = 0;
  try {
    testing::FileSizeLimit limit(4096);
    OutputFile out(path);
    out.Write(std::string(10000, 'x'));
    out.Commit();
  } catch (const OutputError& e) {
    error = e.error();
    EXPECT_EQ(e.path(), path);
  }
  EXPECT_EQ(error, EFBIG);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"out.txt"});
  EXPECT_EQ(ReadFile(path), "old\n");
}

TEST(OutputFile, ADeviceNamedDirectlyIsWrittenInPlace) {
  try {
    OutputFile out("/dev/full");
    out.Write("x");
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_STREQ(e.what(), "/dev/full: cannot write: No space left on device");
  }
  OutputFile null("/dev/null");
  null.Write("x");
  null.Commit();
  struct stat st {};
  ASSERT_EQ(::lstat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));  // not replaced
}

// A command killed by a signal (serial, split, gen: kRemoveTempsAndDie) removes its temporary
// files before it dies of the signal.
TEST(OutputFile, AFatalSignalRemovesTheTemporaryFile) {
  TempDir dir;
  const std::string path = dir.path() + "/out.txt";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    InstallStopAnswer(StopAnswer::kRemoveTempsAndDie);
    OutputFile out(path);
    out.Write("partial");
    ::raise(SIGTERM);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_TRUE(Names(dir.path()).empty());
}

}  // namespace
}  // namespace wc

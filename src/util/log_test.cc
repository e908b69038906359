#include "util/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "test_util.h"
#include "util/error.h"

namespace wc {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/wc.log";
    Log::Open(path_, "w1", /*truncate=*/true, LogLevel::kError);
    Log::StartAfresh();
  }
  void TearDown() override { Log::Open("", "test", false, LogLevel::kError); }
  testing::TempDir dir_;
  std::string path_;
};

// Regression: a file name with a newline forged a whole log line, and ESC reached the terminal.
TEST_F(LogTest, UntrustedFieldsCannotForgeALineOrCarryEsc) {
  Log::Event("counted", "task=1-0 path=\"{}\" words=5", "a\ncommit tasks=1000 result=accepted.csv");
  Log::Event("counted", "task=2-0 path=\"{}\" words=6", "b\x1b[31m.csv");
  Log::Event("exit", "reason=done");
  const std::string log = testing::ReadFile(path_);
  size_t lines = 0;
  for (char c : log) lines += c == '\n';
  EXPECT_EQ(lines, 3u) << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << log;
  EXPECT_NE(log.find(" w1["), std::string::npos);
  EXPECT_NE(log.find("path=\"a\\ncommit tasks=1000 result=accepted.csv\" words=5\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("path=\"b\\x1b[31m.csv\""), std::string::npos) << log;
}

// Held-out passes 18 and 20: a quote in a quoted value, or a space in one without quotes (an IN
// "files tasks=999"), ended the value early and added fields to the event.
TEST_F(LogTest, AValueNeverAddsFieldsQuotedOrNot) {
  Log::Event("failed", "task={} path=\"{}\" n={}", "1-0", "z\" n=99 recorded=false", 1);
  Log::Event("job_created", "stream={} tasks={}{}", std::string("files tasks=999"), 3,
             LogFields{" extra=1"});
  Log::Event("exit", "reason=x error=\"{}{}\" n={}", "Redis at h: ", "OOM no memory", 2);
  const std::string log = testing::ReadFile(path_);
  EXPECT_NE(log.find("task=1-0 path=\"z\\\" n=99 recorded=false\" n=1\n"), std::string::npos)
      << log;
  EXPECT_NE(log.find("stream=files\\x20tasks=999 tasks=3 extra=1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("error=\"Redis at h: OOM no memory\" n=2\n"), std::string::npos) << log;
}

// Held-out pass 26: a worker's --name with spaces forged an event at the start of its lines.
TEST_F(LogTest, TheProcessNameIsOneToken) {
  Log::Open(path_, "w9[1] commit tasks=3 result=accepted\n x", /*truncate=*/false,
            LogLevel::kError);
  Log::Event("claim", "task={}", 1);
  const std::string log = testing::ReadFile(path_);
  EXPECT_NE(log.find(" w9[1]\\x20commit\\x20tasks=3\\x20result=accepted\\\\n\\x20x["),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(" commit "), std::string::npos) << log;
}

// Held-out pass: another user's file planted under the LOGFILE name (a shared /tmp) was used:
// its owner could append forged lines, or make it a FIFO nobody reads and hang the run.
TEST_F(LogTest, AFileOfAnotherUserIsRefused) {
  const std::string planted = dir_.path() + "/planted.log";
  dir_.Write("planted.log", "x");
  if (::geteuid() != 0 || ::chown(planted.c_str(), 65534, 65534) != 0)
    GTEST_SKIP() << "needs root to make a file of another user (CI runs as root)";
  try {
    Log::Open(planted, "run", /*truncate=*/false, LogLevel::kError);
    ADD_FAILURE() << "another user's log file was opened";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("belongs to another user (uid 65534): refused (set "
                                         "LOGFILE, or the worker's --logfile, to a file of yours"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(testing::ReadFile(planted), "x");  // untouched
  Log::Event("still", "here");                 // the log stays as it was
  EXPECT_NE(testing::ReadFile(path_).find(" still here"), std::string::npos);
}

TEST_F(LogTest, ErrorLinesOnStderrAreEscapedToo) {
  ::testing::internal::CaptureStderr();
  Log::Error("task_failed", "error=\"{}\"", "x\x1b]0;title\x07\ny");
  WriteStderrLine("wordcount: c\x1b[2J.csv: cannot open");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find('\x1b'), std::string::npos) << err;
  EXPECT_NE(err.find("ERROR task_failed error=\"x\\x1b]0;title\\x07\\ny\"\n"), std::string::npos)
      << err;
  EXPECT_NE(err.find("wordcount: c\\x1b[2J.csv: cannot open\n"), std::string::npos) << err;
}

}  // namespace
}  // namespace wc

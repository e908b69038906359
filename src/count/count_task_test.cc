#include "count/count_task.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gen/generator.h"
#include "test_util.h"
#include "util/mapped_file.h"

namespace wc {
namespace {

std::string g_truncate_path;

// Truncates g_truncate_path to 100 bytes as soon as it is mapped: between open and read.
void TruncateHook(const std::string& path) {
  if (path == g_truncate_path) {
    ASSERT_EQ(::truncate(path.c_str(), 100), 0);
  }
}

class CountTaskTruncationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_truncate_path = dir_.Write("t.csv", gen::Generator(5).File(0, 2000));
    MappedFile::SetTestHook(&TruncateHook);
  }
  void TearDown() override { MappedFile::SetTestHook(nullptr); }
  testing::TempDir dir_;
};

// Regression: the truncated pages raised SIGBUS and killed the process.
TEST_F(CountTaskTruncationTest, CountFileRangeThrowsFileChangedErrorNamingTheFile) {
  WordTable table;
  try {
    CountFileRange(g_truncate_path, {}, table);
    FAIL() << "no error";
  } catch (const FileChangedError& e) {
    EXPECT_EQ(e.path(), g_truncate_path);
    EXPECT_EQ(e.message(), "changed while it was read");
  }
}

// All or nothing cannot be kept (the counted bytes are gone): the caller must drop the table.
TEST_F(CountTaskTruncationTest, CountFileRangeOrNothingSaysTheTableIsSpoiled) {
  WordTable table;
  try {
    CountFileRangeOrNothing(g_truncate_path, {}, table);
    FAIL() << "no error";
  } catch (const SpoiledTableError& e) {
    EXPECT_EQ(std::string(e.what()), g_truncate_path + ": changed while it was read");
  }
}

TEST(CountTask, OrNothingTakesBackAFileThatFailsToParse) {
  testing::TempDir dir;
  WordTable table;
  const std::string bad = dir.Write("bad.csv", "a,text\n1,one two\n2,three\n3,x,y\n");
  EXPECT_THROW(CountFileRangeOrNothing(bad, {}, table), csv::CsvError);
  EXPECT_TRUE(testing::AsMap(table).empty());
}

// Held-out pass: a file rewritten after the job was planned was counted as it was then (its
// planned byte ranges over other bytes). With the plan's stamp, nothing is counted.
TEST(CountTask, AFileThatChangedSinceItWasPlannedFailsBeforeAnythingIsCounted) {
  testing::TempDir dir;
  const std::string path = dir.Write("a.csv", "a,text\n1,one two\n");
  const FilePlan plan = PlanFile(path, 1 << 20, "text");
  ASSERT_EQ(plan.ranges.size(), 1u);
  const FileStamp planned = plan.stamp;
  EXPECT_EQ(planned.size, 17u);
  WordTable table;
  CountFileRangeOrNothing(path, {}, table, "text", &planned);  // unchanged: counted
  EXPECT_EQ(table.size(), 2u);
  dir.Write("a.csv", "a,text\n1,one two three\n");
  try {
    CountFileRangeOrNothing(path, {}, table, "text", &planned);
    FAIL() << "no error";
  } catch (const FileChangedSincePlanError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_EQ(e.message().rfind("changed since the job was planned (size 23, planned 17", 0), 0u)
        << e.message();
  }
  EXPECT_EQ(table.size(), 2u);  // nothing more
}

// Held-out pass 11: a file replaced by a rename with another of the same size and mtime (what
// `rsync -a` does), or rewritten in place with its mtime set back (`touch -d`), had the planned
// stamp: its tasks counted the other bytes, exit 0. The stamp holds the inode and ctime too.
TEST(CountTask, AFileOfTheSameSizeAndMtimeInItsPlaceIsAnotherFile) {
  testing::TempDir dir;
  const std::string path = dir.Write("a.csv", "a,text\n1,one two\n");
  const FilePlan plan = PlanFile(path, 1 << 20, "text");
  struct stat planned_st {};
  ASSERT_EQ(::stat(path.c_str(), &planned_st), 0);
  int stat_errno = -1;
  EXPECT_EQ(ChangeSincePlan(path, plan.stamp, &stat_errno), "");
  EXPECT_EQ(stat_errno, 0);
  // Same-size content, mtime copied: the two stats differ only in inode and ctime.
  const std::string other = dir.Write("b.csv", "a,text\n1,six six\n");
  const struct timespec times[2] = {planned_st.st_atim, planned_st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, other.c_str(), times, 0), 0);
  ASSERT_EQ(::rename(other.c_str(), path.c_str()), 0);
  WordTable table;
  EXPECT_THROW(CountFileRangeOrNothing(path, {}, table, "text", &plan.stamp),
               FileChangedSincePlanError);
  EXPECT_EQ(table.size(), 0u);
  struct stat now {};
  ASSERT_EQ(::stat(path.c_str(), &now), 0);
  EXPECT_EQ(ChangeSincePlan(path, plan.stamp, &stat_errno),
            fmt::format("{}: changed since the job was planned (another file in its place (inode "
                        "{}, planned {}))",
                        path, now.st_ino, plan.stamp.inode));

  // In place, same size, mtime set back: only the ctime moved.
  const FilePlan again = PlanFile(path, 1 << 20, "text");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  ::usleep(20000);  // a later ctime even on a file system with coarse timestamps
  dir.Write("a.csv", "a,text\n1,one two\n");
  const struct timespec back[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), back, 0), 0);
  EXPECT_THROW(CountFileRangeOrNothing(path, {}, table, "text", &again.stamp),
               FileChangedSincePlanError);
  EXPECT_NE(ChangeSincePlan(path, again.stamp, &stat_errno)
                .find(": changed since the job was planned (written or its status changed since "
                      "(ctime "),
            std::string::npos);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace wc

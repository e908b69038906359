#include "count/count_task.h"

#include <gtest/gtest.h>
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
    EXPECT_EQ(e.message().rfind("changed since the job was planned (size 23, modified at ", 0), 0u)
        << e.message();
  }
  EXPECT_EQ(table.size(), 2u);  // nothing more
}

}  // namespace
}  // namespace wc

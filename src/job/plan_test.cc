#include "job/plan.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "gen/generator.h"
#include "test_util.h"

namespace wc::job {
namespace {

namespace fs = std::filesystem;

TEST(PlanTest, OneTaskPerSmallFileAndRangesForBigOnes) {
  testing::TempDir dir;
  gen::Generator g(3);
  std::string small = dir.Write("s.csv", g.File(0, 10));
  std::string big = dir.Write("b.csv", g.File(1, 3000));
  Plan p = MakePlan({small, big}, 100000, "text");
  ASSERT_GT(p.tasks.size(), 2u);
  EXPECT_EQ(p.tasks[0].path, fs::canonical(small).string());
  EXPECT_EQ(p.tasks[0].range, csv::ByteRange{});
  uint64_t next = 0;
  for (size_t i = 1; i < p.tasks.size(); ++i) {
    EXPECT_EQ(p.tasks[i].range.begin, next);  // ranges tile the file
    next = p.tasks[i].range.end;
  }
  EXPECT_EQ(next, fs::file_size(big));
  EXPECT_EQ(p.bytes, fs::file_size(small) + fs::file_size(big));
  EXPECT_EQ(p.files, 2u);
  EXPECT_TRUE(p.failures.empty());
}

TEST(PlanTest, MalformedBigFileIsRejectedNamingItsLine) {
  testing::TempDir dir;
  std::string bad = dir.Write("bad.csv", gen::Generator(4).File(0, 2000) + "1,2,3,4,5,6,7,8\n");
  Plan p = MakePlan({bad}, 10000, "text");
  EXPECT_TRUE(p.tasks.empty());
  ASSERT_EQ(p.failures.size(), 1u);
  EXPECT_NE(p.failures[0].find("bad.csv"), std::string::npos);
  EXPECT_NE(p.failures[0].find("fields"), std::string::npos) << p.failures[0];
}

TEST(PlanTest, DataRootBySiblingDirectoriesAndSymlinks) {
  testing::TempDir dir;
  fs::create_directories(dir.path() + "/data/a");
  fs::create_directories(dir.path() + "/data/ab");
  fs::create_directories(dir.path() + "/other");
  std::string x = dir.Write("data/a/x.csv", "text\nhi\n");
  std::string y = dir.Write("data/ab/y.csv", "text\nho\n");
  std::string z = dir.Write("other/z.csv", "text\nhu\n");
  fs::create_symlink(z, dir.path() + "/data/a/link.csv");
  std::string root = fs::canonical(dir.path()).string();
  // Regression: data/a + data/ab gave the root data/a, and workers refused data/ab's files.
  EXPECT_EQ(MakePlan({x, y}, 1 << 20, "text").data_root, root + "/data");
  // A symlink is planned as its target, and the root covers the target.
  Plan p = MakePlan({x, dir.path() + "/data/a/link.csv"}, 1 << 20, "text");
  EXPECT_EQ(p.tasks[1].path, fs::canonical(z).string());
  EXPECT_EQ(p.data_root, root);
}

}  // namespace
}  // namespace wc::job

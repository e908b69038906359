#include "job/plan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

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

// Held-out pass: a FIFO, directory, device or dangling link became a task (retried
// MAX_DELIVERIES times), a link was named by its target and a link loop was "no such file".
// Each is rejected here, with no task, named as given, in serial's words.
TEST(PlanTest, InputsThatAreNotRegularFilesAreRejectedNamedAsGiven) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  std::string good = dir.Write("good.csv", "text\nhi\n");
  ASSERT_EQ(::mkfifo((d + "/fifo.csv").c_str(), 0600), 0);
  fs::create_directory(d + "/b");
  fs::create_symlink("b", d + "/blink.csv");
  fs::create_symlink("/dev/null", d + "/dev.csv");
  fs::create_symlink("loop.csv", d + "/loop.csv");
  fs::create_symlink("nowhere", d + "/dangling.csv");
  Plan p = MakePlan({good, d + "/fifo.csv", d + "/blink.csv", d + "/dev.csv", d + "/loop.csv",
                     d + "/dangling.csv", d + "/missing.csv"},
                    1 << 20, "text");
  ASSERT_EQ(p.tasks.size(), 1u);
  EXPECT_EQ(p.tasks[0].input, good);
  EXPECT_EQ(p.files, 7u);
  EXPECT_EQ(p.missing, 2u);  // the dangling link and missing.csv
  EXPECT_EQ(p.failures, (std::vector<std::string>{
                            d + "/fifo.csv: not a regular file (FIFO)",
                            d + "/blink.csv: not a regular file (directory)",
                            d + "/dev.csv: not a regular file (character device)",
                            d + "/loop.csv: cannot open: Too many levels of symbolic links",
                            d + "/dangling.csv: cannot open: No such file or directory",
                            d + "/missing.csv: cannot open: No such file or directory"}));
}

TEST(PlanTest, WorkerFailuresNameTheInputAsGiven) {
  PlannedTask t{.path = "/d/real.csv", .input = "data/link\n.csv"};
  EXPECT_EQ(NamedAsGiven(t, "/d/real.csv:3: expected 2 fields, saw 3"),
            "data/link\\n.csv:3: expected 2 fields, saw 3");
  EXPECT_EQ(NamedAsGiven(t, "/d/real.csv: changed while it was read"),
            "data/link\\n.csv: changed while it was read");
  EXPECT_EQ(NamedAsGiven(t, "/d/real.csvx: other"), "/d/real.csvx: other");
  EXPECT_EQ(NamedAsGiven(t, "spill file lost"), "spill file lost");
}

}  // namespace
}  // namespace wc::job

// SpillArea's measure of a spill directory that could not take a map output (issue 12: a full
// SPILL_DIR is an output error whose message says roughly how much space the job needs).
#include "job/spill_area.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_util.h"
#include "util/error.h"
#include "util/log.h"

namespace wc::job {
namespace {

TEST(SpillArea, MeasureExtrapolatesTheWrittenOutputsByInputBytes) {
  testing::TempDir tmp;
  SpillArea spill;
  spill.Prepare(tmp.path() + "/spill", "job-x");
  const std::string dir = spill.dir().string();
  tmp.Write("spill/job-x/map-0.wcs", std::string(100, 'a'));         // input 1000 bytes
  tmp.Write("spill/job-x/map-2.wcs", std::string(300, 'a'));         // input 3000 bytes
  tmp.Write("spill/job-x/map-1.wcs.tmp-1-2", std::string(50, 'a'));  // being written: not counted
  tmp.Write("spill/job-x/map-9.wcs", std::string(70, 'a'));          // no such map task
  tmp.Write("spill/job-x/map-01x.wcs", std::string(70, 'a'));        // not an output name
  SpillSpace s = spill.Measure({1000, 2000, 3000, 4000});
  EXPECT_EQ(s.maps, 4u);
  EXPECT_EQ(s.written, 2u);
  EXPECT_EQ(s.written_bytes, 400u);
  EXPECT_EQ(s.needed_bytes, 1000u);  // 400 bytes for 4000 input bytes; 10000 in all
  EXPECT_GT(s.fs_bytes, 0u);
  EXPECT_LE(s.free_bytes, s.fs_bytes);
  EXPECT_EQ(spill.Measure({1000, 2000}).written, 1u);  // map-2 is no task of a 2-map job
}

TEST(SpillArea, RemovesAReplacedJobsDirectoryAndItsOwnDefaultRoot) {
  testing::TempDir tmp;
  const std::string a = "job-" + std::string(32, 'a'), b = "job-" + std::string(32, 'b');
  std::filesystem::create_directories(tmp.path() + "/spill/" + b);
  std::filesystem::create_directories(tmp.path() + "/spill/keep");
  tmp.Write("spill/" + b + "/map-0.wcs", "x");  // the replaced job's outputs
  tmp.Write("spill/keep/file", "x");
  SpillArea spill;
  spill.Prepare(tmp.path() + "/spill", a, /*root_is_ours=*/true);
  spill.RemoveReplaced("keep", "");      // not a job's directory name
  spill.RemoveReplaced("../spill", "");  // nor this
  spill.RemoveReplaced(a, "");           // its own: kept until Remove
  EXPECT_TRUE(std::filesystem::exists(spill.dir()));
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/spill/keep/file"));
  spill.RemoveReplaced(b, "");
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/spill/" + b));
  // Seventh pass: a replaced job whose SPILL_DIR was another directory (its record says which)
  // left its map outputs there for good.
  std::filesystem::create_directories(tmp.path() + "/other/" + b);
  tmp.Write("other/" + b + "/map-0.wcs", "x");
  spill.RemoveReplaced(b, tmp.path() + "/other");
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/other/" + b));
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/other"));
  std::filesystem::remove_all(tmp.path() + "/spill/keep");
  spill.Remove();  // the root existed before, but is the run's own default: removed when empty
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/spill"));
}

// Held-out pass: a SPILL_DIR made by a run stopped by SIGTERM stayed, empty, after the rerun that
// finished the job: the rerun found it existing, so not its own. The coordinator records the
// maker in the job's state directory and tells the rerun's area (RootMadeByEarlierRun).
TEST(SpillArea, ARootAnEarlierRunMadeIsRemovedWhenEmptyOneItDidNotMakeIsKept) {
  testing::TempDir tmp;
  const std::string root = tmp.path() + "/made";
  {
    SpillArea first;
    first.Prepare(root, "job-x");
    EXPECT_TRUE(first.made_root());  // stopped here: the job's directory is kept
  }
  SpillArea rerun;
  rerun.Prepare(root, "job-x");
  EXPECT_FALSE(rerun.made_root());
  rerun.RootMadeByEarlierRun();
  rerun.Remove();
  EXPECT_FALSE(std::filesystem::exists(root));

  std::filesystem::create_directories(tmp.path() + "/theirs");  // not made by the job
  SpillArea kept;
  kept.Prepare(tmp.path() + "/theirs", "job-x");
  EXPECT_FALSE(kept.made_root());
  kept.Remove();
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/theirs"));
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/theirs/job-x"));
}

// Held-out pass 16: the `spill_removed` line of a job whose root (made by the run) still held
// another job's directory gave the root's "Directory not empty" as the job directory's error.
TEST(SpillArea, TheRemovedLineGivesTheJobDirectorysOwnError) {
  testing::TempDir tmp;
  const std::string log = tmp.path() + "/wc.log";
  Log::Open(log, "coordinator", /*truncate=*/true, LogLevel::kInfo);
  SpillArea spill;
  spill.Prepare(tmp.path() + "/made", "job-x");
  ASSERT_TRUE(spill.made_root());
  std::filesystem::create_directories(tmp.path() + "/made/job-other");  // another job's
  spill.Remove();
  Log::Open("", "test", false, LogLevel::kError);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/made/job-x"));
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/made/job-other"));
  const std::string lines = testing::ReadFile(log);
  EXPECT_NE(lines.find("spill_removed dir=\"" + tmp.path() + "/made/job-x\" error=\"\""),
            std::string::npos)
      << lines;
}

// Held-out pass 15: a SPILL_DIR whose mount vanished mid-job was reported as "no space".
TEST(SpillArea, AJobDirectoryThatIsGoneIsNotCalledFull) {
  testing::TempDir tmp;
  SpillArea spill;
  spill.Prepare(tmp.path() + "/spill", "job-x");
  std::filesystem::remove_all(spill.dir());
  const std::string said = spill.OutputTrouble({1000, 2000});
  EXPECT_NE(said.find("the job's spill directory " + spill.dir().string() + " is gone"),
            std::string::npos)
      << said;
  EXPECT_EQ(said.find("space"), std::string::npos) << said;
}

std::string PrepareError(const std::string& root, const std::string& name) {
  try {
    SpillArea().Prepare(root, name);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

// Held-out pass: another user who could rename entries in a shared SPILL_DIR swapped the job's
// directory for a link to theirs and put another job's map output there: exit 0, wrong counts.
TEST(SpillArea, ARootOthersCanRewriteOrALinkedJobDirectoryIsRefused) {
  testing::TempDir tmp;
  const std::string name = "job-" + std::string(32, 'c');
  std::filesystem::create_directories(tmp.path() + "/open");
  ::chmod((tmp.path() + "/open").c_str(), 0777);
  EXPECT_NE(PrepareError(tmp.path() + "/open", name).find("writable by other users"),
            std::string::npos);
  std::filesystem::create_directories(tmp.path() + "/sticky");
  ::chmod((tmp.path() + "/sticky").c_str(), 01777);  // like /tmp: fine
  EXPECT_EQ(PrepareError(tmp.path() + "/sticky", name), "no error");
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() + "/sticky/" + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::filesystem::create_directories(tmp.path() + "/mine/elsewhere");
  std::filesystem::create_directory_symlink(tmp.path() + "/mine/elsewhere",
                                            tmp.path() + "/mine/" + name);
  EXPECT_NE(PrepareError(tmp.path() + "/mine", name).find("a link?"), std::string::npos);
  if (::geteuid() == 0) {  // a root of another user (CI runs as root)
    std::filesystem::create_directories(tmp.path() + "/theirs");
    ASSERT_EQ(::chown((tmp.path() + "/theirs").c_str(), 65534, 65534), 0);
    EXPECT_NE(PrepareError(tmp.path() + "/theirs", name).find("belongs to another user"),
              std::string::npos);
  }
}

TEST(SpillArea, TroubleIsCalledFullOnlyIfTheRestDoesNotFit) {
  SpillSpace s{.maps = 24,
               .written = 13,
               .written_bytes = 4'800'000,
               .needed_bytes = 8'900'000,
               .fs_bytes = 5'242'880,
               .free_bytes = 41'000};
  EXPECT_EQ(DescribeSpillTrouble("/s", s),
            "SPILL_DIR /s is full: the 24 map outputs need about 8.9 MB (13 written, 4.8 MB), its "
            "file system has 5.2 MB, 41 KB free");
  s.free_bytes = 5'000'000;  // room enough: something else went wrong
  EXPECT_NE(DescribeSpillTrouble("/s", s).find("/s could not take a map output"),
            std::string::npos);
  s.needed_bytes = 0;  // nothing written yet: no estimate
  EXPECT_NE(DescribeSpillTrouble("/s", s).find("no map output of the 24 was written"),
            std::string::npos);
}

}  // namespace
}  // namespace wc::job

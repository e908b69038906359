// PlanJob: the plan of a run's inputs, shuffle mode's partitions, and the digest that names the
// job (what makes a rerun the same job).
#include "job/job_spec.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "gen/generator.h"
#include "test_util.h"

namespace wc::job {
namespace {

class JobSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gen::Generator g(7);
    dir_.Write("a.csv", g.File(0, 20));
    dir_.Write("b.csv", g.File(1, 30));
  }
  std::string Glob() const { return dir_.path() + "/*.csv"; }
  testing::TempDir dir_;
};

TEST_F(JobSpecTest, TheDigestNamesThePlanAndEverySettingThatShapesTheResult) {
  JobConfig c;
  JobSpec a = PlanJob(c, JobInputs::Of(Glob()), 2);
  EXPECT_EQ(a.plan.tasks.size(), 2u);
  EXPECT_EQ(a.plan.files, 2u);
  EXPECT_EQ(a.digest.size(), 32u);
  EXPECT_EQ(PlanJob(c, JobInputs::Of(Glob()), 5).digest,
            a.digest);  // workers do not matter in direct mode
  for (auto change :
       {+[](JobConfig& x) { x.mode = Mode::kShuffle; },
        +[](JobConfig& x) { x.column = "author_id"; }, +[](JobConfig& x) { x.in = "other"; },
        +[](JobConfig& x) { x.count = "other"; }, +[](JobConfig& x) { x.fname = "path"; }}) {
    JobConfig other;
    change(other);
    EXPECT_NE(PlanJob(other, JobInputs::Of(Glob()), 2).digest, a.digest);
  }
  dir_.Write("c.csv", gen::Generator(8).File(0, 5));
  EXPECT_NE(PlanJob(c, JobInputs::Of(Glob()), 2).digest, a.digest);  // another input, another job
}

TEST_F(JobSpecTest, ShufflePartitionsDefaultToTwoPerWorkerUnlessConfigured) {
  JobConfig c;
  c.mode = Mode::kShuffle;
  JobSpec s = PlanJob(c, JobInputs::Of(Glob()), 3);
  EXPECT_EQ(s.partitions, 6u);
  EXPECT_EQ(s.total_tasks(), 2 + 6);
  EXPECT_NE(PlanJob(c, JobInputs::Of(Glob()), 4).digest,
            s.digest);  // 8 partitions: another result layout
  c.partitions = 5;
  EXPECT_EQ(PlanJob(c, JobInputs::Of(Glob()), 3).partitions, 5u);
  JobSpec direct = PlanJob(JobConfig{}, JobInputs::Of(Glob()), 3);
  EXPECT_EQ(direct.partitions, 0u);
  EXPECT_EQ(direct.total_tasks(), 2);
}

TEST_F(JobSpecTest, NoInputWhenNothingMatchesOrEveryNamedFileIsMissing) {
  JobConfig c;
  EXPECT_THROW(PlanJob(c, JobInputs::Of(dir_.path() + "/*.tsv"), 1), NoInput);
  try {
    PlanJob(c, JobInputs::Of(dir_.path() + "/missing.csv"), 1);
    ADD_FAILURE() << "no NoInput";
  } catch (const NoInput& e) {
    EXPECT_NE(std::string(e.what()).find("missing.csv: cannot open: No such file or directory"),
              std::string::npos)
        << e.what();
  }
  // One file missing of several (a dangling link) is a failure of the plan, not of the run.
  std::filesystem::create_symlink(dir_.path() + "/nowhere", dir_.path() + "/dangling.csv");
  JobSpec s = PlanJob(c, JobInputs::Of(Glob()), 1);
  EXPECT_EQ(s.plan.tasks.size(), 2u);
  EXPECT_EQ(s.plan.missing, 1u);
  EXPECT_EQ(s.plan.failures.size(), 1u);
}

TEST_F(JobSpecTest, IdentityAndRecordInfo) {
  JobConfig c;
  c.mode = Mode::kShuffle;
  c.partitions = 3;
  c.column = "text";
  c.count = "wc";
  JobSpec s = PlanJob(c, JobInputs::Of(Glob()), 1);
  JobIdentity id = s.Identity("job-x");
  EXPECT_EQ(id.digest, s.digest);
  EXPECT_EQ(id.mode, Mode::kShuffle);
  EXPECT_EQ(id.tasks, 2u);
  EXPECT_EQ(id.parts, 3u);
  EXPECT_EQ(id.spill, "job-x");
  EXPECT_EQ(id.column, "text");
  auto info = s.Info();
  ASSERT_EQ(info.size(), 4u);
  EXPECT_EQ(info[0], (std::pair<std::string, std::string>{"count_key", "wc"}));
  EXPECT_EQ(info[1].second, "2");
  EXPECT_EQ(info[2].second, std::to_string(s.plan.bytes));
  EXPECT_EQ(info[3], (std::pair<std::string, std::string>{
                         "data_root", std::filesystem::canonical(dir_.path()).string()}));
}

}  // namespace
}  // namespace wc::job

// ProgressSnapshot::Of: what the progress line shows of a job, in both modes.
#include "job/progress.h"

#include <gtest/gtest.h>

namespace wc::job {
namespace {

JobSpec Spec(Mode mode, uint32_t partitions) {
  JobSpec s;
  s.mode = mode;
  s.partitions = partitions;
  s.plan.tasks.resize(5);
  s.plan.bytes = 1000;
  return s;
}

TEST(ProgressTest, DirectJobCountsItsTasks) {
  JobState s{.fields = {{"state", "count"}, {"done_tasks", "3"}, {"pending", "2"}}};
  ProgressSnapshot p = ProgressSnapshot::Of(Spec(Mode::kDirect, 0), s, 1.5, 4, 1);
  EXPECT_EQ(p.mode, Mode::kDirect);
  EXPECT_EQ(p.phase, "count");
  EXPECT_EQ(p.total_tasks, 5);
  EXPECT_EQ(p.done_tasks, 3);
  EXPECT_EQ(p.pending, 2);
  EXPECT_EQ(p.bytes, 1000u);
  EXPECT_EQ(p.seconds, 1.5);
  EXPECT_EQ(p.workers, 4u);
  EXPECT_EQ(p.redis_restarts, 1);
}

TEST(ProgressTest, ShuffleJobCountsMapsAndPartitions) {
  JobState s{.fields = {{"state", "reduce"}, {"done_tasks", "5"}, {"done_parts", "2"}}};
  ProgressSnapshot p = ProgressSnapshot::Of(Spec(Mode::kShuffle, 4), s, 0, 0, 0);
  EXPECT_EQ(p.phase, "reduce");
  EXPECT_EQ(p.total_tasks, 9);
  EXPECT_EQ(p.done_tasks, 7);
  EXPECT_EQ(p.pending, 0);  // absent: 0
}

}  // namespace
}  // namespace wc::job

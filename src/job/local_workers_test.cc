// The plan of a run's local workers: the lab's mix and its order, --workers, rounds of normal
// workers while the job is unfinished, and the limit after which the job is given up.
#include "job/local_workers.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace wc::job {
namespace {

std::vector<std::string> Names(const std::vector<WorkerSpec>& w) {
  std::vector<std::string> out;
  for (const auto& s : w) out.push_back(s.name);
  return out;
}

TEST(WorkerMixTest, TheLabsMixStartsItsCrashingAndSleepingWorkersFirst) {
  JobConfig c;
  c.n_normal_workers = 2;
  c.n_crashing_workers = 2;
  c.n_sleeping_workers = 1;
  WorkerMix mix = WorkerMix::For(c, std::nullopt);
  EXPECT_EQ(mix.total(), 5);
  std::vector<WorkerSpec> w = mix.Initial();
  EXPECT_EQ(Names(w), (std::vector<std::string>{"crash1", "crash2", "sleep1", "w1", "w2"}));
  EXPECT_TRUE(w[0].crash && !w[0].slow);
  EXPECT_TRUE(!w[2].crash && w[2].slow);
  EXPECT_TRUE(!w[3].crash && !w[3].slow);
}

TEST(WorkerMixTest, WorkersFlagStartsOnlyNormalWorkers) {
  JobConfig c;  // 5 normal, 2 crashing, 1 sleeping
  WorkerMix mix = WorkerMix::For(c, 3);
  EXPECT_EQ(mix.total(), 3);
  EXPECT_EQ(Names(mix.Initial()), (std::vector<std::string>{"w1", "w2", "w3"}));
  EXPECT_EQ(WorkerMix::For(c, 0).total(), 0);
}

TEST(WorkerRoundsTest, RoundsOfNormalWorkersUntilTheLimit) {
  WorkerRounds rounds(WorkerMix{.normal = 2, .crashing = 1, .sleeping = 1});
  for (int r = 1; r <= WorkerRounds::kMaxRounds; ++r) {
    std::vector<WorkerSpec> w = rounds.Next();
    ASSERT_EQ(Names(w), (std::vector<std::string>{fmt::format("round{}-w1", r),
                                                  fmt::format("round{}-w2", r)}));
    EXPECT_FALSE(w[0].crash || w[0].slow || w[1].crash || w[1].slow);
  }
  try {
    rounds.Next();
    ADD_FAILURE() << "no JobIncomplete";
  } catch (const JobIncomplete& e) {
    EXPECT_STREQ(e.what(), "the job could not finish after 20 rounds of workers");
  }
}

TEST(WorkerRoundsTest, ARoundHasAtLeastOneWorker) {
  WorkerRounds rounds(WorkerMix{.crashing = 2});
  EXPECT_EQ(Names(rounds.Next()), std::vector<std::string>{"round1-w1"});
}

TEST(WorkerRoundsTest, ARunWithoutLocalWorkersStartsNoRounds) {
  WorkerRounds rounds(WorkerMix{});
  for (int i = 0; i < 3 * WorkerRounds::kMaxRounds; ++i) EXPECT_TRUE(rounds.Next().empty());
  EXPECT_EQ(rounds.rounds(), 0);
}

}  // namespace
}  // namespace wc::job

// JobKeeper against a real redis-server: the job saved when it is created, created again after
// Redis lost it, the keys taken by another job noticed, the reduce phase's start saved once.
#include "job/job_keeper.h"

#include <gtest/gtest.h>

#include <chrono>

#include "redis_fixture.h"

namespace wc::job {
namespace {

class JobKeeperTest : public testing::RedisTest {
 protected:
  // A job of `tasks` tasks (paths only: nothing reads them) in `mode`, begun by `claim_`.
  void Begin(Mode mode, size_t tasks) {
    spec_.mode = mode;
    spec_.partitions = mode == Mode::kShuffle ? 1 : 0;
    spec_.digest = "d1";
    for (size_t i = 0; i < tasks; ++i) spec_.plan.tasks.push_back({"/d/" + std::to_string(i)});
    claim_ = std::make_unique<JobClaim>(
        store_, ClaimSpec{spec_.Identity(mode == Mode::kShuffle ? "job-x" : ""), "me", {}});
    ASSERT_EQ(claim_->Begin(conn(), kId).kind, BeginResult::Kind::kCreated);
    keeper_ = std::make_unique<JobKeeper>(*claim_, store_, durability_, spec_);
  }
  // Writes since the last save.
  int64_t Unsaved() {
    std::string info(conn().Command({"INFO", "persistence"}).str());
    return std::stoll(redis::InfoField(info, "rdb_changes_since_last_save"));
  }

  static constexpr const char* kId = "0123456789abcdef0123456789abcdef";
  JobStore store_{JobKeys{}};
  JobSpec spec_;
  Durability durability_{Persistence::kRdb, std::chrono::hours(1)};
  std::unique_ptr<JobClaim> claim_;
  std::unique_ptr<JobKeeper> keeper_;
};

TEST_F(JobKeeperTest, SavesTheCreatedJobAndCreatesItAgainAfterRedisLostIt) {
  Begin(Mode::kDirect, 3);
  keeper_->Ensure(conn());
  EXPECT_EQ(keeper_->creations(), 1);
  EXPECT_EQ(Unsaved(), 0);
  EXPECT_EQ(keeper_->Step(conn()).state(), "count");
  keeper_->Ensure(conn());  // held already: nothing written
  EXPECT_EQ(keeper_->creations(), 1);

  conn().Command({"FLUSHALL"});  // as if Redis restarted from a checkpoint without the job
  keeper_->Recheck();
  JobState s = keeper_->Step(conn());
  EXPECT_EQ(s.state(), "count");
  EXPECT_EQ(s.id(), kId);
  EXPECT_EQ(s.Int("tasks"), 3);
  EXPECT_EQ(keeper_->creations(), 2);
  EXPECT_EQ(Unsaved(), 0);
  keeper_->Step(conn());  // the recheck was done once
  EXPECT_EQ(keeper_->creations(), 2);
}

TEST_F(JobKeeperTest, StepThrowsLeaseLostWhenAnotherJobHoldsTheKeys) {
  Begin(Mode::kDirect, 1);
  keeper_->Ensure(conn());
  conn().Command({"HSET", "files:job", "id", "another"});
  EXPECT_THROW(keeper_->Step(conn()), LeaseLost);
}

TEST_F(JobKeeperTest, SavesTheStartOfTheReducePhaseOnce) {
  Begin(Mode::kShuffle, 1);
  keeper_->Ensure(conn());
  JobState s = keeper_->Step(conn());
  EXPECT_EQ(s.state(), "map");
  JobView job = s.View();
  JobStore::Entries e = store_.ReadNew(conn(), "w1", 0, job, store_.ReadPlan(conn(), job.tasks));
  ASSERT_EQ(e.tasks.size(), 1u);
  int64_t unsaved = Unsaved();
  EXPECT_GT(unsaved, 0);
  keeper_->NotePhase(conn(), s, 0.5);  // not the reduce phase: nothing saved
  EXPECT_EQ(Unsaved(), unsaved);
  ASSERT_TRUE(store_.MapDone(conn(), kId, e.tasks[0]));  // the last map starts the reduce phase
  s = keeper_->Step(conn());
  ASSERT_EQ(s.state(), "reduce");
  keeper_->NotePhase(conn(), s, 0.5);
  EXPECT_EQ(Unsaved(), 0);
  conn().Command({"SET", "x", "1"});
  keeper_->NotePhase(conn(), keeper_->Step(conn()), 0.6);
  EXPECT_GT(Unsaved(), 0);  // seen already: not saved again
}

}  // namespace
}  // namespace wc::job

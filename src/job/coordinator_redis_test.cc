// CoordinatorRedis: how a run leaves its Redis. An embedded one (a real redis-server in a
// private state directory) keeps the state of an unfinished job for a rerun, which starts from
// it; a finished job's state is removed; a run that never held the job leaves nothing it made.
// An external one saves the result of a finished job.
#include "job/coordinator_redis.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "redis_fixture.h"

namespace wc::job {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDigest = "0123456789abcdef0123456789abcdef";
using Ending = CoordinatorRedis::Ending;

class CoordinatorRedisTest : public ::testing::Test {
 protected:
  std::unique_ptr<CoordinatorRedis> Start() {
    return std::make_unique<CoordinatorRedis>(config_, "", "", "", root_.path(), kDigest);
  }
  std::string StateDir() const { return root_.path() + "/job-0123456789abcdef"; }
  static void Set(CoordinatorRedis& r, const std::string& value) {
    r.session().Run([&](redis::Connection& c) { return c.Command({"SET", "k", value}); });
  }
  static std::string Get(CoordinatorRedis& r) {
    return r.session().Run([](redis::Connection& c) {
      return std::string(c.Command({"GET", "k"}).str());
    });
  }

  JobConfig config_;
  testing::TempDir root_;
  int released_ = 0;
  std::function<void(redis::Connection&)> release_ = [this](redis::Connection&) { ++released_; };
};

TEST_F(CoordinatorRedisTest, AnUnfinishedJobsStateIsSavedAndKeptForARerun) {
  auto r = Start();
  ASSERT_TRUE(r->server().embedded());
  EXPECT_TRUE(r->server().fresh_state());
  Set(*r, "v");
  r->Close(Ending::kKept, /*held=*/true, release_);
  EXPECT_EQ(released_, 0);
  EXPECT_TRUE(fs::exists(StateDir() + "/dump.rdb"));
  r.reset();  // the run's process ends (and with it its lock on the state)
  auto rerun = Start();
  EXPECT_FALSE(rerun->server().fresh_state());
  EXPECT_EQ(Get(*rerun), "v");  // started from the saved state
}

// A 4.4 GB run beside other jobs: a commit ran past Redis's 5 s busy-script threshold, every
// other call was answered BUSY, and a worker gave up after REDIS_RETRY_SECONDS of it. The
// embedded Redis never answers BUSY: other calls wait for the script.
TEST_F(CoordinatorRedisTest, TheEmbeddedRedisNeverAnswersBusy) {
  auto r = Start();
  std::string threshold = r->session().Run([](redis::Connection& c) {
    return std::string(c.Command({"CONFIG", "GET", "busy-reply-threshold"})[1].str());
  });
  EXPECT_EQ(threshold, "0");
}

TEST_F(CoordinatorRedisTest, AFinishedJobsStateIsRemovedAfterTheRelease) {
  auto r = Start();
  r->Close(Ending::kOver, /*held=*/true, release_);
  EXPECT_EQ(released_, 1);
  EXPECT_FALSE(fs::exists(StateDir()));
}

// Held-out pass 22: a done job whose result failed the check kept its lease, and a rerun with
// --replace within it read the damaged result again (exit 8). Released now; the state is kept.
TEST_F(CoordinatorRedisTest, ADamagedResultIsReleasedAndItsStateKept) {
  auto r = Start();
  Set(*r, "v");
  r->Close(Ending::kResultDamaged, /*held=*/true, release_);
  EXPECT_EQ(released_, 1);
  EXPECT_TRUE(fs::exists(StateDir() + "/dump.rdb"));
}

TEST_F(CoordinatorRedisTest, ARunThatNeverHeldTheJobLeavesNoStateItMade) {
  auto r = Start();
  r->Close(Ending::kKept, /*held=*/false, release_);
  EXPECT_FALSE(fs::exists(StateDir()));
  r.reset();
  // ... but keeps a state it found (an earlier run's, to resume from).
  r = Start();
  r->Close(Ending::kKept, true, release_);
  r.reset();
  r = Start();
  r->Close(Ending::kKept, false, release_);
  EXPECT_TRUE(fs::exists(StateDir()));
  EXPECT_EQ(released_, 0);
}

class ExternalRedisTest : public testing::RedisTest {};

TEST_F(ExternalRedisTest, AFinishedJobsResultIsSavedInAnExternalRedis) {
  JobConfig c;
  CoordinatorRedis r(c, fmt::format("redis://127.0.0.1:{}", server().port()), "", "", "", kDigest);
  EXPECT_FALSE(r.server().embedded());
  conn().Command({"SET", "result", "1"});
  int released = 0;
  r.Close(Ending::kOver, /*held=*/true, [&](redis::Connection&) { ++released; });
  EXPECT_EQ(released, 1);
  std::string info(conn().Command({"INFO", "persistence"}).str());
  EXPECT_EQ(redis::InfoField(info, "rdb_changes_since_last_save"), "0");
  EXPECT_EQ(conn().Command({"PING"}).str(), "PONG");  // an external server is left running
}

}  // namespace
}  // namespace wc::job

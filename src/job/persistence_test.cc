// Durability's checkpoint schedule against a real server.
#include "job/persistence.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "redis_fixture.h"

namespace wc::job {
namespace {

using std::chrono::milliseconds;

class DurabilityTest : public testing::RedisTest {};

// With forced crashes the first checkpoint after a (re)start comes within half a crash interval,
// never at once (the server holds the last checkpoint: saving it again is no progress). Due at
// once, it put the next checkpoint an interval later, past the next crash when
// CHECKPOINT_INTERVAL >= REDIS_RESTART_INTERVAL: the lab's 2 and 2 livelocked any job longer
// than one crash interval (every window's work lost at its crash, forever).
TEST_F(DurabilityTest, FirstCheckpointAfterAStartIsWithinHalfACrashInterval) {
  Durability d(Persistence::kRdb, milliseconds(2000), milliseconds(400));
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 0);  // not at once
  std::this_thread::sleep_for(milliseconds(250));
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 1);  // within 200 ms, not 2 s
  d.NoteLastCheckpoint(conn());
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 1);  // then every 2 s
  d.ServerStarted();              // a restart: again within half a crash interval, not at once
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 1);
  std::this_thread::sleep_for(milliseconds(250));
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 2);
}

TEST_F(DurabilityTest, WithoutCrashesCheckpointsComeEveryInterval) {
  Durability d(Persistence::kRdb, milliseconds(150));
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 0);
  std::this_thread::sleep_for(milliseconds(200));
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 1);
}

// What the server persists decides the saves, not PERSISTENCE: an external Redis with its AOF off
// under PERSISTENCE aof got an AOF rewrite (which it never reads back) and no checkpoint, so a
// crash after the run lost the result it had reported.
TEST_F(DurabilityTest, ASaveFollowsTheServersOwnPersistence) {
  conn().Command({"SET", "k", "v"});
  ASSERT_EQ(redis::InfoField(conn().Command({"INFO", "persistence"}).str(), "aof_enabled"), "0");
  Durability d(Persistence::kAof, milliseconds(0));
  d.MaybeCheckpoint(conn());
  EXPECT_EQ(d.checkpoints(), 1);  // a BGSAVE: the server restarts from its RDB
  d.SaveNow(conn());
  std::string info(conn().Command({"INFO", "persistence"}).str());
  EXPECT_EQ(redis::InfoField(info, "rdb_changes_since_last_save"), "0");
  EXPECT_EQ(redis::InfoField(info, "aof_rewrites"), "0");

  // AOF on (as an embedded Redis under PERSISTENCE aof runs): no BGSAVE; the save is a rewrite.
  conn().Command({"CONFIG", "SET", "appendonly", "yes"});
  Durability rdb(Persistence::kRdb, milliseconds(0));
  for (int i = 0; i < 500 && redis::InfoField(conn().Command({"INFO", "persistence"}).str(),
                                              "aof_rewrite_in_progress") != "0";
       ++i)
    std::this_thread::sleep_for(milliseconds(10));
  conn().Command({"SET", "k", "w"});
  rdb.MaybeCheckpoint(conn());
  EXPECT_EQ(rdb.checkpoints(), 0);
  const int rewrites =
      std::stoi(redis::InfoField(conn().Command({"INFO", "persistence"}).str(), "aof_rewrites"));
  rdb.SaveNow(conn());
  info = conn().Command({"INFO", "persistence"}).str();
  EXPECT_NE(redis::InfoField(info, "rdb_changes_since_last_save"), "0");  // no SAVE
  EXPECT_EQ(std::stoi(redis::InfoField(info, "aof_rewrites")), rewrites + 1);
}

// Fourth held-out pass: two checkpoints in a row failed on a full STATE_DIR and the summary said
// "1 failed": only a change of status was counted. Every failed BGSAVE of ours counts (here its
// child is SIGKILLed mid-save, three times). (A failed SAVE: job_test's full STATE_DIR.)
TEST_F(DurabilityTest, EveryFailedCheckpointCounts) {
  conn().Command({"SET", "k", "v"});
  conn().Command({"CONFIG", "SET", "rdb-key-save-delay", "5000000"});  // 5 s per key: killed first
  Durability d(Persistence::kRdb, milliseconds(0));
  for (int i = 0; i < 3; ++i) {
    d.MaybeCheckpoint(conn());
    // The save's child, from the server's children.
    pid_t child = 0;
    for (int wait = 0; wait < 200 && child == 0; ++wait) {
      std::ifstream in(fmt::format("/proc/{0}/task/{0}/children", server_->pid()));
      in >> child;
      if (child == 0) std::this_thread::sleep_for(milliseconds(10));
    }
    ASSERT_GT(child, 0) << "no BGSAVE child";
    ::kill(child, SIGKILL);
    d.NoteLastCheckpoint(conn());
  }
  EXPECT_EQ(d.checkpoints(), 3);
  EXPECT_EQ(d.failures(), 3);
  conn().Command({"CONFIG", "SET", "rdb-key-save-delay", "0"});
}

}  // namespace
}  // namespace wc::job

// Durability's checkpoint schedule against a real server.
#include "job/persistence.h"

#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
}  // namespace wc::job

// JobStore against a real redis-server: job creation, the task codec round trip, the top words'
// tie order, and a pipeline error that leaves the connection clean.
#include "job/job_store.h"

#include <gtest/gtest.h>

#include "redis/pipeline.h"
#include "redis_fixture.h"

namespace wc::job {
namespace {

class JobStoreTest : public testing::RedisTest {
 protected:
  JobStore store_{JobKeys{}};
};

TEST_F(JobStoreTest, CreatedTasksReadBackAsPlanned) {
  Plan plan;
  plan.tasks = {{"/d/a.csv", csv::ByteRange{}}, {"/d/b c.csv", csv::ByteRange{10, 20}}};
  plan.files = 2;
  store_.Create(conn(), JobSpec{}, plan);
  Entries e = store_.ReadHistory(conn(), "w");  // nothing delivered yet
  EXPECT_TRUE(e.tasks.empty());
  std::vector<Task> got;
  for (int i = 0; i < 2; ++i) {
    Entries n = store_.ReadNew(conn(), "w", 0);
    ASSERT_EQ(n.tasks.size(), 1u);
    got.push_back(n.tasks[0]);
  }
  EXPECT_EQ(got[0].path, "/d/a.csv");
  EXPECT_EQ(got[0].range, csv::ByteRange{});
  EXPECT_EQ(got[1].path, "/d/b c.csv");
  EXPECT_EQ(got[1].range, (csv::ByteRange{10, 20}));
  EXPECT_EQ(got[1].kind, Task::Kind::kCount);
  Progress p = store_.ReadProgress(conn());
  EXPECT_EQ(p.entries, 2);
  EXPECT_EQ(p.pending, 2);
  EXPECT_FALSE(p.done);
  bool map_phase = true;
  EXPECT_TRUE(store_.Intact(conn(), 2, &map_phase));
  EXPECT_FALSE(map_phase);
  conn().Command({"DEL", "files"});
  EXPECT_FALSE(store_.Intact(conn(), 2, &map_phase));
}

TEST_F(JobStoreTest, MalformedEntriesAreReportedNotThrown) {
  store_.Create(conn(), JobSpec{}, Plan{});
  conn().Command({"XADD", "files", "*", "fname", "/x", "range", "1-"});
  conn().Command({"XADD", "files", "*", "kind", "reduce", "part", "1"});
  Entries e = store_.ReadHistory(conn(), "w");
  e = store_.ReadNew(conn(), "w", 0);
  ASSERT_EQ(e.malformed.size(), 1u);
  EXPECT_NE(e.malformed[0].second.find("range"), std::string::npos);
  e = store_.ReadNew(conn(), "w", 0);
  ASSERT_EQ(e.malformed.size(), 1u);
}

TEST_F(JobStoreTest, TopBreaksTiesByWordBytesLikeSerial) {
  conn().Command({"ZADD", "count", "5", "b", "5", "a", "5", "\xff", "7", "z", "1", "q"});
  WordCountPairs top = store_.Top(conn(), 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0], (std::pair<std::string, uint64_t>{"z", 7}));
  EXPECT_EQ(top[1], (std::pair<std::string, uint64_t>{"a", 5}));
  EXPECT_EQ(top[2], (std::pair<std::string, uint64_t>{"b", 5}));
  EXPECT_TRUE(store_.Top(conn(), 0).empty());
  EXPECT_EQ(store_.Top(conn(), 100).size(), 5u);
}

// Regression (issue 12): after an error reply inside a pipeline the connection was reused with
// unread replies, and the next command read a ZADD's integer as its own reply.
TEST_F(JobStoreTest, PipelineErrorLeavesNoUnreadReplies) {
  conn().Command({"SET", "str", "x"});
  redis::Pipeline p(conn(), 2);
  p.Add({"ZADD", "z", "1", "a"});
  p.Add({"ZADD", "str", "1", "a"});  // WRONGTYPE
  EXPECT_THROW(
      {
        p.Add({"ZADD", "z", "2", "b"});
        p.Add({"ZADD", "z", "3", "c"});
        p.Finish();
      },
      redis::RedisReplyError);
  EXPECT_EQ(conn().Command({"PING"}).str(), "PONG");
}

}  // namespace
}  // namespace wc::job

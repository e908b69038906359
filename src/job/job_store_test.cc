// JobStore against a real redis-server: job creation, the task codec round trip, the top words'
// tie order, and a pipeline error that leaves the connection clean.
#include "job/job_store.h"

#include <gtest/gtest.h>

#include "job/task.h"
#include "redis/pipeline.h"
#include "redis_fixture.h"

namespace wc::job {
namespace {

class JobStoreTest : public testing::RedisTest {
 protected:
  // Creates and starts a job of `tasks` in `mode`; returns its id.
  std::string Start(const std::vector<PlannedTask>& tasks, Mode mode = Mode::kDirect) {
    JobIdentity ident{.digest = "ab12",
                      .mode = mode,
                      .tasks = static_cast<uint32_t>(tasks.size()),
                      .parts = mode == Mode::kShuffle ? 2u : 0u,
                      .spill = mode == Mode::kShuffle ? "job-x" : ""};
    BeginResult b = store_.Begin(conn(), kId, ident, "me", 10000, false, {{"count_key", "count"}});
    EXPECT_EQ(b.kind, BeginResult::Kind::kCreated);
    store_.AddPlanAndStart(conn(), b.id, b.epoch, tasks);
    return b.id;
  }
  static constexpr const char* kId = "0123456789abcdef0123456789abcdef";
  JobStore store_{JobKeys{}};
};

TEST_F(JobStoreTest, TasksComeFromThePlanNotFromTheEntry) {
  std::vector<PlannedTask> tasks = {
      {"/d/a.csv", csv::ByteRange{},
       FileStamp{.size = 7,
                 .mtime_ns = 1700000000123456789,
                 .ctime_ns = 1700000001000000001,
                 .inode = 18446744073709551615u}},
      {"/d/b c.csv", csv::ByteRange{10, 20},
       FileStamp{.size = 30, .mtime_ns = -5, .ctime_ns = -6, .inode = 3}}};
  Start(tasks);
  JobState s = store_.State(conn());
  EXPECT_EQ(s.state(), "count");
  EXPECT_EQ(s.id(), kId);
  EXPECT_EQ(s.Get("count_key"), "count");
  JobView job = s.View();
  std::vector<PlannedTask> plan = store_.ReadPlan(conn(), job.tasks);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].path, "/d/b c.csv");
  EXPECT_EQ(plan[1].range, (csv::ByteRange{10, 20}));
  EXPECT_EQ(plan[0].stamp, tasks[0].stamp);  // the file as planned, for the worker to check
  EXPECT_EQ(plan[1].stamp, tasks[1].stamp);
  std::vector<Task> got;
  for (int i = 0; i < 2; ++i) {
    JobStore::Entries n = store_.ReadNew(conn(), "w", 0, job, plan);
    ASSERT_EQ(n.tasks.size(), 1u);
    got.push_back(n.tasks[0]);
  }
  EXPECT_EQ(got[0].path, "/d/a.csv");
  EXPECT_EQ(got[0].range, csv::ByteRange{});
  EXPECT_EQ(got[1].path, "/d/b c.csv");
  EXPECT_EQ(got[1].n, 1u);
  EXPECT_EQ(got[1].stamp, tasks[1].stamp);
  EXPECT_EQ(got[1].kind, Task::Kind::kCount);
  // A stray entry naming a job file is no task: classified foreign, never counted.
  conn().Command({"XADD", "files", "*", "fname", "/d/a.csv", "range", "0-99999999999"});
  conn().Command({"XADD", "files", "*", "job", kId, "task", "7"});
  conn().Command({"XADD", "files", "*", "job", kId, "task", "0", "task", "1"});
  conn().Command({"XADD", "files", "*", "job", kId, "part", "0"});  // a direct job has no parts
  for (int i = 0; i < 4; ++i) {
    JobStore::Entries n = store_.ReadNew(conn(), "w", 0, job, plan);
    EXPECT_TRUE(n.tasks.empty());
    ASSERT_EQ(n.foreign.size(), 1u);
    EXPECT_TRUE(store_.MarkForeign(conn(), kId, n.foreign[0]));
  }
  EXPECT_EQ(store_.State(conn()).Int("foreign"), 4);
}

TEST_F(JobStoreTest, CommitOfTheLastTaskFinishesTheJobAndCountersMatch) {
  Start({{"/d/a.csv", csv::ByteRange{}}});
  JobState s = store_.State(conn());
  auto plan = store_.ReadPlan(conn(), 1);
  JobStore::Entries n = store_.ReadNew(conn(), "w", 0, s.View(), plan);
  ASSERT_EQ(n.tasks.size(), 1u);
  WordTable t(16);
  t.AddUnpadded("x", 3);
  t.AddUnpadded("y", 1);
  JobStore::CommitResult r = store_.Commit(conn(), kId, n.tasks, t);
  EXPECT_TRUE(r.accepted);
  s = store_.State(conn());
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.Int("distinct"), 2);
  EXPECT_EQ(s.Int("words"), 4);
  EXPECT_EQ(store_.DistinctWords(conn()), 2);
  // A commit of another job id changes nothing.
  EXPECT_THROW(store_.Commit(conn(), "ffffffffffffffffffffffffffffffff", n.tasks, t),
               redis::RedisReplyError);
}

// Recovery (issue 12): a stolen entry of a task that is already finished is acknowledged as a
// duplicate without being counted again; an unfinished one is left to be done.
TEST_F(JobStoreTest, AnEntryOfAFinishedTaskIsAcknowledgedWithoutCounts) {
  for (Mode mode : {Mode::kDirect, Mode::kShuffle}) {
    SCOPED_TRACE(ToString(mode));
    conn().Command({"FLUSHALL"});
    Start({{"/d/a.csv", csv::ByteRange{}}, {"/d/b.csv", csv::ByteRange{}}}, mode);
    JobView job = store_.State(conn()).View();
    auto plan = store_.ReadPlan(conn(), 2);
    std::vector<Task> got;
    conn().Command({"XADD", "files", "*", "job", kId, "task", "0"});  // a second entry of task 0
    for (int i = 0; i < 3; ++i)
      got.push_back(store_.ReadNew(conn(), "w", 0, job, plan).tasks.at(0));
    const Task& again = got[2];
    ASSERT_EQ(again.n, 0u);
    EXPECT_FALSE(store_.AckIfFinished(conn(), kId, again));  // task 0 is not finished yet
    EXPECT_EQ(store_.Deliveries(conn(), again.entry), 1);
    WordTable t(16);
    t.AddUnpadded("x", 3);
    if (mode == Mode::kDirect) {
      EXPECT_TRUE(store_.Commit(conn(), kId, {got[0]}, t).accepted);
    } else {
      EXPECT_TRUE(store_.MapDone(conn(), kId, got[0]));
    }
    EXPECT_TRUE(store_.AckIfFinished(conn(), kId, again));
    EXPECT_EQ(store_.Deliveries(conn(), again.entry), 0);  // acknowledged
    JobState s = store_.State(conn());
    EXPECT_EQ(s.Int("done_tasks"), 1);
    EXPECT_EQ(s.state(), mode == Mode::kDirect ? "count" : "map");
    EXPECT_EQ(s.Int("words"), mode == Mode::kDirect ? 3 : 0);
    EXPECT_FALSE(store_.AckIfFinished(conn(), kId, got[1]));  // task 1: still to be done
    EXPECT_EQ(store_.Deliveries(conn(), got[1].entry), 1);
    // Another job's worker is fenced off, and the connection is left out of any transaction.
    conn().Command({"XADD", "files", "*", "job", kId, "task", "0"});
    Task third = store_.ReadNew(conn(), "w", 0, job, plan).tasks.at(0);
    EXPECT_THROW(store_.AckIfFinished(conn(), "ffffffffffffffffffffffffffffffff", third),
                 redis::RedisReplyError);
    EXPECT_EQ(conn().Command({"PING"}).str(), "PONG");
    EXPECT_EQ(store_.Deliveries(conn(), third.entry), 1);
  }
}

// Regression (chaos, AOF): a stolen publish task (n = 0) was taken for map task 0, whose bit was
// set: wc_map_done refused the entry and the worker exited 4.
TEST_F(JobStoreTest, OnlyPlanTasksAreAcknowledgedAsFinished) {
  Start({{"/d/a.csv", csv::ByteRange{}}}, Mode::kShuffle);
  JobView job = store_.State(conn()).View();
  auto plan = store_.ReadPlan(conn(), 1);
  Task map = store_.ReadNew(conn(), "w", 0, job, plan).tasks.at(0);
  ASSERT_TRUE(store_.MapDone(conn(), kId, map));  // task 0's bit set; the reduce phase began
  for (const char* kind : {"part", "publish"}) {
    conn().Command({"XADD", "files", "*", "job", kId, kind, "0"});
  }
  std::vector<Task> later;
  for (int i = 0; i < 4; ++i)
    for (Task& t : store_.ReadNew(conn(), "w", 0, job, plan).tasks) later.push_back(t);
  int checked = 0;
  for (const Task& t : later) {
    if (t.kind != Task::Kind::kReduce && t.kind != Task::Kind::kPublish) continue;
    ++checked;
    EXPECT_FALSE(store_.AckIfFinished(conn(), kId, t));
    EXPECT_EQ(store_.Deliveries(conn(), t.entry), 1);  // still pending: the caller does it
  }
  EXPECT_GE(checked, 2);
}

TEST_F(JobStoreTest, BeginOnKeysHeldByALiveJobIsBusy) {
  Start({{"/d/a.csv", csv::ByteRange{}}});
  JobIdentity other{.digest = "cd34", .tasks = 1};
  BeginResult b =
      store_.Begin(conn(), "11111111111111111111111111111111", other, "you", 10000, false, {});
  EXPECT_EQ(b.kind, BeginResult::Kind::kBusy);
  EXPECT_EQ(b.id, kId);
  EXPECT_EQ(b.owner, "me");
  EXPECT_GT(b.lease_left_ms, 0);
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

TEST_F(JobStoreTest, ReadCountsIsEveryCountInCountsFileOrderAcrossPages) {
  // More than one page (100,000 members), ties in both orders, binary members.
  std::vector<std::string> args{"ZADD", "count"};
  for (int i = 0; i < 150001; ++i) {
    args.push_back(std::to_string(1 + i % 7));
    args.push_back("w" + std::to_string(i));
  }
  args.insert(args.end(), {"3", std::string("\0x", 2), "3", "\xff", "3", ""});
  conn().Command(args);
  ResultCounts r = store_.ReadCounts(conn());
  std::vector<WordCount> want = r.sorted;
  SortCounts(want);
  ASSERT_EQ(r.sorted.size(), 150004u);
  EXPECT_TRUE(r.sorted == want);
  EXPECT_EQ(r.sorted.front().count, 7u);
  EXPECT_EQ(r.pages.size(), 2u);
  conn().Command({"DEL", "count"});
  EXPECT_TRUE(store_.ReadCounts(conn()).sorted.empty());
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

// The plan descriptor carries the file's whole stamp (ctime and inode too, so that a file renamed
// over with the same size and mtime is another file); an older descriptor without them, or one
// with a malformed number, is refused (no Redis needed: the codec alone).
TEST(DescriptorTest, RoundTripsTheStampAndRefusesOlderOrMalformedOnes) {
  PlannedTask t{
      "/d/x,y|z.csv", csv::ByteRange{5, 9},
      FileStamp{.size = 9, .mtime_ns = -1, .ctime_ns = 17, .inode = 12345678901234567890u}};
  EXPECT_EQ(Descriptor(t), "5-9,9,-1,17,12345678901234567890|/d/x,y|z.csv");
  auto back = ParseDescriptor(Descriptor(t));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->path, t.path);
  EXPECT_EQ(back->range, t.range);
  EXPECT_EQ(back->stamp, t.stamp);
  for (const char* bad : {",9,1|/a.csv", ",9,1,2|/a.csv", ",9,1,2,3,4|/a.csv", ",9,1,2,-3|/a.csv",
                          ",9,1,x,3|/a.csv", "5-9,9,1,2|/a.csv", ",9,1,2,3|"}) {
    EXPECT_FALSE(ParseDescriptor(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace wc::job

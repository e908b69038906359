// mylib.lua through real FCALL on a real redis-server.
#include "redis/functions.h"

#include <gtest/gtest.h>

#include "redis_fixture.h"

namespace wc::redis {
namespace {

class FunctionsTest : public testing::RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    LoadFunctions(conn());
    conn().Command({"XGROUP", "CREATE", "files", "worker", "0", "MKSTREAM"});
  }
  // Adds a task and delivers it to consumer `who`; returns its id.
  std::string Deliver(const std::string& who = "w1") {
    std::string id(conn().Command({"XADD", "files", "*", "fname", "x.csv"}).str());
    Reply r = conn().Command(
        {"XREADGROUP", "GROUP", "worker", who, "COUNT", "1", "STREAMS", "files", ">"});
    EXPECT_EQ(r[0][1][0][0].str(), id);
    return id;
  }
  Reply Commit(const Args& ids, const Args& word_counts) {
    Args args{"worker", std::to_string(ids.size())};
    args.insert(args.end(), ids.begin(), ids.end());
    args.insert(args.end(), word_counts.begin(), word_counts.end());
    return FCall(conn(), "wc_commit_v1", {"files", "count"}, args);
  }
  std::string Score(const std::string& w) {
    Reply r = conn().Command({"ZSCORE", "count", w});
    return r.is_nil() ? "nil" : std::string(r.str());
  }
  int64_t Pending() { return conn().Command({"XPENDING", "files", "worker"})[0].integer(); }
};

TEST_F(FunctionsTest, CommitAcknowledgesThenIncrements) {
  std::string id = Deliver();
  Reply r = Commit({id}, {"the", "3", "", "2", "a b\n\x01", "1"});
  EXPECT_EQ(r[0].integer(), 1);
  EXPECT_EQ(r[1].integer(), 3);
  EXPECT_EQ(Score("the"), "3");
  EXPECT_EQ(Score(""), "2");
  EXPECT_EQ(Score("a b\n\x01"), "1");
  EXPECT_EQ(Pending(), 0);
  std::string id2 = Deliver();
  Commit({id2}, {"the", "4"});
  EXPECT_EQ(Score("the"), "7");
}

TEST_F(FunctionsTest, SameCommitSentTwiceCountsOnce) {
  std::string id = Deliver();
  EXPECT_EQ(Commit({id}, {"w", "5"})[0].integer(), 1);
  Reply again = Commit({id}, {"w", "5"});
  EXPECT_EQ(again[0].integer(), 0);
  EXPECT_EQ(again[1].str(), id);
  EXPECT_EQ(Score("w"), "5");
}

TEST_F(FunctionsTest, StolenTaskCommittedByThiefRejectsTheZombiesCommit) {
  std::string id = Deliver("zombie");
  conn().Command({"XCLAIM", "files", "worker", "thief", "0", id});
  EXPECT_EQ(Commit({id}, {"w", "1"})[0].integer(), 1);  // the thief
  EXPECT_EQ(Commit({id}, {"w", "1"})[0].integer(), 0);  // the zombie, late
  EXPECT_EQ(Score("w"), "1");
}

TEST_F(FunctionsTest, BatchIsAllOrNothing) {
  std::string a = Deliver(), b = Deliver();
  EXPECT_EQ(Commit({a}, {"x", "1"})[0].integer(), 1);
  Reply r = Commit({a, b}, {"x", "10", "y", "10"});
  EXPECT_EQ(r[0].integer(), 0);
  EXPECT_EQ(r[1].str(), a);
  EXPECT_EQ(Score("x"), "1");
  EXPECT_EQ(Score("y"), "nil");
  EXPECT_EQ(Pending(), 1);  // b was not acknowledged
  EXPECT_EQ(Commit({b}, {"y", "2"})[0].integer(), 1);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(FunctionsTest, BadArgumentsChangeNothing) {
  std::string id = Deliver();
  for (const char* bad : {"0", "-1", "1.5", "abc", "", "1e3", "1234567890123456"}) {
    EXPECT_THROW(Commit({id}, {"ok", "1", "w", bad}), RedisReplyError) << bad;
  }
  EXPECT_THROW(Commit({id}, {"w"}), RedisReplyError);
  EXPECT_THROW(FCall(conn(), "wc_commit_v1", {"files", "count"}, {"worker", "x", id}),
               RedisReplyError);
  EXPECT_EQ(Pending(), 1);
  EXPECT_EQ(Score("ok"), "nil");
  EXPECT_EQ(Commit({id}, {"w", "2"})[0].integer(), 1);
}

// Regression: a batch naming one task twice passed the pending check twice, then acknowledged
// the batch without applying its counts.
TEST_F(FunctionsTest, RepeatedTaskIdIsRejectedBeforeAnyWrite) {
  std::string a = Deliver(), b = Deliver();
  EXPECT_THROW(Commit({a, b, a}, {"w", "1"}), RedisReplyError);
  EXPECT_EQ(Pending(), 2);
  EXPECT_EQ(Score("w"), "nil");
  EXPECT_EQ(Commit({a, b}, {"w", "1"})[0].integer(), 1);
}

TEST_F(FunctionsTest, ManyWordsBeyondLuaUnpackLimit) {
  std::string id = Deliver();
  Args wc;
  for (int i = 0; i < 20000; ++i) {
    wc.push_back("w" + std::to_string(i));
    wc.push_back(std::to_string(i + 1));
  }
  EXPECT_EQ(Commit({id}, wc)[1].integer(), 20000);
  EXPECT_EQ(conn().Command({"ZCARD", "count"}).integer(), 20000);
  EXPECT_EQ(Score("w19999"), "20000");
}

TEST_F(FunctionsTest, MissingFunctionIsLoadedAgain) {
  std::string id = Deliver();
  conn().Command({"FUNCTION", "FLUSH"});
  EXPECT_EQ(Commit({id}, {"w", "1"})[0].integer(), 1);
}

TEST_F(FunctionsTest, FailRecordsTheErrorOnce) {
  std::string id = Deliver();
  EXPECT_EQ(
      FCall(conn(), "wc_fail_v1", {"files", "files:failed"}, {"worker", id, "bad.csv:3: boom"})
          .integer(),
      1);
  EXPECT_EQ(
      FCall(conn(), "wc_fail_v1", {"files", "files:failed"}, {"worker", id, "again"}).integer(), 0);
  EXPECT_EQ(conn().Command({"HGET", "files:failed", id}).str(), "bad.csv:3: boom");
}

TEST_F(FunctionsTest, ProgressNeedsEverythingDeliveredAndNothingPending) {
  const Args keys{"files", "files:failed", "files:job", "files:maps", "files:redo", "files:blocked"};
  auto progress = [&] { return FCall(conn(), "wc_progress_v3", keys, {"worker"}); };
  conn().Command({"XADD", "files", "*", "fname", "a"});
  EXPECT_EQ(progress()[2].integer(), 0);  // not delivered yet
  conn().Command({"XREADGROUP", "GROUP", "worker", "w", "STREAMS", "files", ">"});
  Reply p = progress();
  EXPECT_EQ(p[0].integer(), 1);
  EXPECT_EQ(p[1].integer(), 1);
  EXPECT_EQ(p[2].integer(), 1);
  EXPECT_EQ(p[4].integer(), 0);  // not done: pending
  EXPECT_EQ(p[5].str(), "direct");
  std::string id(conn().Command({"XRANGE", "files", "-", "+"})[0][0].str());
  conn().Command({"XACK", "files", "worker", id});
  EXPECT_EQ(progress()[4].integer(), 1);
  Args missing = keys;
  missing[0] = "nostream";
  EXPECT_THROW(FCall(conn(), "wc_progress_v3", missing, {"worker"}), RedisReplyError);
}

}  // namespace
}  // namespace wc::redis

namespace wc::redis {
namespace {

// A checkpoint taken before FUNCTION LOAD: after the restart the function is missing and FCall
// loads it again.
TEST_F(FunctionsTest, RestoreOfCheckpointTakenBeforeTheFunctionWasLoaded) {
  std::string id = Deliver();
  conn().Command({"FUNCTION", "FLUSH"});
  conn().Command({"SAVE"});
  LoadFunctions(conn());
  server().Kill();
  server().Start();
  Connection c(server().connect_options());
  Reply r = FCall(c, "wc_commit_v1", {"files", "count"}, {"worker", "1", id, "w", "3"});
  EXPECT_EQ(r[0].integer(), 1);
  EXPECT_EQ(c.Command({"ZSCORE", "count", "w"}).str(), "3");
}

// A checkpoint taken before a commit: after the restart the task is pending again and its
// commit applies once more, exactly once.
TEST_F(FunctionsTest, RestoreOfCheckpointTakenBeforeACommitRedoesItOnce) {
  std::string id = Deliver();
  conn().Command({"SAVE"});
  EXPECT_EQ(Commit({id}, {"w", "2"})[0].integer(), 1);
  server().Kill();
  server().Start();
  conn_ = std::make_unique<Connection>(server().connect_options());
  EXPECT_EQ(Score("w"), "nil");
  EXPECT_EQ(Pending(), 1);
  EXPECT_EQ(Commit({id}, {"w", "2"})[0].integer(), 1);
  EXPECT_EQ(Commit({id}, {"w", "2"})[0].integer(), 0);
  EXPECT_EQ(Score("w"), "2");
}

// A checkpoint taken before the group existed: the stream commands fail with NOGROUP, which
// callers treat as "the job is being re-created" (see job/redis_session.h).
TEST_F(FunctionsTest, RestoreOfCheckpointTakenBeforeTheGroupExisted) {
  conn().Command({"DEL", "files"});
  conn().Command({"SAVE"});
  conn().Command({"XGROUP", "CREATE", "files", "worker", "0", "MKSTREAM"});
  server().Kill();
  server().Start();
  Connection c(server().connect_options());
  try {
    c.Command({"XREADGROUP", "GROUP", "worker", "w", "STREAMS", "files", ">"});
    FAIL();
  } catch (const RedisReplyError& e) {
    EXPECT_EQ(e.prefix(), "NOGROUP");
  }
  try {
    FCall(c, "wc_progress_v3", {"files", "f:failed", "f:job", "f:maps", "f:redo", "f:blocked"},
          {"worker"});
    FAIL();
  } catch (const RedisReplyError& e) {
    EXPECT_EQ(e.prefix(), "NOSTREAM");
  }
}

}  // namespace
}  // namespace wc::redis

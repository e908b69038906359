#include "job/redis_session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "job/redis_supervisor.h"
#include "redis/redis_server.h"
#include "redis/sentinel_cluster.h"
#include "redis_fixture.h"

namespace wc::job {
namespace {

TEST(RetryClockTest, TroubleBecomesUnavailableOnlyAfterTheLimitWithoutSuccess) {
  RetryClock clock(std::chrono::milliseconds(50));
  EXPECT_TRUE(clock.Trouble("a"));
  EXPECT_FALSE(clock.Trouble("b"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  clock.Ok();  // a success in between starts the clock again
  EXPECT_TRUE(clock.Trouble("c"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_THROW(clock.Trouble("d"), RedisUnavailable);
}

TEST(RedisSessionTest, GivesUpAfterTheLimitCallingTheHookBetweenAttempts) {
  int hooks = 0;
  RedisSession s(SessionOptions{.redis = redis::ConnectOptions{.port = redis::FreeLoopbackPort()},
                                .retry_for = std::chrono::milliseconds(300),
                                .between_attempts = [&] { ++hooks; }});
  try {
    s.Run([](redis::Connection& c) { return c.Command({"PING"}); });
    ADD_FAILURE() << "no error";
  } catch (const RedisUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("Redis unavailable"), std::string::npos);
  }
  EXPECT_GE(hooks, 2);
}

class RedisSessionServerTest : public testing::RedisTest {};

TEST_F(RedisSessionServerTest, HookCanBringRedisBackAndTheCallSucceeds) {
  redis::ConnectOptions o = server().connect_options();
  server().Kill();
  RedisSession s(SessionOptions{
      .redis = o, .retry_for = std::chrono::milliseconds(10000), .between_attempts = [&] {
        if (!server().Running()) server().Start();
      }});
  EXPECT_EQ(s.Run([](redis::Connection& c) { return std::string(c.Command({"PING"}).str()); }),
            "PONG");
}

// An external Redis restarted under the coordinator: its new run_id, seen through the session's
// on_connect hook, is a restart seen (issue 12: the summary said 0).
TEST_F(RedisSessionServerTest, ARestartOfAnExternalServerIsSeenOnReconnect) {
  RedisSupervisor external(
      SupervisorOptions{.external_url = redis::ToUrl(server().connect_options())});
  int connects = 0, new_servers = 0;
  SessionOptions options;
  options.redis = external.connect_options();
  options.retry_for = std::chrono::milliseconds(10000);
  options.on_connect = [&](redis::Connection& c) {
    ++connects;
    new_servers += external.Connected(c);
  };
  RedisSession s(options);
  auto ping = [](redis::Connection& c) { return std::string(c.Command({"PING"}).str()); };
  EXPECT_EQ(s.Run(ping), "PONG");
  EXPECT_EQ(s.Run(ping), "PONG");
  EXPECT_EQ(connects, 1);
  EXPECT_EQ(new_servers, 0);  // the first server is no restart
  server().Kill();
  server().Start();  // same port
  EXPECT_EQ(s.Run(ping), "PONG");
  EXPECT_EQ(connects, 2);
  EXPECT_EQ(new_servers, 1);
  EXPECT_EQ(external.seen_restarts(), 1);
  EXPECT_EQ(external.generation(), 1);
  EXPECT_EQ(external.forced_restarts() + external.unplanned_restarts(), 0);
}

TEST_F(RedisSessionServerTest, MissingJobIsRetriedOnlyWhenAsked) {
  redis::RedisReplyError nogroup("NOGROUP no such key");
  EXPECT_TRUE(RedisSession(SessionOptions{.retry_missing_job = true}).Retryable(nogroup));
  EXPECT_FALSE(RedisSession(SessionOptions{}).Retryable(nogroup));
  EXPECT_TRUE(RedisSession(SessionOptions{}).Retryable(redis::RedisReplyError("LOADING x")));
  RedisSession s(SessionOptions{.redis = server().connect_options()});
  EXPECT_THROW(s.Run([](redis::Connection& c) {
    return c.Command({"XINFO", "GROUPS", "nostream"});
  }),
               redis::RedisReplyError);
}

// A worker's wait for a task (XREADGROUP BLOCK 100 ms, again and again) on the primary of a
// replicated Redis, first ended by the server before it ran, with UNBLOCKED (as turning a
// primary into a replica by hand - REPLICAOF, FAILOVER - ends it; here CLIENT UNBLOCK ... ERROR),
// then across a failover with the old primary still up (SENTINEL FAILOVER: it refuses writes
// with NOREPLICAS once its replicas follow the new one, until Sentinel turns it into a replica
// and closes its clients' connections). Each time the session asks Sentinel again and the
// entry written on the (new) primary is read; the failover is counted once, by the session and
// by the supervisor that watches its connections (--sentinel: a failover seen, not a restart).
TEST(RedisSessionHaTest, AWaitingWorkerFollowsAnUnblockAndAFailoverWithTheOldPrimaryUp) {
  using std::chrono::milliseconds;
  wc::testing::TempDir dir;
  redis::SentinelCluster cluster({.dir = dir.path() + "/ha", .down_after = milliseconds(60000)});
  RedisSupervisor watch(SupervisorOptions{.external_sentinel = cluster.sentinel_options()});
  SessionOptions o{.redis = cluster.base_options(),
                   .sentinel = cluster.sentinel_options(),
                   .retry_for = milliseconds(30000)};
  o.on_connect = [&](redis::Connection& c) { watch.Connected(c); };
  RedisSession s(o);
  s.Run([](redis::Connection& c) {
    return c.Command({"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"});
  });
  ASSERT_EQ(cluster.Primary(), 0);
  std::atomic<int64_t> client{0};
  auto read = [&] {
    return std::async(std::launch::async, [&] {
      std::string value;
      while (value.empty()) {
        value = s.Run([&](redis::Connection& c) {
          client = c.Command({"CLIENT", "ID"}).integer();
          redis::Reply r = c.Command(
              {"XREADGROUP", "GROUP", "g", "w", "COUNT", "1", "BLOCK", "100", "STREAMS", "s", ">"});
          return r.is_nil() ? std::string() : std::string(r[0][1][0][1][1].str());
        });
      }
      return value;
    });
  };
  // Writes an entry on the primary, if it is not node `not_on`, once it takes writes (NOREPLICAS
  // until Sentinel has given a new primary its replicas); returns the primary's node.
  auto add = [&](const std::string& value, int not_on) {
    auto deadline = std::chrono::steady_clock::now() + milliseconds(30000);
    while (std::chrono::steady_clock::now() < deadline) {
      int p = cluster.Primary();
      try {
        if (p >= 0 && p != not_on) {
          redis::Connection(cluster.node(static_cast<size_t>(p)).connect_options())
              .Command({"XADD", "s", "*", "f", value});
          return p;
        }
      } catch (const redis::RedisReplyError& e) {
        EXPECT_EQ(e.prefix(), "NOREPLICAS");
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return -1;
  };

  auto first = read();
  redis::Connection primary(cluster.node(0).connect_options());
  int64_t unblocked = 0;
  for (int i = 0; i < 1000 && unblocked == 0; ++i) {
    if (client != 0)
      unblocked =
          primary.Command({"CLIENT", "UNBLOCK", std::to_string(client.load()), "ERROR"}).integer();
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(unblocked, 1);
  ASSERT_EQ(add("one", -1), 0);
  ASSERT_EQ(first.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(first.get(), "one");
  EXPECT_EQ(s.failovers(), 0);

  auto second = read();
  redis::Connection(cluster.sentinel(0).connect_options())
      .Command({"SENTINEL", "FAILOVER", "wordcount"});
  ASSERT_GT(add("two", 0), 0) << "no failover";
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(second.get(), "two");
  EXPECT_EQ(s.failovers(), 1);
  EXPECT_EQ(watch.failovers(), 1);
  EXPECT_EQ(watch.seen_restarts(), 0);
  cluster.KillAll();  // nothing to keep: no graceful stop
}

}  // namespace
}  // namespace wc::job

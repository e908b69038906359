#include "job/redis_session.h"

#include <gtest/gtest.h>

#include "job/redis_supervisor.h"
#include "redis/redis_server.h"
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

}  // namespace
}  // namespace wc::job

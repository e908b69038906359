#include "job/redis_session.h"

#include <gtest/gtest.h>

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

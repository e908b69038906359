#include "job/worker_options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>

#include "util/error.h"

namespace wc::job {
namespace {

TEST(WorkerOptionsTest, ArgvRoundTripKeepsEverySetting) {
  WorkerOptions o;
  o.redis = redis::ParseRedisUrl("redis://10.1.2.3:7000");
  o.name = "w 7";
  o.crash = true;
  o.stream = "in";
  o.job = "0123456789abcdef0123456789abcdef";
  o.wait = std::chrono::milliseconds(1500);
  o.keep_going = true;
  o.spill_root = "/spill";
  o.claim_idle = std::chrono::milliseconds(1234);
  o.commit_max_words = 77;
  o.commit_max_tasks = 5;
  o.max_deliveries = 9;
  o.redis_retry = std::chrono::milliseconds(2500);
  o.logfile = "/tmp/x.log";
  o.quiet = true;
  WorkerOptions back = FromArgv(ToArgv(o));
  EXPECT_EQ(back.redis.host, "10.1.2.3");
  EXPECT_EQ(back.redis.port, 7000);
  EXPECT_EQ(back.name, o.name);
  EXPECT_TRUE(back.crash);
  EXPECT_FALSE(back.slow);
  EXPECT_EQ(back.stream, "in");
  EXPECT_EQ(back.job, o.job);
  EXPECT_EQ(back.wait.count(), 1500);
  EXPECT_TRUE(back.keep_going);
  EXPECT_EQ(back.spill_root, "/spill");
  EXPECT_EQ(back.claim_idle.count(), 1234);
  EXPECT_EQ(back.commit_max_words, 77u);
  EXPECT_EQ(back.commit_max_tasks, 5u);
  EXPECT_EQ(back.max_deliveries, 9);
  EXPECT_EQ(back.redis_retry.count(), 2500);
  EXPECT_EQ(back.logfile, "/tmp/x.log");
  EXPECT_TRUE(back.quiet);
}

TEST(WorkerOptionsTest, PasswordNeverOnTheCommandLine) {
  WorkerOptions o;
  o.redis = redis::ParseRedisUrl("redis://:s3cret@127.0.0.1:6000");
  for (const auto& a : ToArgv(o)) EXPECT_EQ(a.find("s3cret"), std::string::npos) << a;
  ::setenv(kPasswordEnv, "s3cret", 1);
  WorkerOptions back = FromArgv(ToArgv(o));
  TakePasswordFromEnvironment(back.redis);
  ::unsetenv(kPasswordEnv);
  EXPECT_EQ(back.redis.password, "s3cret");
}

TEST(WorkerOptionsTest, SentinelsRoundTripWithoutThePassword) {
  WorkerOptions o;
  o.sentinel = SentinelOptionsFrom("127.0.0.1:26379,10.0.0.2:26380", "wc");
  o.redis.password = "s3cret";
  std::vector<std::string> argv = ToArgv(o);
  for (const auto& a : argv) EXPECT_EQ(a.find("s3cret"), std::string::npos) << a;
  ::setenv(kPasswordEnv, "s3cret", 1);
  // Sentinels alone are enough: no --redis.
  argv.erase(argv.begin(), argv.begin() + 2);
  ASSERT_EQ(std::count(argv.begin(), argv.end(), "--redis"), 0);
  WorkerOptions back = FromArgv(argv);
  ::unsetenv(kPasswordEnv);
  EXPECT_EQ(back.redis.password, "s3cret");
  ASSERT_EQ(back.sentinel.sentinels.size(), 2u);
  EXPECT_EQ(back.sentinel.sentinels[1], (redis::HostPort{"10.0.0.2", 26380}));
  EXPECT_EQ(back.sentinel.master_name, "wc");
  EXPECT_THROW(FromArgv({"--sentinel", "127.0.0.1:1"}), UsageError);  // no --master-name
  EXPECT_THROW(FromArgv({"--sentinel", "127.0.0.1", "--master-name", "x"}), UsageError);
  EXPECT_THROW(FromArgv({"--name", "w"}), UsageError);  // neither --redis nor --sentinel
}

TEST(WorkerOptionsTest, BadValuesAreUsageErrorsNamingTheFlag) {
  for (auto args : std::vector<std::vector<std::string>>{{"--claim-idle-ms", "0"},
                                                         {"--claim-idle-ms", "9223372036854775807"},
                                                         {"--max-deliveries", "x"},
                                                         {"--redis-retry-seconds", "-1"},
                                                         {"--redis", "http://x"},
                                                         {"--bogus", "1"}}) {
    try {
      FromArgv(args);
      ADD_FAILURE() << args[0] << " accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(args[0] == "--redis" ? "redis://" : args[0]),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace wc::job

#include "job/worker_options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <tuple>

#include "test_util.h"
#include "util/error.h"

namespace wc::job {
namespace {

using testing::UsageErrorOf;

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
  o.redis = redis::ParseRedisUrl("redis://127.0.0.1:6000");
  o.redis.password = "s3cret";
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
  // Sentinels alone are enough: no --redis (given with --sentinel, it is a usage error).
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

// Held-out pass: $WC_REDIS was ignored by `worker` (exit 2, "give --redis URL") although the
// README said it stands for --redis there too. It does, unless --redis or --sentinel is given;
// a bad one is refused naming $WC_REDIS.
TEST(WorkerOptionsTest, WcRedisStandsForAMissingRedisFlag) {
  WorkerOptions o = FromArgv({"--name", "w"}, "redis://h:7");
  EXPECT_EQ(o.redis.host, "h");
  EXPECT_EQ(o.redis.port, 7);
  EXPECT_EQ(FromArgv({"--redis", "redis://g:8"}, "redis://h:7").redis.port, 8);
  o = FromArgv({"--sentinel", "h:2", "--master-name", "m"}, "redis://h:7");
  EXPECT_TRUE(o.sentinel.enabled());
  EXPECT_NE(UsageErrorOf([] {
              FromArgv({"--name", "w"}, "redis://h:7/5");
            }).find("$WC_REDIS: "),
            std::string::npos);
  EXPECT_NE(UsageErrorOf([] {
              FromArgv({"--name", "w"}, "");
            }).find("$WC_REDIS"),
            std::string::npos);  // empty: unset, and the message says it may be set
}

// Held-out pass: --redis with --sentinel/--master-name was accepted (the Sentinels silently
// won); --stream "" got as far as Redis (exit 4, raw "ERR wc: empty stream key"); --name ""
// and --job "" were accepted; a Sentinel in IPv6 brackets became "[[::1]]".
TEST(WorkerOptionsTest, ConflictingOrEmptyFlagsAreUsageErrors) {
  EXPECT_NE(UsageErrorOf([] {
              FromArgv({"--redis", "redis://h:1", "--sentinel", "h:2", "--master-name", "m"});
            }).find("not both"),
            std::string::npos);
  EXPECT_NE(UsageErrorOf([] {
              FromArgv({"--redis", "redis://h:1", "--master-name", "m"});
            }).find("not both"),
            std::string::npos);
  for (const char* flag : {"--stream", "--name", "--job", "--master-name"}) {
    EXPECT_NE(UsageErrorOf([&] {
                FromArgv({"--redis", "redis://h:1", flag, ""});
              }).find(std::string(flag) + " must be a non-empty string"),
              std::string::npos)
        << flag;
  }
  WorkerOptions o = FromArgv({"--sentinel", "[::1]:26379", "--master-name", "m"});
  ASSERT_EQ(o.sentinel.sentinels.size(), 1u);
  EXPECT_EQ(o.sentinel.sentinels[0], (redis::HostPort{"::1", 26379}));
  EXPECT_EQ(FromArgv(ToArgv(o)).sentinel.sentinels, o.sentinel.sentinels);
}

// Held-out pass: ":pw@127.0.0.1:1" was taken as a host name (exit 4, echoed); a URL was too.
TEST(WorkerOptionsTest, SentinelAddressesRefuseSecretsAndUrls) {
  for (const char* list : {":s3cret@127.0.0.1:1", "127.0.0.1:1,u:s3cret@h:2"}) {
    std::string e = UsageErrorOf([&] { SentinelOptionsFrom(list, "m"); });
    EXPECT_NE(e.find("user or password"), std::string::npos) << e;
    EXPECT_NE(e.find("$WC_REDIS_PASSWORD"), std::string::npos) << e;
    EXPECT_EQ(e.find("s3cret"), std::string::npos) << e;
  }
  std::string e = UsageErrorOf([] { SentinelOptionsFrom("redis://127.0.0.1:26379", "m"); });
  EXPECT_NE(e.find("--sentinel takes HOST:PORT[,HOST:PORT...]"), std::string::npos) << e;
  EXPECT_NE(e.find("not a URL"), std::string::npos) << e;
}

TEST(WorkerOptionsTest, BadValuesAreUsageErrorsNamingTheFlag) {
  for (auto args : std::vector<std::vector<std::string>>{{"--claim-idle-ms", "0"},
                                                         {"--claim-idle-ms", "9223372036854775807"},
                                                         {"--max-deliveries", "x"},
                                                         {"--redis-retry-seconds", "-1"},
                                                         {"--redis-retry-seconds", "0"},
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

// Secrets never go on a command line (issue 12): a URL with a password is refused, and the
// message neither echoes the password nor suggests the URL; it names the supported channel.
TEST(RedisOptionsFromUrlTest, RefusesAPasswordOrUserInTheUrl) {
  // Held-out pass: redis://user@host was refused as "holds a password". It names a user (an
  // ACL user, unsupported): said so, still without echoing it (it may be a mistyped password).
  // Held-out pass 2: unix://:pw@/path was accepted (and used over $WC_REDIS_PASSWORD), so were
  // other schemes' and shapes' user information: refused alike.
  for (auto [url, why, shown] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"redis://:s3cret@10.0.0.1:6379", "holds a password: refused",
            "redis://***@10.0.0.1:6379"},
           {"redis://admin:s3cret@10.0.0.1:6379", "names a user and a password: refused",
            "redis://***@10.0.0.1:6379"},
           {"redis://s3cret@10.0.0.1:6379", "names a user: refused", "redis://***@10.0.0.1:6379"},
           {"unix://:s3cret@/tmp/r.sock", "holds a password: refused", "unix://***@/tmp/r.sock"},
           {"unix://:s3@cret@/tmp/r.sock", "holds a password: refused", "unix://***@/tmp/r.sock"},
           {"unix://user:s3cret@/tmp/r.sock", "names a user and a password: refused",
            "unix://***@/tmp/r.sock"},
           {"rediss://:s3cret@h:1", "holds a password: refused", "rediss://***@h:1"},
           {":s3cret@127.0.0.1:1", "holds a password: refused", "***@127.0.0.1:1"},
           {"redis://:s3cret@h:1?x=s3cret", "holds a password: refused", "redis://***@h:1"},
       }) {
    std::string e = UsageErrorOf([&] { RedisOptionsFromUrl(url); });
    EXPECT_NE(e.find(why), std::string::npos) << e;
    EXPECT_NE(e.find("$WC_REDIS_PASSWORD"), std::string::npos) << e;
    EXPECT_EQ(e.find("s3cret"), std::string::npos) << e;
    EXPECT_EQ(e.find("cret"), std::string::npos) << e;
    EXPECT_NE(e.find(shown), std::string::npos) << e;
    EXPECT_TRUE(e.starts_with("--redis: ")) << e;
  }
  // Said where the URL came from: the environment variable is not a command line.
  std::string e = UsageErrorOf([] { RedisOptionsFromUrl("redis://:s3cret@h:1", "$WC_REDIS"); });
  EXPECT_TRUE(e.starts_with("$WC_REDIS: ")) << e;
  EXPECT_EQ(e.find("command line"), std::string::npos) << e;
  EXPECT_NE(RedisOptionsFromUrl("unix:///tmp/a@b.sock").unix_socket.find('@'), std::string::npos);
  // A query string is refused, its value never echoed.
  for (const char* url : {"redis://127.0.0.1:1?password=s3cret", "redis://h:1/?s3cret",
                          "unix:///tmp/r.sock?password=s3cret", "redis://h:1#s3cret"}) {
    std::string q = UsageErrorOf([&] { RedisOptionsFromUrl(url); });
    EXPECT_EQ(q.find("s3cret"), std::string::npos) << q;
    EXPECT_NE(q.find("refused (not shown"), std::string::npos) << q;
  }
  ::setenv(kPasswordEnv, "pw", 1);
  redis::ConnectOptions o = RedisOptionsFromUrl("redis://10.0.0.1:6390");
  ::unsetenv(kPasswordEnv);
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.port, 6390);
}

// "redis://h:p/5" said "bad port". Database 0 only, said so; "/0" and "/" are database 0.
TEST(RedisOptionsFromUrlTest, DatabaseZeroOnlyAndSaysSo) {
  EXPECT_EQ(RedisOptionsFromUrl("redis://h:7000/0").port, 7000);
  EXPECT_EQ(RedisOptionsFromUrl("redis://h:7000/").host, "h");
  EXPECT_EQ(RedisOptionsFromUrl("redis://h/0").port, 6379);
  EXPECT_EQ(UsageErrorOf([] { RedisOptionsFromUrl("redis://h:7000/5"); }),
            "--redis: Redis URL redis://h:7000/5: database 5 is not supported: wordcount keeps "
            "every key in database 0 (keep jobs apart with other IN and COUNT names, or another "
            "Redis)");
  EXPECT_NE(UsageErrorOf([] { RedisOptionsFromUrl("redis://h:7000?db=2"); }).find("query string"),
            std::string::npos);
  EXPECT_NE(UsageErrorOf([] { RedisOptionsFromUrl("redis://h:7000/x/y"); }).find("unexpected"),
            std::string::npos);
  // The worker flag takes the same path.
  EXPECT_NE(UsageErrorOf([] {
              FromArgv({"--redis", "redis://h:1/5"});
            }).find("database 5"),
            std::string::npos);
}

// A worker flag and the config key it mirrors accept the same range, with the same message.
TEST(WorkerOptionsTest, NumericFlagsAreBoundedLikeTheirKeys) {
  EXPECT_EQ(UsageErrorOf([] {
              FromArgv({"--redis", "redis://h:1", "--claim-idle-ms", "0"});
            }),
            "--claim-idle-ms must be an integer from 1 to 86400000, got 0");
  EXPECT_EQ(UsageErrorOf([] {
              FromArgv({"--redis", "redis://h:1", "--max-deliveries", "-1"});
            }),
            "--max-deliveries must be an integer from 1 to 1000, got -1");
  EXPECT_EQ(UsageErrorOf([] {
              FromArgv({"--redis", "redis://h:1", "--redis-retry-seconds", "inf"});
            }),
            "--redis-retry-seconds must be a number of seconds from 1 to 86400, got inf");
}

}  // namespace
}  // namespace wc::job

#include "job/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"
#include "util/error.h"

namespace wc::job {
namespace {

using testing::UsageErrorOf;

class ConfigTest : public ::testing::Test {
 protected:
  // 0600: a config holding REDIS_PASSWORD that others may read is refused.
  JobConfig Load(const std::string& json) {
    std::string path = dir_.Write("config.json", json);
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return LoadConfig(path);
  }
  std::string ErrorOf(const std::string& json) {
    try {
      Load(json);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  }
  testing::TempDir dir_;
};

TEST_F(ConfigTest, DefaultsAndEnums) {
  JobConfig c = Load(R"({"MODE": "shuffle", "PERSISTENCE": "aof", "N_NORMAL_WORKERS": 0,
                         "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0})");
  EXPECT_EQ(c.mode, Mode::kShuffle);
  EXPECT_EQ(c.persistence, Persistence::kAof);
  EXPECT_EQ(c.top, 3);
  EXPECT_EQ(c.n_normal_workers, 0);  // a coordinator for remote workers only
  EXPECT_EQ(c.redis_ha, RedisHa::kNone);
}

// Regression (held-out pass): --config naming a directory exited 70 (internal error); a FIFO
// would block. Both are usage errors naming the file.
TEST_F(ConfigTest, AConfigThatIsNotARegularFileIsAUsageError) {
  for (const std::string& path : {dir_.path(), std::string("/dev/null")}) {
    try {
      LoadConfig(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()), "config file " + path + " is not a regular file");
    }
  }
}

TEST_F(ConfigTest, RedisHaKeys) {
  JobConfig c = Load(R"({"REDIS_HA": "sentinel", "REDIS_REPLICAS": 1,
                         "SENTINEL_DOWN_AFTER_MS": 800})");
  EXPECT_EQ(c.redis_ha, RedisHa::kSentinel);
  EXPECT_EQ(c.redis_replicas, 1);
  EXPECT_EQ(c.sentinel_down_after_ms, 800);
  EXPECT_NE(ErrorOf(R"({"REDIS_HA": "cluster"})").find("REDIS_HA must be \"none\" or \"sentinel\""),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"REDIS_REPLICAS": 0})").find("REDIS_REPLICAS"), std::string::npos);
  EXPECT_EQ(Load(R"({"REDIS_HA": "sentinel", "COMMIT_WAIT_REPLICAS": 2})").commit_wait_replicas, 2);
  EXPECT_NE(ErrorOf(R"({"REDIS_HA": "sentinel", "REDIS_REPLICAS": 1, "COMMIT_WAIT_REPLICAS": 2})")
                .find("COMMIT_WAIT_REPLICAS 2 is more than REDIS_REPLICAS 1"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"COMMIT_WAIT_REPLICAS": 5})").find("COMMIT_WAIT_REPLICAS"),
            std::string::npos);
}

TEST_F(ConfigTest, IntegersNeverWrap) {
  // Regression: 4294967297 became 1 worker, 2147483648 a negative TOP.
  EXPECT_NE(ErrorOf(R"({"N_NORMAL_WORKERS": 4294967297})").find("N_NORMAL_WORKERS"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"TOP": 2147483648})").find("'TOP' must be an integer from 0 to"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"CLAIM_IDLE_MS": 9223372036854775807})").find("CLAIM_IDLE_MS"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"CHUNK_BYTES": 18446744073709551615})").find("CHUNK_BYTES"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"REDIS_DOWNTIME": 1e300})").find("REDIS_DOWNTIME"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"PARTITIONS": 4097})").find("PARTITIONS"), std::string::npos);
  EXPECT_EQ(Load(R"({"PARTITIONS": 4096})").partitions, 4096);
}

TEST_F(ConfigTest, BadValuesNameTheKey) {
  EXPECT_NE(ErrorOf(R"({"MODE": "magic"})").find("MODE must be \"direct\" or \"shuffle\""),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"PERSISTENCE": "disk"})").find("PERSISTENCE must be"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"CHECKPOINT_INTERVL": 2})").find("unknown config key"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"N_NORMAL_WORKERS": "five"})").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[1]").find("JSON object"), std::string::npos);
}

// Held-out pass: "LOGFILE": "" silently turned logging off and "STATE_DIR": "" silently meant
// the default; like DATA_PATH and COLUMN, they must name something. Seventh pass: SPILL_DIR and
// REDIS_PASSWORD "" still meant the default: every string key now refuses "".
TEST_F(ConfigTest, PathKeysMustNotBeEmpty) {
  for (const char* key : {"LOGFILE", "STATE_DIR", "DATA_PATH", "COLUMN", "SPILL_DIR",
                          "REDIS_PASSWORD", "IN", "COUNT", "FNAME"}) {
    EXPECT_NE(ErrorOf(fmt::format(R"({{"{}": ""}})", key))
                  .find(fmt::format("config key '{}' must be a non-empty string", key)),
              std::string::npos)
        << key;
  }
  EXPECT_EQ(Load(R"({"LOGFILE": "/tmp/x.log", "STATE_DIR": "/tmp/s"})").state_dir, "/tmp/s");
}

// Held-out pass 19: a "\u0000" in a string value cut it short where it became a key, a path or
// an argument: IN "ff\u0000a" hung the run (workers on stream "ff"), a password's start was shown
// in redis-server's error; a password over 16 KiB was exit 4 after 15 s. Each is exit 2 naming
// the key, the password never shown.
TEST_F(ConfigTest, StringsHoldNoNulAndThePasswordFitsWhatRedisReadsBeforeAuth) {
  for (const char* key : {"LOGFILE", "STATE_DIR", "DATA_PATH", "COLUMN", "SPILL_DIR", "IN", "COUNT",
                          "FNAME", "REDIS_PASSWORD"}) {
    const std::string said = ErrorOf(fmt::format(R"({{"{}": "secret-ab\u0000cd"}})", key));
    EXPECT_NE(said.find(fmt::format("config key '{}' must be a string without a NUL byte", key)),
              std::string::npos)
        << said;
    if (std::string(key) == "REDIS_PASSWORD") {
      EXPECT_EQ(said.find("secret"), std::string::npos) << said;
    }
  }
  EXPECT_NE(ErrorOf(R"({"REDIS_ARGS": ["--maxmemory", "1\u0000"]})").find("without a NUL byte"),
            std::string::npos);
  const std::string max(16384, 'p');
  EXPECT_EQ(Load(fmt::format(R"({{"REDIS_PASSWORD": "{}"}})", max)).redis_password, max);
  const std::string said = ErrorOf(fmt::format(R"({{"REDIS_PASSWORD": "{}q"}})", max));
  EXPECT_NE(said.find("'REDIS_PASSWORD' must be at most 16384 bytes long, got (not shown)"),
            std::string::npos)
      << said.substr(0, 300);
}

// Held-out pass 20: the JSON reader's message quoted the text it read last: a password with a
// syntax error after it was shown; an unknown key holding a NUL cut the message there.
TEST_F(ConfigTest, ASyntaxErrorNeverShowsTheTextAndAKeyIsEscaped) {
  for (const char* text :
       {R"({"REDIS_PASSWORD": "hunter2SECRET)", "{\"REDIS_PASSWORD\": \"hunter2SECRET\tx\"}",
        R"({"REDIS_PASSWORD": "hunter2SECRET\q"})", R"({"REDIS_PASSWORD": hunter2SECRET})"}) {
    const std::string said = ErrorOf(text);
    EXPECT_NE(said.find("is not valid JSON"), std::string::npos) << said;
    EXPECT_EQ(said.find("hunter"), std::string::npos) << said;
  }
  const std::string said = ErrorOf(R"({"N_NORMAL_WORKERS\u0000\u001b[31m": 1})");
  EXPECT_NE(said.find("unknown config key 'N_NORMAL_WORKERS\\x00\\x1b[31m'"), std::string::npos)
      << said;
}

TEST_F(ConfigTest, CountMustNotBeAKeyOfTheTaskStream) {
  // Regression: IN equal to COUNT ended the job with WRONGTYPE (exit 4).
  EXPECT_NE(ErrorOf(R"({"IN": "x", "COUNT": "x"})").find("COUNT \"x\" collides"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"IN": "x", "COUNT": "x:job"})").find("collides"), std::string::npos);
  EXPECT_EQ(Load(R"({"IN": "x", "COUNT": "y"})").count, "y");
  // Held-out pass 18: IN naming COUNT's own key (COUNT:holder) was exit 7 after Redis started.
  EXPECT_NE(ErrorOf(R"({"IN": "count:holder"})").find("collides with the key count:holder"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"IN": "y:holder", "COUNT": "y"})").find("collides with the key y:holder"),
            std::string::npos);
  // Regression: FNAME "job" reached Redis and ended the run with exit 4.
  EXPECT_NE(ErrorOf(R"({"FNAME": "job"})").find("FNAME must not be"), std::string::npos);
  // Held-out pass 23: "publish" (the publish entry's field) made every task foreign: a hang.
  for (const char* field : {"task", "part", "publish"})
    EXPECT_NE(ErrorOf(fmt::format(R"({{"FNAME": "{}"}})", field)).find("FNAME must not be"),
              std::string::npos)
        << field;
}

// Issue 12 (held-out pass): REDIS_RESTART_INTERVAL 0.001 was accepted and livelocked the job
// (Redis crashed again before any worker reconnected: a client's backoff is capped at 1 s).
TEST_F(ConfigTest, RestartIntervalIsOffOrAtLeastOneSecond) {
  EXPECT_EQ(ErrorOf(R"({"REDIS_RESTART_INTERVAL": 0.001})"),
            dir_.path() +
                "/config.json: config key 'REDIS_RESTART_INTERVAL' must be 0 (off) or a number of "
                "seconds from 1 to 86400, got 0.001");
  EXPECT_EQ(Load(R"({"REDIS_RESTART_INTERVAL": 0})").redis_restart_interval, 0);
  EXPECT_EQ(Load(R"({"REDIS_RESTART_INTERVAL": 1})").redis_restart_interval, 1);
  EXPECT_EQ(Load(R"({"REDIS_RESTART_INTERVAL": 2})").redis_restart_interval, 2);  // the lab's
}

// A planned downtime as long as everyone's retry made every worker give up at the first
// forced crash (exit 4 after REDIS_RETRY_SECONDS).
TEST_F(ConfigTest, ClientsMustOutwaitAPlannedDowntime) {
  EXPECT_NE(ErrorOf(R"({"REDIS_RESTART_INTERVAL": 2, "REDIS_DOWNTIME": 3600})")
                .find("REDIS_RETRY_SECONDS (60) must be at least REDIS_DOWNTIME + 1 (3601)"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"REDIS_RESTART_INTERVAL": 2, "REDIS_RETRY_SECONDS": 0.5})")
                .find("REDIS_RETRY_SECONDS"),
            std::string::npos);
  // Without forced crashes the downtime is never used.
  EXPECT_EQ(Load(R"({"REDIS_DOWNTIME": 3600})").redis_downtime, 3600);
  EXPECT_EQ(Load(R"({"REDIS_RESTART_INTERVAL": 2, "REDIS_DOWNTIME": 1, "REDIS_RETRY_SECONDS": 2})")
                .redis_retry_seconds,
            2);
}

// Held-out pass 12: REDIS_RETRY_SECONDS 0 was accepted; `run` and `worker` then retried a stopped
// server forever while `status` and `top` gave a healthy one no time to answer (exit 4).
TEST_F(ConfigTest, RetrySecondsIsAtLeastOne) {
  for (const char* v : {"0", "0.5", "86401"}) {
    EXPECT_NE(ErrorOf(std::string(R"({"REDIS_RETRY_SECONDS": )") + v + "}")
                  .find("'REDIS_RETRY_SECONDS' must be a number of seconds from 1 to 86400"),
              std::string::npos)
        << v;
  }
  EXPECT_EQ(Load(R"({"REDIS_RETRY_SECONDS": 1})").redis_retry_seconds, 1);
}

TEST_F(ConfigTest, LocalWorkersAreBoundedOneByOneAndTogether) {
  EXPECT_NE(ErrorOf(R"({"N_NORMAL_WORKERS": 100000})")
                .find("'N_NORMAL_WORKERS' must be an integer from 0 to 256, got 100000"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"N_NORMAL_WORKERS": 200, "N_SLEEPING_WORKERS": 99})")
                .find("must be at most 256 local workers, got 301"),
            std::string::npos);
}

// REDIS_ARGS must not take over what the supervisor owns: --dir /tmp left a dump.rdb there.
TEST_F(ConfigTest, RedisArgsMayNotSetWhatTheSupervisorOwns) {
  for (const char* d : {"dir", "dbfilename", "appenddirname", "port", "bind", "unixsocket",
                        "requirepass", "masterauth", "aclfile", "include", "save", "appendonly",
                        "replicaof", "logfile", "daemonize", "rename-command", "user"}) {
    std::string e =
        ErrorOf(fmt::format(R"({{"REDIS_ARGS": ["--maxmemory", "1gb", "--{}", "x"]}})", d));
    EXPECT_NE(e.find(fmt::format("REDIS_ARGS: --{} is set by wordcount", d)), std::string::npos)
        << e;
  }
  EXPECT_NE(ErrorOf(R"({"REDIS_ARGS": ["--DIR", "/tmp"]})").find("--dir is set"),
            std::string::npos);  // names are case-insensitive for redis-server
  // A directive and its value in one string would be read as such by redis-server.
  EXPECT_NE(ErrorOf(R"({"REDIS_ARGS": ["--maxmemory 1gb"]})").find("not a --directive name"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"REDIS_ARGS": ["--x\ndir /tmp", "1"]})").find("not a --directive name"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"REDIS_ARGS": ["/etc/redis.conf"]})").find("must start with a --directive"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"REDIS_ARGS": ["--maxmemory", "1gb", "-"]})").find("standard input"),
            std::string::npos);
  // A value that looks like a directive is a value (redis-server reads it so).
  JobConfig c = Load(R"({"REDIS_ARGS": ["--maxmemory-policy", "--dir", "--hz", "20", "30"]})");
  EXPECT_EQ(c.redis_args.size(), 5u);
  EXPECT_EQ(Load(R"({"REDIS_ARGS": ["--rdb-key-save-delay", "100000"]})").redis_args.size(), 2u);
}

// Held-out pass: a key given twice silently took its last value, and a NUL byte made the
// reader ignore everything after it (the run went on with defaults). Both are usage errors
// naming the file (and the key).
TEST_F(ConfigTest, DuplicateKeysAndNulBytesAreRefused) {
  std::string e = UsageErrorOf([&] { Load(R"({"TOP": 3, "TOP": 5})"); });
  EXPECT_NE(e.find("config.json: config key 'TOP' is given more than once"), std::string::npos)
      << e;
  e = UsageErrorOf([&] { Load(R"({"REDIS_ARGS": ["--x", "1"], "TOP": 2, "REDIS_ARGS": []})"); });
  EXPECT_NE(e.find("'REDIS_ARGS' is given more than once"), std::string::npos) << e;
  e = UsageErrorOf([&] { Load(std::string("{\"TOP\":3}\0garbage", 17)); });
  EXPECT_NE(e.find("config.json is not valid JSON: a NUL byte at offset 9"), std::string::npos)
      << e;
  e = UsageErrorOf([&] { Load(std::string("{\"TOP\":3,\0\"MODE\":\"x\"}", 21)); });
  EXPECT_NE(e.find("a NUL byte at offset 9"), std::string::npos) << e;
  EXPECT_EQ(Load(R"({"TOP": 3, "MODE": "shuffle"})").top, 3);
}

TEST_F(ConfigTest, AMissingConfigFileIsNamedWithTheReason) {
  EXPECT_THROW(LoadConfig(dir_.path() + "/none.json"), UsageError);
  try {
    LoadConfig(dir_.path() + "/none.json");
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read config file " + dir_.path() + "/none.json: No such file or directory");
  }
}

}  // namespace
}  // namespace wc::job

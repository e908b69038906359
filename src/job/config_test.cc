#include "job/config.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "util/error.h"

namespace wc::job {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  JobConfig Load(const std::string& json) { return LoadConfig(dir_.Write("config.json", json)); }
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

TEST_F(ConfigTest, CountMustNotBeAKeyOfTheTaskStream) {
  // Regression: IN equal to COUNT ended the job with WRONGTYPE (exit 4).
  EXPECT_NE(ErrorOf(R"({"IN": "x", "COUNT": "x"})").find("COUNT \"x\" collides"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"IN": "x", "COUNT": "x:job"})").find("collides"), std::string::npos);
  EXPECT_EQ(Load(R"({"IN": "x", "COUNT": "y"})").count, "y");
  // Regression: FNAME "job" reached Redis and ended the run with exit 4.
  EXPECT_NE(ErrorOf(R"({"FNAME": "job"})").find("FNAME must not be"), std::string::npos);
}

}  // namespace
}  // namespace wc::job

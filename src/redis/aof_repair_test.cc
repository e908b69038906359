// The AOF tail repair against a real redis-server: a function's effects torn in the middle of
// their MULTI/EXEC block are never half applied, across two restarts (Redis 7.0 alone applies
// the torn half on the second one).
#include "redis/aof_repair.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "redis/redis_server.h"
#include "redis/sentinel_cluster.h"
#include "test_util.h"

namespace wc::redis {
namespace {

std::string IncrFile(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir + "/appendonlydir"))
    if (e.path().string().ends_with(".incr.aof")) return e.path().string();
  return "";
}

// What `key` holds after a torn block, restart, write, kill and restart again (below).
struct Outcome {
  std::string torn_key;  // written by the torn block: must stay absent
  std::string later;     // written after the first restart: must survive the second
  bool started = true;
};

// The server that is killed and started again: a single one, or node 0 of a replicated Redis
// started again as its primary (as a rerun of the job, or a restart without a failover, does).
struct Single {
  RedisServer s;
  RedisServer& node() { return s; }
  void Start() { s.Start(); }
};
struct Replicated {
  SentinelCluster c;
  RedisServer& node() { return c.node(0); }
  void Start() { c.Start(0, -1); }
};

// A call of two writes; a primary takes it once a replica is back (NOREPLICAS until then).
void Eval(RedisServer& server, const std::string& script) {
  for (int attempt = 0;; ++attempt) {
    try {
      Connection(server.connect_options()).Command({"EVAL", script, "0"});
      return;
    } catch (const RedisReplyError& e) {
      if (e.prefix() != "NOREPLICAS" || attempt > 200) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

// A server with AOF, a function call of two writes, killed; then the tail of the file is torn
// inside a second call's block (as a SIGKILL during its write leaves it). Restarted, written,
// killed and restarted again.
template <class Nodes>
Outcome TornBlockTwoRestarts(Nodes& n) {
  RedisServer& server = n.node();
  Eval(server, "redis.call('SET', 'a', '1'); redis.call('SET', 'b', '1')");
  server.Kill();
  {
    // The block of a second call, torn after its first command.
    std::ofstream f(IncrFile(server.dir()), std::ios::app | std::ios::binary);
    f << "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$"
         "1\r\nb";
  }
  Outcome out;
  try {
    n.Start();
    Eval(server, "redis.call('SET', 'later', '1'); redis.call('SET', 'c', '1')");
    server.Kill();
    n.Start();
    Connection c(server.connect_options());
    Reply torn = c.Command({"GET", "torn"}), later = c.Command({"GET", "later"});
    out.torn_key = torn.is_nil() ? "" : std::string(torn.str());
    out.later = later.is_nil() ? "" : std::string(later.str());
  } catch (const std::runtime_error&) {
    out.started = false;
  }
  return out;
}

const std::vector<std::string> kAof = {"--appendonly", "yes", "--appendfsync", "always"};

Outcome TornBlockTwoRestarts(bool repair) {
  wc::testing::TempDir tmp;
  Single single{
      RedisServer({.dir = tmp.path() + "/r", .extra_args = kAof, .repair_aof_tail = repair})};
  return TornBlockTwoRestarts(single);
}

TEST(AofRepairTest, ATornBlockIsNeverHalfAppliedAndLaterWritesSurvive) {
  Outcome o = TornBlockTwoRestarts(/*repair=*/true);
  ASSERT_TRUE(o.started);
  EXPECT_EQ(o.torn_key, "");
  EXPECT_EQ(o.later, "1");
}

// The reason for the repair: without it Redis 7.0 does not keep both promises (this documents
// the server's behaviour; if a fixed Redis keeps them, the repair is merely redundant).
TEST(AofRepairTest, WithoutTheRepairRedisBreaksOneOfThem) {
  Outcome o = TornBlockTwoRestarts(/*repair=*/false);
  EXPECT_TRUE(!o.started || o.torn_key == "1" || o.later != "1")
      << "this redis-server handles a torn block itself";
}

// The nodes of the embedded replicated Redis (REDIS_HA sentinel) with AOF get the same repair:
// node 0 started again as the primary from its own torn AOF (Sentinels slow to act here, so
// that no failover comes between).
TEST(AofRepairTest, ANodeOfAReplicatedRedisStartedAsThePrimaryIsRepairedToo) {
  wc::testing::TempDir tmp;
  Replicated ha{SentinelCluster({.dir = tmp.path() + "/ha",
                                 .down_after = std::chrono::milliseconds(60000),
                                 .extra_args = kAof,
                                 .repair_aof_tail = true})};
  Outcome o = TornBlockTwoRestarts(ha);
  ASSERT_TRUE(o.started);
  EXPECT_EQ(o.torn_key, "");
  EXPECT_EQ(o.later, "1");
  EXPECT_TRUE(ha.node().last_repair().checked);
  ha.c.KillAll();  // nothing to keep: no graceful stop
}

TEST(AofRepairTest, NoAofIsNothingToDoAndAWholeFileIsLeftAlone) {
  wc::testing::TempDir tmp;
  EXPECT_FALSE(RepairAofTail(tmp.path()).checked);
  RedisServerOptions o{.dir = tmp.path() + "/r", .extra_args = {"--appendonly", "yes"}};
  RedisServer server(o);
  Connection(server.connect_options()).Command({"SET", "k", "v"});
  server.Stop();
  auto size = std::filesystem::file_size(IncrFile(o.dir));
  AofRepair r = RepairAofTail(o.dir);
  EXPECT_TRUE(r.checked);
  EXPECT_FALSE(r.truncated) << r.report;
  EXPECT_EQ(std::filesystem::file_size(IncrFile(o.dir)), size);
}

TEST(AofRepairTest, AMissingToolIsAClearError) {
  wc::testing::TempDir tmp;
  std::filesystem::create_directories(tmp.path() + "/appendonlydir");
  std::ofstream(tmp.path() + "/appendonlydir/appendonly.aof.manifest") << "x";
  EXPECT_THROW(RepairAofTail(tmp.path(), "no-such-redis-check-aof"), std::runtime_error);
}

}  // namespace
}  // namespace wc::redis

// The AOF tail repair against a real redis-server: a function's effects torn in the middle of
// their MULTI/EXEC block are never half applied, across two restarts (Redis 7.0 alone applies
// the torn half on the second one).
#include "redis/aof_repair.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "redis/redis_server.h"
#include "test_util.h"

namespace wc::redis {
namespace {

std::string IncrFile(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir + "/appendonlydir"))
    if (e.path().string().ends_with(".incr.aof")) return e.path().string();
  return "";
}

// A server with AOF, a function call of two writes, killed; then the tail of the file is torn
// inside a second call's block (as a SIGKILL during its write leaves it). Returns what `key`
// holds after restart, write, kill and restart again.
struct Outcome {
  std::string torn_key;  // written by the torn block: must stay absent
  std::string later;     // written after the first restart: must survive the second
  bool started = true;
};

Outcome TornBlockTwoRestarts(bool repair) {
  wc::testing::TempDir tmp;
  RedisServerOptions o{.dir = tmp.path() + "/r",
                       .extra_args = {"--appendonly", "yes", "--appendfsync", "always"},
                       .repair_aof_tail = repair};
  RedisServer server(o);
  {
    Connection c(server.connect_options());
    c.Command({"EVAL", "redis.call('SET', 'a', '1'); redis.call('SET', 'b', '1')", "0"});
  }
  server.Kill();
  {
    // The block of a second call, torn after its first command.
    std::ofstream f(IncrFile(o.dir), std::ios::app | std::ios::binary);
    f << "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$"
         "1\r\nb";
  }
  Outcome out;
  try {
    server.Start();
    {
      Connection c(server.connect_options());
      c.Command({"EVAL", "redis.call('SET', 'later', '1'); redis.call('SET', 'c', '1')", "0"});
    }
    server.Kill();
    server.Start();
    Connection c(server.connect_options());
    Reply torn = c.Command({"GET", "torn"}), later = c.Command({"GET", "later"});
    out.torn_key = torn.is_nil() ? "" : std::string(torn.str());
    out.later = later.is_nil() ? "" : std::string(later.str());
  } catch (const std::runtime_error&) {
    out.started = false;
  }
  return out;
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

// The shuffle-mode functions of mylib.lua (phases, lost map outputs) through real FCALL on a
// real redis-server, with the keys laid out as the coordinator creates them.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "redis/functions.h"
#include "redis_fixture.h"

namespace wc::redis {
namespace {

const Args kKeys{"files", "files:failed", "files:job", "files:maps", "files:redo", "files:blocked"};

class ShuffleFunctionsTest : public testing::RedisTest {
 protected:
  // A shuffle job of 3 map tasks (map 2 is a byte range) and 2 partitions, as CreateJob makes it.
  void SetUp() override {
    RedisTest::SetUp();
    LoadFunctions(conn());
    conn().Command({"XGROUP", "CREATE", "files", "worker", "0", "MKSTREAM"});
    conn().Command({"HSET", "files:job", "mode", "shuffle", "phase", "map", "maps", "3", "parts",
                    "2", "spill", "job-1", "fname", "fname"});
    for (int m = 0; m < 3; ++m) {
      std::string path = "/d/f" + std::to_string(m) + ".csv";
      Args add{"XADD", "files",           "*",     "fname", path,    "kind", "map",
               "map",  std::to_string(m), "parts", "2",     "spill", "job-1"};
      if (m == 2) {
        add.push_back("range");
        add.push_back("10-20");
      }
      conn().Command(add);
      conn().Command({"HSET", "files:maps", std::to_string(m), (m == 2 ? "10-20|" : "|") + path});
    }
    conn().Command({"HSET", "files:job", "tasks", "3"});
  }

  // Delivers every undelivered entry to `who`; returns (id, fields) of each.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> DeliverAll(
      const std::string& who = "w") {
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> out;
    Reply r = conn().Command({"XREADGROUP", "GROUP", "worker", who, "STREAMS", "files", ">"});
    if (r.is_nil()) return out;
    for (size_t i = 0; i < r[0][1].size(); ++i) {
      Reply e = r[0][1][i];
      std::map<std::string, std::string> f;
      for (size_t k = 0; k + 1 < e[1].size(); k += 2)
        f[std::string(e[1][k].str())] = e[1][k + 1].str();
      out.emplace_back(std::string(e[0].str()), f);
    }
    return out;
  }
  int64_t Call(const std::string& fn, const Args& args) {
    return FCall(conn(), fn, kKeys, args).integer();
  }
  Reply Progress() { return FCall(conn(), "wc_progress_v3", kKeys, {"worker"}); }
  bool Done() { return Progress()[4].integer() == 1; }
  std::string Phase() { return std::string(Progress()[5].str()); }
  int64_t Card(const std::string& key) { return conn().Command({"SCARD", key}).integer(); }

  // Runs the map phase: every map task delivered and acknowledged, reduce tasks added.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> MapPhase() {
    auto maps = DeliverAll();
    EXPECT_EQ(maps.size(), 3u);
    for (const auto& [id, f] : maps)
      EXPECT_EQ(Call("wc_map_done_v1", {"worker", id, f.at("map")}), 1);
    EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), 1);
    auto reduces = DeliverAll();
    EXPECT_EQ(reduces.size(), 2u);
    return reduces;
  }
};

TEST_F(ShuffleFunctionsTest, ReduceTasksComeOnlyAfterEveryMapAndOnlyOnce) {
  EXPECT_EQ(Phase(), "map");
  auto maps = DeliverAll();
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), -1);  // all pending
  EXPECT_EQ(Call("wc_map_done_v1", {"worker", maps[0].first, "0"}), 1);
  EXPECT_EQ(Call("wc_map_done_v1", {"worker", maps[0].first, "0"}), 0);  // twice: no-op
  EXPECT_EQ(Call("wc_map_done_v1", {"worker", maps[1].first, "1"}), 1);
  EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), -1);
  EXPECT_FALSE(Done());  // everything acknowledged so far, but the reduce phase has not run
  EXPECT_EQ(Call("wc_map_done_v1", {"worker", maps[2].first, "2"}), 1);
  EXPECT_FALSE(Done());
  EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), 1);
  EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), 0);
  EXPECT_EQ(Phase(), "reduce");
  auto reduces = DeliverAll();
  ASSERT_EQ(reduces.size(), 2u);
  for (size_t r = 0; r < 2; ++r) {
    const auto& f = reduces[r].second;
    EXPECT_EQ(f.at("kind"), "reduce");
    EXPECT_EQ(f.at("part"), std::to_string(r));
    EXPECT_EQ(f.at("maps"), "3");
    EXPECT_EQ(f.at("parts"), "2");
    EXPECT_EQ(f.at("spill"), "job-1");
  }
  EXPECT_EQ(FCall(conn(), "wc_commit_v1", {"files", "count"}, {"worker", "1", reduces[0].first})[0]
                .integer(),
            1);
  EXPECT_FALSE(Done());
  FCall(conn(), "wc_commit_v1", {"files", "count"}, {"worker", "1", reduces[1].first});
  EXPECT_TRUE(Done());
}

TEST_F(ShuffleFunctionsTest, LostMapOutputIsRedoneOnceAndBlockedReducesComeBack) {
  auto reduces = MapPhase();
  // Both reducers find map 2's output lost; the first sends it back.
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", reduces[0].first, "0", "3", "2", "checksum"}), 1);
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", reduces[1].first, "1", "3", "2", "missing"}), 1);
  EXPECT_EQ(Card("files:blocked"), 2);
  EXPECT_EQ(Card("files:redo"), 1);
  EXPECT_FALSE(Done());
  auto redo = DeliverAll();
  ASSERT_EQ(redo.size(), 1u);  // one map task, not two
  const auto& f = redo[0].second;
  EXPECT_EQ(f.at("fname"), "/d/f2.csv");
  EXPECT_EQ(f.at("range"), "10-20");
  EXPECT_EQ(f.at("kind"), "map");
  EXPECT_EQ(f.at("map"), "2");
  EXPECT_EQ(f.at("parts"), "2");
  EXPECT_EQ(f.at("spill"), "job-1");
  // A zombie reducer reporting the same loss for an acknowledged reduce task changes nothing.
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", reduces[0].first, "0", "3", "2", "late"}), 0);
  EXPECT_EQ(Call("wc_map_done_v1", {"worker", redo[0].first, "2"}), 1);
  EXPECT_EQ(Card("files:blocked"), 0);
  EXPECT_EQ(Card("files:redo"), 0);
  auto again = DeliverAll();
  ASSERT_EQ(again.size(), 2u);
  std::set<std::string> parts{again[0].second.at("part"), again[1].second.at("part")};
  EXPECT_EQ(parts, (std::set<std::string>{"0", "1"}));
  EXPECT_FALSE(Done());
  for (const auto& [id, _] : again)
    FCall(conn(), "wc_commit_v1", {"files", "count"}, {"worker", "1", id});
  EXPECT_TRUE(Done());
}

TEST_F(ShuffleFunctionsTest, AMapThatFailedForGoodIsSkippedNotRedone) {
  auto maps = DeliverAll();
  EXPECT_EQ(Call("wc_map_fail_v1", {"worker", maps[1].first, "1", "/d/f1.csv:7: bad quote"}), 1);
  EXPECT_EQ(conn().Command({"HGET", "files:failed", maps[1].first}).str(),
            "/d/f1.csv:7: bad quote");
  Call("wc_map_done_v1", {"worker", maps[0].first, "0"});
  Call("wc_map_done_v1", {"worker", maps[2].first, "2"});
  EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), 1);
  auto reduces = DeliverAll();
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", reduces[0].first, "0", "3", "1", "missing"}), 2);
  EXPECT_EQ(conn().Command({"XPENDING", "files", "worker"})[0].integer(), 2);  // still pending
  EXPECT_TRUE(DeliverAll().empty());
}

TEST_F(ShuffleFunctionsTest, OutputLostTooOftenIsRecordedAsFailedAndTheReduceGoesOn) {
  auto reduces = MapPhase();
  // max_redos 1: the first loss is redone, the second gives up.
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", reduces[0].first, "0", "1", "0", "lost"}), 1);
  auto redo = DeliverAll();
  ASSERT_EQ(redo.size(), 1u);
  EXPECT_EQ(Call("wc_map_done_v1", {"worker", redo[0].first, "0"}), 1);
  auto back = DeliverAll();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", back[0].first, "0", "1", "0", "lost again"}), 1);
  std::string why(conn().Command({"HGET", "files:failed", "map:0"}).str());
  EXPECT_NE(why.find("/d/f0.csv"), std::string::npos) << why;
  EXPECT_NE(why.find("lost again"), std::string::npos) << why;
  auto last = DeliverAll();  // the reduce comes back at once, no map task
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].second.at("kind"), "reduce");
  EXPECT_EQ(Call("wc_redo_maps_v1", {"worker", last[0].first, "0", "1", "0", "x"}), 2);
}

TEST_F(ShuffleFunctionsTest, AFailedRedoUnblocksTheReduces) {
  auto reduces = MapPhase();
  Call("wc_redo_maps_v1", {"worker", reduces[1].first, "1", "3", "1", "lost"});
  auto redo = DeliverAll();
  ASSERT_EQ(redo.size(), 1u);
  EXPECT_EQ(Call("wc_map_fail_v1", {"worker", redo[0].first, "1", "file vanished"}), 1);
  auto back = DeliverAll();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].second.at("part"), "1");
}

TEST_F(ShuffleFunctionsTest, BadArgumentsChangeNothing) {
  auto reduces = MapPhase();
  for (const Args& bad : std::vector<Args>{{"worker", reduces[0].first, "0", "3"},
                                           {"worker", reduces[0].first, "0", "3", "9", "no map 9"},
                                           {"worker", reduces[0].first, "0", "3", "x", "bad"},
                                           {"worker", reduces[0].first, "zero", "3", "1", "r"},
                                           {"worker", reduces[0].first, "0", "3", "1"}}) {
    EXPECT_THROW(Call("wc_redo_maps_v1", bad), RedisReplyError);
  }
  EXPECT_THROW(Call("wc_map_done_v1", {"worker", reduces[0].first}), RedisReplyError);
  EXPECT_THROW(Call("wc_map_fail_v1", {"worker", reduces[0].first, "m", "x"}), RedisReplyError);
  EXPECT_EQ(conn().Command({"XPENDING", "files", "worker"})[0].integer(), 2);
  EXPECT_EQ(Card("files:blocked"), 0);
  EXPECT_EQ(conn().Command({"XLEN", "files"}).integer(), 5);
}

TEST_F(ShuffleFunctionsTest, DirectJobsAreNeverInAMapPhase) {
  conn().Command({"DEL", "files:job"});
  EXPECT_EQ(Call("wc_start_reduce_v1", {"worker"}), 0);
  EXPECT_EQ(Phase(), "direct");
}

}  // namespace
}  // namespace wc::redis

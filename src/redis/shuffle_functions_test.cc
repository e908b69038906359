// mylib.lua, library v3 (spec/protocol.md plus the publish phase), shuffle mode: map phase,
// reduce phase, publish phase (one RESTORE, or ZADD when RESTORE is refused), lost map outputs
// sent back to be redone, through real FCALL on a real redis-server.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "functions_fixture.h"
#include "redis/functions.h"
#include "redis/zset_dump.h"

namespace wc::redis {
namespace {

// ---- test-only helpers (the shared ones are in tests/functions_fixture.h) ----

// The arguments of wc_job_begin_v4: by default 3 map tasks (map 2 a byte range), 2 partitions.
struct Job {
  std::string id = kId, digest = "d1", owner = "host=a pid=1", lease_ms = "60000", mode = "shuffle",
              group = "worker", replace = "0";
  int tasks = 3, parts = 2;
  std::string spill = "job-1", fname = "fname", column = "text";
};

using Fields = std::map<std::string, std::string>;

class ShuffleFunctionsTest : public FunctionsFixture {
 protected:
  // Begins, plans and starts job j.
  void Create(const Job& j = {}) {
    Reply b = Call("wc_job_begin_v4",
                   {j.id, j.digest, j.owner, j.lease_ms, j.mode, j.group, j.replace,
                    std::to_string(j.tasks), std::to_string(j.parts), j.spill, j.fname, j.column});
    ASSERT_EQ(b[0].str(), "created");
    std::string epoch = std::to_string(b[2].integer());
    if (j.tasks > 0) {
      Args add{j.id, epoch, "0"};
      for (int n = 0; n < j.tasks; ++n) add.push_back(Desc(n));
      ASSERT_EQ(Call("wc_job_add_v4", add).integer(), j.tasks);
    }
    Call("wc_job_start_v4", {j.id, epoch});
  }
  // {0/1, state} replies as "1 reduce".
  static std::string Pair(const Reply& r) {
    return std::to_string(r[0].integer()) + " " + std::string(r[1].str());
  }
  std::string MapDone(const std::string& entry, int m) {
    return Pair(Call("wc_map_done_v4", {kId, entry, std::to_string(m)}));
  }
  std::string ReduceDone(const std::string& entry, int r, const std::string& distinct = "0",
                         const std::string& total = "0", const std::string& run = "") {
    return Pair(Call("wc_reduce_done_v4", {kId, entry, std::to_string(r), distinct, total,
                                           run.empty() ? "run" + std::to_string(r) : run}));
  }
  std::string Publish(const std::string& entry, const std::string& distinct,
                      const std::string& total, const std::string& how, const std::string& payload,
                      const std::string& id = kId) {
    return Pair(Call("wc_publish_v4", {id, entry, distinct, total, how, payload}));
  }
  // Runs the reduce phase of the default job with partition 0 = {a 5, b 3}, 1 = {c 4} (as the
  // records say; the runs are opaque to Redis); returns the publish entry.
  Entry ReducePhase() {
    auto reduces = MapPhase();
    EXPECT_EQ(ReduceDone(reduces[0].id, 0, "2", "8"), "1 reduce");
    EXPECT_EQ(ReduceDone(reduces[1].id, 1, "1", "4"), "1 publish");
    auto publish = Deliver();
    EXPECT_EQ(publish.size(), 1u);
    return publish.empty() ? Entry{} : publish[0];
  }
  int64_t Redo(const std::string& entry, int r, int max_redos, const Args& maps_reasons) {
    Args a{kId, entry, std::to_string(r), std::to_string(max_redos)};
    a.insert(a.end(), maps_reasons.begin(), maps_reasons.end());
    return Call("wc_redo_maps_v4", a).integer();
  }
  // Creates the default job and runs its map phase; returns the reduce entries (part 0, 1).
  std::vector<Entry> MapPhase() {
    Create();
    auto maps = Deliver();
    EXPECT_EQ(maps.size(), 3u);
    for (int m = 0; m < 3; ++m) MapDone(maps[m].id, m);
    auto reduces = Deliver();
    EXPECT_EQ(reduces.size(), 2u);
    return reduces;
  }
};

bool StartsWith(const std::string& s, const std::string& prefix) { return s.starts_with(prefix); }

Fields ReduceFields(int r) { return {{"job", kId}, {"part", std::to_string(r)}}; }
Fields MapFields(int m) { return {{"fname", Path(m)}, {"job", kId}, {"task", std::to_string(m)}}; }

// ---- map phase ----

// The attack pass: `--replace` over an unfinished shuffle job left that job's spill directory
// behind forever; begin now names it so that the new coordinator removes it.
TEST_F(ShuffleFunctionsTest, BeginOverAReplacedJobNamesItsSpillDirectory) {
  Create({.lease_ms = "1"});
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // its lease expires
  Reply b = Call("wc_job_begin_v4", {kOtherId, "d2", "o", "60000", "shuffle", "worker", "1", "3",
                                     "2", "job-2", "fname", "text"});
  ASSERT_EQ(b[0].str(), "created");
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[3].str(), "job-1");
}

TEST_F(ShuffleFunctionsTest, MapTaskEntriesCarryPathJobAndTaskNumber) {
  Create();
  EXPECT_EQ(Field("state"), "map");
  auto maps = Deliver();
  ASSERT_EQ(maps.size(), 3u);
  for (int m = 0; m < 3; ++m) EXPECT_EQ(maps[m].f, MapFields(m));
  EXPECT_EQ(conn().Command({"HGET", "files:plan", "2"}).str(), Desc(2));
}

TEST_F(ShuffleFunctionsTest, LastMapDoneAddsExactlyRReduceEntriesAndSetsReduceInTheSameCall) {
  Create();
  auto maps = Deliver();
  EXPECT_EQ(MapDone(maps[0].id, 0), "1 map");
  EXPECT_EQ(MapDone(maps[1].id, 1), "1 map");
  EXPECT_EQ(Len(), 3);
  EXPECT_EQ(Field("state"), "map");
  EXPECT_EQ(MapDone(maps[2].id, 2), "1 reduce");
  EXPECT_EQ(Field("state"), "reduce");
  EXPECT_EQ(Field("done_tasks"), "3");
  EXPECT_EQ(Len(), 5);
  auto reduces = Deliver();
  ASSERT_EQ(reduces.size(), 2u);
  EXPECT_EQ(reduces[0].f, ReduceFields(0));
  EXPECT_EQ(reduces[1].f, ReduceFields(1));
  Snapshot before = Snap();
  EXPECT_EQ(MapDone(maps[2].id, 2), "0 reduce");  // a late duplicate
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, SecondEntryOfAFinishedMapIsAcknowledgedButChangesNothing) {
  Create();
  auto maps = Deliver();
  MapDone(maps[0].id, 0);
  std::string forged = Add({"fname", Path(0), "job", kId, "task", "0"});
  Deliver();
  EXPECT_EQ(MapDone(forged, 0), "0 map");
  EXPECT_EQ(Pending(), 2);
  EXPECT_EQ(Field("done_tasks"), "1");
  EXPECT_EQ(Len(), 4);  // no reduce entries
}

TEST_F(ShuffleFunctionsTest, MapDoneChecksJobMapAndEntryBeforeWriting) {
  Create();
  auto maps = Deliver();
  Snapshot before = Snap();
  EXPECT_TRUE(StartsWith(Err("wc_map_done_v4", {kOtherId, maps[0].id, "0"}), "STALEJOB "));
  EXPECT_TRUE(StartsWith(Err("wc_map_done_v4", {kId, maps[0].id, "3"}), "ERR wc: bad task number"));
  EXPECT_TRUE(StartsWith(Err("wc_map_done_v4", {kId, maps[1].id, "0"}), "ERR wc: entry "));
  EXPECT_TRUE(StartsWith(Err("wc_map_done_v4", {kId, maps[0].id}), "ERR wc: expected "));
  EXPECT_TRUE(StartsWith(Err("wc_commit_v4", {kId, "1", maps[0].id, "0", "w", "1"}),
                         "BADSTATE job " + kId + " is map, not count"));
  EXPECT_TRUE(StartsWith(Err("wc_publish_write_v4", {kId, "1", "w"}), "BADSTATE "));
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, LastMapFailingStartsTheReducePhase) {
  Create();
  auto maps = Deliver();
  MapDone(maps[0].id, 0);
  MapDone(maps[1].id, 1);
  EXPECT_EQ(Call("wc_fail_v4", {kId, maps[2].id, "2", "/d/f2.csv:7: bad quote"}).integer(), 1);
  EXPECT_EQ(conn().Command({"HGET", "files:failed", "task:2"}).str(), "/d/f2.csv:7: bad quote");
  EXPECT_EQ(Field("failed_tasks"), "1");
  EXPECT_EQ(Field("state"), "reduce");
  auto reduces = Deliver();
  ASSERT_EQ(reduces.size(), 2u);
  EXPECT_EQ(reduces[1].f, ReduceFields(1));
}

TEST_F(ShuffleFunctionsTest, StartWithNoMapsStartsTheReducePhaseAtOnce) {
  Call("wc_job_begin_v4",
       {kId, "d1", "o", "60000", "shuffle", "worker", "0", "0", "3", "job-1", "fname", "text"});
  EXPECT_EQ(Call("wc_job_start_v4", {kId, "1"}).str(), "reduce");
  EXPECT_EQ(Field("state"), "reduce");
  auto reduces = Deliver();
  ASSERT_EQ(reduces.size(), 3u);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(reduces[r].f, ReduceFields(r));
  EXPECT_EQ(ReduceDone(reduces[0].id, 0), "1 reduce");
  EXPECT_EQ(ReduceDone(reduces[1].id, 1), "1 reduce");
  EXPECT_EQ(ReduceDone(reduces[2].id, 2), "1 done");
}

// ---- reduce phase ----

// The DUMP payload of {a 5, c 4, b 3} (the job's result in ReducePhase), in DUMP order.
std::string ResultPayload() {
  ZsetDumpWriter w;
  w.Add("a", 5);
  w.Add("c", 4);
  w.Add("b", 3);
  return w.Finish();
}

TEST_F(ShuffleFunctionsTest, ReduceDoneKeepsTheRunAndWritesNothingIntoC) {
  auto reduces = MapPhase();
  EXPECT_EQ(ReduceDone(reduces[0].id, 0, "2", "8", std::string("r\0un", 4)), "1 reduce");
  EXPECT_EQ(conn().Command({"HGET", "files:parts", "0"}).str(), std::string("r\0un", 4));
  EXPECT_EQ(conn().Command({"EXISTS", "count"}).integer(), 0);
  EXPECT_EQ(Bit("files:rdone", 0), 1);
  // A second finish of the partition (another entry, or a late duplicate) changes nothing.
  Snapshot before = Snap();
  EXPECT_EQ(ReduceDone(reduces[0].id, 0, "9", "99", "other"), "0 reduce");
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, LastReduceDoneAddsOnePublishEntryInTheSameCall) {
  auto reduces = MapPhase();
  EXPECT_EQ(ReduceDone(reduces[0].id, 0, "2", "8"), "1 reduce");
  EXPECT_EQ(Field("done_parts"), "1");
  EXPECT_EQ(Len(), 5);
  EXPECT_EQ(ReduceDone(reduces[1].id, 1, "1", "4"), "1 publish");
  EXPECT_EQ(Field("state"), "publish");
  EXPECT_EQ(Field("done_parts"), "2");
  EXPECT_EQ(Field("distinct"), "3");
  EXPECT_EQ(Field("words"), "12");
  auto publish = Deliver();
  ASSERT_EQ(publish.size(), 1u);
  EXPECT_EQ(publish[0].f, (Fields{{"job", kId}, {"publish", "1"}}));
  EXPECT_EQ(Field("publish_entry"), publish[0].id);
  // A late finish of a partition in the publish phase: already acknowledged, nothing written.
  Snapshot before = Snap();
  EXPECT_EQ(ReduceDone(reduces[1].id, 1, "1", "4", "r"), "0 publish");
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, ReduceDoneChecksJobPartEntryAndNumbersBeforeWriting) {
  auto reduces = MapPhase();
  Snapshot before = Snap();
  EXPECT_TRUE(StartsWith(Err("wc_reduce_done_v4", {kOtherId, reduces[0].id, "0", "1", "1", "r"}),
                         "STALEJOB "));
  EXPECT_TRUE(StartsWith(Err("wc_reduce_done_v4", {kId, reduces[0].id, "2", "1", "1", "r"}),
                         "ERR wc: bad part"));
  EXPECT_TRUE(StartsWith(Err("wc_reduce_done_v4", {kId, reduces[1].id, "0", "1", "1", "r"}),
                         "ERR wc: entry "));
  EXPECT_TRUE(StartsWith(Err("wc_reduce_done_v4", {kId, reduces[0].id, "0", "x", "1", "r"}),
                         "ERR wc: bad distinct"));
  EXPECT_TRUE(StartsWith(Err("wc_reduce_done_v4", {kId, reduces[0].id, "0", "1", "-1", "r"}),
                         "ERR wc: bad total"));
  EXPECT_TRUE(StartsWith(Err("wc_reduce_done_v4", {kId, reduces[0].id, "0", "1", "1"}),
                         "ERR wc: expected "));
  ExpectUnchanged(before);
}

// ---- publish phase ----

TEST_F(ShuffleFunctionsTest, PublishRestoresTheWholeResultAndEndsTheJob) {
  Entry p = ReducePhase();
  EXPECT_EQ(Publish(p.id, "3", "12", "restore", ResultPayload()), "1 done");
  EXPECT_EQ(Field("state"), "done");
  EXPECT_EQ(Field("publish_how"), "restore");
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(Score("a"), "5");
  EXPECT_EQ(Score("b"), "3");
  EXPECT_EQ(Score("c"), "4");
  EXPECT_EQ(conn().Command({"ZCARD", "count"}).integer(), 3);
  // The runs stay for the coordinator's --out until it releases the job.
  EXPECT_EQ(conn().Command({"HLEN", "files:parts"}).integer(), 2);
  Snapshot before = Snap();
  EXPECT_EQ(Publish(p.id, "3", "12", "restore", ResultPayload()), "0 done");  // late duplicate
  EXPECT_EQ(Call("wc_publish_write_v4", {kId, "9", "zombie"}).integer(), 0);
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, ARefusedPayloadWritesNothingAndTheZaddFallbackFinishes) {
  Entry p = ReducePhase();
  Snapshot before = Snap();
  std::string bad = ResultPayload();
  bad[bad.size() - 1] ^= 1;  // the CRC
  Reply r = Call("wc_publish_v4", {kId, p.id, "3", "12", "restore", bad});
  EXPECT_EQ(r[0].integer(), 2);
  EXPECT_NE(std::string(r[1].str()).find("checksum"), std::string::npos) << r[1].str();
  ExpectUnchanged(before);
  // "written" checks that C holds the job's distinct words first.
  EXPECT_TRUE(StartsWith(Err("wc_publish_v4", {kId, p.id, "3", "12", "written", ""}),
                         "ERR wc: count holds 0 members, the job 3"));
  EXPECT_EQ(Call("wc_publish_write_v4", {kId, "5", "a", "3", "b"}).integer(), 1);
  EXPECT_EQ(Call("wc_publish_write_v4", {kId, "4", "c", "3", "b"}).integer(), 1);  // repeats: same
  EXPECT_EQ(Publish(p.id, "3", "12", "written", ""), "1 done");
  EXPECT_EQ(Field("publish_how"), "written");
  EXPECT_EQ(Score("a"), "5");
  EXPECT_EQ(Score("b"), "3");
  EXPECT_EQ(Score("c"), "4");
}

TEST_F(ShuffleFunctionsTest, AnAclWithoutRestoreIsARefusalNotAnError) {
  Entry p = ReducePhase();
  conn().Command({"ACL", "SETUSER", "default", "-restore"});
  Snapshot before = Snap();
  Reply r = Call("wc_publish_v4", {kId, p.id, "3", "12", "restore", ResultPayload()});
  conn().Command({"ACL", "SETUSER", "default", "+restore"});
  EXPECT_EQ(r[0].integer(), 2);
  EXPECT_NE(std::string(r[1].str()).find("can't run this command"), std::string::npos)
      << r[1].str();
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, PublishChecksJobEntryTotalsAndArgumentsBeforeWriting) {
  Entry p = ReducePhase();
  std::string forged = Add({"job", kId, "publish", "1"});
  Deliver();
  Snapshot before = Snap();
  const std::string ok = ResultPayload();
  EXPECT_TRUE(
      StartsWith(Err("wc_publish_v4", {kOtherId, p.id, "3", "12", "restore", ok}), "STALEJOB "));
  EXPECT_TRUE(StartsWith(Err("wc_publish_v4", {kId, forged, "3", "12", "restore", ok}),
                         "ERR wc: entry " + forged + " is not publish 0"));
  EXPECT_EQ(Err("wc_publish_v4", {kId, p.id, "3", "13", "restore", ok}),
            "ERR wc: publish of 3 distinct / 13 words, but the job recorded 3 / 12");
  EXPECT_TRUE(StartsWith(Err("wc_publish_v4", {kId, p.id, "2", "12", "restore", ok}),
                         "ERR wc: publish of 2 "));
  EXPECT_TRUE(
      StartsWith(Err("wc_publish_v4", {kId, p.id, "3", "12", "zadd", ok}), "ERR wc: bad how"));
  EXPECT_TRUE(StartsWith(Err("wc_publish_v4", {kId, p.id, "3", "12", "restore", ""}),
                         "ERR wc: bad payload"));
  EXPECT_TRUE(
      StartsWith(Err("wc_publish_v4", {kId, p.id, "3", "12", "restore"}), "ERR wc: expected "));
  ExpectUnchanged(before);
  // The forged entry is foreign (only the record's publish entry is the task); the real one is
  // not.
  EXPECT_EQ(Call("wc_foreign_v4", {kId, forged, "forged"}).integer(), 1);
  EXPECT_TRUE(StartsWith(Err("wc_foreign_v4", {kId, p.id, "x"}),
                         "ERR wc: entry " + p.id + " is publish 0"));
}

TEST_F(ShuffleFunctionsTest, APublishEntryBeforeThePublishPhaseIsForeign) {
  auto reduces = MapPhase();
  std::string forged = Add({"job", kId, "publish", "1"});
  Deliver();
  EXPECT_TRUE(
      StartsWith(Err("wc_publish_v4", {kId, forged, "0", "0", "written", ""}), "BADSTATE "));
  EXPECT_EQ(Call("wc_foreign_v4", {kId, forged, "forged"}).integer(), 1);
  EXPECT_TRUE(StartsWith(Err("wc_publish_write_v4", {kId, "1", "w"}), "BADSTATE "));
}

TEST_F(ShuffleFunctionsTest, PublishWriteChecksEveryScoreBeforeTheFirstWrite) {
  ReducePhase();
  Snapshot before = Snap();
  EXPECT_TRUE(StartsWith(Err("wc_publish_write_v4", {kOtherId, "1", "a"}), "STALEJOB "));
  for (const char* bad : {"0", "-1", "1.5", "x", "", "1234567890123456"})
    EXPECT_TRUE(
        StartsWith(Err("wc_publish_write_v4", {kId, "1", "ok", bad, "a"}), "ERR wc: bad score"))
        << bad;
  EXPECT_TRUE(StartsWith(Err("wc_publish_write_v4", {kId, "1"}), "ERR wc: "));
  ExpectUnchanged(before);
  // Regression: a score ZADD refuses (" 5") after 2,000 good pairs wrote the first chunk.
  Args many{kId};
  for (int i = 0; i < 2001; ++i) {
    many.push_back("1");
    many.push_back("w" + std::to_string(i));
  }
  for (const char* bad : {" 5", "5 ", "1e1", "0x10", "1.0"}) {
    Args a = many;
    a.push_back(bad);
    a.push_back("bad");
    EXPECT_TRUE(StartsWith(Err("wc_publish_write_v4", a), "ERR wc: bad score")) << bad;
  }
  ExpectUnchanged(before);
}

// Regression (chaos, AOF): a map entry delivered again in the publish phase got BADSTATE from
// wc_map_done, and its worker re-joined and took the same entry again, forever.
TEST_F(ShuffleFunctionsTest, LateEntriesInThePublishPhaseAreAcknowledgedAndChangeNothingElse) {
  Entry p = ReducePhase();
  std::string map = Add({"fname", Path(1), "job", kId, "task", "1"});
  std::string part = Add({"job", kId, "part", "0"});
  std::string map2 = Add({"fname", Path(2), "job", kId, "task", "2"});
  std::string part2 = Add({"job", kId, "part", "1"});
  Deliver();
  EXPECT_EQ(Pending(), 5);  // the publish entry and the four late ones
  auto before = Progress();
  EXPECT_EQ(MapDone(map, 1), "0 publish");
  EXPECT_EQ(ReduceDone(part, 0, "9", "99", "late run"), "0 publish");
  EXPECT_EQ(Call("wc_fail_v4", {kId, map2, "2", "late failure"}).integer(), 0);
  EXPECT_EQ(Redo(part2, 1, 3, {"0", "lost"}), 0);
  EXPECT_EQ(Pending(), 1);  // only the publish entry
  auto after = Progress();
  for (const char* f : {"state", "done_tasks", "done_parts", "failed_tasks", "distinct", "words"})
    EXPECT_EQ(after[f], before[f]) << f;
  EXPECT_EQ(conn().Command({"HGET", "files:parts", "0"}).str(), "run0");
  // Repeated: not pending any more, nothing written.
  Snapshot snap = Snap();
  EXPECT_EQ(MapDone(map, 1), "0 publish");
  EXPECT_EQ(ReduceDone(part, 0, "9", "99", "late run"), "0 publish");
  ExpectUnchanged(snap);
  // The wrong entry for a task is still an error, nothing written.
  EXPECT_TRUE(StartsWith(Err("wc_map_done_v4", {kId, p.id, "1"}), "ERR wc: entry "));
  EXPECT_EQ(Publish(p.id, "3", "12", "restore", ResultPayload()), "1 done");
}

TEST_F(ShuffleFunctionsTest, ReleaseOfTheDoneJobDropsTheRuns) {
  Entry p = ReducePhase();
  EXPECT_EQ(Publish(p.id, "3", "12", "restore", ResultPayload()), "1 done");
  EXPECT_EQ(Call("wc_job_release_v4", {kId, "1"}).integer(), 1);
  EXPECT_EQ(conn().Command({"EXISTS", "files:parts"}).integer(), 0);
  EXPECT_EQ(conn().Command({"ZCARD", "count"}).integer(), 3);
}

// ---- lost map outputs ----

TEST_F(ShuffleFunctionsTest, RedoSendsALostMapBackOnceAndBlocksThePartitions) {
  auto reduces = MapPhase();
  EXPECT_EQ(Redo(reduces[0].id, 0, 3, {"2", "checksum"}), 1);
  EXPECT_EQ(Bit("files:done", 2), 0);
  EXPECT_EQ(Field("done_tasks"), "2");
  EXPECT_EQ(Field("redos:2"), "1");
  EXPECT_EQ(Pending(), 1);  // the reduce entry of part 0 is acknowledged
  auto redo = Deliver();
  ASSERT_EQ(redo.size(), 1u);
  EXPECT_EQ(redo[0].f, MapFields(2));
  // The other reducer finds the same map lost: its partition waits too, no second map entry.
  EXPECT_EQ(Redo(reduces[1].id, 1, 3, {"2", "missing"}), 1);
  EXPECT_EQ(Field("redos:2"), "1");
  EXPECT_TRUE(Deliver().empty());
  // A zombie reducer reporting the loss again for an acknowledged entry changes nothing.
  Snapshot before = Snap();
  EXPECT_EQ(Redo(reduces[0].id, 0, 3, {"2", "late"}), 0);
  ExpectUnchanged(before);
  EXPECT_EQ(MapDone(redo[0].id, 2), "1 reduce");
  EXPECT_TRUE(Members("files:blocked").empty());
  EXPECT_TRUE(Members("files:redo").empty());
  EXPECT_EQ(Field("done_tasks"), "3");
  auto again = Deliver();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].f, ReduceFields(0));
  EXPECT_EQ(again[1].f, ReduceFields(1));
  EXPECT_EQ(ReduceDone(again[0].id, 0), "1 reduce");
  EXPECT_EQ(ReduceDone(again[1].id, 1), "1 done");
}

TEST_F(ShuffleFunctionsTest, BlockedReduceComesBackOnlyWhenTheLastRedoneMapIsDone) {
  auto reduces = MapPhase();
  EXPECT_EQ(Redo(reduces[0].id, 0, 3, {"0", "lost", "1", "lost", "0", "named twice"}), 1);
  EXPECT_EQ(Field("redos:0"), "1");
  auto redo = Deliver();
  ASSERT_EQ(redo.size(), 2u);
  EXPECT_EQ(MapDone(redo[0].id, 0), "1 reduce");
  EXPECT_TRUE(Deliver().empty());
  EXPECT_EQ(MapDone(redo[1].id, 1), "1 reduce");
  auto back = Deliver();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].f, ReduceFields(0));
  // Partition 1 was never blocked: only the last reduce finishes the job.
  EXPECT_EQ(ReduceDone(back[0].id, 0), "1 reduce");
  EXPECT_EQ(ReduceDone(reduces[1].id, 1), "1 done");
}

TEST_F(ShuffleFunctionsTest, JobIsNotDoneWhileAMapIsRedone) {
  auto reduces = MapPhase();
  EXPECT_EQ(ReduceDone(reduces[1].id, 1), "1 reduce");
  EXPECT_EQ(Redo(reduces[0].id, 0, 3, {"1", "lost"}), 1);
  auto redo = Deliver();
  EXPECT_EQ(Field("state"), "reduce");
  EXPECT_EQ(MapDone(redo[0].id, 1), "1 reduce");
  auto back = Deliver();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(ReduceDone(back[0].id, 0), "1 done");
}

TEST_F(ShuffleFunctionsTest, RedoGivesUpAfterMaxRedosAndTheReduceGoesOn) {
  auto reduces = MapPhase();
  EXPECT_EQ(Redo(reduces[0].id, 0, 1, {"0", "lost"}), 1);
  auto redo = Deliver();
  ASSERT_EQ(redo.size(), 1u);
  MapDone(redo[0].id, 0);
  auto back = Deliver();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(Redo(back[0].id, 0, 1, {"0", "lost again"}), 1);
  EXPECT_EQ(conn().Command({"HGET", "files:failed", "map:0"}).str(),
            "/d/f0.csv: map output lost 2 times, giving up (lost again)");
  EXPECT_EQ(Field("failed_tasks"), "1");
  EXPECT_EQ(Bit("files:done", 0), 1);
  EXPECT_EQ(Field("done_tasks"), "3");
  EXPECT_TRUE(Members("files:redo").empty());
  EXPECT_TRUE(Members("files:blocked").empty());
  auto last = Deliver();  // the reduce entry comes back at once, no map entry
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].f, ReduceFields(0));
  EXPECT_EQ(Redo(last[0].id, 0, 1, {"0", "x"}), 2);
  EXPECT_EQ(ReduceDone(last[0].id, 0), "1 reduce");
}

TEST_F(ShuffleFunctionsTest, MaxRedosZeroGivesUpAtTheFirstLoss) {
  auto reduces = MapPhase();
  EXPECT_EQ(Redo(reduces[1].id, 1, 0, {"2", "gone"}), 1);
  EXPECT_EQ(conn().Command({"HGET", "files:failed", "map:2"}).str(),
            "/d/f2.csv: map output lost 1 times, giving up (gone)");  // the path, not the range
  auto back = Deliver();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].f, ReduceFields(1));
}

TEST_F(ShuffleFunctionsTest, RedoOfMapsThatFailedForGoodReplies2AndWritesNothing) {
  Create();
  auto maps = Deliver();
  MapDone(maps[0].id, 0);
  Call("wc_fail_v4", {kId, maps[1].id, "1", "bad quote"});
  MapDone(maps[2].id, 2);
  auto reduces = Deliver();
  ASSERT_EQ(reduces.size(), 2u);
  Snapshot before = Snap();
  EXPECT_EQ(Redo(reduces[0].id, 0, 3, {"1", "missing"}), 2);
  ExpectUnchanged(before);
  EXPECT_EQ(Pending(), 2);  // the reducer goes on with its entry
}

TEST_F(ShuffleFunctionsTest, RedoForAnAlreadyFinishedPartitionSendsNothingBack) {
  auto reduces = MapPhase();
  EXPECT_EQ(ReduceDone(reduces[0].id, 0), "1 reduce");
  std::string forged = Add({"job", kId, "part", "0"});
  Deliver();
  EXPECT_EQ(Redo(forged, 0, 3, {"2", "lost"}), 0);
  EXPECT_EQ(Pending(), 1);  // acknowledged
  EXPECT_TRUE(Members("files:redo").empty());
  EXPECT_TRUE(Members("files:blocked").empty());
  EXPECT_EQ(Bit("files:done", 2), 1);
  EXPECT_TRUE(Deliver().empty());
}

TEST_F(ShuffleFunctionsTest, FailOfARedoneMapUnblocksTheReduceAndLaterRedosSkipIt) {
  auto reduces = MapPhase();
  EXPECT_EQ(Redo(reduces[1].id, 1, 3, {"1", "lost"}), 1);
  auto redo = Deliver();
  ASSERT_EQ(redo.size(), 1u);
  EXPECT_EQ(Call("wc_fail_v4", {kId, redo[0].id, "1", "file vanished"}).integer(), 1);
  EXPECT_EQ(conn().Command({"HGET", "files:failed", "task:1"}).str(), "file vanished");
  EXPECT_EQ(Field("done_tasks"), "3");
  EXPECT_EQ(Field("failed_tasks"), "1");
  EXPECT_TRUE(Members("files:redo").empty());
  EXPECT_TRUE(Members("files:blocked").empty());
  auto back = Deliver();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].f, ReduceFields(1));
  EXPECT_EQ(Redo(back[0].id, 1, 3, {"1", "still missing"}), 2);
}

TEST_F(ShuffleFunctionsTest, RedoChecksEverythingBeforeWriting) {
  auto reduces = MapPhase();
  const std::string& e = reduces[0].id;
  Snapshot before = Snap();
  for (const Args& bad : std::vector<Args>{
           {kId, e, "0", "3"},                        // no maps
           {kId, e, "0", "3", "1"},                   // a map without its reason
           {kId, e, "0", "3", "3", "no map 3"},       // map >= tasks
           {kId, e, "0", "3", "x", "bad"},            // map not a number
           {kId, e, "2", "3", "1", "r"},              // part >= parts
           {kId, e, "zero", "3", "1", "r"},           // part not a number
           {kId, e, "0", "many", "1", "r"},           // max_redos not a number
           {kId, reduces[1].id, "0", "3", "1", "r"},  // the entry of another part
       }) {
    EXPECT_TRUE(StartsWith(Err("wc_redo_maps_v4", bad), "ERR wc: ")) << bad.size() << bad[2];
  }
  EXPECT_TRUE(StartsWith(Err("wc_redo_maps_v4", {kOtherId, e, "0", "3", "1", "r"}), "STALEJOB "));
  ExpectUnchanged(before);
  EXPECT_EQ(Pending(), 2);
}

TEST_F(ShuffleFunctionsTest, RedoBeforeTheReducePhaseIsBadState) {
  Create();
  auto maps = Deliver();
  Snapshot before = Snap();
  EXPECT_EQ(Err("wc_redo_maps_v4", {kId, maps[0].id, "0", "3", "1", "r"}),
            "BADSTATE job " + kId + " is map, not reduce or publish");
  EXPECT_TRUE(
      StartsWith(Err("wc_reduce_done_v4", {kId, maps[0].id, "0", "0", "0", "r"}), "BADSTATE "));
  ExpectUnchanged(before);
}

TEST_F(ShuffleFunctionsTest, ForeignEntriesOfAShuffleJob) {
  auto reduces = MapPhase();
  std::string bad_part = Add({"job", kId, "part", "2"});  // part >= parts
  std::string real = Add({"job", kId, "part", "1"});      // a (forged) real part entry
  Deliver();
  EXPECT_EQ(Call("wc_foreign_v4", {kId, bad_part, "part 2 of 2"}).integer(), 1);
  EXPECT_TRUE(StartsWith(Err("wc_foreign_v4", {kId, real, "x"}), "ERR wc: entry "));
  EXPECT_EQ(Field("foreign"), "1");
}

// A reduce entry added during the map phase can only be forged (the function that finishes the
// last map adds the real ones with the state): foreign, acknowledged, never reduced.
TEST_F(ShuffleFunctionsTest, ReduceEntryBeforeTheReducePhaseIsForeign) {
  Create();
  std::string forged = Add({"job", kId, "part", "0"});
  Deliver();
  EXPECT_EQ(Field("state"), "map");
  EXPECT_EQ(Call("wc_foreign_v4", {kId, forged, "before the reduce phase"}).integer(), 1);
  EXPECT_EQ(Field("foreign"), "1");
}

}  // namespace
}  // namespace wc::redis

// The two renderings of a JobStatus, byte for byte: the text `status` prints and its --json.
#include "cli/status.h"

#include <gtest/gtest.h>

namespace wc::cli {
namespace {

JobStatus NoJob() {
  JobStatus s;
  s.stream = "files";
  s.counts_key = "count";
  s.record = {{"state", "none"}};
  s.distinct_words = 0;
  s.checkpoint = {.last_save_unix = 1000, .seconds_ago = 7, .last_status = "ok"};
  return s;
}

JobStatus ShuffleJob() {
  JobStatus s = NoJob();
  s.record = {{"id", "ab"},
              {"state", "reduce"},
              {"mode", "shuffle"},
              {"parts", "4"},
              {"files", "3"},
              {"bytes", "1200"},
              {"data_root", "/d"},
              {"owner", "host=h pid=1"},
              {"lease_until_ms", "99"},
              {"lease_ms_left", "5000"},
              {"epoch", "2"},
              {"done_tasks", "3"},
              {"tasks", "3"},
              {"failed_tasks", "1"},
              {"pending", "1"},
              {"foreign", "0"},
              {"done_parts", "1"},
              {"words", "40"},
              {"distinct", "9"}};
  s.tasks = JobStatus::Tasks{.total = 7,
                             .done = 4,
                             .failed = 1,
                             .pending = 1,
                             .foreign = 0,
                             .state = "reduce",
                             .complete = false};
  s.consumers = {{.name = "w1", .pending = 1, .idle_ms = 3000000000}};
  s.failed = {{"task:2", "/d/c.csv:4: bad quote"}};
  s.distinct_words = 0;
  s.checkpoint.in_progress = true;
  s.checkpoint.aof = true;
  return s;
}

TEST(StatusTest, TextOfAServerWithoutAJob) {
  EXPECT_EQ(StatusText(NoJob()),
            "job:        none on this server (stream 'files')\n"
            "checkpoint: last save 7 s ago (status ok)\n"
            "counts:     0 distinct words in 'count'\n");
}

TEST(StatusTest, JsonOfAServerWithoutAJob) {
  EXPECT_EQ(StatusJson(NoJob()), R"({
  "checkpoint": {
    "aof": false,
    "in_progress": false,
    "last_save_unix": 1000,
    "last_status": "ok",
    "seconds_ago": 7
  },
  "distinct_words": 0,
  "failed": [],
  "job": {
    "state": "none"
  },
  "tasks": {
    "error": "no job on stream 'files'"
  }
}
)");
}

TEST(StatusTest, TextOfAShuffleJobNamesPartitionsConsumersAndFailures) {
  EXPECT_EQ(
      StatusText(ShuffleJob()),
      "job:        ab reduce, shuffle mode, 4 partitions (3 files, 1200 bytes, data root /d)\n"
      "owner:      host=h pid=1 (lease 5000 ms left, epoch 2)\n"
      "tasks:      3 of 3 done (1 failed), 1 pending, 0 foreign entries; partitions 1 of "
      "4 done\n"
      "recorded:   40 words, 9 distinct\n"
      "  consumer w1               1 pending, idle 3000000000 ms\n"
      "  failed task:2: /d/c.csv:4: bad quote\n"
      "checkpoint: last save 7 s ago (status ok, one running, AOF on)\n"
      "counts:     0 distinct words in 'count'\n");
}

TEST(StatusTest, TextShowsAReleasedLeaseAndQuestionMarksForMissingFields) {
  JobStatus s = NoJob();
  s.record = {{"state", "done"}, {"mode", "direct"}, {"lease_until_ms", "0"}};
  s.tasks = JobStatus::Tasks{.state = "done", .complete = true};
  std::string text = StatusText(s);
  EXPECT_NE(text.find("job:        ? done, direct mode (? files, ? bytes, data root ?)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("owner:      ? (lease released, epoch ?)\n"), std::string::npos) << text;
}

TEST(StatusTest, JsonOfAJobHasEveryRecordFieldTheTaskTotalsAndConsumers) {
  std::string json = StatusJson(ShuffleJob());
  EXPECT_NE(json.find(R"(  "consumers": [
    {
      "idle_ms": 3000000000,
      "name": "w1",
      "pending": 1
    }
  ],)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"(  "failed": [
    {
      "error": "/d/c.csv:4: bad quote",
      "task": "task:2"
    }
  ],)"),
            std::string::npos)
      << json;
  // Numeric fields are JSON integers; the others stay strings.
  EXPECT_NE(json.find(R"(    "lease_ms_left": 5000,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "epoch": 2,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "bytes": 1200,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "id": "ab",)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "owner": "host=h pid=1",)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(  "tasks": {
    "complete": false,
    "done": 4,
    "failed": 1,
    "foreign": 0,
    "pending": 1,
    "state": "reduce",
    "total": 7
  }
})"),
            std::string::npos)
      << json;
}

// Names and errors come from Redis (file names, consumer names from any worker): their control
// bytes, C1 included, are escaped on the terminal, in the text and in the JSON.
TEST(StatusTest, ValuesFromRedisCannotDriveTheTerminal) {
  JobStatus s = ShuffleJob();
  s.record["data_root"] = "/d\x1b[2J";
  s.consumers = {{.name = "w\rfake", .pending = 0, .idle_ms = 1}};
  s.failed = {{"task:2",
               "/d/\xc2\x9b"
               "31mc.csv:4: bad quote\nforged line"}};
  std::string text = StatusText(s);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos) << text;
  EXPECT_NE(text.find("data root /d\\x1b[2J)"), std::string::npos) << text;
  EXPECT_NE(text.find("  failed task:2: /d/\\xc2\\x9b31mc.csv:4: bad quote\\nforged line\n"),
            std::string::npos)
      << text;
  std::string json = StatusJson(s);
  EXPECT_EQ(json.find("\xc2\x9b"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("/d/\u009b31mc.csv:4: bad quote\nforged line")"), std::string::npos)
      << json;
}

// A replicated Redis: the roles as the primary and each Sentinel see them.
JobStatus Replicated() {
  JobStatus s = NoJob();
  s.ha = JobStatus::Ha{
      .primary = "127.0.0.1:7001",
      .role = "master",
      .replicas = {{.address = "127.0.0.1:7002", .state = "online", .lag_s = 0},
                   {.address = "127.0.0.1:7003", .state = "send_bulk", .lag_s = 3}},
      .sentinels = {{.address = "127.0.0.1:26379", .reachable = true, .names = "127.0.0.1:7001"},
                    {.address = "127.0.0.1:26380", .reachable = false, .names = "refused"}}};
  return s;
}

TEST(StatusTest, TextOfAReplicatedRedisShowsPrimaryReplicasAndSentinels) {
  EXPECT_EQ(StatusText(Replicated()),
            "job:        none on this server (stream 'files')\n"
            "ha:         primary 127.0.0.1:7001, 2 replica(s), 1 of 2 Sentinels reachable\n"
            "  replica   127.0.0.1:7002 online, lag 0 s\n"
            "  replica   127.0.0.1:7003 send_bulk, lag 3 s\n"
            "  sentinel  127.0.0.1:26379 names 127.0.0.1:7001\n"
            "  sentinel  127.0.0.1:26380 unreachable: refused\n"
            "checkpoint: last save 7 s ago (status ok)\n"
            "counts:     0 distinct words in 'count'\n");
  JobStatus demoted = Replicated();
  demoted.ha->role = "slave";
  EXPECT_NE(StatusText(demoted).find("primary 127.0.0.1:7001 (role slave), "), std::string::npos);
}

TEST(StatusTest, JsonOfAReplicatedRedisHasItsRoles) {
  std::string json = StatusJson(Replicated());
  EXPECT_NE(json.find(R"(  "ha": {
    "primary": "127.0.0.1:7001",
    "replicas": [
      {
        "address": "127.0.0.1:7002",
        "lag_s": 0,
        "state": "online"
      },
      {
        "address": "127.0.0.1:7003",
        "lag_s": 3,
        "state": "send_bulk"
      }
    ],
    "role": "master",
    "sentinels": [
      {
        "address": "127.0.0.1:26379",
        "names": "127.0.0.1:7001",
        "reachable": true
      },
      {
        "address": "127.0.0.1:26380",
        "error": "refused",
        "reachable": false
      }
    ]
  },)"),
            std::string::npos)
      << json;
  EXPECT_EQ(StatusJson(NoJob()).find("\"ha\""), std::string::npos);
}

TEST(StatusTest, JsonKeepsANumericFieldThatIsNoNumberAStringAndDigitIdsStrings) {
  JobStatus s = ShuffleJob();
  s.record["id"] = "0123456789";  // a job id of digits only is still an id
  s.record["words"] = "many";
  s.record["lease_ms_left"] = "-3465";
  s.record["redos:3"] = "2";
  std::string json = StatusJson(s);
  EXPECT_NE(json.find(R"(    "id": "0123456789",)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "words": "many")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "lease_ms_left": -3465,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(    "redos:3": 2,)"), std::string::npos) << json;
}

TEST(StatusTest, TextSaysAnExpiredLeaseExpiredAndAGoneOwnerIsGone) {
  JobStatus s = ShuffleJob();
  s.record["lease_ms_left"] = "-3453";
  std::string text = StatusText(s);
  EXPECT_NE(text.find("owner:      host=h pid=1 (lease expired 3.5 s ago, epoch 2)\n"),
            std::string::npos)
      << text;
  s.owner_gone_pid = 26218;
  text = StatusText(s);
  EXPECT_NE(text.find("owner:      host=h pid=1 (lease expired 3.5 s ago, epoch 2) (owner gone: "
                      "pid 26218 is not running on this host)\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace wc::cli

#include "job/status.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "job/task.h"
#include "redis/connection.h"
#include "redis/functions.h"

namespace wc::job {

namespace {

using redis::Connection;
using redis::Reply;

}  // namespace

int PrintStatus(const JobConfig& config, const std::string& redis_url, bool as_json) {
  const JobKeys keys = KeysOf(config);
  nlohmann::json j;
  try {
    Connection c(redis::ParseRedisUrl(redis_url));
    Reply meta = c.Command({"HGETALL", keys.meta()});
    for (size_t i = 0; i + 1 < meta.size(); i += 2)
      j["job"][std::string(meta[i].str())] = std::string(meta[i + 1].str());
    try {
      Progress p = ReadProgress(c, keys);
      j["tasks"] = {{"total", p.entries},   {"acknowledged", p.delivered - p.pending},
                    {"pending", p.pending}, {"undelivered", p.entries - p.delivered},
                    {"phase", p.phase},     {"complete", p.done}};
      Reply consumers = c.Command({"XINFO", "CONSUMERS", keys.stream, keys.group});
      for (size_t i = 0; i < consumers.size(); ++i) {
        nlohmann::json w;
        for (size_t k = 0; k + 1 < consumers[i].size(); k += 2) {
          std::string f(consumers[i][k].str());
          if (f == "name") w["name"] = std::string(consumers[i][k + 1].str());
          if (f == "pending") w["pending"] = consumers[i][k + 1].integer();
          if (f == "idle") w["idle_ms"] = consumers[i][k + 1].integer();
        }
        j["consumers"].push_back(w);
      }
    } catch (const redis::RedisReplyError& e) {
      j["tasks"] = {{"error", e.what()}};
    }
    Reply failed = c.Command({"HGETALL", keys.failed()});
    j["failed"] = nlohmann::json::array();
    for (size_t i = 0; i + 1 < failed.size(); i += 2) {
      j["failed"].push_back(
          {{"task", std::string(failed[i].str())}, {"error", std::string(failed[i + 1].str())}});
    }
    j["distinct_words"] = c.Command({"ZCARD", keys.counts}).integer();
    std::string info(c.Command({"INFO", "persistence"}).str());
    int64_t lastsave = c.Command({"LASTSAVE"}).integer();
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    j["checkpoint"] = {{"last_save_unix", lastsave},
                       {"seconds_ago", now - lastsave},
                       {"in_progress", redis::InfoField(info, "rdb_bgsave_in_progress") == "1"},
                       {"last_status", redis::InfoField(info, "rdb_last_bgsave_status")},
                       {"aof", redis::InfoField(info, "aof_enabled") == "1"}};
  } catch (const redis::RedisError& e) {
    fmt::print(stderr, "wordcount status: {}\n", e.what());
    return cli::kExitRedis;
  }
  if (as_json) {
    fmt::print("{}\n", j.dump(2));
    return cli::kExitOk;
  }
  const auto& t = j["tasks"];
  if (t.contains("error")) {
    fmt::print("job:        none on this server ({})\n", t["error"].get<std::string>());
  } else {
    fmt::print("job:        {}, {} ({} files, {} bytes, data root {})\n",
               t["complete"].get<bool>() ? "complete" : "running",
               t["phase"].get<std::string>() == "direct"
                   ? std::string("direct mode")
                   : "shuffle mode, " + t["phase"].get<std::string>() + " phase",
               j["job"].value("files", "?"), j["job"].value("bytes", "?"),
               j["job"].value("data_root", "?"));
    fmt::print("tasks:      {} total, {} acknowledged, {} pending, {} undelivered, {} failed\n",
               t["total"].get<int64_t>(), t["acknowledged"].get<int64_t>(),
               t["pending"].get<int64_t>(), t["undelivered"].get<int64_t>(), j["failed"].size());
    for (const auto& w : j.value("consumers", nlohmann::json::array())) {
      fmt::print("  consumer {:<16} {} pending, idle {} ms\n", w.value("name", "?"),
                 w.value("pending", 0), w.value("idle_ms", 0));
    }
  }
  for (const auto& f : j["failed"])
    fmt::print("  failed {}: {}\n", f["task"].get<std::string>(), f["error"].get<std::string>());
  const auto& cp = j["checkpoint"];
  fmt::print("checkpoint: last save {} s ago (status {}{}{})\n", cp["seconds_ago"].get<int64_t>(),
             cp["last_status"].get<std::string>(),
             cp["in_progress"].get<bool>() ? ", one running" : "",
             cp["aof"].get<bool>() ? ", AOF on" : "");
  fmt::print("counts:     {} distinct words in '{}'\n", j["distinct_words"].get<int64_t>(),
             keys.counts);
  return cli::kExitOk;
}

}  // namespace wc::job

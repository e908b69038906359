#include "cli/status.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "count/counts_format.h"
#include "job/job_store.h"
#include "job/redis_session.h"
#include "redis/connection.h"

namespace wc::cli {

using redis::Connection;

int PrintStatus(const job::JobConfig& config, const std::string& redis_url, bool as_json) {
  job::JobStore store(job::KeysOf(config));
  nlohmann::json j;
  try {
    Connection c(redis::ParseRedisUrl(redis_url));
    for (const auto& [k, v] : store.Meta(c)) j["job"][k] = v;
    try {
      job::Progress p = store.ReadProgress(c);
      j["tasks"] = {{"total", p.entries},   {"acknowledged", p.delivered - p.pending},
                    {"pending", p.pending}, {"undelivered", p.entries - p.delivered},
                    {"phase", p.phase},     {"complete", p.done}};
      for (const auto& w : store.Consumers(c))
        j["consumers"].push_back(
            {{"name", w.name}, {"pending", w.pending}, {"idle_ms", w.idle_ms}});
    } catch (const redis::RedisReplyError& e) {
      j["tasks"] = {{"error", e.what()}};
    }
    j["failed"] = nlohmann::json::array();
    for (const auto& [task, error] : store.FailureRecords(c))
      j["failed"].push_back({{"task", task}, {"error", error}});
    j["distinct_words"] = store.DistinctWords(c);
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
    return kExitRedis;
  }
  if (as_json) {
    fmt::print("{}\n", j.dump(2));
    return kExitOk;
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
             store.keys().counts);
  return kExitOk;
}

int PrintTop(const job::JobConfig& config, const std::string& redis_url, int n) {
  job::JobStore store(job::KeysOf(config));
  job::RedisSession session(job::SessionOptions{.redis = redis::ParseRedisUrl(redis_url),
                                                .retry_for = std::chrono::milliseconds(5000)});
  try {
    job::WordCountPairs top = session.Run([&](Connection& c) { return store.Top(c, n); });
    std::vector<WordCount> views;
    for (const auto& [w, count] : top) views.push_back({w, count});
    WriteTop(stdout, views);
  } catch (const std::exception& e) {
    fmt::print(stderr, "wordcount top: {}\n", e.what());
    return kExitRedis;
  }
  return kExitOk;
}

}  // namespace wc::cli

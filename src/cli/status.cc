#include "cli/status.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "count/counts_format.h"
#include "job/job_store.h"
#include "job/redis_session.h"
#include "job/state_dir.h"
#include "job/worker_options.h"
#include "redis/connection.h"
#include "redis/sentinel.h"
#include "util/error.h"

namespace wc::cli {

using redis::Connection;

namespace {

// The primary --sentinel names, or --redis (or $WC_REDIS) if given, else the one embedded Redis
// running under STATE_DIR.
redis::ConnectOptions Locate(const job::JobConfig& config, const RedisLocation& where) {
  redis::SentinelOptions sentinel = job::SentinelOptionsFrom(where.sentinels, where.master_name);
  if (sentinel.enabled()) {
    redis::ConnectOptions o;
    job::TakePasswordFromEnvironment(o);
    redis::HostPort primary = redis::SentinelClient(sentinel).AskPrimary(o.password);
    o.host = primary.host;
    o.port = primary.port;
    return o;
  }
  const std::string& url = where.url;
  if (!url.empty()) return job::RedisOptionsFromUrl(url);
  std::string root = config.state_dir.empty() ? job::DefaultStateRoot() : config.state_dir;
  std::vector<redis::ConnectOptions> found = job::FindEmbeddedServers(root);
  if (found.size() == 1) return found[0];
  throw UsageError(found.empty()
                       ? "no --redis given and no embedded Redis of a running job under " + root
                       : fmt::format("{} embedded Redis servers run under {}: name one with "
                                     "--redis redis://127.0.0.1:PORT",
                                     found.size(), root));
}

}  // namespace

int PrintStatus(const job::JobConfig& config, const RedisLocation& where, bool as_json) {
  job::JobStore store(job::KeysOf(config));
  nlohmann::json j;
  try {
    Connection c(Locate(config, where));
    job::JobState state = store.State(c);
    for (const auto& [k, v] : state.fields) j["job"][k] = v;
    if (state.state() == "none") {
      j["tasks"] = {{"error", "no job on stream '" + store.keys().stream + "'"}};
    } else {
      bool shuffle = state.Get("mode") == "shuffle";
      j["tasks"] = {{"total", state.Int("tasks") + (shuffle ? state.Int("parts") : 0)},
                    {"done", state.Int("done_tasks") + state.Int("done_parts")},
                    {"failed", state.Int("failed_tasks")},
                    {"pending", state.Int("pending")},
                    {"foreign", state.Int("foreign")},
                    {"state", state.state()},
                    {"complete", state.done()}};
      for (const auto& w : store.Consumers(c))
        j["consumers"].push_back(
            {{"name", w.name}, {"pending", w.pending}, {"idle_ms", w.idle_ms}});
    }
    j["failed"] = nlohmann::json::array();
    for (const auto& [task, error] : store.Failures(c))
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
  const auto& jb = j["job"];
  auto field = [&](const char* k) { return jb.value(k, std::string("?")); };
  if (field("state") == "none") {
    fmt::print("job:        none on this server (stream '{}')\n", store.keys().stream);
  } else {
    fmt::print("job:        {} {}, {} mode{} ({} files, {} bytes, data root {})\n", field("id"),
               field("state"), field("mode"),
               field("mode") == "shuffle" ? ", " + field("parts") + " partitions" : std::string(),
               field("files"), field("bytes"), field("data_root"));
    fmt::print("owner:      {} ({}, epoch {})\n", field("owner"),
               field("lease_until_ms") == "0" ? std::string("lease released")
                                              : "lease " + field("lease_ms_left") + " ms left",
               field("epoch"));
    fmt::print("tasks:      {} of {} done ({} failed), {} pending, {} foreign entries{}\n",
               field("done_tasks"), field("tasks"), field("failed_tasks"), field("pending"),
               field("foreign"),
               field("mode") == "shuffle"
                   ? fmt::format("; partitions {} of {} done", field("done_parts"), field("parts"))
                   : std::string());
    fmt::print("recorded:   {} words, {} distinct\n", field("words"), field("distinct"));
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

int PrintTop(const job::JobConfig& config, const RedisLocation& where, int n) {
  job::JobStore store(job::KeysOf(config));
  try {
    job::RedisSession session(job::SessionOptions{.redis = Locate(config, where),
                                                  .retry_for = std::chrono::milliseconds(5000)});
    job::WordCountPairs top = session.Run([&](Connection& c) { return store.Top(c, n); });
    std::vector<WordCount> views;
    for (const auto& [w, count] : top) views.push_back({w, count});
    WriteTop(stdout, views);
  } catch (const UsageError&) {
    throw;  // exit 2, as before
  } catch (const std::exception& e) {
    fmt::print(stderr, "wordcount top: {}\n", e.what());
    return kExitRedis;
  }
  return kExitOk;
}

}  // namespace wc::cli

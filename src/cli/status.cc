#include "cli/status.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iterator>
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
#include "util/escape.h"
#include "util/log.h"

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
  if (found.empty())
    throw UsageError("no --redis given and no embedded Redis of a running job under " + root);
  std::string urls;
  for (redis::ConnectOptions o : found) {
    o.password.clear();
    urls += " " + redis::ToUrl(o);
  }
  throw UsageError(fmt::format("{} embedded Redis servers run under {}: name one with --redis:{}",
                               found.size(), root, urls));
}

// Everything `status` shows, read on one connection.
JobStatus ReadStatus(job::JobStore& store, Connection& c) {
  JobStatus s;
  s.stream = store.keys().stream;
  s.counts_key = store.keys().counts;
  job::JobState state = store.State(c);
  s.record = state.fields;
  if (state.state() != "none") {
    bool shuffle = state.Get("mode") == "shuffle";
    s.tasks = JobStatus::Tasks{.total = state.Int("tasks") + (shuffle ? state.Int("parts") : 0),
                               .done = state.Int("done_tasks") + state.Int("done_parts"),
                               .failed = state.Int("failed_tasks"),
                               .pending = state.Int("pending"),
                               .foreign = state.Int("foreign"),
                               .state = state.state(),
                               .complete = state.done()};
    s.consumers = store.Consumers(c);
  }
  s.failed = store.Failures(c);
  s.distinct_words = store.DistinctWords(c);
  std::string info(c.Command({"INFO", "persistence"}).str());
  s.checkpoint.last_save_unix = c.Command({"LASTSAVE"}).integer();
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  s.checkpoint.seconds_ago = now - s.checkpoint.last_save_unix;
  s.checkpoint.in_progress = redis::InfoField(info, "rdb_bgsave_in_progress") == "1";
  s.checkpoint.last_status = redis::InfoField(info, "rdb_last_bgsave_status");
  s.checkpoint.aof = redis::InfoField(info, "aof_enabled") == "1";
  return s;
}

}  // namespace

std::string StatusText(const JobStatus& s) {
  // Every value from Redis has its control bytes escaped (util/escape.h): a file name, a
  // consumer name or an error cannot drive the terminal or forge a line.
  auto field = [&](const char* k) {
    auto it = s.record.find(k);
    return it == s.record.end() ? std::string("?") : EscapeForLog(it->second);
  };
  std::string out;
  auto to = std::back_inserter(out);
  if (!s.tasks) {
    fmt::format_to(to, "job:        none on this server (stream '{}')\n", EscapeForLog(s.stream));
  } else {
    bool shuffle = field("mode") == "shuffle";
    fmt::format_to(to, "job:        {} {}, {} mode{} ({} files, {} bytes, data root {})\n",
                   field("id"), field("state"), field("mode"),
                   shuffle ? ", " + field("parts") + " partitions" : std::string(), field("files"),
                   field("bytes"), field("data_root"));
    fmt::format_to(to, "owner:      {} ({}, epoch {})\n", field("owner"),
                   field("lease_until_ms") == "0" ? std::string("lease released")
                                                  : "lease " + field("lease_ms_left") + " ms left",
                   field("epoch"));
    fmt::format_to(
        to, "tasks:      {} of {} done ({} failed), {} pending, {} foreign entries{}\n",
        field("done_tasks"), field("tasks"), field("failed_tasks"), field("pending"),
        field("foreign"),
        shuffle ? fmt::format("; partitions {} of {} done", field("done_parts"), field("parts"))
                : std::string());
    fmt::format_to(to, "recorded:   {} words, {} distinct\n", field("words"), field("distinct"));
    for (const auto& w : s.consumers)
      fmt::format_to(to, "  consumer {:<16} {} pending, idle {} ms\n", EscapeForLog(w.name),
                     w.pending, w.idle_ms);
  }
  for (const auto& [task, error] : s.failed)
    fmt::format_to(to, "  failed {}: {}\n", EscapeForLog(task), EscapeForLog(error));
  const JobStatus::Checkpoint& cp = s.checkpoint;
  fmt::format_to(to, "checkpoint: last save {} s ago (status {}{}{})\n", cp.seconds_ago,
                 EscapeForLog(cp.last_status), cp.in_progress ? ", one running" : "",
                 cp.aof ? ", AOF on" : "");
  fmt::format_to(to, "counts:     {} distinct words in '{}'\n", s.distinct_words,
                 EscapeForLog(s.counts_key));
  return out;
}

std::string StatusJson(const JobStatus& s) {
  nlohmann::json j;
  for (const auto& [k, v] : s.record) j["job"][k] = v;
  if (!s.tasks) {
    j["tasks"] = {{"error", "no job on stream '" + s.stream + "'"}};
  } else {
    const JobStatus::Tasks& t = *s.tasks;
    j["tasks"] = {{"total", t.total},      {"done", t.done},       {"failed", t.failed},
                  {"pending", t.pending},  {"foreign", t.foreign}, {"state", t.state},
                  {"complete", t.complete}};
    for (const auto& w : s.consumers)
      j["consumers"].push_back({{"name", w.name}, {"pending", w.pending}, {"idle_ms", w.idle_ms}});
  }
  j["failed"] = nlohmann::json::array();
  for (const auto& [task, error] : s.failed)
    j["failed"].push_back({{"task", task}, {"error", error}});
  j["distinct_words"] = s.distinct_words;
  j["checkpoint"] = {{"last_save_unix", s.checkpoint.last_save_unix},
                     {"seconds_ago", s.checkpoint.seconds_ago},
                     {"in_progress", s.checkpoint.in_progress},
                     {"last_status", s.checkpoint.last_status},
                     {"aof", s.checkpoint.aof}};
  // ASCII only (\u escapes): a C1 control in a name cannot reach a terminal raw either.
  return j.dump(2, ' ', /*ensure_ascii=*/true) + "\n";
}

int PrintStatus(const job::JobConfig& config, const RedisLocation& where, bool as_json) {
  job::JobStore store(job::KeysOf(config));
  JobStatus status;
  try {
    Connection c(Locate(config, where));
    status = ReadStatus(store, c);
  } catch (const redis::RedisAuthError& e) {
    WriteStderrLine("wordcount status: " + job::PasswordTrouble(e));
    return kExitUsage;
  } catch (const redis::RedisError& e) {
    WriteStderrLine(fmt::format("wordcount status: {}", e.what()));
    return kExitRedis;
  }
  errno = 0;
  if (std::fputs((as_json ? StatusJson(status) : StatusText(status)).c_str(), stdout) < 0 ||
      std::fflush(stdout) != 0)
    throw OutputError("standard output", "cannot write", errno);
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
    errno = 0;
    if (!WriteTop(stdout, views) || std::fflush(stdout) != 0)
      throw OutputError("standard output", "cannot write", errno);
  } catch (const UsageError&) {
    throw;  // exit 2, as before
  } catch (const OutputError&) {
    throw;  // exit 6
  } catch (const redis::RedisAuthError& e) {
    WriteStderrLine("wordcount top: " + job::PasswordTrouble(e));
    return kExitUsage;
  } catch (const std::exception& e) {
    WriteStderrLine(fmt::format("wordcount top: {}", e.what()));
    return kExitRedis;
  }
  return kExitOk;
}

}  // namespace wc::cli

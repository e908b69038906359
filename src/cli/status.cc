#include "cli/status.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>

#include "cli/exit_codes.h"
#include "count/counts_format.h"
#include "job/ha_redis.h"
#include "job/job_claim.h"
#include "job/job_store.h"
#include "job/redis_session.h"
#include "job/state_dir.h"
#include "job/worker_options.h"
#include "redis/connection.h"
#include "redis/functions.h"
#include "redis/sentinel.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/log.h"

namespace wc::cli {

using redis::Connection;
namespace fs = std::filesystem;

namespace {

// COUNT is checked against the stream's job record: a done job's result, and that of any job
// of the stream whose COUNT another stream's job took over (held-out pass 20: an unfinished one
// showed that job's words as its counts so far). A stream without a job checks nothing: a COUNT
// another stream's job holds is that job's (held-out pass 23: exit 8 "not the job's result").
bool ChecksResult(const job::JobState& job) {
  return job.done() || (job.state() != "none" && !job.Get("count_taken_by").empty());
}

// COUNT of a stream without a job, held by another stream's job: said, unchecked. "" otherwise.
std::string HolderNote(const job::JobState& job, const std::string& stream,
                       const std::string& counts_key) {
  const std::string holder = job.Get("count_taken_by");
  if (job.state() != "none" || holder.empty()) return "";
  return fmt::format(
      "no job on '{}': '{}' holds the result of the job on stream '{}', not checked here (a "
      "config with IN '{}' checks it)",
      EscapeForLog(stream), EscapeForLog(counts_key), EscapeForLog(holder), EscapeForLog(holder));
}

// Where the job's Redis is: the primary --sentinel names, or --redis (or $WC_REDIS) if given,
// else the one embedded Redis running under STATE_DIR (with its Sentinels, if replicated).
struct Location {
  redis::ConnectOptions redis;
  redis::SentinelOptions sentinel;  // enabled: a replicated Redis
  // --redis or --sentinel: every wait (connecting, each reply) is bounded by
  // REDIS_RETRY_SECONDS, as `run` bounds its own (job/redis_session.h, RedisSession).
  bool external = false;
};

// No embedded Redis of a running job answers under STATE_DIR: why, as far as the state
// directory tells. `restarting`: a coordinator runs a job there whose Redis is down (a forced
// or unplanned crash): it comes back within REDIS_DOWNTIME, worth waiting for. `hung`: its
// server took the connection but did not answer (stopped or hung), not a restart.
class NoEmbeddedRedis : public UsageError {
 public:
  NoEmbeddedRedis(const std::string& why, bool restarting, bool hung = false)
      : UsageError(why), restarting_(restarting), hung_(hung) {}
  bool restarting() const { return restarting_; }
  bool hung() const { return hung_; }

 private:
  bool restarting_;
  bool hung_;
};

// ", last written 2.5 h ago" for a kept job's directory, "" if unknown.
std::string KeptAge(const std::string& dir) {
  for (const job::KeptJob& k : job::FindKeptJobs(fs::path(dir).parent_path().string()))
    if (k.path == dir) return ", last written " + job::AgeText(k.age_s) + " ago";
  return "";
}

// Why no embedded Redis of a running job was found under `root`. `unanswered`: the address of
// the job's server that took the connection but did not answer in time ("" if none did).
NoEmbeddedRedis Absence(const std::string& root, const std::string& unanswered = "") {
  const std::string none = "no --redis given and no embedded Redis of a running job under " + root;
  std::error_code ec;
  const fs::path r = fs::absolute(root, ec);
  struct stat st {};
  const bool seen = ::stat(r.c_str(), &st) == 0;
  if (!seen && errno == ENOENT)
    return {fmt::format("{} (it does not exist: no job has run with this STATE_DIR)", none), false};
  if (!seen || ::access(r.c_str(), R_OK | X_OK) != 0) {
    return {fmt::format("no --redis given, and the state directory {} is not readable by this "
                        "user (uid {}{}): only the user that runs a job can reach its embedded "
                        "Redis; run this as that user, or name a server with --redis",
                        root, ::geteuid(),
                        seen ? fmt::format("; it belongs to uid {}", st.st_uid)
                             : std::string("; a directory above it is closed to it")),
            false};
  }
  std::string running, foreign, kept;
  pid_t coordinator = 0;
  uid_t owner = 0;
  for (fs::directory_iterator it(r, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!job::IsStateDirName(name)) continue;
    const std::string dir = it->path().string();
    struct stat js {};
    if (::lstat(dir.c_str(), &js) != 0 || !S_ISDIR(js.st_mode)) continue;
    if (js.st_uid != ::geteuid() || ::access(dir.c_str(), R_OK | X_OK) != 0) {
      foreign = dir;
      owner = js.st_uid;
    } else if (pid_t pid = job::FlockHolder(dir + "/lock"); pid > 0) {
      running = dir;
      coordinator = pid;
    } else {
      kept = dir;
    }
  }
  if (!running.empty() && !unanswered.empty()) {
    return {fmt::format("the coordinator of the job in {} runs (pid {}), but its embedded Redis "
                        "at {} does not answer (stopped or hung?): it took the connection but "
                        "sent no reply; try again",
                        running, coordinator, unanswered),
            true, true};
  }
  if (!running.empty()) {
    return {fmt::format(
                "the coordinator of the job in {} runs (pid {}), but its embedded Redis "
                "is down (restarting after a crash, forced or not, or still starting); try again",
                running, coordinator),
            true};
  }
  // This user's kept job first: beside it, another user's directory (in a shared STATE_DIR:
  // their job, or the same job's name taken, which made this user's run use a fallback) is no
  // answer.
  if (!kept.empty()) {
    return {fmt::format("no job runs under {}, but a job is kept there, stopped, in {} (its "
                        "`run` was stopped or killed before the job was done{}): `wordcount run` "
                        "with the same config and data resumes it if its data did not change "
                        "since; otherwise remove the directory",
                        root, kept, KeptAge(kept)),
            false};
  }
  if (!foreign.empty()) {
    return {fmt::format("{}: the state directory {} belongs to another user (uid {}), not to "
                        "this user (uid {}): only that user can reach its embedded Redis (its "
                        "server is never sent a password by another user; or name a server "
                        "with --redis)",
                        none, foreign, owner, ::geteuid()),
            false};
  }
  return {none, false};
}

Location Locate(const job::JobConfig& config, const RedisLocation& where) {
  Location at{.sentinel = job::SentinelOptionsFrom(where.sentinels, where.master_name)};
  if (at.sentinel.enabled()) {
    job::TakePasswordFromEnvironment(at.redis);
    redis::HostPort primary = redis::SentinelClient(at.sentinel).AskPrimary(at.redis.password);
    at.redis.host = primary.host;
    at.redis.port = primary.port;
    return at;
  }
  const std::string& url = where.url;
  if (!url.empty()) {
    at.redis = job::RedisOptionsFromUrl(url, where.url_source);
    return at;
  }
  std::string root = config.state_dir.empty() ? job::DefaultStateRoot() : config.state_dir;
  std::vector<redis::ConnectOptions> found = job::FindEmbeddedServers(root);
  if (found.size() == 1) {
    at.redis = found[0];
    std::string sentinels = job::EmbeddedSentinels(root, at.redis.port);
    if (!sentinels.empty())
      at.sentinel = {.sentinels = redis::ParseHostPorts(sentinels),
                     .master_name = job::HaRedis::kMasterName};
    return at;
  }
  if (found.empty()) throw Absence(root);
  std::string urls;
  for (redis::ConnectOptions o : found) {
    o.password.clear();
    urls += " " + redis::ToUrl(o);
  }
  throw UsageError(fmt::format("{} embedded Redis servers run under {}: name one with --redis:{}",
                               found.size(), root, urls));
}

// The bound of every wait on an external server (--redis, --sentinel): REDIS_RETRY_SECONDS, at
// least 10 ms (a timeout of 0 would mean none at all to hiredis).
std::chrono::milliseconds ExternalBound(const job::JobConfig& config) {
  return std::max(
      std::chrono::milliseconds(10),
      std::chrono::milliseconds(static_cast<int64_t>(config.redis_retry_seconds * 1000)));
}

// Before anything is read from an external server: one PING within its bound. A server that
// took the connection and sends nothing (stopped, hung) is said as such, with the wait, as the
// embedded case says it (Absence); other failures are thrown as they are.
void Probe(const job::JobConfig& config, const Location& l) {
  try {
    Connection c(l.redis);
    c.Command({"PING"});
  } catch (const redis::RedisIoError& e) {
    if (!e.timeout()) throw;
    throw redis::RedisIoError(
        fmt::format("Redis at {} does not answer (stopped or hung?): no reply within {:.1f} s "
                    "(REDIS_RETRY_SECONDS)",
                    l.redis.address(),
                    std::chrono::duration<double>(ExternalBound(config)).count()),
        true);
  }
}

// f(Locate(...)), again while the embedded Redis of a running job is down (restarting): for up
// to REDIS_DOWNTIME + 2 s, the most a planned crash keeps it down, plus its start. That window
// bounds the wait for the server's first answer: each attempt's connect and reply timeouts are
// cut to what is left of it (a stopped server takes the connection and never answers; the
// default 30 s reply timeout held `status` far past the window); f lifts the reply timeout once
// the server answered (Answered). Throws what Locate and f throw; NoEmbeddedRedis (restarting;
// hung if the server took the connection and did not answer) if it is still down then.
template <class F>
auto WaitingForRestart(const job::JobConfig& config, const RedisLocation& where, F&& f) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  const bool embedded = where.url.empty() && where.sentinels.empty();
  const auto until =
      Clock::now() + milliseconds(static_cast<int64_t>(config.redis_downtime * 1000) + 2000);
  // At least 10 ms: a timeout of 0 would mean none at all to hiredis. --redis and --sentinel
  // are not waited for: their timeouts stay.
  auto left = [&] {
    if (!embedded) return milliseconds::max();
    return std::max(milliseconds(10),
                    std::chrono::duration_cast<milliseconds>(until - Clock::now()));
  };
  std::string unanswered;  // the server that last took the connection and did not answer
  for (;;) {
    std::string tried;  // the address of this attempt's server
    try {
      Location l = Locate(config, where);
      tried = l.redis.address();
      l.redis.connect_timeout = std::min(l.redis.connect_timeout, left());
      l.redis.command_timeout = std::min(l.redis.command_timeout, left());
      if (!embedded) {
        l.external = true;
        l.redis.connect_timeout = std::min(l.redis.connect_timeout, ExternalBound(config));
        l.redis.command_timeout = std::min(l.redis.command_timeout, ExternalBound(config));
        Probe(config, l);
      }
      return f(l);
    } catch (const NoEmbeddedRedis& e) {
      if (!e.restarting() || Clock::now() >= until) throw;
      unanswered.clear();
    } catch (const redis::RedisAuthError&) {
      throw;
    } catch (const redis::RedisIoError& e) {
      // It died between being found and being read: found again once it is back. Still down
      // at the end: why (its coordinator runs), not the socket's error.
      if (!embedded) throw;
      unanswered = e.timeout() ? tried : "";
      if (Clock::now() >= until) {
        NoEmbeddedRedis why = Absence(
            config.state_dir.empty() ? job::DefaultStateRoot() : config.state_dir, unanswered);
        if (why.restarting()) throw why;
        throw;
      }
    }
    std::this_thread::sleep_for(
        std::min(milliseconds(100), std::chrono::duration_cast<milliseconds>(
                                        std::max(until - Clock::now(), Clock::duration::zero()))));
  }
}

// The message (exit 4) for an embedded Redis still down after the wait.
std::string StillDown(const job::JobConfig& config, const NoEmbeddedRedis& e) {
  return fmt::format("{} ({} after waiting {:.1f} s: REDIS_DOWNTIME + 2 s)", e.what(),
                     e.hung() ? "still no answer" : "still down", config.redis_downtime + 2);
}

// The replication roles: the replicas as the primary `c` reports them, and what each Sentinel
// names as the primary (or why it did not answer).
JobStatus::Ha ReadHa(Connection& c, const redis::SentinelOptions& sentinel) {
  JobStatus::Ha ha;
  ha.primary = c.options().address();  // "[::1]:port" for IPv6
  std::string info(c.Command({"INFO", "replication"}).str());
  ha.role = redis::InfoField(info, "role");
  size_t pos = 0;
  for (size_t end; pos < info.size(); pos = end + 1) {
    end = info.find('\n', pos);
    if (end == std::string::npos) end = info.size();
    std::string line = info.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // slave0:ip=127.0.0.1,port=6380,state=online,offset=1234,lag=0
    auto colon = line.find(':');
    if (line.rfind("slave", 0) != 0 || colon == std::string::npos ||
        line.find("ip=", colon) == std::string::npos)
      continue;
    std::map<std::string, std::string> f;
    for (size_t at = colon + 1, comma; at < line.size(); at = comma + 1) {
      comma = line.find(',', at);
      if (comma == std::string::npos) comma = line.size();
      std::string kv = line.substr(at, comma - at);
      auto eq = kv.find('=');
      if (eq != std::string::npos) f[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    JobStatus::Ha::Replica r{.address = f["ip"] + ":" + f["port"], .state = f["state"]};
    const std::string& lag = f["lag"];
    std::from_chars(lag.data(), lag.data() + lag.size(), r.lag_s);
    ha.replicas.push_back(r);
  }
  for (const redis::HostPort& s : sentinel.sentinels) {
    JobStatus::Ha::Sentinel one{.address = s.str()};
    try {
      redis::SentinelClient ask({.sentinels = {s},
                                 .master_name = sentinel.master_name,
                                 .timeout = std::chrono::milliseconds(500)});
      one.names = ask.AskPrimary(c.options().password).str();
      one.reachable = true;
    } catch (const redis::RedisError& e) {
      one.names = e.what();
    }
    ha.sentinels.push_back(one);
  }
  return ha;
}

// The server answered the connection's AUTH (an embedded Redis always has a password): the
// window has done its work (a stopped server is caught there). From then on a command on `c`
// waits as long as any command may (the default reply timeout): summing or reading a big result
// can take seconds. An external server's bound (REDIS_RETRY_SECONDS) stays.
void Answered(Connection& c, const Location& l) {
  if (!l.external) c.SetCommandTimeout(redis::ConnectOptions{}.command_timeout);
}

// Everything `status` shows, read on one connection.
JobStatus ReadStatus(job::JobStore& store, Connection& c, const Location& l) {
  JobStatus s;
  Answered(c, l);
  // Another build's library, or another library holding our names, is never called (held-out
  // pass 21: its answer was read as ours, exit 4 "expected a reply of type array").
  redis::RefuseForeignLibrary(c);
  s.stream = store.keys().stream;
  s.counts_key = store.keys().counts;
  job::JobState state = store.State(c);
  s.record = state.fields;
  if (auto owner = s.record.find("owner"); owner != s.record.end())
    s.owner_gone_pid = job::DeadOwnerHere(owner->second);
  if (state.state() != "none") {
    bool shuffle = state.Get("mode") == "shuffle";
    s.tasks = JobStatus::Tasks{.total = state.Int("tasks") + (shuffle ? state.Int("parts") : 0),
                               .done = state.Int("done_tasks") + state.Int("done_parts"),
                               .failed = state.Int("failed_tasks"),
                               .pending = state.Int("pending"),
                               .foreign = state.Int("foreign"),
                               .state = state.state(),
                               .complete = state.done()};
    // (None to list without the stream or its group: XINFO CONSUMERS would be refused.)
    const std::string lost = state.entries_lost();
    if (lost != "stream" && lost != "group") s.consumers = store.Consumers(c);
  }
  s.failed = store.Failures(c);
  s.distinct_words = store.DistinctWords(c);
  s.job_counts_key = OtherCountsKey(state, s.counts_key);
  s.holder_note = HolderNote(state, s.stream, s.counts_key);
  if (ChecksResult(state) && s.job_counts_key.empty())
    s.result = ResultCheck::Of(state, store.ResultSum(c));
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

std::string OtherCountsKey(const job::JobState& job, const std::string& counts_key) {
  const std::string recorded = job.Get("count_key");
  return recorded.empty() || recorded == counts_key ? std::string() : recorded;
}

ResultCheck ResultCheck::Of(const job::JobState& done_job, std::pair<int64_t, uint64_t> sum) {
  return ResultCheck{.distinct_recorded = done_job.Int("distinct"),
                     .distinct_present = sum.first,
                     .words_recorded = done_job.Int("words"),
                     .words_present = sum.second,
                     .taken_by = done_job.Get("count_taken_by")};
}

std::string ResultCheck::Why() const {
  if (!taken_by.empty()) {
    return fmt::format(
        "the job of stream '{}' took it over, once this job's lease had run out ({})",
        EscapeForLog(taken_by), Numbers());
  }
  return Numbers() + "; evicted, or written by someone else?";
}

std::string ResultCheck::Numbers() const {
  return fmt::format("{} distinct words recorded, {} present, {} words recorded, {} present",
                     distinct_recorded, distinct_present, words_recorded, words_present);
}

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
    // A lease past its end (a coordinator stopped, killed, or cut off from Redis) is said to
    // have expired, not shown as negative time left.
    std::string lease = "lease " + field("lease_ms_left") + " ms left";
    const std::string left = field("lease_ms_left");
    int64_t ms = 0;
    if (field("lease_until_ms") == "0") {
      lease = "lease released";
    } else if (auto [end, ec] = std::from_chars(left.data(), left.data() + left.size(), ms);
               ec == std::errc() && end == left.data() + left.size() && ms < 0) {
      lease = fmt::format("lease expired {:.1f} s ago", -static_cast<double>(ms) / 1000);
    }
    fmt::format_to(
        to, "owner:      {} ({}, epoch {}){}\n", field("owner"), lease, field("epoch"),
        s.owner_gone_pid > 0
            ? fmt::format(" (owner gone: pid {} is not running on this host)", s.owner_gone_pid)
            : std::string());
    fmt::format_to(
        to, "tasks:      {} of {} done ({} failed), {} pending, {} foreign entries{}\n",
        field("done_tasks"), field("tasks"), field("failed_tasks"), field("pending"),
        field("foreign"),
        shuffle ? fmt::format("; partitions {} of {} done", field("done_parts"), field("parts"))
                : std::string());
    fmt::format_to(to, "recorded:   {} words, {} distinct\n", field("words"), field("distinct"));
    // (wc_progress_v4's entries_lost: the job cannot go on; JobClaim::Ensure makes it again.)
    if (auto lost = s.record.find("entries_lost"); lost != s.record.end()) {
      fmt::format_to(to,
                     "lost:       its {} is gone from Redis (deleted by another client, or "
                     "evicted): its coordinator makes the job again, or else the next `run`\n",
                     lost->second == "parts" ? "reduced run of a finished partition ('" +
                                                   EscapeForLog(s.stream) + ":parts')"
                     : lost->second == "plan"  ? "plan ('" + EscapeForLog(s.stream) + ":plan')"
                     : lost->second == "group" ? std::string("consumer group")
                                               : "task stream ('" + EscapeForLog(s.stream) + "')");
    }
    for (const auto& w : s.consumers)
      fmt::format_to(to, "  consumer {:<16} {} pending, idle {} ms\n", EscapeForLog(w.name),
                     w.pending, w.idle_ms);
  }
  for (const auto& [task, error] : s.failed)
    fmt::format_to(to, "  failed {}: {}\n", EscapeForLog(task), EscapeForLog(error));

  if (s.ha) {
    const JobStatus::Ha& ha = *s.ha;
    size_t reachable = 0;
    for (const auto& x : ha.sentinels) reachable += x.reachable;
    fmt::format_to(to, "ha:         primary {}{}, {} replica(s), {} of {} Sentinels reachable\n",
                   ha.primary, ha.role == "master" ? "" : " (role " + ha.role + ")",
                   ha.replicas.size(), reachable, ha.sentinels.size());
    for (const auto& r : ha.replicas)
      fmt::format_to(to, "  replica   {} {}, lag {} s\n", r.address, r.state, r.lag_s);
    for (const auto& x : ha.sentinels)
      fmt::format_to(to, "  sentinel  {} {} {}\n", x.address,
                     x.reachable ? "names" : "unreachable:", EscapeForLog(x.names));
  }
  const JobStatus::Checkpoint& cp = s.checkpoint;
  fmt::format_to(to, "checkpoint: last save {} s ago (status {}{}{})\n", cp.seconds_ago,
                 EscapeForLog(cp.last_status), cp.in_progress ? ", one running" : "",
                 cp.aof ? ", AOF on" : "");
  // A done job whose result is not the one it recorded (evicted, deleted, another writer: its
  // distinct words or its total differ): `run` and `top` refuse to print it (exit 8); say so
  // here too.
  const bool differs = s.result && s.result->differs();
  fmt::format_to(to, "counts:     {} distinct words in '{}'{}\n", s.distinct_words,
                 EscapeForLog(s.counts_key),
                 differs ? " - NOT the job's result: " + s.result->Why() : std::string());
  if (!s.holder_note.empty()) fmt::format_to(to, "note:       {}\n", s.holder_note);
  if (!s.job_counts_key.empty()) {
    fmt::format_to(to,
                   "note:       the job on '{}' counts into '{}', not '{}' (COUNT of this "
                   "config): '{}' is not checked against its record\n",
                   EscapeForLog(s.stream), EscapeForLog(s.job_counts_key),
                   EscapeForLog(s.counts_key), EscapeForLog(s.counts_key));
  }
  return out;
}

std::string StatusJson(const JobStatus& s) {
  nlohmann::json j;
  for (const auto& [k, v] : s.record) {
    // A numeric field is a JSON integer (a script compares it as a number); a value that is
    // not one (never written so by mylib) stays the string Redis holds.
    int64_t n = 0;
    const bool numeric = kNumericRecordFields.count(k) > 0 || k.rfind("redos:", 0) == 0;
    if (auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        numeric && !v.empty() && ec == std::errc() && end == v.data() + v.size()) {
      j["job"][k] = n;
    } else {
      j["job"][k] = v;
    }
  }
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
  if (s.result) {
    j["result"] = {{"is_jobs", !s.result->differs()},
                   {"distinct_recorded", s.result->distinct_recorded},
                   {"distinct_present", s.result->distinct_present},
                   {"words_recorded", s.result->words_recorded},
                   {"words_present", s.result->words_present}};
  }
  // Another job on the same IN counts elsewhere: COUNT is not checked against its record.
  if (!s.job_counts_key.empty()) j["job_counts_key"] = s.job_counts_key;
  j["checkpoint"] = {{"last_save_unix", s.checkpoint.last_save_unix},
                     {"seconds_ago", s.checkpoint.seconds_ago},
                     {"in_progress", s.checkpoint.in_progress},
                     {"last_status", s.checkpoint.last_status},
                     {"aof", s.checkpoint.aof}};
  if (s.ha) {
    nlohmann::json& ha = j["ha"];
    ha["primary"] = s.ha->primary;
    ha["role"] = s.ha->role;
    ha["replicas"] = nlohmann::json::array();
    for (const auto& r : s.ha->replicas)
      ha["replicas"].push_back({{"address", r.address}, {"state", r.state}, {"lag_s", r.lag_s}});
    ha["sentinels"] = nlohmann::json::array();
    for (const auto& x : s.ha->sentinels) {
      ha["sentinels"].push_back({{"address", x.address}, {"reachable", x.reachable}});
      ha["sentinels"].back()[x.reachable ? "names" : "error"] = x.names;
    }
  }
  // ASCII only (\u escapes): a C1 control in a name cannot reach a terminal raw either. A name
  // that is no valid UTF-8 (a file name's 0xff byte) has each bad byte as U+FFFD there (JSON
  // strings are Unicode; held-out pass 20: exit 70 "invalid UTF-8 byte"); the text form shows
  // it escaped, byte for byte.
  return j.dump(2, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace) + "\n";
}

// The exit code for a Redis error of `status` or `top`, its message written: 7 for keys held by
// something else (WRONGTYPE, each named: `at` is asked again) and for an ACL's NOPERM (the server
// and the command named); 2 for a password; else 4.
static int RedisTrouble(const char* command, const redis::RedisError& e, job::JobStore& store,
                        const redis::ConnectOptions* at) {
  if (const auto* auth = dynamic_cast<const redis::RedisAuthError*>(&e)) {
    WriteStderrLine(fmt::format("wordcount {}: {}", command, job::PasswordTrouble(*auth)));
    return kExitUsage;
  }
  if (dynamic_cast<const redis::RedisPermissionError*>(&e) ||
      dynamic_cast<const redis::RedisLibraryConflict*>(&e)) {
    WriteStderrLine(fmt::format("wordcount {}: {}", command, e.what()));
    return kExitRefused;
  }
  const auto* reply = dynamic_cast<const redis::RedisReplyError*>(&e);
  if (reply && at) {  // WRONGTYPE, or mylib's "ERR wc: key ... is a string, not a hash"
    std::string held;
    try {
      Connection c(*at);
      held = store.WrongTypes(c);
    } catch (const redis::RedisError&) {
    }
    if (!held.empty()) {
      WriteStderrLine(fmt::format("wordcount {}: {}", command, held));
      return kExitRefused;
    }
  }
  WriteStderrLine(fmt::format("wordcount {}: {}", command, e.what()));
  return kExitRedis;
}

int PrintStatus(const job::JobConfig& config, const RedisLocation& where, bool as_json) {
  job::JobStore store(job::KeysOf(config));
  JobStatus status;
  std::optional<Location> at;
  try {
    status = WaitingForRestart(config, where, [&](const Location& l) {
      at = l;
      Connection c(l.redis);
      JobStatus read = ReadStatus(store, c, l);
      if (l.sentinel.enabled()) read.ha = ReadHa(c, l.sentinel);
      return read;
    });
  } catch (const NoEmbeddedRedis& e) {
    if (!e.restarting()) throw;  // exit 2, saying why
    WriteStderrLine("wordcount status: " + StillDown(config, e));
    return kExitRedis;
  } catch (const redis::RedisError& e) {
    return RedisTrouble("status", e, store, at ? &at->redis : nullptr);
  }
  errno = 0;
  if (std::fputs((as_json ? StatusJson(status) : StatusText(status)).c_str(), stdout) < 0 ||
      std::fflush(stdout) != 0)
    throw OutputError("standard output", "cannot write", errno);
  return kExitOk;
}

int PrintTop(const job::JobConfig& config, const RedisLocation& where, int n) {
  job::JobStore store(job::KeysOf(config));
  std::optional<Location> at;
  try {
    // The embedded Redis is read on one connection, its first answer awaited within
    // WaitingForRestart's window (which retries it); --redis and --sentinel through a
    // session that retries for REDIS_RETRY_SECONDS.
    const bool embedded = where.url.empty() && where.sentinels.empty();
    auto [top, job, sum] = WaitingForRestart(config, where, [&](const Location& l) {
      at = l;
      auto reads = [&](auto&& run) {
        run([&](Connection& c) {  // (as status: no other library is called)
          redis::RefuseForeignLibrary(c);
          return 0;
        });
        job::WordCountPairs top = run([&](Connection& c) { return store.Top(c, n); });
        job::JobState job = run([&](Connection& c) { return store.State(c); });
        std::pair<int64_t, uint64_t> sum;
        // (Also for a job whose COUNT another stream's job took over: held-out pass 22, `top`
        // said "0 present" where `status` gave the numbers.)
        if (ChecksResult(job)) sum = run([&](Connection& c) { return store.ResultSum(c); });
        return std::make_tuple(std::move(top), std::move(job), sum);
      };
      if (embedded) {
        Connection c(l.redis);
        Answered(c, l);
        return reads([&](auto&& call) { return call(c); });
      }
      // Retried for REDIS_RETRY_SECONDS from the first failed call, each wait within what is
      // left of it (as `run`'s session): its message says the wait it made.
      job::RedisSession session(job::SessionOptions{
          .redis = l.redis, .retry_for = ExternalBound(config), .deadline_from_first_call = true});
      return reads([&](auto&& call) { return session.Run(call); });
    });
    // The top of a done job whose result is not the one it recorded (evicted, deleted, changed
    // by another writer: its distinct words or its total differ) is not printed: exit 8, as
    // `run` does.
    if (std::string other = OtherCountsKey(job, store.keys().counts); !other.empty()) {
      // Another job on the same IN, with another COUNT: COUNT holds no result of its; printed
      // as asked, unchecked, and said.
      WriteStderrLine(fmt::format(
          "wordcount top: note: the job on '{}' counts into '{}', not '{}' (COUNT of this "
          "config): the top of '{}' is not checked against a job's record",
          store.keys().stream, other, store.keys().counts, store.keys().counts));
    } else if (std::string note = HolderNote(job, store.keys().stream, store.keys().counts);
               !note.empty()) {
      WriteStderrLine("wordcount top: note: " + note);
    } else if (ChecksResult(job)) {
      if (const ResultCheck result = ResultCheck::Of(job, sum); result.differs()) {
        WriteStderrLine(
            fmt::format("wordcount top: the result in '{}' is not the one job {} recorded: {}",
                        store.keys().counts, job.id(), result.Why()));
        return kExitVerify;
      }
    }
    std::vector<WordCount> views;
    for (const auto& [w, count] : top) views.push_back({w, count});
    errno = 0;
    if (std::fflush(stdout) != 0 || !WriteTop(STDOUT_FILENO, views))
      throw OutputError("standard output", "cannot write", errno);
  } catch (const NoEmbeddedRedis& e) {
    if (!e.restarting()) throw;  // exit 2, saying why
    WriteStderrLine("wordcount top: " + StillDown(config, e));
    return kExitRedis;
  } catch (const UsageError&) {
    throw;  // exit 2, as before
  } catch (const OutputError&) {
    throw;  // exit 6
  } catch (const redis::RedisError& e) {
    return RedisTrouble("top", e, store, at ? &at->redis : nullptr);
  } catch (const std::exception& e) {
    WriteStderrLine(fmt::format("wordcount top: {}", e.what()));
    return kExitRedis;
  }
  return kExitOk;
}

}  // namespace wc::cli

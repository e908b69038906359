#include "job/config.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "job/keys.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/safe_files.h"

namespace wc::job {

namespace {

using json = nlohmann::json;

// An integer in `r`: never wraps (a value above r.max is refused, whatever T is).
template <class T>
std::function<void(const json&)> Int(T* out, IntRange r) {
  return [out, r](const json& v) {
    if (!v.is_number_integer()) throw std::invalid_argument("an integer");
    // nlohmann keeps integers above INT64_MAX as unsigned: they are out of range too.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(r.max))
      throw std::invalid_argument(r.Describe());
    int64_t x = v.get<int64_t>();
    if (!r.Contains(x)) throw std::invalid_argument(r.Describe());
    *out = static_cast<T>(x);
  };
}

std::function<void(const json&)> Seconds(double* out, SecondsRange r) {
  return [out, r](const json& v) {
    if (!v.is_number() || !r.Contains(v.get<double>())) throw std::invalid_argument(r.Describe());
    *out = v.get<double>();
  };
}

// A string value holds no NUL byte (a JSON "\u0000"): every one becomes a file name, a Redis key
// or a command-line argument of a worker or redis-server, where it would cut the value short
// (held-out pass 19: IN "ff\u0000a" hung the run, workers waiting on stream "ff"; a password
// was cut and its start shown in a redis-server error).
constexpr const char* kNoNul = "without a NUL byte (\\u0000)";

// Every string key is non-empty: "" never stands for a default (leave the key out for that).
std::function<void(const json&)> String(std::string* out, size_t max_bytes = SIZE_MAX) {
  return [out, max_bytes](const json& v) {
    if (!v.is_string() || v.get<std::string>().empty())
      throw std::invalid_argument("a non-empty string");
    const std::string s = v.get<std::string>();
    if (s.find('\0') != std::string::npos)
      throw std::invalid_argument(std::string("a string ") + kNoNul);
    if (s.size() > max_bytes)
      throw std::invalid_argument(fmt::format("at most {} bytes long", max_bytes));
    *out = s;
  };
}

std::function<void(const json&)> Strings(std::vector<std::string>* out) {
  return [out](const json& v) {
    if (!v.is_array()) throw std::invalid_argument("an array of strings");
    out->clear();
    for (const auto& e : v) {
      if (!e.is_string()) throw std::invalid_argument("an array of strings");
      if (e.get<std::string>().find('\0') != std::string::npos)
        throw std::invalid_argument(std::string("an array of strings ") + kNoNul);
      out->push_back(e.get<std::string>());
    }
  };
}

template <class E>
std::function<void(const json&)> Enum(E* out, E (*parse)(const std::string&, const std::string&),
                                      std::string key) {
  return [out, parse, key](const json& v) {
    if (!v.is_string()) throw std::invalid_argument("a string");
    *out = parse(v.get<std::string>(), key);
  };
}

// Directives of the embedded redis-server that wordcount sets itself (redis/redis_server.cc,
// redis/sentinel_cluster.cc, PERSISTENCE) or that would defeat its supervision: where it
// listens and who may connect, where its files go (a dump.rdb left in --dir /tmp), its
// password, replication, persistence, the commands the job calls. (Modules are refused apart:
// code redis-server would run as this user; held-out pass 21: another user's config loaded one
// as root.)
// clang-format off
constexpr std::string_view kOwnedRedisDirectives[] = {
    "port", "bind", "unixsocket", "unixsocketperm", "protected-mode", "tls-port",
    "dir", "dbfilename", "logfile", "pidfile", "daemonize", "include",
    "requirepass", "masterauth", "masteruser", "user", "aclfile",
    "appendonly", "appendfilename", "appenddirname", "save",
    "replicaof", "slaveof", "min-replicas-to-write", "min-slaves-to-write",
    "min-replicas-max-lag", "min-slaves-max-lag", "cluster-enabled", "cluster-config-file",
    "rename-command", "sentinel",
};
// clang-format on

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void ValidateRedisArgs(const std::vector<std::string>& args) {
  // redis-server reads its options the way its main() does: "--name" starts a directive, the
  // argument right after a name is always its value (even if it starts with "--", except after
  // --save), more arguments without "--" are more values. A name is written into the
  // configuration text as is, so "--port 1" or a name with a newline would be read as a
  // directive (or several) of its own: names must be plain. A lone "-" reads the
  // configuration from standard input.
  bool after_name = false, any = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-")
      throw UsageError("REDIS_ARGS: \"-\" (configuration from standard input) is not allowed");
    bool save_then_name = i > 0 && Lower(args[i - 1]) == "--save" && a.starts_with("--");
    if ((after_name && !save_then_name) || !a.starts_with("--")) {
      if (!any) {
        throw UsageError(
            fmt::format("REDIS_ARGS must start with a --directive, got \"{}\"", EscapeForLog(a)));
      }
      after_name = false;
      continue;
    }
    std::string name = Lower(std::string_view(a).substr(2));
    if (name.empty() ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos) {
      throw UsageError(fmt::format(
          "REDIS_ARGS: \"{}\" is not a --directive name; give a directive and each of its "
          "values as separate strings, e.g. [\"--maxmemory\", \"2gb\"]",
          EscapeForLog(a)));
    }
    if (name == "loadmodule" || name == "enable-module-command") {
      throw UsageError(fmt::format(
          "REDIS_ARGS: --{} would load code into the embedded redis-server, run as this user "
          "(and change the commands the job calls): refused",
          name));
    }
    if (std::find(std::begin(kOwnedRedisDirectives), std::end(kOwnedRedisDirectives), name) !=
        std::end(kOwnedRedisDirectives)) {
      throw UsageError(fmt::format(
          "REDIS_ARGS: --{} is set by wordcount for its embedded Redis (where it listens, its "
          "files, password, replication and persistence are the supervisor's): refused",
          name));
    }
    after_name = any = true;
  }
}

const char* ToString(Mode m) { return m == Mode::kShuffle ? "shuffle" : "direct"; }
const char* ToString(Persistence p) { return p == Persistence::kAof ? "aof" : "rdb"; }
const char* ToString(RedisHa h) { return h == RedisHa::kSentinel ? "sentinel" : "none"; }

RedisHa ParseRedisHa(const std::string& s, const std::string& key) {
  if (s == "none") return RedisHa::kNone;
  if (s == "sentinel") return RedisHa::kSentinel;
  throw UsageError(fmt::format("{} must be \"none\" or \"sentinel\", got \"{}\"", key, s));
}

Mode ParseMode(const std::string& s, const std::string& key) {
  if (s == "direct") return Mode::kDirect;
  if (s == "shuffle") return Mode::kShuffle;
  throw UsageError(fmt::format("{} must be \"direct\" or \"shuffle\", got \"{}\"", key, s));
}

Persistence ParsePersistence(const std::string& s, const std::string& key) {
  if (s == "rdb") return Persistence::kRdb;
  if (s == "aof") return Persistence::kAof;
  throw UsageError(fmt::format("{} must be \"rdb\" or \"aof\", got \"{}\"", key, s));
}

JobConfig LoadConfig(const std::string& path) {
  // The config decides which files are written and how redis-server runs: one another user could
  // write (theirs, writable by others, or reached through their directory or link) would steer
  // this user's run (held-out pass 21: a config.json planted in a shared directory ran its
  // REDIS_ARGS as root). Refused like an unsafe output directory (util/safe_files.h).
  CheckSafeParent(path, "config file");
  struct stat link {};
  if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode) && link.st_uid != ::geteuid() &&
      link.st_uid != 0) {
    throw UsageError(fmt::format(
        "config file {} is a symbolic link of another user (uid {}): refused, it would decide "
        "this run's files and redis-server options",
        EscapeForLog(path), link.st_uid));
  }
  // A directory made the stream's read throw (exit 70); a FIFO would block here.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw UsageError(ErrnoMessage("cannot read config file " + path, errno));
  if (!S_ISREG(st.st_mode))
    throw UsageError(fmt::format("config file {} is not a regular file", path));
  if ((st.st_uid != ::geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw UsageError(fmt::format(
        "config file {} {}: refused, it would decide this run's files and redis-server options "
        "(chmod go-w it, or use a config of your own)",
        EscapeForLog(path),
        st.st_uid != ::geteuid() && st.st_uid != 0
            ? fmt::format("belongs to another user (uid {})", st.st_uid)
            : std::string("is writable by others")));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot read config file {}", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError(fmt::format("cannot read config file {}", path));
  // The JSON reader stops at a NUL byte as at the end: what follows one would be ignored.
  if (size_t nul = text.find('\0'); nul != std::string::npos) {
    throw UsageError(fmt::format(
        "config file {} is not valid JSON: a NUL byte at offset {} (nothing may follow it)", path,
        nul));
  }
  // A key given twice in one object would silently take its last value: refused, named.
  std::vector<std::vector<std::string>> seen;  // the keys of each open object
  auto no_duplicates = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      seen.emplace_back();
    } else if (event == json::parse_event_t::object_end && !seen.empty()) {
      seen.pop_back();
    } else if (event == json::parse_event_t::key && !seen.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      auto& keys = seen.back();
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
        throw UsageError(fmt::format("{}: config key '{}' is given more than once{}", path,
                                     EscapeForLog(key), depth > 1 ? " (in a nested object)" : ""));
      }
      keys.push_back(key);
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text, no_duplicates);
  } catch (const json::exception& e) {
    // The reader quotes what it read last ("last read: '\"hunter2'"): that may be the password
    // (held-out pass 20). The line and column say where without it.
    std::string what = e.what();
    if (size_t cut = what.find("; last read:"); cut != std::string::npos) what.erase(cut);
    throw UsageError(fmt::format("config file {} is not valid JSON: {}", path, what));
  }
  if (!doc.is_object())
    throw UsageError(fmt::format("config file {} must hold a JSON object", path));
  // A secret in a file every local user may read is no secret (ssh refuses such a key file).
  if (doc.contains("REDIS_PASSWORD") && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    throw UsageError(fmt::format(
        "config file {} holds REDIS_PASSWORD and is readable by {} (mode {:04o}): refused (chmod "
        "600 it, or give the password in $WC_REDIS_PASSWORD instead)",
        EscapeForLog(path), (st.st_mode & S_IROTH) != 0 ? "every user" : "its group",
        st.st_mode & 07777));
  }

  JobConfig c;
  const std::map<std::string, std::function<void(const json&)>> keys = {
      {"LOGFILE", String(&c.logfile)},
      {"N_NORMAL_WORKERS", Int(&c.n_normal_workers, kWorkersRange)},
      {"N_CRASHING_WORKERS", Int(&c.n_crashing_workers, kWorkersRange)},
      {"N_SLEEPING_WORKERS", Int(&c.n_sleeping_workers, kWorkersRange)},
      {"DATA_PATH", String(&c.data_path)},
      {"IN", String(&c.in)},
      {"FNAME", String(&c.fname)},
      {"COUNT", String(&c.count)},
      {"CHECKPOINT_INTERVAL", Seconds(&c.checkpoint_interval, kCheckpointIntervalRange)},
      {"REDIS_DOWNTIME", Seconds(&c.redis_downtime, kRedisDowntimeRange)},
      {"TOP", Int(&c.top, kTopRange)},
      {"MODE", Enum(&c.mode, ParseMode, "MODE")},
      {"SPILL_DIR", String(&c.spill_dir)},
      {"PARTITIONS", Int(&c.partitions, kPartitionsRange)},
      {"CLAIM_IDLE_MS", Int(&c.claim_idle_ms, kClaimIdleMsRange)},
      {"REDIS_RESTART_INTERVAL", Seconds(&c.redis_restart_interval, kRestartIntervalRange)},
      // (held-out pass 19: a 17,000-byte password was exit 4 after 15 s, "Broken pipe")
      {"REDIS_PASSWORD", String(&c.redis_password, redis::kMaxPasswordBytes)},
      {"STATE_DIR", String(&c.state_dir)},
      {"CHUNK_BYTES", Int(&c.chunk_bytes, kChunkBytesRange)},
      {"COMMIT_MAX_WORDS", Int(&c.commit_max_words, kCommitMaxWordsRange)},
      {"COMMIT_MAX_TASKS", Int(&c.commit_max_tasks, kCommitMaxTasksRange)},
      {"COMMIT_WAIT_REPLICAS", Int(&c.commit_wait_replicas, kCommitWaitReplicasRange)},
      {"MAX_DELIVERIES", Int(&c.max_deliveries, kMaxDeliveriesRange)},
      {"REDIS_RETRY_SECONDS", Seconds(&c.redis_retry_seconds, kRetrySecondsRange)},
      {"COLUMN", String(&c.column)},
      {"PERSISTENCE", Enum(&c.persistence, ParsePersistence, "PERSISTENCE")},
      {"REDIS_ARGS", Strings(&c.redis_args)},
      {"REDIS_HA", Enum(&c.redis_ha, ParseRedisHa, "REDIS_HA")},
      {"REDIS_REPLICAS", Int(&c.redis_replicas, kRedisReplicasRange)},
      {"SENTINEL_DOWN_AFTER_MS", Int(&c.sentinel_down_after_ms, kSentinelDownAfterMsRange)},
  };
  for (const auto& [key, value] : doc.items()) {
    auto it = keys.find(key);
    if (it == keys.end())  // escaped: a NUL in it would end the message there
      throw UsageError(fmt::format("{}: unknown config key '{}'", path, EscapeForLog(key)));
    try {
      it->second(value);
    } catch (const std::invalid_argument& e) {
      // The password is never shown, not even a wrong one (it may be the right one, mistyped).
      throw UsageError(fmt::format(
          "{}: config key '{}' must be {}, got {}", path, key, e.what(),
          key == "REDIS_PASSWORD" ? std::string("(not shown)") : EscapeForLog(value.dump())));
    } catch (const UsageError& e) {  // an enumeration (MODE, PERSISTENCE, REDIS_HA)
      throw UsageError(fmt::format("{}: config key {}", path, e.what()));
    }
  }
  try {
    Validate(c);
  } catch (const UsageError& e) {  // keys that contradict each other: the file is named too
    throw UsageError(fmt::format("{}: {}", path, e.what()));
  }
  return c;
}

void Validate(const JobConfig& c) {
  int64_t local = int64_t{c.n_normal_workers} + c.n_crashing_workers + c.n_sleeping_workers;
  if (local > kWorkersRange.max) {
    throw UsageError(fmt::format(
        "N_NORMAL_WORKERS + N_CRASHING_WORKERS + N_SLEEPING_WORKERS must be at most {} local "
        "workers, got {} (more belong on other hosts: wordcount worker)",
        kWorkersRange.max, local));
  }
  // A forced crash keeps Redis down for REDIS_DOWNTIME, then it loads its checkpoint; every
  // client retries a lost connection for REDIS_RETRY_SECONDS, trying again at least once a
  // second. A retry that ends before the server is back makes every worker give up (exit 4)
  // at the first forced crash.
  if (c.redis_restart_interval > 0 && c.redis_downtime + 1 > c.redis_retry_seconds) {
    throw UsageError(fmt::format(
        "REDIS_RETRY_SECONDS ({}) must be at least REDIS_DOWNTIME + 1 ({}) when "
        "REDIS_RESTART_INTERVAL crashes Redis: otherwise every client gives up on Redis while "
        "it is down",
        c.redis_retry_seconds, c.redis_downtime + 1));
  }
  ValidateRedisArgs(c.redis_args);
  // The stream's entries carry job, task, part and publish fields (held-out pass 23: FNAME
  // "publish" made every task entry foreign, and the job waited for ever).
  if (c.fname == "job" || c.fname == "task" || c.fname == "part" || c.fname == "publish")
    throw UsageError(
        fmt::format("FNAME must not be \"{}\": the stream's entries use that field", c.fname));
  // COUNT must differ from the task stream and every key derived from it.
  JobKeys keys = KeysOf(c);
  redis::Args all = keys.All();
  if (std::count(all.begin(), all.end(), c.count) > 1) {
    throw UsageError(fmt::format(
        "COUNT \"{}\" collides with the task stream IN \"{}\" or one of its keys ({}:...)", c.count,
        c.in, c.in));
  }
  // And COUNT's own key (COUNT:holder) from those (held-out pass 18: IN "count:holder" was exit 7,
  // "held by something else", with a state directory left behind).
  if (std::count(all.begin(), all.end(), keys.holder()) > 0) {
    throw UsageError(fmt::format(
        "IN \"{}\" collides with the key {} that COUNT \"{}\" comes with: choose other IN or "
        "COUNT names",
        c.in, keys.holder(), c.count));
  }
  // The embedded replicated Redis has REDIS_REPLICAS replicas: a wait for more would time out
  // on every commit.
  if (c.redis_ha == RedisHa::kSentinel && c.commit_wait_replicas > c.redis_replicas)
    throw UsageError(fmt::format("COMMIT_WAIT_REPLICAS {} is more than REDIS_REPLICAS {}",
                                 c.commit_wait_replicas, c.redis_replicas));
}

}  // namespace wc::job

#include "job/config.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "job/keys.h"
#include "util/error.h"

namespace wc::job {

namespace {

using json = nlohmann::json;

// An integer in [min, max]: never wraps (a value above max is refused, whatever T is).
template <class T>
std::function<void(const json&)> Int(T* out, int64_t min, int64_t max) {
  return [out, min, max](const json& v) {
    if (!v.is_number_integer()) throw std::invalid_argument("an integer");
    // nlohmann keeps integers above INT64_MAX as unsigned: they are out of range too.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max))
      throw std::invalid_argument(fmt::format("an integer from {} to {}", min, max));
    int64_t x = v.get<int64_t>();
    if (x < min || x > max)
      throw std::invalid_argument(fmt::format("an integer from {} to {}", min, max));
    *out = static_cast<T>(x);
  };
}

std::function<void(const json&)> Seconds(double* out, double max) {
  return [out, max](const json& v) {
    if (!v.is_number() || !(v.get<double>() >= 0) || v.get<double>() > max)
      throw std::invalid_argument(fmt::format("a number of seconds from 0 to {}", max));
    *out = v.get<double>();
  };
}

std::function<void(const json&)> String(std::string* out, bool allow_empty = false) {
  return [out, allow_empty](const json& v) {
    if (!v.is_string() || (!allow_empty && v.get<std::string>().empty()))
      throw std::invalid_argument("a non-empty string");
    *out = v.get<std::string>();
  };
}

std::function<void(const json&)> Strings(std::vector<std::string>* out) {
  return [out](const json& v) {
    if (!v.is_array()) throw std::invalid_argument("an array of strings");
    out->clear();
    for (const auto& e : v) {
      if (!e.is_string()) throw std::invalid_argument("an array of strings");
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

constexpr double kHour = 3600, kDay = 86400;
constexpr int64_t kMaxWorkers = 4096;

}  // namespace

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
  // A directory made the stream's read throw (exit 70); a FIFO would block here.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw UsageError(fmt::format("config file {} is not a regular file", path));
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("cannot read config file {}", path));
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    throw UsageError(fmt::format("config file {} is not valid JSON: {}", path, e.what()));
  }
  if (!doc.is_object())
    throw UsageError(fmt::format("config file {} must hold a JSON object", path));

  JobConfig c;
  const std::map<std::string, std::function<void(const json&)>> keys = {
      {"LOGFILE", String(&c.logfile, true)},
      {"N_NORMAL_WORKERS", Int(&c.n_normal_workers, 0, kMaxWorkers)},
      {"N_CRASHING_WORKERS", Int(&c.n_crashing_workers, 0, kMaxWorkers)},
      {"N_SLEEPING_WORKERS", Int(&c.n_sleeping_workers, 0, kMaxWorkers)},
      {"DATA_PATH", String(&c.data_path)},
      {"IN", String(&c.in)},
      {"FNAME", String(&c.fname)},
      {"COUNT", String(&c.count)},
      {"CHECKPOINT_INTERVAL", Seconds(&c.checkpoint_interval, kDay)},
      {"REDIS_DOWNTIME", Seconds(&c.redis_downtime, kHour)},
      {"TOP", Int(&c.top, 0, 100'000'000)},
      {"MODE", Enum(&c.mode, ParseMode, "MODE")},
      {"SPILL_DIR", String(&c.spill_dir, true)},
      {"PARTITIONS", Int(&c.partitions, 0, kMaxPartitions)},
      {"CLAIM_IDLE_MS", Int(&c.claim_idle_ms, 1, 86'400'000)},
      {"REDIS_RESTART_INTERVAL", Seconds(&c.redis_restart_interval, kDay)},
      {"REDIS_PASSWORD", String(&c.redis_password, true)},
      {"STATE_DIR", String(&c.state_dir, true)},
      {"CHUNK_BYTES", Int(&c.chunk_bytes, 1, int64_t{1} << 40)},
      {"COMMIT_MAX_WORDS", Int(&c.commit_max_words, 1, 3'000'000)},
      {"COMMIT_MAX_TASKS", Int(&c.commit_max_tasks, 1, 100'000)},
      {"COMMIT_WAIT_REPLICAS", Int(&c.commit_wait_replicas, 0, 4)},
      {"MAX_DELIVERIES", Int(&c.max_deliveries, 1, 1000)},
      {"REDIS_RETRY_SECONDS", Seconds(&c.redis_retry_seconds, kDay)},
      {"COLUMN", String(&c.column)},
      {"PERSISTENCE", Enum(&c.persistence, ParsePersistence, "PERSISTENCE")},
      {"REDIS_ARGS", Strings(&c.redis_args)},
      {"REDIS_HA", Enum(&c.redis_ha, ParseRedisHa, "REDIS_HA")},
      {"REDIS_REPLICAS", Int(&c.redis_replicas, 1, 4)},
      {"SENTINEL_DOWN_AFTER_MS", Int(&c.sentinel_down_after_ms, 100, 60'000)},
  };
  for (const auto& [key, value] : doc.items()) {
    auto it = keys.find(key);
    if (it == keys.end()) throw UsageError(fmt::format("{}: unknown config key '{}'", path, key));
    try {
      it->second(value);
    } catch (const std::invalid_argument& e) {
      throw UsageError(
          fmt::format("{}: config key '{}' must be {}, got {}", path, key, e.what(), value.dump()));
    }
  }
  Validate(c);
  return c;
}

void Validate(const JobConfig& c) {
  if (c.fname == "job" || c.fname == "task" || c.fname == "part")
    throw UsageError(fmt::format("FNAME must not be \"{}\": task entries use that field", c.fname));
  // COUNT must differ from the task stream and every key derived from it.
  JobKeys keys = KeysOf(c);
  redis::Args all = keys.All();
  if (std::count(all.begin(), all.end(), c.count) > 1) {
    throw UsageError(fmt::format(
        "COUNT \"{}\" collides with the task stream IN \"{}\" or one of its keys ({}:...)", c.count,
        c.in, c.in));
  }
  // The embedded replicated Redis has REDIS_REPLICAS replicas: a wait for more would time out
  // on every commit.
  if (c.redis_ha == RedisHa::kSentinel && c.commit_wait_replicas > c.redis_replicas)
    throw UsageError(fmt::format("COMMIT_WAIT_REPLICAS {} is more than REDIS_REPLICAS {}",
                                 c.commit_wait_replicas, c.redis_replicas));
}

}  // namespace wc::job

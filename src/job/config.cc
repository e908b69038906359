#include "job/config.h"

#include <fmt/format.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace wc::job {

namespace {

using json = nlohmann::json;

template <class T>
std::function<void(const json&)> Int(T* out, int64_t min) {
  return [out, min](const json& v) {
    if (!v.is_number_integer()) throw std::invalid_argument("an integer");
    int64_t x = v.get<int64_t>();
    if (x < min) throw std::invalid_argument(fmt::format("an integer >= {}", min));
    *out = static_cast<T>(x);
  };
}

std::function<void(const json&)> Seconds(double* out) {
  return [out](const json& v) {
    if (!v.is_number() || v.get<double>() < 0)
      throw std::invalid_argument("a number of seconds >= 0");
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

}  // namespace

JobConfig LoadConfig(const std::string& path) {
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
      {"N_NORMAL_WORKERS", Int(&c.n_normal_workers, 0)},
      {"N_CRASHING_WORKERS", Int(&c.n_crashing_workers, 0)},
      {"N_SLEEPING_WORKERS", Int(&c.n_sleeping_workers, 0)},
      {"DATA_PATH", String(&c.data_path)},
      {"IN", String(&c.in)},
      {"FNAME", String(&c.fname)},
      {"COUNT", String(&c.count)},
      {"CHECKPOINT_INTERVAL", Seconds(&c.checkpoint_interval)},
      {"REDIS_DOWNTIME", Seconds(&c.redis_downtime)},
      {"TOP", Int(&c.top, 0)},
      {"MODE", String(&c.mode)},
      {"SPILL_DIR", String(&c.spill_dir, true)},
      {"PARTITIONS", Int(&c.partitions, 0)},
      {"CLAIM_IDLE_MS", Int(&c.claim_idle_ms, 1)},
      {"REDIS_RESTART_INTERVAL", Seconds(&c.redis_restart_interval)},
      {"REDIS_PASSWORD", String(&c.redis_password, true)},
      {"CHUNK_BYTES", Int(&c.chunk_bytes, 1)},
      {"COMMIT_MAX_WORDS", Int(&c.commit_max_words, 1)},
      {"COMMIT_MAX_TASKS", Int(&c.commit_max_tasks, 1)},
      {"MAX_DELIVERIES", Int(&c.max_deliveries, 1)},
      {"REDIS_RETRY_SECONDS", Seconds(&c.redis_retry_seconds)},
      {"COLUMN", String(&c.column)},
      {"PERSISTENCE", String(&c.persistence)},
      {"REDIS_ARGS", Strings(&c.redis_args)},
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
  if (c.persistence != "rdb" && c.persistence != "aof") {
    throw UsageError(
        fmt::format("PERSISTENCE must be \"rdb\" or \"aof\", got \"{}\"", c.persistence));
  }
  if (c.mode != "direct" && c.mode != "shuffle")
    throw UsageError(fmt::format("MODE must be \"direct\" or \"shuffle\", got \"{}\"", c.mode));
  if (c.partitions > 4096)
    throw UsageError(fmt::format("PARTITIONS must be at most 4096, got {}", c.partitions));
  if (c.n_normal_workers + c.n_crashing_workers + c.n_sleeping_workers == 0) {
    throw UsageError(
        "the job needs at least one worker (N_NORMAL_WORKERS + N_CRASHING_WORKERS + "
        "N_SLEEPING_WORKERS)");
  }
}

}  // namespace wc::job

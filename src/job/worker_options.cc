#include "job/worker_options.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

#include "util/bounds.h"
#include "util/error.h"
#include "util/escape.h"

namespace wc::job {

namespace {

// A flag's value in its range (util/bounds.h: the same check, and message, as the config key
// it mirrors).
template <class T>
T Number(const std::string& flag, const std::string& v, IntRange r) {
  return static_cast<T>(ParseInteger(flag, v, r));
}

std::chrono::milliseconds Millis(const std::string& flag, const std::string& v, SecondsRange r) {
  return std::chrono::milliseconds(static_cast<int64_t>(ParseSeconds(flag, v, r) * 1000));
}

// --wait-seconds: how long a worker waits for a job (a day at most).
constexpr SecondsRange kWaitSecondsRange{0, 86400};

// A text flag that must not be empty: a UsageError naming it (like the config key it mirrors).
WorkerFlag NonEmptyText(std::string name, std::string help, std::string WorkerOptions::*field) {
  return {name,
          help,
          false,
          false,
          [field, name](WorkerOptions& o, const std::string& v) { o.*field = NonEmpty(name, v); },
          [field](const WorkerOptions& o) { return std::optional<std::string>(o.*field); }};
}

WorkerFlag Switch(std::string name, std::string help, bool WorkerOptions::*field) {
  return {name,
          help,
          true,
          false,
          [field](WorkerOptions& o, const std::string& v) { o.*field = v == "1"; },
          [field](const WorkerOptions& o) {
            return o.*field ? std::optional<std::string>("1") : std::nullopt;
          }};
}

template <class T>
WorkerFlag Count(std::string name, std::string help, T WorkerOptions::*field, IntRange r) {
  return {name,
          fmt::format("{} ({} to {})", help, r.min, r.max),
          false,
          false,
          [=](WorkerOptions& o, const std::string& v) { o.*field = Number<T>(name, v, r); },
          [field](const WorkerOptions& o) {
            return std::optional<std::string>(std::to_string(o.*field));
          }};
}

}  // namespace

const std::vector<WorkerFlag>& WorkerFlags() {
  static const std::vector<WorkerFlag> flags = {
      {"--redis",
       "redis://host:port or unix:///path/to/socket (database 0; the password from "
       "$WC_REDIS_PASSWORD, never in the URL); or --sentinel; default: $WC_REDIS",
       false, false,
       [](WorkerOptions& o, const std::string& v) { o.redis = RedisOptionsFromUrl(v, "--redis"); },
       [](const WorkerOptions& o) {
         // With Sentinels, `redis` gives only the password (from the environment) and timeouts.
         if (o.sentinel.enabled()) return std::optional<std::string>();
         return std::optional<std::string>(redis::ToUrl(o.redis));  // never the password
       }},
      {"--sentinel",
       "host:port[,host:port...] of Sentinels naming the primary (with --master-name; password "
       "from $WC_REDIS_PASSWORD)",
       false, false,
       [](WorkerOptions& o, const std::string& v) {
         o.sentinel.sentinels = SentinelOptionsFrom(v, "-").sentinels;
       },
       [](const WorkerOptions& o) {
         return o.sentinel.enabled()
                    ? std::optional<std::string>(redis::JoinHostPorts(o.sentinel.sentinels))
                    : std::nullopt;
       }},
      {"--master-name", "The name the Sentinels monitor the primary under", false, false,
       [](WorkerOptions& o, const std::string& v) {
         o.sentinel.master_name = NonEmpty("--master-name", v);
       },
       [](const WorkerOptions& o) {
         return o.sentinel.master_name.empty() ? std::nullopt
                                               : std::optional<std::string>(o.sentinel.master_name);
       }},
      NonEmptyText("--name", "Consumer name (stable across restarts)", &WorkerOptions::name),
      Switch("--crash", "Exit right after reading a task (the lab's crash point)",
             &WorkerOptions::crash),
      Switch("--slow", "Sleep 1 s per task", &WorkerOptions::slow),
      NonEmptyText("--stream",
                   "Task stream (IN); the job's other keys and settings come from Redis",
                   &WorkerOptions::stream),
      {"--job", "Serve only the job with this id (default: whichever job is running)", false, false,
       [](WorkerOptions& o, const std::string& v) { o.job = NonEmpty("--job", v); },
       [](const WorkerOptions& o) {
         return o.job.empty() ? std::nullopt : std::optional<std::string>(o.job);
       }},
      {"--wait-seconds",
       fmt::format("How long to wait for a job to serve (default 600; {})",
                   kWaitSecondsRange.Describe()),
       false, false,
       [](WorkerOptions& o, const std::string& v) {
         o.wait = Millis("--wait-seconds", v, kWaitSecondsRange);
       },
       [](const WorkerOptions& o) {
         return std::optional<std::string>(std::to_string(o.wait.count() / 1000.0));
       }},
      Switch("--keep-going", "After a job is done, wait for the next one",
             &WorkerOptions::keep_going),
      // Not "" (held-out pass 26: taken, and refused only once a shuffle job came, as missing).
      [] {
        WorkerFlag f = NonEmptyText(
            "--spill-dir",
            "Shuffle mode: the SPILL_DIR holding every job's map outputs (shared by all hosts)",
            &WorkerOptions::spill_root);
        f.get = [](const WorkerOptions& o) {
          return o.spill_root.empty() ? std::nullopt : std::optional<std::string>(o.spill_root);
        };
        return f;
      }(),
      {"--claim-idle-ms",
       fmt::format("Steal tasks pending this long, in ms ({} to {})", kClaimIdleMsRange.min,
                   kClaimIdleMsRange.max),
       false, false,
       [](WorkerOptions& o, const std::string& v) {
         o.claim_idle =
             std::chrono::milliseconds(Number<int64_t>("--claim-idle-ms", v, kClaimIdleMsRange));
       },
       [](const WorkerOptions& o) {
         return std::optional<std::string>(std::to_string(o.claim_idle.count()));
       }},
      Count<size_t>("--commit-max-words", "Distinct words per commit",
                    &WorkerOptions::commit_max_words, kCommitMaxWordsRange),
      Count<size_t>("--commit-max-tasks", "Tasks per commit", &WorkerOptions::commit_max_tasks,
                    kCommitMaxTasksRange),
      Count<int>("--max-deliveries",
                 "Tries of an unreadable task (a job record without MAX_DELIVERIES)",
                 &WorkerOptions::max_deliveries, kMaxDeliveriesRange),
      Count<int>("--commit-wait-replicas", "WAIT for replicas after each acknowledgement",
                 &WorkerOptions::commit_wait_replicas, kCommitWaitReplicasRange),
      {"--redis-retry-seconds",
       fmt::format("How long to wait for Redis ({})", kRetrySecondsRange.Describe()), false, false,
       [](WorkerOptions& o, const std::string& v) {
         o.redis_retry = Millis("--redis-retry-seconds", v, kRetrySecondsRange);
       },
       [](const WorkerOptions& o) {
         return std::optional<std::string>(std::to_string(o.redis_retry.count() / 1000.0));
       }},
      // Not "" (held-out pass 21: `--logfile ""` was taken, and the worker said nothing at all):
      // leave the flag out for none. (The getter of an empty one is none, for ToArgv.)
      [] {
        WorkerFlag f =
            NonEmptyText("--logfile", "Append events to this file", &WorkerOptions::logfile);
        f.get = [](const WorkerOptions& o) {
          return o.logfile.empty() ? std::nullopt : std::optional<std::string>(o.logfile);
        };
        return f;
      }(),
      Switch("--quiet", "Only errors on stderr", &WorkerOptions::quiet),
  };
  return flags;
}

WorkerOptions WorkerOptionsFor(const JobConfig& c) {
  WorkerOptions w;
  w.stream = c.in;
  w.claim_idle = std::chrono::milliseconds(c.claim_idle_ms);
  w.commit_max_words = static_cast<size_t>(c.commit_max_words);
  w.commit_max_tasks = static_cast<size_t>(c.commit_max_tasks);
  w.commit_wait_replicas = c.commit_wait_replicas;
  w.max_deliveries = c.max_deliveries;
  w.redis_retry = std::chrono::milliseconds(static_cast<int64_t>(c.redis_retry_seconds * 1000));
  w.logfile = c.logfile;
  w.quiet = true;
  return w;
}

std::vector<std::string> ToArgv(const WorkerOptions& o) {
  std::vector<std::string> args;
  for (const WorkerFlag& f : WorkerFlags()) {
    std::optional<std::string> v = f.get(o);
    if (!v) continue;
    args.push_back(f.name);
    if (!f.is_switch) args.push_back(*v);
  }
  return args;
}

WorkerOptions FromArgv(const std::vector<std::string>& args, const char* env_redis) {
  WorkerOptions o;
  bool url = false;
  const auto& flags = WorkerFlags();
  for (size_t i = 0; i < args.size(); ++i) {
    auto it = std::find_if(flags.begin(), flags.end(),
                           [&](const WorkerFlag& f) { return f.name == args[i]; });
    if (it == flags.end()) throw UsageError("unknown worker flag " + args[i]);
    url = url || it->name == "--redis";
    if (it->is_switch) {
      it->set(o, "1");
    } else {
      if (i + 1 >= args.size()) throw UsageError(args[i] + " needs a value");
      it->set(o, args[++i]);
    }
  }
  bool sentinel_given = o.sentinel.enabled() || !o.sentinel.master_name.empty();
  if (url && sentinel_given) {
    throw UsageError(
        "give either --redis URL or --sentinel HOST:PORT[,...] with --master-name, not both");
  }
  if (sentinel_given) {
    SentinelOptionsFrom(redis::JoinHostPorts(o.sentinel.sentinels), o.sentinel.master_name);
    TakePasswordFromEnvironment(o.redis);
  } else if (!url && env_redis != nullptr && *env_redis != '\0') {
    // $WC_REDIS stands for --redis when neither it nor --sentinel is given; its messages name it.
    o.redis = RedisOptionsFromUrl(env_redis, "$WC_REDIS");
  } else if (!url) {
    throw UsageError(
        "give --redis URL (or set $WC_REDIS), or --sentinel host:port,... and --master-name");
  }
  return o;
}

void TakePasswordFromEnvironment(redis::ConnectOptions& o) {
  if (!o.password.empty()) return;
  if (const char* pw = std::getenv(kPasswordEnv)) o.password = pw;
  if (o.password.size() > redis::kMaxPasswordBytes) {
    throw UsageError(
        fmt::format("${} is {} bytes long: Redis reads at most {} before a client "
                    "authenticates, so it can never be sent",
                    kPasswordEnv, o.password.size(), redis::kMaxPasswordBytes));
  }
}

namespace {

// Why a secret in `source` (a URL, or Sentinel addresses) is refused: a command line is
// visible to every local user; the environment variable is read by this process only, but a
// URL gets into messages and logs (and, from `run`, into its workers' command lines).
std::string WhySecretRefused(std::string_view source) {
  if (source.starts_with('$'))
    return fmt::format("the password goes only in ${} (a URL is shown in messages and logs)",
                       kPasswordEnv);
  return fmt::format(
      "since a command line is visible to every local user (ps, /proc); give it in ${} instead",
      kPasswordEnv);
}

// The URL to parse: a trailing "/" or "/0" (database 0) of a redis:// URL dropped. Refuses,
// naming `source` and never echoing what may be secret: a user or password in any scheme or
// shape, any query or fragment; and any other path (a database number).
std::string CheckedUrl(const std::string& url, std::string_view source) {
  if (size_t at = redis::RedisUrlUserInfoEnd(url); at != std::string::npos) {
    size_t scheme = url.find("://");
    size_t auth_start = scheme == std::string::npos || scheme > at ? 0 : scheme + 3;
    std::string_view auth = std::string_view(url).substr(auth_start, at - auth_start);
    std::string_view after = std::string_view(url).substr(at + 1);
    after = after.substr(0, after.find_first_of("?#"));  // a query may hold a secret too
    std::string shown =
        fmt::format("{}***@{}", EscapeForLog(url.substr(0, auth_start)), EscapeForLog(after));
    if (!auth.empty() && auth[0] != ':') {
      // user@ or user:password@: an ACL user (AUTH user password).
      throw UsageError(fmt::format(
          "{}: the Redis URL {} names a user{}: refused, since wordcount authenticates only as "
          "Redis's default user (AUTH password, the password from ${}); give the URL without it",
          source, shown, auth.find(':') != std::string_view::npos ? " and a password" : "",
          kPasswordEnv));
    }
    if (auth.size() > 1) {
      throw UsageError(fmt::format("{}: the Redis URL {} holds a password: refused, {}", source,
                                   shown, WhySecretRefused(source)));
    }
    throw UsageError(fmt::format(
        "{}: the Redis URL {} has an empty user or password part: give the URL without '@' (the "
        "password from ${})",
        source, shown, kPasswordEnv));
  }
  if (size_t q = url.find_first_of("?#"); q != std::string::npos) {
    throw UsageError(fmt::format(
        "{}: the Redis URL {}{}... has a {}: refused (not shown: it may hold a secret); the form "
        "is redis://host:port or unix:///path/to/socket, the password from ${}",
        source, EscapeForLog(url.substr(0, q)), url[q], url[q] == '?' ? "query string" : "fragment",
        kPasswordEnv));
  }
  static constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return url;  // ParseRedisUrl names the problem
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  size_t end = rest.find('/');
  if (end == std::string_view::npos) return url;
  std::string_view host_port = rest.substr(0, end), tail = rest.substr(end);
  if (tail == "/" || tail == "/0") return std::string(kScheme) + std::string(host_port);
  if (tail.size() > 1 && tail.find_first_not_of("0123456789", 1) == std::string_view::npos) {
    throw UsageError(fmt::format(
        "{}: Redis URL {}: database {} is not supported: wordcount keeps every key in database 0 "
        "(keep jobs apart with other IN and COUNT names, or another Redis)",
        source, EscapeForLog(url), tail.substr(1)));
  }
  throw UsageError(fmt::format(
      "{}: Redis URL {}: unexpected \"{}\" after host:port (the form is redis://host:port)", source,
      EscapeForLog(url), EscapeForLog(tail)));
}

}  // namespace

redis::ConnectOptions RedisOptionsFromUrl(const std::string& url, std::string_view source) {
  redis::ConnectOptions o;
  std::string checked = CheckedUrl(url, source);
  try {
    o = redis::ParseRedisUrl(checked);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("{}: {}", source, e.what()));
  }
  TakePasswordFromEnvironment(o);
  return o;
}

std::string PasswordTrouble(const redis::RedisAuthError& e) {
  return fmt::format(
      "{}: the password comes from ${} (never from the URL or a command line; README, "
      "Workers on other hosts)",
      e.what(), kPasswordEnv);
}

redis::SentinelOptions SentinelOptionsFrom(const std::string& sentinels,
                                           const std::string& master_name) {
  redis::SentinelOptions o;
  if (sentinels.empty() && master_name.empty()) return o;
  if (sentinels.empty()) throw UsageError("--master-name needs --sentinel host:port[,...]");
  if (master_name.empty()) throw UsageError("--sentinel needs --master-name NAME");
  if (sentinels.find('@') != std::string::npos) {
    throw UsageError(fmt::format(
        "--sentinel takes HOST:PORT[,HOST:PORT...]: an address holding a user or password "
        "(before '@', not shown) is refused, {}",
        WhySecretRefused("--sentinel")));
  }
  if (sentinels.find("://") != std::string::npos) {
    throw UsageError(
        "--sentinel takes HOST:PORT[,HOST:PORT...] (an IPv6 address in brackets, [::1]:26379), "
        "not a URL; for a Redis URL use --redis instead");
  }
  try {
    o.sentinels = redis::ParseHostPorts(sentinels);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--sentinel: ") + e.what());
  }
  o.master_name = master_name;
  return o;
}

}  // namespace wc::job

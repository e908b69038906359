// WorkerOptions and their one command-line form. The table of flags (WorkerFlags) is the single
// source of truth: `wordcount worker` registers every flag from it, and the coordinator builds a
// worker's argv from it (ToArgv), so a worker setting is added in one place.
//
// The Redis password never appears in argv: it comes from the environment (kPasswordEnv) only.
// A URL that holds one is refused (RedisOptionsFromUrl), and ToArgv leaves it out.
// Errors: FromArgv and Flag::set throw UsageError naming the flag. Value types; no I/O.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "job/config.h"
#include "redis/connection.h"
#include "redis/errors.h"
#include "redis/sentinel.h"

namespace wc::job {

inline constexpr const char* kPasswordEnv = "WC_REDIS_PASSWORD";

// Exit codes of `wordcount worker`.
inline constexpr int kWorkerExitDone = 0;
inline constexpr int kWorkerExitUsage = 2;     // e.g. no --spill-dir, a password missing
inline constexpr int kWorkerExitRedis = 4;     // Redis unreachable past the retry limit
inline constexpr int kWorkerExitNoJob = 5;     // no job within --wait-seconds, or it failed
inline constexpr int kWorkerExitOutput = 6;    // its output could not be written (spill dir)
inline constexpr int kWorkerExitRefused = 7;   // Redis's ACL denies it a command (NOPERM)
inline constexpr int kWorkerExitCrashed = 17;  // the deliberate crash point

struct WorkerOptions {
  redis::ConnectOptions redis;
  // Enabled (--sentinel, --master-name): the primary is the one these Sentinels name, asked
  // again after every lost connection; `redis` then gives only the password and timeouts.
  redis::SentinelOptions sentinel;
  std::string name = "worker";   // consumer name; keep it stable across restarts
  bool crash = false;            // the lab's crash point: exit right after reading a task
  bool slow = false;             // sleep 1 s per task (alive but slow)
  std::string stream = "files";  // IN: the task stream; every other key comes from the job
  std::string job;               // serve only this job id (run passes its own); empty: any
  std::chrono::milliseconds wait{600000};  // how long to wait for a job to serve
  bool keep_going = false;                 // after a job is done, wait for the next one
  std::string spill_root;  // shuffle: SPILL_DIR; a job's spill name is a directory in it
  std::chrono::milliseconds claim_idle{kDefaultClaimIdleMs};
  std::chrono::milliseconds block{100};  // XREADGROUP BLOCK; < the socket timeout
  size_t commit_max_words = kDefaultCommitMaxWords;
  size_t commit_max_tasks = kDefaultCommitMaxTasks;
  int commit_wait_replicas = 0;  // WAIT for this many replicas after each acknowledgement
  int max_deliveries = kDefaultMaxDeliveries;
  std::chrono::milliseconds redis_retry{static_cast<int64_t>(kDefaultRedisRetrySeconds * 1000)};
  std::string logfile;  // append events here
  bool quiet = false;   // only errors on stderr
};

struct WorkerFlag {
  std::string name;  // "--claim-idle-ms"
  std::string help;
  bool is_switch = false;  // a flag without a value
  bool required = false;
  std::function<void(WorkerOptions&, const std::string&)> set;  // switches get "1"
  // The value to pass, or nullopt to leave the flag out (a switch: "1" to pass it).
  std::function<std::optional<std::string>(const WorkerOptions&)> get;
};

const std::vector<WorkerFlag>& WorkerFlags();

// The settings a job's configuration gives its workers (stream, timing, batch sizes, log; quiet:
// on the terminal only their errors). Redis, job id and spill root are the caller's.
WorkerOptions WorkerOptionsFor(const JobConfig& c);

// The flags for `o` (without the program name and subcommand).
std::vector<std::string> ToArgv(const WorkerOptions& o);
// Parses what ToArgv writes. Throws UsageError for an unknown flag or a bad value (an empty
// --name, --stream, --job or --master-name too), or unless exactly one of --redis and --sentinel
// (with --master-name) is given. `env_redis` ($WC_REDIS; null or empty: unset) is the URL when
// neither is given (a bad one is a UsageError naming $WC_REDIS).
WorkerOptions FromArgv(const std::vector<std::string>& args, const char* env_redis = nullptr);
// Fills in the password from the environment ($WC_REDIS_PASSWORD) if the URL had none: every
// command (run --redis, worker, status, top) takes it from there, so it never has to be on a
// command line.
void TakePasswordFromEnvironment(redis::ConnectOptions& o);
// ParseRedisUrl, then the password from the environment. A UsageError for a malformed URL, a
// URL that holds a user or password (secrets never go on a command line: give the password in
// $WC_REDIS_PASSWORD), or one that names a database other than 0 (every key, function call and
// command of every process uses database 0; "redis://h:p/0" and "redis://h:p/" are accepted).
// `source` names where the URL came from in every message ("--redis", "$WC_REDIS"). Nothing
// that may be secret is echoed: a user or password in any scheme or shape (unix://:pw@/path,
// :pw@host:port too), a query or fragment (refused as well).
redis::ConnectOptions RedisOptionsFromUrl(const std::string& url,
                                          std::string_view source = "--redis");
// The message for a Redis that wants a password none was given for, or refused the one given:
// what the server said, and where the password comes from.
std::string PasswordTrouble(const redis::RedisAuthError& e);
// --sentinel host:port[,...] and --master-name: a UsageError naming the flag if either is
// missing or malformed (a user or password, "pw@host:port", refused without being echoed; a URL
// refused: it takes HOST:PORT; IPv6 in brackets, "[::1]:26379"). Both empty: Sentinel disabled.
redis::SentinelOptions SentinelOptionsFrom(const std::string& sentinels,
                                           const std::string& master_name);

}  // namespace wc::job

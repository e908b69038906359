// wordcount: fault-tolerant distributed word count (see README.md).
// main() parses the command line and maps every error that escapes a command to an exit code;
// nothing below it exits the process.
//
// SIGPIPE is ignored: a write to a closed pipe or socket fails with EPIPE instead of killing the
// process, so it is reported like any other output error (exit 6). For standard output and
// standard error that happens when the reader stops early (`wordcount serial --out - | head`):
// it left on purpose, so the exit is quiet, without a message. In `run` it is the clean stop
// below, noticed at the next write to stderr (the progress line, a warning), exit 6.
//
// Terminating signals (util/signals.h): `run` stops cleanly (workers stopped, the job saved and
// kept for a rerun, --out's temporary file removed, exit 128 + signal); every other command
// removes its temporary output files and dies of the signal.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/run_command.h"
#include "cli/status.h"
#include "count/count_task.h"
#include "job/config.h"
#include "job/job_spec.h"
#include "job/spill_area.h"
#include "job/state_dir.h"
#include "job/worker.h"
#include "job/worker_options.h"
#include "redis/connection.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/log.h"
#include "util/paths.h"
#include "util/safe_files.h"
#include "util/signals.h"

namespace {

// Writes "wordcount: <message>" to stderr, control bytes escaped; never throws (stderr may be
// a closed pipe too).
void PrintError(std::string_view prefix, std::string_view message) {
  wc::WriteStderrLine(fmt::format("wordcount: {}{}", prefix, message));
}

// A numeric option checked like the config keys (util/bounds.h): decimal, never wrapped, in `r`
// (shown in its help); anything else is a UsageError naming it, thrown while parsing (exit 2
// before anything runs). `shown`: the name in that message (a positional's is its metavar).
template <class T>
CLI::Option* AddBounded(CLI::App* app, const std::string& name, T* out, wc::IntRange r,
                        const std::string& help, std::string shown = "") {
  if (shown.empty()) shown = name;
  return app
      ->add_option_function<std::string>(
          name,
          [out, r, shown](const std::string& v) {
            *out = static_cast<T>(wc::ParseInteger(shown, v, r));
          },
          fmt::format("{} ({} to {})", help, r.min, r.max))
      ->type_name("INT")
      ->default_str(std::to_string(*out));
}

// The job directory (STATE_DIR/job-<digest>[.XXXXXX], a shuffle job's job-<id> in SPILL_DIR)
// that holds `path` at any depth, or "": such a directory is removed with its job.
// Both as spelled and as resolved (held-out pass 27: a link of the user's own to the job's
// directory passed the spelled check).
std::string JobDirectoryHolding(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path spelled = std::filesystem::absolute(path, ec).lexically_normal();
  std::error_code ec2;
  const std::filesystem::path resolved = std::filesystem::weakly_canonical(spelled, ec2);
  for (const std::filesystem::path& start : {spelled, ec2 ? spelled : resolved}) {
    for (std::filesystem::path p = start; p.has_relative_path(); p = p.parent_path()) {
      const std::string dir = p.parent_path().filename().string();
      if (wc::job::IsStateDirName(dir) || wc::job::IsSpillJobDirName(dir)) return dir;
    }
  }
  return "";
}

// A string option that must not be empty (like the config key it mirrors).
CLI::Option* AddNonEmpty(CLI::App* app, const std::string& name, std::string* out,
                         const std::string& help) {
  return app
      ->add_option_function<std::string>(
          name, [out, name](const std::string& v) { *out = wc::NonEmpty(name, v); }, help)
      ->type_name("TEXT")
      ->default_str(*out);
}

// --sentinel and --master-name (each non-empty), which exclude `redis` (--redis): given both, the
// Sentinels would silently win.
void AddSentinelOptions(CLI::App* app, CLI::Option* redis, std::string* sentinels,
                        std::string* master_name, const std::string& help) {
  for (CLI::Option* o :
       {AddNonEmpty(app, "--sentinel", sentinels, help)->default_str(""),
        AddNonEmpty(app, "--master-name", master_name, "The name the Sentinels monitor")
            ->default_str("")}) {
    o->excludes(redis);
    redis->excludes(o);
  }
}

// The config of `status` and `top` (key names, STATE_DIR) and of `run`: a file named with
// --config or $WC_CONFIG must exist (a UsageError naming it otherwise); the default,
// config.json, is optional for status and top (they need only key names) and required by run.
// An empty name is a UsageError saying where it came from (`source`: --config or $WC_CONFIG).
wc::job::JobConfig ConfigFor(const std::string& path, bool named, bool required,
                             const std::string& source) {
  if (path.empty())
    throw wc::UsageError(source + " is empty: name a config file (or leave " + source +
                         " out for config.json)");
  std::error_code ec;
  if (!named && !required && !std::filesystem::exists(path, ec)) return {};
  return wc::job::LoadConfig(path);
}

}  // namespace

namespace {
int Dispatch(int argc, char** argv) {
  using namespace wc::cli;
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"wordcount: exact, fault-tolerant word count of the text column of CSV files"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);

  SerialArgs serial;
  auto* s = app.add_subcommand("serial", "Count in this process (the reference counter)");
  s->add_option("paths", serial.inputs, "CSV files, directories or globs")->required();
  AddBounded(s, "--threads", &serial.threads, kThreadsRange, "Worker threads (0 = one per core)");
  AddBounded(s, "--top", &serial.top, wc::job::kTopRange, "How many top words to print");
  AddNonEmpty(s, "--out", &serial.out, "Write every count to this file ('-' = stdout)");
  AddBounded(s, "--chunk-bytes", &serial.chunk_bytes, wc::job::kChunkBytesRange,
             "Split files larger than this many bytes into record-aligned ranges");
  AddNonEmpty(s, "--column", &serial.column, "Column to count");
  s->add_flag("--quiet,-q", serial.quiet, "No summary on stderr");

  SplitArgs split;
  auto* sp = app.add_subcommand("split", "Split a CSV into parts at record boundaries");
  sp->add_option("input", split.input, "Input CSV file")->required();
  sp->add_option("outdir", split.outdir, "Output directory")->required();
  // (0 until given: one of the two is required, so no default is shown.)
  auto* rows =
      AddBounded(sp, "--rows", &split.rows, kSplitRange, "Data rows per part")->default_str("");
  auto* bytes =
      AddBounded(sp, "--bytes", &split.bytes, kSplitRange, "About this many data bytes per part")
          ->default_str("");
  rows->excludes(bytes);
  bytes->excludes(rows);

  GenArgs gen;
  auto* g = app.add_subcommand("gen", "Generate look-alike Customer Support on Twitter CSVs");
  g->add_option("outdir", gen.outdir, "Output directory")->required();
  AddBounded(g, "--files", &gen.files, kGenFilesRange, "Number of files");
  AddBounded(g, "--rows", &gen.rows, kGenRowsRange, "Data rows per file");
  AddBounded(g, "--seed", &gen.seed, kSeedRange, "Seed");
  AddBounded(g, "--threads", &gen.threads, kThreadsRange, "Threads (0 = one per core)");

  // --- the distributed job ---
  const char* env_config = std::getenv("WC_CONFIG");
  std::string config_path = env_config ? env_config : "config.json";
  bool config_named = env_config != nullptr;  // or --config, below
  RunArgs run;
  std::optional<std::string> run_data;
  int run_workers = -1;
  bool run_verbose = false;
  auto* r = app.add_subcommand("run", "Run the distributed job: coordinator, workers, Redis");
  r->add_option("--config", config_path, "config.json with the lab's keys ($WC_CONFIG)")
      ->capture_default_str();
  AddNonEmpty(r, "--out", &run.out, "Write every count to this file");
  r->add_option_function<std::string>(
       "--data", [&run_data](const std::string& v) { run_data = wc::NonEmpty("--data", v); },
       "Input glob, overrides DATA_PATH")
      ->type_name("TEXT");
  AddBounded(r, "--workers", &run_workers, wc::job::kWorkersRange,
             "Normal workers only, this many (overrides the N_* keys; 0: remote workers only)")
      ->default_str("");
  r->add_flag("--replace", run.job.replace,
              "Count anew: discard the job that holds the keys (unfinished with another "
              "plan, failed, or done; never while its lease lives)");
  auto* run_redis = AddNonEmpty(r, "--redis", &run.job.redis_url,
                                "redis://host:port or unix:///path/to/socket of an existing "
                                "server, database 0 ($WC_REDIS; default: start an embedded "
                                "redis-server); its password from $WC_REDIS_PASSWORD, never in "
                                "the URL");
  AddSentinelOptions(r, run_redis, &run.job.sentinels, &run.job.master_name,
                     "HOST:PORT[,HOST:PORT...] of the Sentinels of an existing replicated Redis "
                     "(with --master-name; password from $WC_REDIS_PASSWORD)");
  std::optional<std::string> run_mode;
  r->add_option("--mode", run_mode, "direct or shuffle, overrides MODE")
      ->check(CLI::IsMember({"direct", "shuffle"}));
  auto* run_quiet = r->add_flag("--quiet,-q", run.quiet, "Only results and errors on the terminal");

  // Every worker flag comes from one table, shared with the coordinator that spawns workers.
  std::vector<std::string> worker_argv;
  auto* w =
      app.add_subcommand("worker", "A stateless worker (started by run, or by hand on any host)");
  for (const wc::job::WorkerFlag& f : wc::job::WorkerFlags()) {
    if (f.is_switch) {
      w->add_flag_callback(
          f.name, [&worker_argv, name = f.name] { worker_argv.push_back(name); }, f.help);
    } else {
      auto* opt = w->add_option_function<std::string>(
          f.name,
          [&worker_argv, name = f.name](const std::string& v) {
            worker_argv.push_back(name);
            worker_argv.push_back(v);
          },
          f.help);
      if (f.required) opt->required();
    }
  }

  const char* env_redis = std::getenv("WC_REDIS");
  RedisLocation top_where{.url = env_redis ? env_redis : ""};
  int top_n = 3;
  auto* t = app.add_subcommand("top", "Print the top words of a finished or running job");
  AddBounded(t, "n", &top_n, wc::job::kTopRange, "How many", "top N");
  // --redis, or --sentinel and --master-name, of `top` and `status`.
  auto add_location = [](CLI::App* sub, RedisLocation* where) -> CLI::Option* {
    auto* redis =
        AddNonEmpty(sub, "--redis", &where->url,
                    "redis://host:port or unix:///socket ($WC_REDIS; default: the embedded Redis "
                    "of a running job; password from $WC_REDIS_PASSWORD)");
    AddSentinelOptions(sub, redis, &where->sentinels, &where->master_name,
                       "HOST:PORT[,...] of Sentinels (and --master-name)");
    return redis;
  };
  auto* top_redis = add_location(t, &top_where);
  t->add_option("--config", config_path, "config.json (for the COUNT key name)")
      ->capture_default_str();

  RedisLocation status_where{.url = env_redis ? env_redis : ""};
  bool status_json = false;
  auto* st = app.add_subcommand("status", "Show a job's state from Redis");
  auto* status_redis = add_location(st, &status_where);
  st->add_option("--config", config_path, "config.json (for the key names)")->capture_default_str();
  st->add_flag("--json", status_json, "Machine-readable output");
  r->add_flag("--verbose,-v", run_verbose, "Every event on stderr too")->excludes(run_quiet);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints as CLI11 does; an error is escaped like every message (a value given on
    // the command line may hold control bytes) and ends with CLI11's hint.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(e);
      return kExitOk;
    }
    // A first argument that names no command: said by name ("A subcommand is required" did
    // not say which word was wrong).
    if (argc > 1 && argv[1][0] != '-') {
      std::string names;
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        known = known || sub->get_name() == argv[1];
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known) {
        PrintError("", fmt::format("unknown command \"{}\" (the commands: {})", argv[1], names));
        wc::WriteStderr("Run with --help for more information.\n");
        return kExitUsage;
      }
    }
    PrintError("", e.what());
    wc::WriteStderr("Run with --help for more information.\n");
    return kExitUsage;
  } catch (const wc::UsageError& e) {  // a bounded option (AddBounded, AddNonEmpty)
    PrintError("", e.what());
    return kExitUsage;
  }
  std::string config_source = "$WC_CONFIG";
  for (CLI::App* sub : {r, t, st}) {
    if (sub->get_option("--config")->count() > 0) {
      config_named = true;
      config_source = "--config";
    }
  }
  // A URL from $WC_REDIS (not --redis) is named so in messages; --sentinel overrides it.
  if (top_redis->count() == 0 && env_redis) top_where.url_source = "$WC_REDIS";
  if (status_redis->count() == 0 && env_redis) status_where.url_source = "$WC_REDIS";

  // --out naming standard output (/dev/stdout, /dev/fd/1) is `-`: the counts alone there, not
  // the top lines after them in the same stream.
  for (std::string* out : {&serial.out, &run.out})
    if (wc::DescriptorNamed(*out) == STDOUT_FILENO) *out = "-";
  wc::InstallStopAnswer(*r ? wc::StopAnswer::kStopCleanly : wc::StopAnswer::kRemoveTempsAndDie);
  try {
    if (*s) return RunSerial(serial);
    if (*sp) {
      if (split.rows == 0 && split.bytes == 0) {
        PrintError("split: ", "give --rows N or --bytes N");
        return kExitUsage;
      }
      return RunSplit(split);
    }
    if (*g) return RunGen(gen);
    if (*r) {
      wc::job::JobConfig config =
          ConfigFor(config_path, config_named, /*required=*/true, config_source);
      if (run_mode) config.mode = wc::job::ParseMode(*run_mode, "--mode");
      if (run_workers >= 0) run.job.workers = run_workers;
      // $WC_REDIS stands for --redis when neither it nor --sentinel (--master-name) is given: a
      // bad URL is refused naming $WC_REDIS, and the server used is said (it is on no command
      // line).
      const bool env_url = env_redis != nullptr && *env_redis != '\0' && run_redis->count() == 0 &&
                           r->get_option("--sentinel")->count() == 0 &&
                           r->get_option("--master-name")->count() == 0;
      if (env_url) {
        const wc::redis::ConnectOptions server =
            wc::job::RedisOptionsFromUrl(env_redis, "$WC_REDIS");
        run.job.redis_url = env_redis;
        if (!run.quiet)
          wc::WriteStderr(fmt::format("Redis at {} (from $WC_REDIS)\n", wc::redis::ToUrl(server)));
      }
      // An output that is an input is refused before anything is written, the log included
      // (opened next): --out would replace the input, LOGFILE write log lines into it.
      // DATA_PATH is expanded here, once, before anything is written: what the job plans, so
      // that a file the run makes (LOGFILE, the --out temporary) is never one of its inputs
      // (held-out passes 15, 16: `--data 'dir/.*'` counted both). None matching: the job says so.
      run.job.inputs = wc::job::JobInputs::Of(run_data.value_or(config.data_path));
      const std::vector<std::string>& inputs = run.job.inputs.files;
      wc::RefuseInputAsOutput(config.logfile, inputs, "LOGFILE",
                              "log lines would be written into it");
      wc::RefuseInputAsStandardStreams(inputs);
      // (`--out -` is standard output, checked with standard error just above.)
      if (!run.out.empty() && run.out != "-") wc::RefuseInputAsOutput(run.out, inputs);
      // --out naming LOGFILE (held-out pass 16): the counts replaced the log at the end; and
      // standard output or error open on it, whatever --out (`--out - >> LOGFILE`, held-out
      // pass 21; a plain `> LOGFILE`, pass 25: the top lines overwrote the log's first line).
      if (!run.out.empty() && run.out != "-" && wc::SameFile(run.out, config.logfile)) {
        throw wc::UsageError(fmt::format(
            "--out {} is LOGFILE {}: refused (the counts would replace the log); set LOGFILE "
            "in the config, or another --out",
            wc::EscapeForLog(run.out), wc::EscapeForLog(config.logfile)));
      }
      for (const auto& [dev, name] : {std::pair{"/dev/stdout", "standard output"},
                                      std::pair{"/dev/stderr", "standard error"}}) {
        if (wc::SameFile(dev, config.logfile)) {
          throw wc::UsageError(fmt::format(
              "{} is LOGFILE {}: refused (what `run` prints there would be written over the "
              "log); set LOGFILE in the config, or redirect {} elsewhere",
              name, wc::EscapeForLog(config.logfile), name));
        }
      }
      // LOGFILE or --out naming the config file just read (held-out pass 27: the log replaced
      // the config, exit 0, and every later run was exit 2), or in a job's own state or spill
      // directory (STATE_DIR/job-<digest>, a shuffle job's job-<id>), at any depth: removed with
      // the job, and maybe one of its files (held-out pass 21: the log went into the job's
      // redis.conf, then vanished; pass 26: the counts of a whole job, written at the end into
      // a directory removed just before).
      for (const auto& [what, path] :
           {std::pair<const char*, const std::string&>{"LOGFILE", config.logfile},
            {"--out", run.out}}) {
        if (path.empty() || path == "-") continue;
        if (wc::SameFile(path, config_path)) {
          throw wc::UsageError(
              fmt::format("{} {} is the config file {}: refused (it would be written over)", what,
                          wc::EscapeForLog(path), wc::EscapeForLog(config_path)));
        }
        if (const std::string dir = JobDirectoryHolding(path); !dir.empty()) {
          throw wc::UsageError(fmt::format(
              "{} {} is in a job's own directory ({}), which is removed with the job: refused; "
              "put it outside STATE_DIR's and SPILL_DIR's job directories",
              what, wc::EscapeForLog(path), wc::EscapeForLog(dir)));
        }
      }
      wc::Log::Open(config.logfile, "coordinator", /*truncate=*/true,
                    run.quiet     ? wc::LogLevel::kError
                    : run_verbose ? wc::LogLevel::kInfo
                                  : wc::LogLevel::kWarn);
      return RunJobCommand(config, run);
    }
    if (*w) {
      wc::job::WorkerOptions worker = wc::job::FromArgv(worker_argv, env_redis);
      wc::Log::Open(worker.logfile, worker.name, /*truncate=*/false,
                    worker.quiet ? wc::LogLevel::kError : wc::LogLevel::kWarn);
      // A worker stopped by a signal (its coordinator's SIGTERM, a user's ^C) says so last.
      wc::Log::SayStopSignalAtDeath();
      // Its lines wait until it knows its job's inputs: its log must not be one (RunWorker).
      wc::Log::Hold();
      return wc::job::RunWorker(worker);
    }
    if (*st) {
      wc::job::JobConfig config =
          ConfigFor(config_path, config_named, /*required=*/false, config_source);
      return PrintStatus(config, status_where, status_json);
    }
    if (*t) {
      wc::job::JobConfig config =
          ConfigFor(config_path, config_named, /*required=*/false, config_source);
      return PrintTop(config, top_where, top_n);
    }
  } catch (const wc::UsageError& e) {
    PrintError("", e.what());
    return kExitUsage;
  } catch (const wc::InputError& e) {
    PrintError("", e.what());
    return kExitInputFailed;
  } catch (const wc::SpoiledTableError& e) {
    // A worker's input changed under it: its uncommitted batch is dropped with the process and
    // its tasks are taken over by other workers.
    PrintError("", std::string(e.what()) + " (the counts this process held were discarded)");
    return kExitInputFailed;
  } catch (const wc::OutputError& e) {
    if (e.error() != EPIPE) PrintError("", e.what());
    return kExitOutput;
  } catch (const std::system_error& e) {
    // fmt::print throws this when stdout or stderr is a closed pipe.
    if (e.code() == std::errc::broken_pipe) return kExitOutput;
    PrintError("internal error: ", e.what());
    return kExitInternal;
  } catch (const std::exception& e) {
    PrintError("internal error: ", e.what());
    return kExitInternal;
  }
  return kExitUsage;
}
}  // namespace

int main(int argc, char** argv) {
  // A closed standard descriptor (`run >&-`) would be taken by the next file or socket opened:
  // the top lines went to Redis (`top`) or into LOGFILE (`run`), exit 0. Each is held by
  // /dev/null opened read-only, so that every write there fails (EBADF): exit 6, as for any
  // standard output that cannot be written.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int held = ::open("/dev/null", O_RDONLY);
    if (held >= 0 && held != fd) {
      ::dup2(held, fd);
      ::close(held);
    }
  }
  int rc = Dispatch(argc, argv);
  // A command whose messages could not all be written (standard error a closed pipe or a full
  // device) did not say what it did: exit 6, as for standard output. Not a worker: its exit
  // code tells the coordinator about the job's own outputs.
  const bool worker = argc > 1 && std::string_view(argv[1]) == "worker";
  if (rc == wc::cli::kExitOk && !worker && wc::StderrFailed()) return wc::cli::kExitOutput;
  return rc;
}

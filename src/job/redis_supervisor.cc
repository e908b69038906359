#include "job/redis_supervisor.h"

#include <fmt/format.h>

#include <exception>

#include "job/redis_session.h"
#include "job/worker_options.h"
#include "util/error.h"
#include "util/log.h"

namespace wc::job {

RedisSupervisor::RedisSupervisor(const SupervisorOptions& options) : o_(options) {
  if (o_.external_sentinel.enabled()) {
    if (!o_.external_url.empty()) connect_ = RedisOptionsFromUrl(o_.external_url);
    TakePasswordFromEnvironment(connect_);
    sentinel_ = o_.external_sentinel;
    return;
  }
  if (!o_.external_url.empty()) {
    connect_ = RedisOptionsFromUrl(o_.external_url);
    return;
  }
  // Too deep for its socket: refused before anything is made.
  if (o_.ha != RedisHa::kSentinel)
    StateDir::SocketPathFor(StateDir::PathFor(o_.state_root, o_.state_key));
  state_ = std::make_unique<StateDir>(o_.state_root, o_.state_key);
  // A server that cannot start (e.g. REDIS_ARGS it refuses, a STATE_DIR too deep for its
  // socket) leaves nothing this run made.
  struct RemoveFreshStateOnThrow {
    StateDir& state;
    int uncaught = std::uncaught_exceptions();
    ~RemoveFreshStateOnThrow() {
      if (std::uncaught_exceptions() > uncaught && state.fresh()) state.Remove();
    }
  } guard{*state_};
  std::string socket;
  if (o_.ha != RedisHa::kSentinel) socket = state_->SocketPath();
  std::string password = state_->Password(o_.password);
  std::vector<std::string> extra;
  if (o_.persistence == Persistence::kAof)
    extra = {"--appendonly", "yes", "--appendfsync", "everysec"};
  extra.insert(extra.end(), o_.redis_args.begin(), o_.redis_args.end());
  if (o_.ha == RedisHa::kSentinel) {
    ha_ = std::make_unique<HaRedis>(HaOptions{.password = password,
                                              .replicas = o_.replicas,
                                              .down_after = o_.down_after,
                                              .redis_args = extra,
                                              .crash_interval = o_.crash_interval,
                                              .downtime = o_.downtime},
                                    *state_);
    connect_ = ha_->connect_options();
    sentinel_ = ha_->sentinel_options();
    return;
  }
  // A commit that runs past Redis's busy-script threshold (5 s: a big COMMIT_MAX_WORDS on a
  // loaded host) would make every other call answer BUSY, which workers retry and, after
  // REDIS_RETRY_SECONDS of it, give up on (seen in a 4.4 GB run with 8 workers beside other
  // jobs). Nothing here ever kills a script, so other calls simply wait their turn. (Not for
  // a replicated Redis: Sentinel must see a busy primary answer.) REDIS_ARGS may override it.
  extra.insert(extra.begin(), {"--busy-reply-threshold", "0"});
  // A unix socket in the private state directory, no TCP port: no other local user can reach
  // it, or stand in for it on a port it frees while it restarts.
  server_ = std::make_unique<redis::RedisServer>(
      redis::RedisServerOptions{.dir = state_->path(),
                                .unix_socket = socket,
                                .password = password,
                                .extra_args = extra,
                                .repair_aof_tail = o_.persistence == Persistence::kAof});
  NoteAofRepair();
  connect_ = server_->connect_options();
  started_ = Clock::now();
  state_->WriteSocketEndpoint(server_->pid());
  Log::Event("redis_started", "socket=\"{}\" pid={} persistence={}", connect_.unix_socket,
             server_->pid(), ToString(o_.persistence));
}

RedisSupervisor::~RedisSupervisor() { Stop(); }

std::string RedisSupervisor::url() const {
  redis::ConnectOptions o = connect_;
  o.password.clear();
  if (ha_) o.port = ha_->port();
  return redis::ToUrl(o);
}

void RedisSupervisor::Tick(bool crashes_allowed) {
  if (ha_) ha_->Tick(crashes_allowed);
  if (!server_) return;
  auto now = Clock::now();
  if (down_) {
    if (now >= down_until_) Restart("planned");
    return;
  }
  if (!server_->Running()) {
    Log::Warn("redis_died", "pid gone; restarting at {}", connect_.address());
    ++unplanned_;
    Restart("unplanned");
    return;
  }
  if (crashes_allowed && o_.crash_interval.count() > 0 && now - started_ >= o_.crash_interval) {
    Log::Event("redis_crash", "signal=SIGKILL downtime_s={}",
               std::chrono::duration<double>(o_.downtime).count());
    server_->Kill();  // SIGKILL: SHUTDOWN or SIGTERM would save first and be no crash
    ++forced_;
    down_ = true;
    down_until_ = now + o_.downtime;
  }
}

bool RedisSupervisor::CrashDue() const {
  return server_ && !down_ && o_.crash_interval.count() > 0 &&
         Clock::now() - started_ >= o_.crash_interval;
}

bool RedisSupervisor::Unanswered() {
  if (!server_ || down_ || !server_->Running()) return false;  // Tick restarts a dead one
  redis::ConnectOptions o = connect_;
  o.connect_timeout = o.command_timeout = std::chrono::milliseconds(1000);
  try {
    redis::Connection c(o);
    c.Command({"PING"});
    return false;
  } catch (const redis::RedisError& e) {
    Log::Warn("redis_unresponsive", "pid={} error=\"{}\"; killing and restarting it",
              server_->pid(), e.what());
  }
  server_->Kill();  // SIGKILL ends a stopped process too
  ++unplanned_;
  Restart("unresponsive");
  return true;
}

bool RedisSupervisor::Connected(redis::Connection& c) {
  std::string run_id;
  try {
    run_id = redis::InfoField(c.Command({"INFO", "server"}).str(), "run_id");
  } catch (const redis::RedisReplyError&) {
    return false;  // e.g. NOPERM: nothing seen
  }
  if (run_id.empty() || run_id == run_id_) return false;
  bool restarted = !run_id_.empty();
  run_id_ = run_id;
  // Another server process than before: a restart of an external Redis, or (with Sentinel) a
  // failover to another server. An embedded replicated one counts its failovers itself.
  redis::HostPort at{c.options().host, c.options().port};
  bool moved = sentinel_.enabled() && at_.port != 0 && !(at == at_);
  at_ = at;
  if (restarted && !server_ && !ha_) {
    if (moved) {
      ++failovers_seen_;
    } else {
      ++seen_;
      Log::Warn("redis_restart_seen", "run_id={} seen={}", run_id, seen_);
    }
  }
  return restarted;
}

void RedisSupervisor::Restart(const char* why) {
  try {
    server_->Start();  // same socket, password, directory, configuration: loads the checkpoint
    NoteAofRepair();
    down_ = false;
    started_ = Clock::now();
    start_failing_since_ = {};
    state_->WriteSocketEndpoint(server_->pid());
    Log::Event("redis_restarted", "reason={} pid={}", why, server_->pid());
  } catch (const OutputError& e) {
    // Its state cannot be written (STATE_DIR full, read-only): no retry helps (exit 6).
    Log::Error("redis_start_failed", "error=\"{}\"", e.what());
    throw;
  } catch (const std::exception& e) {
    Log::Warn("redis_start_failed", "error=\"{}\"", e.what());
    const auto now = Clock::now();
    down_ = true;  // tried again at the next Tick (a dead server is not counted again)
    down_until_ = now;
    if (start_failing_since_ == Clock::time_point{}) start_failing_since_ = now;
    if (now - start_failing_since_ >= o_.give_up_after) {
      throw RedisUnavailable(fmt::format(
          "the embedded Redis could not be started again for {:.1f} s (REDIS_RETRY_SECONDS): {}",
          std::chrono::duration<double>(now - start_failing_since_).count(), e.what()));
    }
  }
}

void RedisSupervisor::NoteAofRepair() {
  const redis::AofRepair& r = server_->last_repair();
  if (r.truncated) Log::Warn("aof_repaired", "report=\"{}\"", r.report);
}

void RedisSupervisor::Stop(bool remove_state) {
  if (ha_) {
    // Its counts outlive it, for the run's summary.
    forced_ = ha_->forced_restarts();
    unplanned_ = ha_->unplanned_restarts();
    failovers_seen_ = ha_->failovers();
    ha_->Stop(/*discard=*/remove_state);
    ha_.reset();
    if (remove_state) state_->Remove();
    return;
  }
  if (!server_) return;
  // A server whose files are removed next has nothing to write: SIGKILL ends it at once (a
  // graceful SIGTERM waits for the server's next cron tick, up to 100 ms).
  if (remove_state) {
    server_->Kill();
  } else {
    server_->Stop();
  }
  server_.reset();
  if (remove_state) state_->Remove();
}

}  // namespace wc::job

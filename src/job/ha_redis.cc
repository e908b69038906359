#include "job/ha_redis.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "util/log.h"
#include "util/safe_files.h"

namespace wc::job {

namespace fs = std::filesystem;

namespace {

// The node whose directory holds the newest checkpoint (dump.rdb or the AOF directory): the
// state a rerun resumes from. Node 0 if none has one.
int NewestCheckpoint(const std::string& dir, int nodes) {
  int best = 0;
  fs::file_time_type newest{};
  for (int i = 0; i < nodes; ++i) {
    for (const char* name : {"dump.rdb", "appendonlydir"}) {
      std::error_code ec;
      auto t = fs::last_write_time(fmt::format("{}/node{}/{}", dir, i, name), ec);
      if (!ec && t > newest) {
        newest = t;
        best = i;
      }
    }
  }
  return best;
}

// Whether these redis-server arguments turn the AOF on (the last --appendonly wins).
bool AofOn(const std::vector<std::string>& args) {
  bool on = false;
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--appendonly") on = args[i + 1] == "yes";
  return on;
}

std::string ReadSmall(const std::string& path) {
  UniqueFd fd = OpenNoFollow(path, O_RDONLY);
  std::string out;
  char buf[512];
  for (ssize_t n; fd.get() >= 0 && (n = ::read(fd.get(), buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string EmbeddedSentinels(const std::string& root, int port) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!IsStateDirName(e.path().filename().string())) continue;
    std::string list = ReadSmall((e.path() / "ha" / "sentinels").string());
    std::istringstream endpoint(ReadSmall((e.path() / "endpoint").string()));
    int at = 0;
    if (!list.empty() && endpoint >> at && at == port) return list;
  }
  return "";
}

HaRedis::HaRedis(const HaOptions& options, StateDir& state) : o_(options), state_(state) {
  std::string dir = state_.path() + "/ha";
  ::mkdir(dir.c_str(), 0700);  // inside the 0700 state directory; SentinelCluster checks its own
  int primary = NewestCheckpoint(dir, o_.replicas + 1);
  cluster_ = std::make_unique<redis::SentinelCluster>(
      redis::SentinelClusterOptions{.dir = dir,
                                    .password = o_.password,
                                    .master_name = kMasterName,
                                    .replicas = o_.replicas,
                                    .down_after = o_.down_after,
                                    .extra_args = o_.redis_args,
                                    .repair_aof_tail = AofOn(o_.redis_args),
                                    .initial_primary = primary});
  for (size_t i = 0; i < cluster_->nodes(); ++i) NoteAofRepair(i);
  primary_ = last_primary_ = primary;
  primary_since_ = Clock::now();
  dead_since_.assign(cluster_->nodes(), Clock::time_point{});
  state_.WriteEndpoint(port(), cluster_->node(static_cast<size_t>(primary)).pid());
  std::string sentinels = redis::JoinHostPorts(cluster_->sentinel_options().sentinels);
  {
    UniqueFd fd = OpenNoFollow(dir + "/sentinels", O_WRONLY | O_CREAT | O_TRUNC);
    if (fd.get() < 0 || ::write(fd.get(), sentinels.data(), sentinels.size()) !=
                            static_cast<ssize_t>(sentinels.size()))
      Log::Warn("state_write_failed", "file=\"{}/sentinels\" (status will not show the Sentinels)",
                dir);
  }
  Log::Event("redis_started",
             "ha=sentinel primary=127.0.0.1:{} node={} replicas={} sentinels={} dir=\"{}\"", port(),
             primary, o_.replicas, sentinels, dir);
}

HaRedis::~HaRedis() { Stop(); }

redis::ConnectOptions HaRedis::connect_options() const {
  redis::ConnectOptions o = cluster_->base_options();
  o.port = port();
  return o;
}

int HaRedis::port() const {
  int node = primary_ >= 0 ? primary_ : last_primary_;
  return cluster_ ? cluster_->node(static_cast<size_t>(node)).port() : 0;
}

void HaRedis::Lost(const char* why) {
  Log::Warn("primary_lost", "primary=127.0.0.1:{} why={}", port(), why);
  last_primary_ = primary_;
  primary_ = -1;
  lost_at_ = Clock::now();
}

void HaRedis::Tick(bool crashes_allowed) {
  if (!cluster_) return;
  auto now = Clock::now();
  if (int n = cluster_->ReviveSentinels()) Log::Warn("sentinel_restarted", "count={}", n);
  for (size_t i = 0; i < cluster_->nodes(); ++i) {
    if (dead_since_[i] != Clock::time_point{} || cluster_->node(i).Running()) continue;
    dead_since_[i] = now;
    ++unplanned_;
    Log::Warn("redis_died", "role={} port={}",
              static_cast<int>(i) == primary_ ? "primary" : "replica", cluster_->node(i).port());
    if (static_cast<int>(i) == primary_) Lost("died");
  }
  WatchPrimary(now);
  RestartDead(now);
  if (!crashes_allowed || o_.crash_interval.count() <= 0 || primary_ < 0 ||
      now - primary_since_ < o_.crash_interval)
    return;
  for (const auto& d : dead_since_)
    if (d != Clock::time_point{}) return;  // every server up first: a crash at a time
  // Every replica online (synced): one that is still loading its first copy cannot be promoted.
  try {
    redis::ConnectOptions co = connect_options();
    co.connect_timeout = co.command_timeout = std::chrono::milliseconds(500);
    redis::Connection c(co);
    std::string info(c.Command({"INFO", "replication"}).str());
    int online = 0;
    for (size_t pos = 0; (pos = info.find("state=online", pos)) != std::string::npos; ++pos)
      ++online;
    if (online < o_.replicas) return;
  } catch (const redis::RedisError&) {
    return;
  }
  Log::Event("redis_crash", "role=primary port={} signal=SIGKILL", port());
  cluster_->Kill(static_cast<size_t>(primary_));
  dead_since_[static_cast<size_t>(primary_)] = now;
  ++forced_;
  Lost("crash");
}

void HaRedis::WatchPrimary(Clock::time_point now) {
  // Without a primary: ask every 100 ms. With one: every second (Sentinel may have failed it
  // over on its own, e.g. a primary too busy to answer for down-after).
  if (now < next_poll_) return;
  next_poll_ = now + std::chrono::milliseconds(primary_ < 0 ? 100 : 1000);
  int p = cluster_->Primary();
  if (p < 0 || p == primary_ || dead_since_[static_cast<size_t>(p)] != Clock::time_point{}) return;
  int old = primary_ >= 0 ? primary_ : last_primary_;
  if (p != old) {
    ++failovers_;
    Log::Event("failover", "old=127.0.0.1:{} new=127.0.0.1:{} no_primary_s={:.3f} failovers={}",
               cluster_->node(static_cast<size_t>(old)).port(),
               cluster_->node(static_cast<size_t>(p)).port(), primary_ < 0 ? Since(lost_at_) : 0.0,
               failovers_);
  } else {
    Log::Event("primary_back", "primary=127.0.0.1:{}",
               cluster_->node(static_cast<size_t>(p)).port());
  }
  primary_ = last_primary_ = p;
  primary_since_ = now;
  state_.WriteEndpoint(port(), cluster_->node(static_cast<size_t>(p)).pid());
}

void HaRedis::RestartDead(Clock::time_point now) {
  for (size_t i = 0; i < cluster_->nodes(); ++i) {
    if (dead_since_[i] == Clock::time_point{} || now - dead_since_[i] < o_.downtime) continue;
    int as_replica_of = primary_;
    if (primary_ < 0 || primary_ == static_cast<int>(i)) {
      // No failover yet: wait for one, unless it is overdue and Sentinel still names this server.
      if (now - dead_since_[i] < kNoFailoverLimit ||
          cluster_->NamedPrimary() != static_cast<int>(i))
        continue;
      as_replica_of = -1;
      Log::Warn("no_failover", "after_s={:.1f}; restarting port {} as the primary",
                Since(dead_since_[i]), cluster_->node(i).port());
    }
    try {
      cluster_->Start(i, as_replica_of);
      NoteAofRepair(i);
      dead_since_[i] = {};
      Log::Event("redis_restarted", "role={} port={} pid={}",
                 as_replica_of < 0 ? "primary" : "replica", cluster_->node(i).port(),
                 cluster_->node(i).pid());
    } catch (const std::exception& e) {
      dead_since_[i] = now;  // try again after the downtime
      Log::Warn("redis_start_failed", "port={} error=\"{}\"", cluster_->node(i).port(), e.what());
    }
  }
}

void HaRedis::NoteAofRepair(size_t node) {
  const redis::AofRepair& r = cluster_->node(node).last_repair();
  if (r.truncated)
    Log::Warn("aof_repaired", "port={} report=\"{}\"", cluster_->node(node).port(), r.report);
}

void HaRedis::Stop(bool discard) {
  if (cluster_ && discard) cluster_->KillAll();
  cluster_.reset();
}

}  // namespace wc::job

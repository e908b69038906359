#include "redis/sentinel_cluster.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace wc::redis {

namespace {

// `dir` as a 0700 directory of this user (made if missing; a link or a foreign one refused).
std::string PrivateSubdir(const std::string& parent, const std::string& name) {
  std::string dir = parent + "/" + name;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error(fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid())
    throw std::runtime_error(dir + " is not a directory of this user");
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    throw std::runtime_error(fmt::format("cannot make {} private: {}", dir, std::strerror(errno)));
  return dir;
}

std::string Addr(int port) { return fmt::format("127.0.0.1:{}", port); }

// A Sentinel's timers for a cluster on one host (see the header). A Sentinel that does not know
// SENTINEL DEBUG (before Redis 7.0) keeps its defaults: slower, as correct.
void TuneSentinel(RedisServer& s) {
  try {
    Connection c(s.connect_options());
    c.Command({"SENTINEL", "DEBUG", "publish-period", "1000", "info-period", "1000", "ask-period",
               "200", "tilt-period", "5000"});
  } catch (const RedisReplyError&) {
  }
}

}  // namespace

SentinelCluster::SentinelCluster(SentinelClusterOptions options) : o_(std::move(options)) {
  if (o_.replicas < 0 || o_.sentinels < 1 || o_.initial_primary < 0 ||
      o_.initial_primary > o_.replicas)
    throw std::invalid_argument("SentinelCluster: bad replica, Sentinel or primary number");
  std::filesystem::create_directories(o_.dir);
  // Every data server: the password for clients (requirepass), for replication (masterauth,
  // also on the primary: Sentinel may demote it), and the guard against split brain.
  std::vector<std::string> data_lines = {
      "masterauth " + ConfQuoted(o_.password),
      "min-replicas-to-write " + std::string(o_.replicas > 0 ? "1" : "0"),
      fmt::format("min-replicas-max-lag {}", o_.min_replicas_max_lag),
      "repl-diskless-sync yes",
      "repl-diskless-sync-delay 0",
  };
  if (o_.password.empty()) data_lines.erase(data_lines.begin());
  const int n = o_.replicas + 1;
  const int p = o_.initial_primary;
  // The primary first (its state is everyone's), then the replicas of it.
  nodes_.resize(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    int i = (p + k) % n;
    RedisServerOptions so{.dir = PrivateSubdir(o_.dir, fmt::format("node{}", i)),
                          .password = o_.password,
                          .extra_args = o_.extra_args,
                          .repair_aof_tail = o_.repair_aof_tail,
                          .config_lines = data_lines,
                          .replica_of = k == 0 ? "" : Addr(nodes_[static_cast<size_t>(p)]->port())};
    nodes_[static_cast<size_t>(i)] = std::make_unique<RedisServer>(so);
  }
  const int quorum = o_.sentinels / 2 + 1;
  std::vector<std::string> sentinel_lines = {
      fmt::format("sentinel monitor {} 127.0.0.1 {} {}", o_.master_name,
                  nodes_[static_cast<size_t>(p)]->port(), quorum),
      fmt::format("sentinel down-after-milliseconds {} {}", o_.master_name, o_.down_after.count()),
      fmt::format("sentinel failover-timeout {} {}", o_.master_name, o_.failover_timeout.count()),
      fmt::format("sentinel parallel-syncs {} {}", o_.master_name, std::max(1, o_.replicas)),
  };
  if (!o_.password.empty())
    sentinel_lines.push_back(
        fmt::format("sentinel auth-pass {} {}", o_.master_name, ConfQuoted(o_.password)));
  for (int i = 0; i < o_.sentinels; ++i) {
    std::string dir = PrivateSubdir(o_.dir, fmt::format("sentinel{}", i));
    // A Sentinel of an earlier life of this directory knew another primary, epochs and peers:
    // start from the primary chosen now.
    std::filesystem::remove(dir + "/sentinel.conf");
    sentinels_.push_back(std::make_unique<RedisServer>(RedisServerOptions{
        .dir = dir, .password = o_.password, .config_lines = sentinel_lines, .sentinel = true}));
    TuneSentinel(*sentinels_.back());
  }
  WaitFormed();
}

SentinelCluster::~SentinelCluster() {
  for (auto& s : sentinels_) s.reset();
  for (auto& n : nodes_) n.reset();
}

SentinelOptions SentinelCluster::sentinel_options() const {
  SentinelOptions s;
  s.master_name = o_.master_name;
  for (const auto& sentinel : sentinels_) s.sentinels.push_back({"127.0.0.1", sentinel->port()});
  return s;
}

ConnectOptions SentinelCluster::base_options() const {
  ConnectOptions o;
  o.password = o_.password;
  return o;
}

int SentinelCluster::NodeAt(const HostPort& address) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (address == HostPort{"127.0.0.1", nodes_[i]->port()}) return static_cast<int>(i);
  return -1;
}

int SentinelCluster::NamedPrimary() const {
  SentinelOptions so = sentinel_options();
  so.timeout = std::chrono::milliseconds(500);
  try {
    return NodeAt(SentinelClient(so).AskPrimary(o_.password));
  } catch (const RedisError&) {
    return -1;
  }
}

int SentinelCluster::Primary() const {
  int named = NamedPrimary();
  if (named < 0) return -1;
  try {
    ConnectOptions co = base_options();
    co.port = nodes_[static_cast<size_t>(named)]->port();
    co.connect_timeout = co.command_timeout = std::chrono::milliseconds(500);
    Connection c(co);
    return RoleOf(c) == Role::kPrimary ? named : -1;
  } catch (const RedisError&) {
    return -1;
  }
}

void SentinelCluster::Start(size_t node, int replica_of) {
  nodes_[node]->set_replica_of(
      replica_of < 0 ? "" : Addr(nodes_[static_cast<size_t>(replica_of)]->port()));
  nodes_[node]->Start();
}

int SentinelCluster::ReviveSentinels() {
  int revived = 0;
  for (auto& s : sentinels_) {
    if (s->Running()) continue;
    s->Start();
    TuneSentinel(*s);
    ++revived;
  }
  return revived;
}

void SentinelCluster::KillAll() {
  for (auto& s : sentinels_) s->Kill();
  for (auto& n : nodes_) n->Kill();
}

void SentinelCluster::WaitFormed() {
  // Formed: every Sentinel names the primary, sees every replica up and knows every other
  // Sentinel (they find each other through hello messages every 2 s), and every replica's
  // link is up. Only then can a failover be agreed on and promote an up-to-date replica.
  auto deadline = std::chrono::steady_clock::now() + o_.form_timeout;
  const size_t primary = static_cast<size_t>(o_.initial_primary);
  std::string missing;
  while (std::chrono::steady_clock::now() < deadline) {
    missing.clear();
    try {
      for (size_t i = 0; i < nodes_.size() && missing.empty(); ++i) {
        if (i == primary) continue;
        Connection c(nodes_[i]->connect_options());
        if (InfoField(c.Command({"INFO", "replication"}).str(), "master_link_status") != "up")
          missing = fmt::format("node{} not synced", i);
      }
      for (size_t i = 0; i < sentinels_.size() && missing.empty(); ++i) {
        Connection c(sentinels_[i]->connect_options());
        Reply m = c.Command({"SENTINEL", "get-master-addr-by-name", o_.master_name});
        if (m.is_nil() || m[1].str() != std::to_string(nodes_[primary]->port())) {
          missing = fmt::format("sentinel{} names another primary", i);
          break;
        }
        Reply master = c.Command({"SENTINEL", "master", o_.master_name});
        for (size_t k = 0; k + 1 < master.size(); k += 2) {
          std::string_view name = master[k].str(), value = master[k + 1].str();
          if (name == "num-slaves" && value != std::to_string(o_.replicas))
            missing = fmt::format("sentinel{} sees {} replicas", i, value);
          if (name == "num-other-sentinels" && value != std::to_string(o_.sentinels - 1))
            missing = fmt::format("sentinel{} knows {} other Sentinels", i, value);
        }
      }
    } catch (const RedisError& e) {
      missing = e.what();
    }
    if (missing.empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("the replicated Redis did not form in time: " + missing);
}

}  // namespace wc::redis

#include "redis/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "util/error.h"
#include "util/process.h"

namespace wc::redis {

namespace {

// Writes `content` to `path`, mode 0600, never through a symbolic link. OutputError naming the
// file and errno (a full STATE_DIR: exit 6 in `run`).
void WritePrivateFile(const std::string& path, const std::string& content) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw OutputError(path, "cannot write", errno);
  const ssize_t n = ::write(fd, content.data(), content.size());
  const int err = n < 0 ? errno : ENOSPC;  // a short write: the disk is full
  const bool ok = n == static_cast<ssize_t>(content.size());
  if (::close(fd) != 0 && ok) throw OutputError(path, "cannot write", errno);
  if (!ok) throw OutputError(path, "cannot write", err);
}

}  // namespace

std::string ConfQuoted(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out + "\"";
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  std::filesystem::create_directories(options_.dir);
  options_.dir = std::filesystem::canonical(options_.dir).string();
  if (!options_.unix_socket.empty()) {
    if (options_.unix_socket.size() > kMaxUnixSocketPath || options_.unix_socket[0] != '/')
      throw std::runtime_error(
          fmt::format("unix socket path must be absolute and at most {} "
                      "bytes: {}",
                      kMaxUnixSocketPath, options_.unix_socket));
    options_.port = 0;  // no TCP
  }
  bool pick = options_.port == 0 && options_.unix_socket.empty();
  for (int attempt = 0;; ++attempt) {
    if (pick) options_.port = FreeLoopbackPort();
    try {
      Start();
      return;
    } catch (const RedisConfigError&) {
      throw;
    } catch (const std::runtime_error&) {
      if (!pick || attempt >= 3) throw;  // a picked port may have been taken meanwhile
    }
  }
}

RedisServer::~RedisServer() {
  try {
    Stop();
  } catch (...) {
  }
}

ConnectOptions RedisServer::connect_options() const {
  ConnectOptions o;
  o.host = "127.0.0.1";
  o.port = options_.port;
  o.unix_socket = options_.unix_socket;
  o.password = options_.password;
  return o;
}

void RedisServer::Start() {
  if (pid_ > 0) throw std::logic_error("redis-server already running");
  if (options_.repair_aof_tail) last_repair_ = RepairAofTail(options_.dir);
  std::vector<std::string> args = {options_.executable,
                                   "--port",
                                   std::to_string(options_.port),
                                   "--bind",
                                   "127.0.0.1",
                                   "--protected-mode",
                                   "yes",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   options_.dir,
                                   "--dbfilename",
                                   "dump.rdb",
                                   "--logfile",
                                   "redis.log",
                                   "--daemonize",
                                   "no"};
  if (!options_.unix_socket.empty()) {
    // Port 0: no TCP listener at all. Redis removes a stale socket file (a crash leaves one)
    // before it binds.
    args.insert(args.end(), {"--unixsocket", options_.unix_socket, "--unixsocketperm", "700"});
  }
  if (options_.sentinel) {
    // A Sentinel rewrites its config file with what it learns (replicas, other Sentinels,
    // epochs): written once, kept across restarts.
    std::string conf = options_.dir + "/sentinel.conf";
    if (::access(conf.c_str(), F_OK) != 0) WritePrivateFile(conf, ConfigText());
    args = {options_.executable,
            conf,
            "--sentinel",
            "--port",
            std::to_string(options_.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            options_.dir,
            "--logfile",
            "sentinel.log",
            "--daemonize",
            "no"};
  } else if (!options_.password.empty() || !options_.config_lines.empty() ||
             !options_.replica_of.empty()) {
    // The password goes into a 0600 config file, never onto the command line (visible to
    // every local user in /proc). redis-server reads the file first, then the options.
    std::string conf = options_.dir + "/redis.conf";
    WritePrivateFile(conf, ConfigText());
    args.insert(args.begin() + 1, conf);
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  // Own process group: Ctrl-C reaches the owner, which stops the server itself.
  pid_t pid = SpawnChild(args, {.death_signal = SIGKILL,
                                .new_process_group = true,
                                .quiet_stdout = true,
                                .search_path = true,
                                .private_files = true,  // dump.rdb, AOF, log: 0600
                                .stderr_file = StderrPath()});
  pid_ = pid;
  try {
    WaitReady();
  } catch (...) {
    Kill();
    throw;
  }
}

std::string RedisServer::ConfigText() const {
  std::string text;
  if (!options_.password.empty()) text += "requirepass " + ConfQuoted(options_.password) + "\n";
  if (!options_.replica_of.empty() && !options_.sentinel) {
    auto colon = options_.replica_of.rfind(':');
    text += "replicaof " + options_.replica_of.substr(0, colon) + " " +
            options_.replica_of.substr(colon + 1) + "\n";
  }
  for (const std::string& line : options_.config_lines) text += line + "\n";
  return text;
}

void RedisServer::WaitReady() {
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) {
      // A configuration it refuses is reported on stderr, before its log file is open:
      //   *** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***
      //   Reading the configuration file, at line 12
      //   >>> 'bogus "yes"'
      //   Bad directive or wrong number of arguments
      std::ifstream in(StderrPath());
      std::string line, complaint, all;
      bool config = false;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        all += (all.empty() ? "" : " | ") + line;
        if (line.find("FATAL CONFIG FILE ERROR") != std::string::npos) {
          config = true;
        } else if (config && line.rfind("Reading the configuration file", 0) != 0) {
          complaint += (complaint.empty() ? "" : " ") + line;  // line numbers mean nothing here
        }
      }
      if (config) throw RedisConfigError(complaint.empty() ? all : complaint);
      throw RedisExitedAtStart(fmt::format("redis-server exited at start ({}): {}{}",
                                           connect_options().address(), LogTail(),
                                           all.empty() ? "" : "; stderr: " + all));
    }
    try {
      ConnectOptions o = connect_options();
      o.connect_timeout = std::chrono::milliseconds(500);
      o.command_timeout = std::chrono::milliseconds(2000);
      Connection c(o);
      c.Command({"PING"});
      return;
    } catch (const RedisError& e) {
      last = e.what();  // refused, or LOADING while the RDB loads
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error(
      fmt::format("redis-server did not become ready: {}; {}", last, LogTail()));
}

bool RedisServer::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    pid_ = -1;
    return false;
  }
  return true;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT);  // a stopped (SIGSTOP) server handles SIGTERM only once continued
  for (int i = 0; i < 500; ++i) {
    if (!Running()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
}

std::string RedisServer::StderrPath() const {
  return options_.dir + (options_.sentinel ? "/sentinel.stderr" : "/redis.stderr");
}

std::string RedisServer::LogTail() const {
  std::ifstream in(options_.dir + (options_.sentinel ? "/sentinel.log" : "/redis.log"));
  std::string line, tail;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  for (size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i)
    tail += lines[i] + " | ";
  return tail.empty() ? "(no log)" : tail;
}

}  // namespace wc::redis

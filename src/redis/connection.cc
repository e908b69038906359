#include "redis/connection.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "redis/peer_owner.h"
#include "util/signals.h"

namespace wc::redis {

namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

const char* TypeNameOf(int type) {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "string";
    case REDIS_REPLY_ARRAY:
      return "array";
    case REDIS_REPLY_INTEGER:
      return "integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "status";
    case REDIS_REPLY_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

[[noreturn]] void Mismatch(const char* want, const redisReply* node) {
  throw RedisProtocolError(fmt::format("expected a reply of type {}, got {}", want,
                                       node ? TypeNameOf(node->type) : "none"));
}

}  // namespace

std::string ConnectOptions::address() const {
  if (!unix_socket.empty()) return unix_socket;
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

namespace {

// Where a user or password part of `url` (after the scheme: "user:password@") ends, or npos if
// it has none. A unix:// URL's path may hold '@' (unix:///run/a@b.sock); anything before the
// path is user information.
size_t UserInfoEnd(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  std::string_view rest = url.substr(start);
  if (url.starts_with("unix://")) {
    if (rest.starts_with('/')) return std::string_view::npos;
    size_t at = rest.rfind("@/");
    if (at == std::string_view::npos) at = rest.rfind('@');
    return at == std::string_view::npos ? at : start + at;
  }
  size_t at = rest.rfind('@');
  return at == std::string_view::npos ? at : start + at;
}

// unix:///path: the path is everything after the scheme.
ConnectOptions ParseUnixUrl(std::string rest) {
  ConnectOptions o;
  if (rest.empty() || rest[0] != '/')
    throw std::invalid_argument("unix socket URL needs an absolute path: unix://" + rest);
  if (rest.size() > kMaxUnixSocketPath)
    throw std::invalid_argument(
        fmt::format("unix socket path longer than {} bytes: {}", kMaxUnixSocketPath, rest));
  o.unix_socket = rest;
  return o;
}

}  // namespace

size_t RedisUrlUserInfoEnd(std::string_view url) { return UserInfoEnd(url); }

ConnectOptions ParseRedisUrl(const std::string& url) {
  // Neither a user or password nor a query is echoed: either may hold a secret.
  if (size_t at = UserInfoEnd(url); at != std::string::npos)
    throw std::invalid_argument("a Redis URL may not hold a user or password (before '@')");
  if (size_t q = url.find_first_of("?#"); q != std::string::npos)
    throw std::invalid_argument(
        fmt::format("a Redis URL may not have a query or fragment: {}...", url.substr(0, q)));
  static constexpr std::string_view kUnixScheme = "unix://";
  if (url.starts_with(kUnixScheme)) return ParseUnixUrl(url.substr(kUnixScheme.size()));
  static constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme))
    throw std::invalid_argument("Redis URL must start with redis:// or unix://: " + url);
  std::string rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  ConnectOptions o;
  std::string host;
  if (!rest.empty() && rest[0] == '[') {  // an IPv6 address: redis://[::1]:6379
    size_t close = rest.find(']');
    if (close == std::string::npos || close == 1)
      throw std::invalid_argument("bad IPv6 address in Redis URL: " + url);
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':')
      throw std::invalid_argument("bad IPv6 address in Redis URL: " + url);
  } else if (std::count(rest.begin(), rest.end(), ':') > 1) {
    // redis://127.0.0.1:6379:1 would be host "127.0.0.1:6379", port 1.
    throw std::invalid_argument("more than one ':' in the host:port of Redis URL " + url +
                                " (an IPv6 address goes in brackets: redis://[::1]:6379)");
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    std::string_view port = std::string_view(rest).substr(colon + 1);
    rest = rest.substr(0, colon);
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p <= 0 ||
        p > 65535)
      throw std::invalid_argument("bad port in Redis URL: " + url);
    o.port = p;
  }
  if (!host.empty()) rest = host;
  if (rest.empty()) throw std::invalid_argument("no host in Redis URL: " + url);
  o.host = rest;
  return o;
}

std::string ToUrl(const ConnectOptions& o) {
  if (!o.unix_socket.empty()) return "unix://" + o.unix_socket;
  return "redis://" + o.address();
}

bool Reply::is_nil() const { return node_ && node_->type == REDIS_REPLY_NIL; }
bool Reply::is_array() const { return node_ && node_->type == REDIS_REPLY_ARRAY; }
bool Reply::is_integer() const { return node_ && node_->type == REDIS_REPLY_INTEGER; }
bool Reply::is_string() const {
  return node_ && (node_->type == REDIS_REPLY_STRING || node_->type == REDIS_REPLY_STATUS);
}
int64_t Reply::integer() const {
  if (!is_integer()) Mismatch("integer", node_);
  return node_->integer;
}
std::string_view Reply::str() const {
  if (!is_string()) Mismatch("string", node_);
  return {node_->str, node_->len};
}
size_t Reply::size() const {
  if (!is_array()) Mismatch("array", node_);
  return node_->elements;
}
Reply Reply::operator[](size_t i) const {
  if (i >= size())
    throw RedisProtocolError(fmt::format("reply has {} elements, wanted #{}", size(), i));
  return Reply(root_, node_->element[i]);
}
std::string InfoField(std::string_view info, std::string_view name) {
  for (size_t pos = 0; pos < info.size();) {
    size_t eol = info.find_first_of("\r\n", pos);
    std::string_view line = info.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':') {
      return std::string(line.substr(name.size() + 1));
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return "";
}

void Connection::ContextFree::operator()(redisContext* c) const { redisFree(c); }

Connection::Connection(const ConnectOptions& options) : options_(options) {
  if (options.unix_socket.empty()) {
    ctx_.reset(redisConnectWithTimeout(options.host.c_str(), options.port,
                                       ToTimeval(options.connect_timeout)));
  } else if (options.unix_socket.size() <= kMaxUnixSocketPath) {
    ctx_.reset(redisConnectUnixWithTimeout(options.unix_socket.c_str(),
                                           ToTimeval(options.connect_timeout)));
  } else {
    throw RedisIoError(fmt::format("cannot connect to Redis at {}: a unix socket path has at most "
                                   "{} bytes",
                                   options.unix_socket, kMaxUnixSocketPath),
                       false);
  }
  if (!ctx_) throw RedisIoError("cannot allocate a Redis context", false);
  if (ctx_->err) {
    throw RedisIoError(
        fmt::format("cannot connect to Redis at {}: {}", options.address(), ctx_->errstr), false);
  }
  if (options.unix_socket.empty()) redisEnableKeepAlive(ctx_.get());
  if (!options.password.empty()) CheckServerOwner();
  redisSetTimeout(ctx_.get(), ToTimeval(options.command_timeout));
  // A stop (util/signals.h) may cut the wait for the reply: a stopped server cannot hold it.
  SetStopSocket(ctx_->fd);
  struct Unset {
    ~Unset() { SetStopSocket(-1); }
  } unset;
  // Without a password, PING finds out whether the server wants one: its first real command
  // could be one it answers with "ERR Protocol error: unauthenticated multibulk length" before
  // it closes the connection, which a caller would retry as a lost connection.
  try {
    Command(options.password.empty() ? Args{"PING"} : Args{"AUTH", options.password});
  } catch (const RedisReplyError& e) {
    if (e.prefix() == "NOAUTH") {
      throw RedisAuthError(
          fmt::format("Redis at {} requires a password ({})", options.address(), e.what()),
          e.prefix());
    }
    if (e.transient()) throw;  // e.g. LOADING: retried
    const std::string_view said = e.what();
    // A server at its maxclients answers every new connection so, then closes it: the server
    // is there but full, like one that is not reachable yet (retried; clients may leave).
    if (said.find("max number of clients") != std::string_view::npos) {
      throw RedisIoError(
          fmt::format("Redis at {} refused the connection ({})", options.address(), said), false);
    }
    // Only an answer about the password is one: WRONGPASS, "ERR invalid password", "ERR AUTH
    // <password> called without any password configured ..." (older: "ERR Client sent AUTH,
    // but no password is set").
    if (!options.password.empty() &&
        (e.prefix() == "WRONGPASS" || said.find("password") != std::string_view::npos)) {
      throw RedisAuthError(
          fmt::format("Redis at {} refused the password ({})", options.address(), said),
          e.prefix());
    }
    throw RedisReplyError(
        fmt::format("Redis at {} answered {} with an error: {}", options.address(),
                    options.password.empty() ? "PING" : "AUTH", said),
        e.prefix());
  }
}

void Connection::CheckServerOwner() {
  ServerEnd server = FindServerEnd(ctx_->fd);
  if (!server.local) return;  // another host: nothing here can tell who runs it
  if (!server.owner || (*server.owner == 0 && ::geteuid() != 0)) {
    // Not in the socket table yet (the server has not taken the connection), or an older
    // kernel's 0 for a connection not accepted yet: one round trip without the secret (any
    // reply will do, NOAUTH included) makes the server accept it, then ask again.
    redisSetTimeout(ctx_.get(), ToTimeval(options_.connect_timeout));
    try {
      Command({"PING"});
    } catch (const RedisReplyError&) {
    }
    server = FindServerEnd(ctx_->fd);
  }
  if (!server.owner) {
    throw RedisIoError(fmt::format("Redis at {}: cannot find which user runs this local server; "
                                   "not sending it the password",
                                   options_.address()),
                       false);
  }
  if (!TrustedOwner(*server.owner)) {
    throw RedisIoError(fmt::format("Redis at {}: the server there is run by another user (uid "
                                   "{}); not sending it the password",
                                   options_.address(), *server.owner),
                       false);
  }
}

void Connection::SetCommandTimeout(std::chrono::milliseconds timeout) {
  options_.command_timeout = timeout;
  if (ctx_) redisSetTimeout(ctx_.get(), ToTimeval(timeout));
}

bool Connection::broken() const { return ctx_ == nullptr || ctx_->err != 0; }

int Connection::fd() const { return ctx_ ? ctx_->fd : -1; }

void Connection::FailIo(const std::string& what) {
  bool timeout = ctx_ && ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
  std::string detail = ctx_ ? ctx_->errstr : "no connection";
  if (timeout) detail = "timed out";
  throw RedisIoError(fmt::format("Redis {}: {}: {}", options_.address(), what, detail), timeout);
}

Reply Connection::Wrap(void* raw) {
  std::shared_ptr<redisReply> root(static_cast<redisReply*>(raw),
                                   [](redisReply* r) { freeReplyObject(r); });
  return Reply(root, root.get());
}

std::string Connection::CommandName(const Args& args) {
  // Which command it was: an ACL's reply may name only a key, or nothing.
  std::string command = args.empty() ? "?" : args[0];
  for (char& ch : command) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (args.size() > 1 && (command == "FCALL" || command == "FCALL_RO" || command == "FUNCTION" ||
                          command == "CONFIG" || command == "XGROUP" || command == "XINFO" ||
                          command == "CLIENT" || command == "OBJECT"))
    command += " " + args[1];
  return command;
}

void Connection::ThrowReplyError(const std::string& command, const std::string& message) const {
  // NOPERM from the command itself; "... can't run this command ..." from a redis.call inside
  // one of the job's functions (a script refused by the ACL), which Redis prefixes with ERR.
  if (message.rfind("NOPERM", 0) == 0 ||
      message.find("user executing the script can't run this command") != std::string::npos ||
      message.find("user executing the script can't access at least one of the keys") !=
          std::string::npos) {
    std::string said = message;
    if (said.rfind("ERR ERR ", 0) == 0) said.erase(0, 4);
    throw RedisPermissionError(
        fmt::format("Redis at {} refused {} ({}): its ACL denies the user wordcount "
                    "authenticates as (the default user) a command or key the job needs",
                    options_.address(), command, said));
  }
  throw RedisReplyError(message);
}

Reply Connection::Command(const Args& args) {
  Append(args);
  Reply r = GetReply();
  std::string message;
  if (IsError(r, &message)) ThrowReplyError(CommandName(args), message);
  return r;
}

Reply Connection::Command(std::initializer_list<std::string_view> args) {
  return Command(Args(args.begin(), args.end()));
}

void Connection::Append(const Args& args) {
  if (broken()) FailIo("connection is broken");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(args.size()), argv.data(), lens.data()) !=
      REDIS_OK) {
    FailIo("cannot queue command");
  }
}

Reply Connection::GetReply() {
  if (broken()) FailIo("connection is broken");
  void* raw = nullptr;
  if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) FailIo("no reply");
  return Wrap(raw);
}

bool Connection::IsError(const Reply& r, std::string* message) {
  if (r.node_ == nullptr || r.node_->type != REDIS_REPLY_ERROR) return false;
  if (message) message->assign(r.node_->str, r.node_->len);
  return true;
}

}  // namespace wc::redis

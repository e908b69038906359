// A thin, safe C++ face of hiredis (0.14): one synchronous connection to one Redis server.
//
// Ownership: a Connection owns its redisContext (freed on destruction) and is move-only.
// Replies are owned by Reply objects; views into a reply live as long as the Reply.
// Thread-safety: none; use one Connection per thread. REQUIRES: SIGPIPE ignored (wordcount's main
// does), or a write to a server that died (at once on a unix socket) kills the process.
// Errors: see redis/errors.h. After a RedisIoError the connection is broken() and every later
// call throws at once; build a new Connection (Reconnect() does that with the same options).
// Commands are argument arrays only: data is never formatted into a command string, so every
// byte (spaces, NUL, newlines) reaches Redis unchanged.
// The password is sent only to a server this user may trust: before AUTH, a server on this host
// (a unix socket, or TCP on a loopback or this host's own address) must belong to this user,
// root or a system account (redis/peer_owner.h); another local user's listener on the address
// (say a loopback port freed while the server restarted) is refused with a RedisIoError and
// never sees the password. A server on another host cannot be checked this way.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis/errors.h"

struct redisContext;
struct redisReply;

namespace wc::redis {

// Redis reads no argument longer than this from a client that has not authenticated yet: a
// longer password can never be sent (the connection is closed: "Broken pipe").
inline constexpr size_t kMaxPasswordBytes = 16384;

struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Non-empty: connect through this unix-domain socket (an absolute path of at most
  // kMaxUnixSocketPath bytes) instead of host and port.
  std::string unix_socket;
  std::string password;  // empty: no AUTH
  // How long connecting may take.
  std::chrono::milliseconds connect_timeout{2000};
  // How long one command may wait for its reply. Must exceed any XREADGROUP BLOCK used on the
  // connection, or hiredis gives up while Redis still delivers the entry.
  std::chrono::milliseconds command_timeout{30000};

  // "host:port", or the socket's path: for messages.
  std::string address() const;
};

// The longest path a unix-domain socket can have (sun_path, without its NUL). hiredis and
// redis-server would silently cut a longer one.
inline constexpr size_t kMaxUnixSocketPath = 107;

// Parses redis://host:port (also redis://host, default port 6379; an IPv6 address in brackets,
// redis://[::1]:6379) and unix:///absolute/path/to/socket. Throws std::invalid_argument naming
// the problem. A user or password ("user:password@", in any scheme or shape) and a query or
// fragment ("?...", "#...") are refused without being echoed: the password never travels in a
// URL (options.password is left empty).
ConnectOptions ParseRedisUrl(const std::string& url);
// Where the user or password part of `url` ends (its '@'), or npos if it has none: the '@'
// after the scheme's "://" (or from the start, with no scheme), except inside the path of a
// unix:///path URL. Nothing up to that position may be shown.
size_t RedisUrlUserInfoEnd(std::string_view url);
// The URL form of options, never with the password.
std::string ToUrl(const ConnectOptions& options);

// A reply, or an element of one. Accessors check the type and throw RedisProtocolError naming
// the expected and the actual type.
class Reply {
 public:
  Reply() = default;
  bool is_nil() const;
  bool is_array() const;
  bool is_integer() const;
  bool is_string() const;  // bulk string or status
  int64_t integer() const;
  std::string_view str() const;
  size_t size() const;               // array length
  Reply operator[](size_t i) const;  // array element (shares ownership of the whole reply)

 private:
  friend class Connection;
  Reply(std::shared_ptr<redisReply> root, const redisReply* node)
      : root_(std::move(root)), node_(node) {}
  std::shared_ptr<redisReply> root_;
  const redisReply* node_ = nullptr;
};

using Args = std::vector<std::string>;

// The value of field `name` in an INFO reply ("name:value" lines), or "" if absent.
std::string InfoField(std::string_view info, std::string_view name);

class Connection {
 public:
  // Connects (and AUTHs if a password is set, once the server's owner is checked). Throws
  // RedisIoError (also for a local server of another user: the password is not sent) /
  // RedisReplyError.
  explicit Connection(const ConnectOptions& options);
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and returns its reply. An error reply is thrown as RedisReplyError.
  Reply Command(const Args& args);
  Reply Command(std::initializer_list<std::string_view> args);

  // Pipelining: queue commands, then read their replies in order. Error replies are returned
  // as replies (check with IsError) so that one failing command does not lose the others.
  void Append(const Args& args);
  Reply GetReply();
  static bool IsError(const Reply& r, std::string* message = nullptr);
  // The name of the command in `args`, upper case, with its subcommand or function name
  // ("FCALL wc_commit_v4"), for messages.
  static std::string CommandName(const Args& args);
  // Throws the error reply `message` of `command`: RedisPermissionError naming this server and
  // the command for an ACL refusal (NOPERM, or a function's refused redis.call), else
  // RedisReplyError.
  [[noreturn]] void ThrowReplyError(const std::string& command, const std::string& message) const;

  // How long each later command may wait for its reply (options().command_timeout follows).
  void SetCommandTimeout(std::chrono::milliseconds timeout);

  bool broken() const;
  // The socket, -1 if none (to shut it down from a signal handler: util/signals.h).
  int fd() const;
  const ConnectOptions& options() const { return options_; }

 private:
  [[noreturn]] void FailIo(const std::string& what);
  // Throws RedisIoError unless the server may be given the password (see the top).
  void CheckServerOwner();
  Reply Wrap(void* raw);

  struct ContextFree {
    void operator()(redisContext* c) const;
  };
  ConnectOptions options_;
  std::unique_ptr<redisContext, ContextFree> ctx_;  // freed even if the constructor throws
};

}  // namespace wc::redis

// A thin, safe C++ face of hiredis (0.14): one synchronous connection to one Redis server.
//
// Ownership: a Connection owns its redisContext (freed on destruction) and is move-only.
// Replies are owned by Reply objects; views into a reply live as long as the Reply.
// Thread-safety: none; use one Connection per thread.
// Errors: see redis/errors.h. After a RedisIoError the connection is broken() and every later
// call throws at once; build a new Connection (Reconnect() does that with the same options).
// Commands are argument arrays only: data is never formatted into a command string, so every
// byte (spaces, NUL, newlines) reaches Redis unchanged.
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

struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // empty: no AUTH
  // How long connecting may take.
  std::chrono::milliseconds connect_timeout{2000};
  // How long one command may wait for its reply. Must exceed any XREADGROUP BLOCK used on the
  // connection, or hiredis gives up while Redis still delivers the entry.
  std::chrono::milliseconds command_timeout{30000};
};

// Parses redis://[:password@]host:port (also redis://host, default port 6379). Throws
// std::invalid_argument naming the problem.
ConnectOptions ParseRedisUrl(const std::string& url);
// The URL form of options (password included if set).
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
  // Connects (and AUTHs if a password is set). Throws RedisIoError / RedisReplyError.
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

  bool broken() const;
  // The socket, -1 if none (to shut it down from a signal handler: util/signals.h).
  int fd() const;
  const ConnectOptions& options() const { return options_; }

 private:
  [[noreturn]] void FailIo(const std::string& what);
  Reply Wrap(void* raw);

  struct ContextFree {
    void operator()(redisContext* c) const;
  };
  ConnectOptions options_;
  std::unique_ptr<redisContext, ContextFree> ctx_;  // freed even if the constructor throws
};

}  // namespace wc::redis

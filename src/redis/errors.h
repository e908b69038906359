// Error model of the Redis layer (src/redis/). Every failure is thrown as a RedisError:
//   * RedisIoError       - the connection failed, was cut, or timed out. The Connection is dead
//                          afterwards (hiredis contexts cannot be reused after an error); a
//                          command whose reply was lost may or may not have been applied.
//   * RedisReplyError    - the server answered with an error reply. prefix() is its first word
//                          (ERR, BUSYGROUP, NOGROUP, BUSY, LOADING, MISCONF, NOAUTH, ...). The
//                          connection stays usable. RedisAuthError: a password is missing or
//                          wrong; RedisPermissionError: NOPERM (an ACL denies a command).
//   * RedisProtocolError - a reply had another type or shape than the caller expected (names
//                          both). The connection stays usable.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace wc::redis {

class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RedisIoError : public RedisError {
 public:
  RedisIoError(const std::string& what, bool timeout) : RedisError(what), timeout_(timeout) {}
  bool timeout() const { return timeout_; }

 private:
  bool timeout_;
};

class RedisReplyError : public RedisError {
 public:
  explicit RedisReplyError(const std::string& message)
      : RedisError(message), prefix_(message.substr(0, message.find(' '))) {}
  RedisReplyError(const std::string& what, std::string prefix)
      : RedisError(what), prefix_(std::move(prefix)) {}
  const std::string& prefix() const { return prefix_; }
  // Errors a caller should retry after a pause: the server is busy, loading or refusing writes.
  bool transient() const {
    return prefix_ == "BUSY" || prefix_ == "LOADING" || prefix_ == "MISCONF" ||
           prefix_ == "TRYAGAIN";
  }

 private:
  std::string prefix_;
};

// The server wants a password none was given for (NOAUTH), or refused the one given
// (WRONGPASS, or AUTH to a server without one). Thrown when connecting; what() names the
// server, e.g. "Redis at 10.0.0.1:6379 requires a password (NOAUTH Authentication required.)".
// prefix() is the server's (NOAUTH, WRONGPASS, ERR). Not transient: retrying cannot help.
class RedisAuthError : public RedisReplyError {
 public:
  RedisAuthError(const std::string& what, std::string prefix)
      : RedisReplyError(what, std::move(prefix)) {}
};

// NOPERM: the server's ACL denies the user this connection authenticated as (the default
// user) a command or a key. Thrown by Connection::Command; what() names the server and the
// command refused, e.g. "Redis at 10.0.0.1:6379 refused FCALL wc_commit_v4 (NOPERM ...)".
// Not transient: retrying cannot help.
class RedisPermissionError : public RedisReplyError {
 public:
  explicit RedisPermissionError(const std::string& what) : RedisReplyError(what, "NOPERM") {}
};

// The server holds a function of wordcount's names in another library, so wordcount's own
// cannot be loaded (FUNCTION LOAD: "Function ... already exists"). what() names the server, the
// function and that library. Not transient: someone has to remove the other library.
class RedisLibraryConflict : public RedisReplyError {
 public:
  explicit RedisLibraryConflict(const std::string& what) : RedisReplyError(what, "ERR") {}
};

class RedisProtocolError : public RedisError {
 public:
  using RedisError::RedisError;
};

// `e` for a message: "Redis: <what>", unless what() names Redis already (a RedisIoError:
// "Redis /path/redis.sock: no reply: Broken pipe"; a RedisAuthError or RedisPermissionError:
// "Redis at ..."), which is not said twice ("Redis: Redis ...").
inline std::string Describe(const RedisError& e) {
  std::string what = e.what();
  return what.rfind("Redis", 0) == 0 ? what : "Redis: " + what;
}

}  // namespace wc::redis

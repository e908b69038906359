// Pipelined commands on one Connection with a bounded number in flight: Add() sends a command
// and, once `window` replies are outstanding, reads the oldest; Finish() reads the rest.
//
// Errors: an error reply is thrown as RedisReplyError only after every outstanding reply has
// been read, so the connection is never left with unread replies that a later command would
// take for its own. I/O errors throw RedisIoError (the connection is broken then).
// Lifetime: borrows the Connection; one Pipeline at a time per connection. Not thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "redis/connection.h"

namespace wc::redis {

class Pipeline {
 public:
  // `replies`: if given, every reply is appended to it, in order (error replies too).
  Pipeline(Connection& c, size_t window, std::vector<Reply>* replies = nullptr)
      : c_(c), window_(window), replies_(replies) {}
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Once an error reply was seen, stops sending: drains and throws it.
  void Add(const Args& args) {
    if (error_) Finish();
    c_.Append(args);
    names_.push_back(Connection::CommandName(args));
    ++sent_;
    if (sent_ - answered_ > window_) ReadOne();
  }

  // Reads every outstanding reply; throws the first error reply seen, if any.
  void Finish() {
    while (answered_ < sent_) ReadOne();
    if (error_) {
      std::string e = std::move(*error_);
      error_.reset();
      c_.ThrowReplyError(error_command_, e);  // an ACL refusal named (connection.h)
    }
  }

  size_t sent() const { return sent_; }

 private:
  void ReadOne() {
    std::string err;
    Reply r = c_.GetReply();
    ++answered_;
    std::string name = std::move(names_.front());
    names_.pop_front();
    if (Connection::IsError(r, &err) && !error_) {
      error_ = err;
      error_command_ = std::move(name);
    }
    if (replies_) replies_->push_back(std::move(r));
  }

  Connection& c_;
  size_t window_;
  std::vector<Reply>* replies_;
  size_t sent_ = 0, answered_ = 0;
  std::optional<std::string> error_;
  std::string error_command_;
  std::deque<std::string> names_;  // of the commands sent and not answered yet
};

}  // namespace wc::redis

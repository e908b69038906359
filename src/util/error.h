// Error model of the counting core (csv/, count/, gen/, shuffle/, util/).
//
// Everything below the CLI reports failures by throwing. Three kinds exist:
//   * InputError  - the input is bad or unreadable (a file that does not parse the way the
//                   reference parser would accept it, a path that cannot be opened, a FIFO or
//                   directory where a file was expected). It names the file and, where one
//                   applies, the 1-based physical line.
//   * OutputError - a result cannot be written (--out, split parts, generated files, spill
//                   files, standard output): disk full, no permission, a reader that went away
//                   (EPIPE). It names the file. It is deliberately not an InputError: a loop
//                   that skips or retries bad inputs must not mistake a full disk for one.
//   * UsageError  - the caller asked for something impossible (bad option value).
// All derive from std::runtime_error; what() is a complete, user-facing sentence in which the
// path is escaped with EscapeForLog (util/escape.h): a file name cannot break the line or send
// control bytes to a terminal. path() returns the raw bytes.
// The CLI catches them in one place per command and turns them into exit codes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace wc {

class InputError : public std::runtime_error {
 public:
  // line == 0 means "no particular line".
  InputError(std::string path, uint64_t line, const std::string& message);

  const std::string& path() const { return path_; }
  uint64_t line() const { return line_; }
  // The message without the "path:line: " prefix.
  const std::string& message() const { return message_; }

 private:
  std::string path_;
  uint64_t line_;
  std::string message_;
};

class OutputError : public std::runtime_error {
 public:
  // what() is "<path>: <what>", followed by ": <strerror(error)>" if error != 0.
  OutputError(std::string path, const std::string& what, int error = 0);

  const std::string& path() const { return path_; }
  // The errno of the failure, 0 if none applies (EPIPE: the reader went away).
  int error() const { return error_; }

 private:
  std::string path_;
  int error_;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns "<what>: <strerror(err)>".
std::string ErrnoMessage(const std::string& what, int err);

}  // namespace wc

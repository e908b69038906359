// Error model of the counting core (csv/, count/, gen/, util/).
//
// Everything below the CLI reports failures by throwing. Two kinds exist:
//   * InputError  - the input is bad or unreadable (a file that does not parse the way the
//                   reference parser would accept it, a path that cannot be opened). It names
//                   the file and, where one applies, the 1-based physical line.
//   * UsageError  - the caller asked for something impossible (bad option value).
// Both derive from std::runtime_error; what() is a complete, user-facing sentence.
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

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns "<what>: <strerror(err)>".
std::string ErrnoMessage(const std::string& what, int err);

}  // namespace wc

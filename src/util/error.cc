#include "util/error.h"

#include <fmt/format.h>

#include <cstring>

#include "util/escape.h"

namespace wc {

namespace {
std::string Compose(const std::string& path, uint64_t line, const std::string& message) {
  if (line == 0) return fmt::format("{}: {}", EscapeForLog(path), message);
  return fmt::format("{}:{}: {}", EscapeForLog(path), line, message);
}
}  // namespace

InputError::InputError(std::string path, uint64_t line, const std::string& message)
    : std::runtime_error(Compose(path, line, message)),
      path_(std::move(path)),
      line_(line),
      message_(message) {}

OutputError::OutputError(std::string path, const std::string& what, int error)
    : std::runtime_error(Compose(path, 0, error != 0 ? ErrnoMessage(what, error) : what)),
      path_(std::move(path)),
      error_(error) {}

std::string ErrnoMessage(const std::string& what, int err) {
  return fmt::format("{}: {}", what, std::strerror(err));
}

}  // namespace wc

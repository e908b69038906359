#include "util/error.h"

#include <fmt/format.h>

#include <cstring>

namespace wc {

namespace {
std::string Compose(const std::string& path, uint64_t line, const std::string& message) {
  if (line == 0) return fmt::format("{}: {}", path, message);
  return fmt::format("{}:{}: {}", path, line, message);
}
}  // namespace

InputError::InputError(std::string path, uint64_t line, const std::string& message)
    : std::runtime_error(Compose(path, line, message)),
      path_(std::move(path)),
      line_(line),
      message_(message) {}

std::string ErrnoMessage(const std::string& what, int err) {
  return fmt::format("{}: {}", what, std::strerror(err));
}

}  // namespace wc

#include "util/bounds.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "util/error.h"
#include "util/escape.h"

namespace wc {

std::string IntRange::Describe() const { return fmt::format("an integer from {} to {}", min, max); }

std::string SecondsRange::Describe() const {
  return fmt::format("{}a number of seconds from {} to {}", zero_is_off ? "0 (off) or " : "", min,
                     max);
}

std::string MustBe(std::string_view name, std::string_view what, std::string_view got) {
  return fmt::format("{} must be {}, got {}", name, what, EscapeForLog(got));
}

int64_t ParseInteger(std::string_view name, std::string_view text, IntRange r) {
  int64_t x = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, x);  // decimal, optional '-', no wrapping
  if (text.empty() || ec != std::errc() || p != end || !r.Contains(x))
    throw UsageError(MustBe(name, r.Describe(), text));
  return x;
}

double ParseSeconds(std::string_view name, std::string_view text, SecondsRange r) {
  // Decimal only: strtod alone would also take " 1", "0x10", "inf" and "nan"; no leading '+'
  // (the integer options refuse it too).
  bool decimal = !text.empty() && text[0] != '+' &&
                 text.find_first_not_of("0123456789.eE+-") == std::string::npos;
  std::string s(text);
  char* end = nullptr;
  double x = decimal ? std::strtod(s.c_str(), &end) : NAN;
  if (!decimal || *end != '\0' || !std::isfinite(x) || !r.Contains(x))
    throw UsageError(MustBe(name, r.Describe(), text));
  return x;
}

std::string NonEmpty(std::string_view name, std::string_view text) {
  if (text.empty()) throw UsageError(fmt::format("{} must be a non-empty string", name));
  return std::string(text);
}

}  // namespace wc

// Bounded values: the one check for command-line options and config keys, so that an option and
// the config key it mirrors accept the same values and refuse the others in the same words
// ("<name> must be an integer from 0 to 256, got 100000"). The ranges themselves are named
// where they belong (job/config.h for the job's keys and the options that mirror them,
// cli/commands.h for serial's and gen's options).
//
// Integers are decimal only (no sign for the positive ones is needed, a '-' is read as a minus,
// never wrapped; no hex or octal, no trailing text) and never wrap: 4294967297 is refused, not
// read as 1. Seconds are decimal numbers (fractions allowed; no inf, no nan).
// Errors: the Parse* functions throw UsageError naming the option or key.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wc {

struct IntRange {
  int64_t min, max;
  bool Contains(int64_t x) const { return x >= min && x <= max; }
  // "an integer from 0 to 256"
  std::string Describe() const;
};

struct SecondsRange {
  double min, max;
  // 0 is also accepted (and means "off"), below min.
  bool zero_is_off = false;
  bool Contains(double x) const { return (x >= min && x <= max) || (zero_is_off && x == 0); }
  // "a number of seconds from 0 to 86400", "0 (off) or a number of seconds from 1 to 86400"
  std::string Describe() const;
};

// `text` as an integer in `r`; else UsageError "<name> must be <r.Describe()>, got <text>".
int64_t ParseInteger(std::string_view name, std::string_view text, IntRange r);
// `text` as seconds in `r`; else UsageError "<name> must be <r.Describe()>, got <text>".
double ParseSeconds(std::string_view name, std::string_view text, SecondsRange r);
// `text` unless it is empty; else UsageError "<name> must be a non-empty string".
std::string NonEmpty(std::string_view name, std::string_view text);

// "<name> must be <what>, got <got>", control bytes of `got` escaped.
std::string MustBe(std::string_view name, std::string_view what, std::string_view got);

}  // namespace wc

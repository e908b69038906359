// Escaping untrusted bytes for text outputs: the project's one escape rule.
//
//   '\\' -> "\\\\" (only with Backslash::kEscape), tab -> "\\t", newline -> "\\n",
//   carriage return -> "\\r", any other byte below 0x20 or 0x7f -> "\\xHH" (lowercase hex);
//   every other byte (UTF-8 included) as is.
//
// Two uses, one rule:
//   * the counts file (count/counts_format.h, EscapeWord) escapes backslashes too, so that
//     UnescapeWord restores every word byte for byte;
//   * messages and log lines (EscapeForLog) keep backslashes: their job is that no file name,
//     stream field or Redis reply can end a line (forge a log event) or send ESC sequences to a
//     terminal. Escaping twice changes nothing (EscapeForLog is idempotent), so a message built
//     from an already escaped what() can be escaped again when it is written.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace wc {

enum class Backslash { kEscape, kKeep };

// True if AppendEscaped would change `s`.
bool NeedsEscape(std::string_view s, Backslash backslash);
// Appends `s`, escaped, to *out.
void AppendEscaped(std::string* out, std::string_view s, Backslash backslash);

// `s` with every control byte escaped and backslashes kept: safe on one line of a log or a
// terminal. Returns `s` unchanged (one copy) when there is nothing to escape.
std::string EscapeForLog(std::string_view s);

}  // namespace wc

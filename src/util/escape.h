// Escaping untrusted bytes for text outputs: the project's one escape rule.
//
//   '\\' -> "\\\\" (only with Backslash::kEscape), tab -> "\\t", newline -> "\\n",
//   carriage return -> "\\r", any other byte below 0x20 or 0x7f -> "\\xHH" (lowercase hex);
//   every other byte (UTF-8 included) as is, except, with Backslash::kKeep, the C1 controls:
//   U+0080-U+009F in UTF-8 (C2 80 - C2 9F) and a byte 0x80-0x9F that is not part of a UTF-8
//   sequence, each byte as "\\xHH" (0x9B and U+009B are CSI, like ESC [).
//
// Two uses, one rule:
//   * the counts file (count/counts_format.h, EscapeWord) escapes backslashes too, so that
//     UnescapeWord restores every word byte for byte; bytes from 0x80 on are never escaped
//     there (the format is fixed: tests/differential/counts_escape.py);
//   * messages, log lines and the top lines on standard output (EscapeForLog; WriteTop) keep
//     backslashes: their job is that no file name, stream field, Redis reply or counted word
//     can end a line (forge a log event) or send escape sequences (ESC, CSI, CR) to a
//     terminal, while printable words, UTF-8 included, stay byte for byte what they are.
//     Escaping twice changes nothing (EscapeForLog is idempotent), so a message built from an
//     already escaped what() can be escaped again when it is written.
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

// A value of a log line's field (util/log.h puts every string argument through it): '\\' ->
// "\\\\" and '"' -> "\\\"", so that a quoted value (path="...") ends at its own closing quote
// and a file name cannot add fields to an event (held-out pass 18). Control bytes are left to
// EscapeForLog. UnquoteLogValue reverses it.
std::string QuoteForLog(std::string_view s);
// A value not in quotes (`stream=files`): QuoteForLog, and a space as "\\x20", so that it stays
// one field.
std::string BareForLog(std::string_view s);
std::string UnquoteLogValue(std::string_view s);

}  // namespace wc

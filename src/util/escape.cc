#include "util/escape.h"

#include <utility>

namespace wc {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (s[i] >= 0x80), 0 if there is none.
size_t Utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = byte(0);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range (no overlong, no surrogate)
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xbf) return 0;
  }
  return n;
}

// The bytes at s[i] that go together: how many, and whether they are escaped.
std::pair<size_t, bool> Scan(std::string_view s, size_t i, Backslash backslash) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {1, c < 0x20 || c == 0x7f || (c == '\\' && backslash == Backslash::kEscape)};
  if (backslash == Backslash::kEscape) return {1, false};  // the counts format: bytes as they are
  // Messages, logs, terminal lines: C1 controls too, UTF-8 encoded (U+0080-U+009F, e.g. C2 9B,
  // CSI) or raw (a byte 0x80-0x9F outside any UTF-8 sequence: CSI to an 8-bit terminal). Other
  // UTF-8 as is; another stray byte (0xA0-0xFF) is printable in 8-bit charsets, shown as is.
  if (size_t n = Utf8Length(s, i))
    return {n, n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) <= 0x9f};
  return {1, c <= 0x9f};
}

void AppendByteEscape(std::string* out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('\\');
  switch (c) {
    case '\\':
      out->push_back('\\');
      break;
    case '\t':
      out->push_back('t');
      break;
    case '\n':
      out->push_back('n');
      break;
    case '\r':
      out->push_back('r');
      break;
    default:
      out->push_back('x');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
  }
}

}  // namespace

bool NeedsEscape(std::string_view s, Backslash backslash) {
  for (size_t i = 0; i < s.size();) {
    auto [n, escape] = Scan(s, i, backslash);
    if (escape) return true;
    i += n;
  }
  return false;
}

void AppendEscaped(std::string* out, std::string_view s, Backslash backslash) {
  size_t plain = 0;  // start of the bytes not yet appended, none of which needs an escape
  for (size_t i = 0; i < s.size();) {
    auto [n, escape] = Scan(s, i, backslash);
    if (escape) {
      out->append(s.data() + plain, i - plain);
      for (size_t k = 0; k < n; ++k) AppendByteEscape(out, static_cast<unsigned char>(s[i + k]));
      plain = i + n;
    }
    i += n;
  }
  out->append(s.data() + plain, s.size() - plain);
}

namespace {
// QuoteForLog, and with `space` a space as "\\x20" (BareForLog).
std::string LogValue(std::string_view s, bool space) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (space && c == ' ') {
      out += "\\x20";
      continue;
    }
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

std::string QuoteForLog(std::string_view s) { return LogValue(s, false); }

std::string BareForLog(std::string_view s) { return LogValue(s, true); }

std::string UnquoteLogValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == '"')) ++i;
    out += s[i];
  }
  return out;
}

std::string EscapeForLog(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendEscaped(&out, s, Backslash::kKeep);
  return out;
}

}  // namespace wc

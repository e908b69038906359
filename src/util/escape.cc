#include "util/escape.h"

namespace wc {

namespace {

bool NeedsEscape(unsigned char c, Backslash backslash) {
  return c < 0x20 || c == 0x7f || (c == '\\' && backslash == Backslash::kEscape);
}

}  // namespace

bool NeedsEscape(std::string_view s, Backslash backslash) {
  for (unsigned char c : s) {
    if (NeedsEscape(c, backslash)) return true;
  }
  return false;
}

void AppendEscaped(std::string* out, std::string_view s, Backslash backslash) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t plain = 0;  // start of the bytes not yet appended, none of which needs an escape
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!NeedsEscape(c, backslash)) continue;
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
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
  out->append(s.data() + plain, s.size() - plain);
}

std::string EscapeForLog(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendEscaped(&out, s, Backslash::kKeep);
  return out;
}

}  // namespace wc

#include "count/counts_format.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iterator>
#include <stdexcept>

#include "util/error.h"
#include "util/escape.h"
#include "util/signals.h"

namespace wc {

namespace {

bool CountOrder(const WordCount& a, const WordCount& b) {
  if (a.count != b.count) return a.count > b.count;
  return a.word < b.word;  // char_traits<char>::compare is memcmp: unsigned byte order
}

std::vector<WordCount> Collect(const WordTable& table) {
  std::vector<WordCount> all;
  all.reserve(table.size());
  table.ForEach([&](std::string_view w, uint64_t c) { all.push_back({w, c}); });
  return all;
}

}  // namespace

std::vector<WordCount> SortedCounts(const WordTable& table) {
  std::vector<WordCount> all = Collect(table);
  std::sort(all.begin(), all.end(), CountOrder);
  return all;
}

void SortCounts(std::vector<WordCount>& counts) {
  std::sort(counts.begin(), counts.end(), CountOrder);
}

std::vector<WordCount> TopCounts(const WordTable& table, size_t n) {
  std::vector<WordCount> all = Collect(table);
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(), CountOrder);
  all.resize(n);
  return all;
}

std::string EscapeWord(std::string_view word) {
  std::string out;
  out.reserve(word.size());
  AppendEscaped(&out, word, Backslash::kEscape);
  return out;
}

std::string UnescapeWord(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) throw std::invalid_argument("dangling backslash");
    switch (s[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'x': {
        if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
          throw std::invalid_argument("malformed \\x escape");
        }
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
        break;
      }
      default:
        throw std::invalid_argument("unknown escape");
    }
  }
  return out;
}

void WriteCountsFile(OutputFile* out, const std::vector<WordCount>& counts) {
  std::string buf;
  buf.reserve(1 << 20);
  auto flush = [&] {
    if (out != nullptr) {
      out->Write(buf);
    } else if (!WriteUnlessStopped(STDOUT_FILENO, buf)) {
      if (errno == EINTR) throw OutputError("standard output", "not written: stopped by a signal");
      throw OutputError("standard output", "cannot write", errno);
    }
    buf.clear();
  };
  for (const WordCount& wc : counts) {
    fmt::format_int n(wc.count);
    buf.append(n.data(), n.size());
    buf += '\t';
    AppendEscaped(&buf, wc.word, Backslash::kEscape);
    buf += '\n';
    if (buf.size() >= (1 << 20)) flush();
  }
  flush();
}

bool WriteTop(int fd, const std::vector<WordCount>& top) {
  std::string buf;
  for (const WordCount& wc : top) {
    AppendEscaped(&buf, wc.word, Backslash::kKeep);
    fmt::format_to(std::back_inserter(buf), ": {}\n", wc.count);
  }
  return WriteUnlessStopped(fd, buf);
}

}  // namespace wc

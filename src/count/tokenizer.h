// Splitting a text into words exactly like Python's `text.split(" ")`: every single space is a
// separator, so leading, trailing and doubled spaces yield empty words, and "" yields one empty
// word. Tabs, newlines and '\r' are part of words.
// REQUIRES: 16 readable bytes past text.end() (the csv layer guarantees it).
#pragma once

#include <cstddef>
#include <string_view>

#include "csv/simd.h"

namespace wc {

// Calls on_word(const char* word, size_t len) for every word of `text`, in order. The word
// pointers point into `text`.
template <class OnWord>
inline void ForEachWord(std::string_view text, OnWord&& on_word) {
  const char* p = text.data();
  const size_t n = text.size();
  size_t start = 0;
  for (size_t i = 0; i < n; i += 16) {
    uint32_t m = simd::MatchMask(simd::Load(p + i), ' ');
    if (n - i < 16) m &= (1u << (n - i)) - 1;
    while (m != 0) {
      size_t at = i + static_cast<size_t>(__builtin_ctz(m));
      on_word(p + start, at - start);
      start = at + 1;
      m &= m - 1;
    }
  }
  on_word(p + start, n - start);
}

}  // namespace wc

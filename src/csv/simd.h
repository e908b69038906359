// Tiny SSE2 byte-search helpers for the CSV and counting hot loops (SSE2 is part of x86-64).
//
// REQUIRES for every function: at least 16 readable bytes at every position below `end`
// (MappedFile and PaddedBuffer guarantee this). Bytes at or past `end` are never reported.
#pragma once

#include <emmintrin.h>

#include <cstddef>
#include <cstdint>

namespace wc::simd {

inline uint32_t MatchMask(__m128i block, char c) {
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8(c))));
}

inline __m128i Load(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Position of the first byte equal to a or b in [p, end), or end.
inline const char* FindFirstOf(const char* p, const char* end, char a, char b) {
  while (p < end) {
    __m128i block = Load(p);
    uint32_t m = MatchMask(block, a) | MatchMask(block, b);
    if (m != 0) {
      const char* hit = p + __builtin_ctz(m);
      return hit < end ? hit : end;
    }
    p += 16;
  }
  return end;
}

// Position of the first byte equal to a, b or c in [p, end), or end.
inline const char* FindFirstOf(const char* p, const char* end, char a, char b, char c) {
  while (p < end) {
    __m128i block = Load(p);
    uint32_t m = MatchMask(block, a) | MatchMask(block, b) | MatchMask(block, c);
    if (m != 0) {
      const char* hit = p + __builtin_ctz(m);
      return hit < end ? hit : end;
    }
    p += 16;
  }
  return end;
}

}  // namespace wc::simd

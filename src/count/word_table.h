// WordTable: a word -> count hash table built for counting tens of millions of short words.
//
// Design (why it is fast): open addressing with linear probing over 32-byte slots, two per cache
// line. Words of up to 16 bytes (nearly all of them) are stored inline in the slot, zero-padded,
// so a lookup is one hash, usually one cache line and one 16-byte compare, with no pointer
// chasing. Longer words live in an append-only arena and are compared after their length and
// hash match. The table never allocates per word: it grows by doubling.
//
// Counts are uint64 and updated with wrap-around arithmetic, so adding a delta of
// uint64_t(-1) subtracts: the serial counter uses that to take back a failed file's partial
// counts. Words whose count is 0 are not reported by ForEach.
//
// Ownership: the table owns copies of its keys; views passed to Add need only live for the call.
// Thread-safety: none; use one table per thread and Merge.
// Errors: Add throws std::length_error for a word of 4 GiB or more; allocation failure throws
// std::bad_alloc. A throwing Add leaves the table unchanged.
#pragma once

#include <emmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace wc {

class WordTable {
 public:
  explicit WordTable(size_t initial_capacity = 1024);

  // Adds `delta` to the count of word [p, p+len).
  // REQUIRES: 16 readable bytes at p even if len < 16 (bytes past len are ignored).
  inline void Add(const char* p, size_t len, uint64_t delta = 1);
  // Same without the padding requirement (copies short words to a padded buffer).
  void AddUnpadded(std::string_view word, uint64_t delta = 1);

  // The slot a word of len <= 16 with this hash probes first (for prefetching).
  const void* SlotAddress(uint64_t hash) const { return &slots_[hash & mask_]; }

  // Adds every count of `other` into this table.
  void Merge(const WordTable& other);

  // Number of distinct words stored (including any whose count went back to 0).
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Count of `word`, 0 if absent.
  uint64_t Get(std::string_view word) const;

  // Calls f(std::string_view word, uint64_t count) for every word with a non-zero count, in
  // unspecified order. The views are valid until the table is next modified.
  template <class F>
  void ForEach(F&& f) const;

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  static constexpr size_t kInline = 16;

  struct Slot {
    uint64_t lo;   // inline key bytes 0..7, or the arena offset for long keys
    uint64_t hi;   // inline key bytes 8..15, or key bytes 0..7 for long keys
    uint32_t len;  // kEmpty marks a free slot
    uint32_t hash;
    uint64_t count;
  };
  static_assert(sizeof(Slot) == 32);

  static inline __m128i LoadMasked(const char* p, size_t len);
  static inline uint64_t Mix(uint64_t a, uint64_t b);
  // Loads the inline key of a word of len <= 16 into *lo/*hi and returns its hash.
  static inline uint64_t HashInline(const char* p, size_t len, uint64_t* lo, uint64_t* hi);
  // Adds delta to the inline key (lo, hi, len) whose hash is h.
  inline void AddInline(uint64_t lo, uint64_t hi, size_t len, uint64_t h, uint64_t delta);

  friend class PrefetchingAdder;
  static uint64_t HashLong(const char* p, size_t len);

  void AddLong(const char* p, size_t len, uint64_t delta);
  void Grow();
  void Insert(const Slot& s);  // REQUIRES: the key is absent and there is room
  std::string_view KeyOf(const Slot& s) const;

  std::vector<Slot> slots_;
  std::vector<char> arena_;  // long keys, back to back; kept padded by 16 bytes
  size_t arena_used_ = 0;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// ---- hot path ----

alignas(16) extern const uint8_t kWordMasks[17][16];

inline __m128i WordTable::LoadMasked(const char* p, size_t len) {
  __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm_and_si128(v, _mm_load_si128(reinterpret_cast<const __m128i*>(kWordMasks[len])));
}

inline uint64_t WordTable::Mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t WordTable::HashInline(const char* p, size_t len, uint64_t* lo, uint64_t* hi) {
  __m128i key = LoadMasked(p, len);
  *lo = static_cast<uint64_t>(_mm_cvtsi128_si64(key));
  *hi = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(key, key)));
  return Mix(*lo ^ 0xa0761d6478bd642fULL, *hi ^ 0xe7037ed1a0b428dbULL ^ len);
}

inline void WordTable::Add(const char* p, size_t len, uint64_t delta) {
  if (len > kInline) {
    AddLong(p, len, delta);
    return;
  }
  uint64_t lo, hi;
  uint64_t h = HashInline(p, len, &lo, &hi);
  AddInline(lo, hi, len, h, delta);
}

inline void WordTable::AddInline(uint64_t lo, uint64_t hi, size_t len, uint64_t h, uint64_t delta) {
  size_t i = h & mask_;
  for (;;) {
    Slot& s = slots_[i];
    if (s.lo == lo && s.hi == hi && s.len == len) {
      s.count += delta;
      return;
    }
    if (s.len == kEmpty) break;
    i = (i + 1) & mask_;
  }
  if ((size_ + 1) * 2 > slots_.size()) {
    Grow();
    Insert(Slot{lo, hi, static_cast<uint32_t>(len), static_cast<uint32_t>(h), delta});
  } else {
    slots_[i] = Slot{lo, hi, static_cast<uint32_t>(len), static_cast<uint32_t>(h), delta};
  }
  ++size_;
}

// Adds words to a WordTable through a short software-prefetch pipeline: a word is hashed and
// its slot prefetched when it arrives, and probed kLookahead words later, so the cache misses of
// a big table overlap instead of queueing one after another (profiling showed ~2/3 of the
// counting time stalled on the first slot load). Pending words hold their key bytes by value,
// so the caller's buffers may change right after Add returns.
// The table must not be read or modified otherwise until Flush() (the destructor flushes too).
// Single-threaded, like the table.
class PrefetchingAdder {
 public:
  PrefetchingAdder(WordTable& table, uint64_t delta) : table_(table), delta_(delta) {}
  ~PrefetchingAdder() { Flush(); }
  PrefetchingAdder(const PrefetchingAdder&) = delete;
  PrefetchingAdder& operator=(const PrefetchingAdder&) = delete;

  // REQUIRES: 16 readable bytes at p.
  void Add(const char* p, size_t len) { Add(p, len, delta_); }
  // The same with this word's own delta (merging counts).
  void Add(const char* p, size_t len, uint64_t delta) {
    if (len > WordTable::kInline) {
      table_.AddLong(p, len, delta);
      return;
    }
    Pending& slot = ring_[next_ % kLookahead];
    if (next_ >= kLookahead) table_.AddInline(slot.lo, slot.hi, slot.len, slot.hash, slot.delta);
    slot.hash = WordTable::HashInline(p, len, &slot.lo, &slot.hi);
    slot.len = len;
    slot.delta = delta;
    __builtin_prefetch(table_.SlotAddress(slot.hash), 1, 3);
    ++next_;
  }

  void Flush() {
    size_t pending = next_ < kLookahead ? next_ : kLookahead;
    for (size_t k = next_ - pending; k < next_; ++k) {
      const Pending& e = ring_[k % kLookahead];
      table_.AddInline(e.lo, e.hi, e.len, e.hash, e.delta);
    }
    next_ = 0;
  }

 private:
  static constexpr size_t kLookahead = 16;
  struct Pending {
    uint64_t lo, hi, hash;
    size_t len;
    uint64_t delta;
  };
  WordTable& table_;
  uint64_t delta_;
  Pending ring_[kLookahead];
  size_t next_ = 0;
};

template <class F>
void WordTable::ForEach(F&& f) const {
  for (const Slot& s : slots_) {
    if (s.len != kEmpty && s.count != 0) f(KeyOf(s), s.count);
  }
}

}  // namespace wc

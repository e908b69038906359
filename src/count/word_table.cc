#include "count/word_table.h"

#include <algorithm>
#include <string>

namespace wc {

namespace {
constexpr auto MakeMasks() {
  struct M {
    uint8_t m[17][16];
  } r{};
  for (int len = 0; len <= 16; ++len) {
    for (int i = 0; i < 16; ++i) r.m[len][i] = i < len ? 0xFF : 0x00;
  }
  return r;
}
constexpr auto kMasks = MakeMasks();
}  // namespace

alignas(16) const uint8_t kWordMasks[17][16] = {
#define ROW(n)                                                                               \
  {                                                                                          \
    kMasks.m[n][0], kMasks.m[n][1], kMasks.m[n][2], kMasks.m[n][3], kMasks.m[n][4],          \
        kMasks.m[n][5], kMasks.m[n][6], kMasks.m[n][7], kMasks.m[n][8], kMasks.m[n][9],      \
        kMasks.m[n][10], kMasks.m[n][11], kMasks.m[n][12], kMasks.m[n][13], kMasks.m[n][14], \
        kMasks.m[n][15]                                                                      \
  }
    ROW(0), ROW(1),  ROW(2),  ROW(3),  ROW(4),  ROW(5),  ROW(6),  ROW(7),  ROW(8),
    ROW(9), ROW(10), ROW(11), ROW(12), ROW(13), ROW(14), ROW(15), ROW(16),
#undef ROW
};

WordTable::WordTable(size_t initial_capacity) {
  size_t cap = 16;
  while (cap < initial_capacity) cap *= 2;
  slots_.assign(cap, Slot{0, 0, kEmpty, 0, 0});
  mask_ = cap - 1;
  arena_.resize(kInline);
}

uint64_t WordTable::HashLong(const char* p, size_t len) {
  uint64_t h = 0x8ebc6af09c88c6e3ULL ^ len;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    uint64_t a, b;
    std::memcpy(&a, p + i, 8);
    std::memcpy(&b, p + i + 8, 8);
    h = Mix(a ^ 0xa0761d6478bd642fULL ^ h, b ^ 0xe7037ed1a0b428dbULL);
  }
  if (i < len) {
    uint64_t a, b;
    h = Mix(h ^ 0x589965cc75374cc3ULL, HashInline(p + i, len - i, &a, &b));
  }
  return Mix(h ^ 0x589965cc75374cc3ULL, len ^ 0x1d8e4e27c47d124fULL);
}

std::string_view WordTable::KeyOf(const Slot& s) const {
  if (s.len <= kInline) return {reinterpret_cast<const char*>(&s.lo), s.len};
  return {arena_.data() + s.lo, s.len};
}

void WordTable::AddLong(const char* p, size_t len, uint64_t delta) {
  if (len >= kEmpty) throw std::length_error("word of 4 GiB or more");
  uint64_t h = HashLong(p, len);
  uint64_t first8;
  std::memcpy(&first8, p, 8);
  size_t i = h & mask_;
  for (;;) {
    Slot& s = slots_[i];
    if (s.len == len && s.hash == static_cast<uint32_t>(h) && s.hi == first8 &&
        std::memcmp(arena_.data() + s.lo, p, len) == 0) {
      s.count += delta;
      return;
    }
    if (s.len == kEmpty) break;
    i = (i + 1) & mask_;
  }
  // Copy the key first so that a bad_alloc leaves the table unchanged.
  if (arena_used_ + len + kInline > arena_.size()) {
    arena_.resize(std::max(arena_.size() * 2, arena_used_ + len + kInline));
  }
  std::memcpy(arena_.data() + arena_used_, p, len);
  Slot slot{arena_used_, first8, static_cast<uint32_t>(len), static_cast<uint32_t>(h), delta};
  if ((size_ + 1) * 2 > slots_.size()) {
    Grow();
    Insert(slot);
  } else {
    slots_[i] = slot;
  }
  arena_used_ += len;
  ++size_;
}

void WordTable::AddUnpadded(std::string_view word, uint64_t delta) {
  if (word.size() > kInline) {
    // AddLong reads 16 bytes at a time only within [p, p+len) except for its masked tail load.
    std::string copy(word);
    copy.resize(word.size() + kInline);
    AddLong(copy.data(), word.size(), delta);
    return;
  }
  alignas(16) char buf[kInline + kInline] = {};
  std::memcpy(buf, word.data(), word.size());
  Add(buf, word.size(), delta);
}

void WordTable::Grow() {
  std::vector<Slot> old(slots_.size() * 2, Slot{0, 0, kEmpty, 0, 0});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.len != kEmpty) Insert(s);
  }
}

void WordTable::Insert(const Slot& s) {
  // The stored hash holds the low 32 bits; positions only ever use those bits.
  size_t i = s.hash & mask_;
  while (slots_[i].len != kEmpty) i = (i + 1) & mask_;
  slots_[i] = s;
}

uint64_t WordTable::Get(std::string_view word) const {
  std::string padded(word);
  padded.resize(word.size() + kInline);  // the hash reads 16 bytes at a time
  const char* p = padded.data();
  uint64_t h;
  if (word.size() <= kInline) {
    uint64_t lo, hi;
    h = HashInline(p, word.size(), &lo, &hi);
  } else {
    h = HashLong(p, word.size());
  }
  for (size_t i = h & mask_; slots_[i].len != kEmpty; i = (i + 1) & mask_) {
    if (KeyOf(slots_[i]) == word) return slots_[i].count;
  }
  return 0;
}

void WordTable::Merge(const WordTable& other) {
  for (const Slot& s : other.slots_) {
    if (s.len == kEmpty) continue;
    if (s.len <= kInline) {
      Add(reinterpret_cast<const char*>(&s.lo), s.len, s.count);
    } else {
      AddLong(other.arena_.data() + s.lo, s.len, s.count);
    }
  }
}

}  // namespace wc

#include "redis/zset_dump.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

namespace wc::redis {
namespace {

static_assert(std::numeric_limits<double>::is_iec559, "RDB scores are IEEE 754 binary64");

constexpr unsigned char kRdbTypeZset2 = 5;    // RDB_TYPE_ZSET_2
constexpr unsigned char kRdbEncInt8 = 0xC0;   // (RDB_ENCVAL << 6) | RDB_ENC_INT8
constexpr unsigned char kRdbEncInt16 = 0xC1;  // (RDB_ENCVAL << 6) | RDB_ENC_INT16
constexpr unsigned char kRdbEncInt32 = 0xC2;  // (RDB_ENCVAL << 6) | RDB_ENC_INT32
constexpr unsigned char kRdbLen32 = 0x80;     // RDB_32BITLEN
constexpr unsigned char kRdbLen64 = 0x81;     // RDB_64BITLEN

// ---- CRC-64/Jones, reflected, as Redis's crc64.c: slicing by 8 over compile-time tables. ----

constexpr uint64_t ReverseBits(uint64_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 64; ++i) {
    r = (r << 1) | (v & 1);
    v >>= 1;
  }
  return r;
}

using CrcTables = std::array<std::array<uint64_t, 256>, 8>;

constexpr CrcTables MakeCrcTables() {
  // Reflected CRC: shift right, xor with the bit-reversed polynomial.
  constexpr uint64_t kPoly = ReverseBits(0xad93d23594c935a9ULL);
  CrcTables t{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t c = i;
    for (int b = 0; b < 8; ++b) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  // t[k][i]: the CRC of byte i followed by k zero bytes.
  for (size_t k = 1; k < 8; ++k) {
    for (size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}

constexpr CrcTables kCrc = MakeCrcTables();

inline uint64_t LoadLe64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) {
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= ((v >> (8 * i)) & 0xff) << (56 - 8 * i);
    v = r;
  }
  return v;
}

// ---- Little helpers appending RDB pieces. ----

inline void PutLe(std::string& out, uint64_t v, int bytes) {
  char b[8];
  for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, static_cast<size_t>(bytes));
}

// rdbSaveLen: the size in bytes of the encoding of `len`, and the encoding itself.
inline size_t LenSize(uint64_t len) {
  if (len < (1u << 6)) return 1;
  if (len < (1u << 14)) return 2;
  if (len <= UINT32_MAX) return 5;
  return 9;
}

inline size_t EncodeLen(uint64_t len, char* out) {
  if (len < (1u << 6)) {
    out[0] = static_cast<char>(len);
    return 1;
  }
  if (len < (1u << 14)) {
    out[0] = static_cast<char>(0x40 | (len >> 8));
    out[1] = static_cast<char>(len & 0xff);
    return 2;
  }
  const int bytes = len <= UINT32_MAX ? 4 : 8;
  out[0] = static_cast<char>(bytes == 4 ? kRdbLen32 : kRdbLen64);
  for (int i = 0; i < bytes; ++i)
    out[1 + i] = static_cast<char>((len >> (8 * (bytes - 1 - i))) & 0xff);
  return static_cast<size_t>(1 + bytes);
}

// rdbSaveRawString's integer attempt: strings of at most 11 bytes that string2ll accepts
// (canonical decimal: no sign but '-', no leading zero, not "-0") and that fit in int32.
// Returns the encoded size (2, 3 or 5), or 0 if the member is stored as a plain string.
inline size_t TryIntEncode(std::string_view s, char* out) {
  if (s.empty() || s.size() > 11) return 0;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return 0;
  }
  int64_t v = 0;
  if (s.size() == 1 && s[0] == '0') {
    v = 0;
  } else {
    if (s[i] < '1' || s[i] > '9') return 0;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return 0;
      v = v * 10 + (s[i] - '0');  // at most 11 digits: no overflow in int64
    }
    if (negative) v = -v;
  }
  if (v >= -128 && v <= 127) {
    out[0] = static_cast<char>(kRdbEncInt8);
    out[1] = static_cast<char>(v & 0xff);
    return 2;
  }
  if (v >= -32768 && v <= 32767) {
    out[0] = static_cast<char>(kRdbEncInt16);
    out[1] = static_cast<char>(v & 0xff);
    out[2] = static_cast<char>((v >> 8) & 0xff);
    return 3;
  }
  if (v >= INT32_MIN && v <= INT32_MAX) {
    out[0] = static_cast<char>(kRdbEncInt32);
    for (int b = 0; b < 4; ++b) out[1 + b] = static_cast<char>((v >> (8 * b)) & 0xff);
    return 5;
  }
  return 0;
}

}  // namespace

uint64_t Crc64Redis(uint64_t crc, std::string_view data) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  while (n >= 8) {
    crc ^= LoadLe64(p);
    crc = kCrc[7][crc & 0xff] ^ kCrc[6][(crc >> 8) & 0xff] ^ kCrc[5][(crc >> 16) & 0xff] ^
          kCrc[4][(crc >> 24) & 0xff] ^ kCrc[3][(crc >> 32) & 0xff] ^ kCrc[2][(crc >> 40) & 0xff] ^
          kCrc[1][(crc >> 48) & 0xff] ^ kCrc[0][crc >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = kCrc[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

ZsetDumpWriter::ZsetDumpWriter(size_t expected_members, size_t expected_member_bytes)
    : expected_members_(expected_members) {
  // Per member: usually 1 length byte + the bytes + the 8-byte score; header and footer 20.
  buf_.reserve(20 + expected_member_bytes + expected_members * 9);
  Reset();
}

void ZsetDumpWriter::Reset() {
  members_ = 0;
  buf_.clear();
  header_slot_ = 1 + LenSize(expected_members_);
  buf_.resize(header_slot_);
}

void ZsetDumpWriter::Add(std::string_view member, double score) {
  if (std::isnan(score)) throw std::invalid_argument("ZsetDumpWriter: NaN score");
  char head[9];
  size_t n = TryIntEncode(member, head);
  if (n > 0) {
    buf_.append(head, n);
  } else {
    buf_.append(head, EncodeLen(member.size(), head));
    buf_.append(member);
  }
  PutLe(buf_, std::bit_cast<uint64_t>(score), 8);
  ++members_;
}

std::string ZsetDumpWriter::Finish() {
  if (members_ == 0) {
    throw std::logic_error(
        "ZsetDumpWriter: Redis has no empty sorted sets; DEL the key instead of RESTORE");
  }
  char header[10];
  header[0] = static_cast<char>(kRdbTypeZset2);
  size_t header_size = 1 + EncodeLen(members_, header + 1);
  buf_.replace(0, header_slot_, header, header_size);  // in place when the hint was right
  PutLe(buf_, kZsetDumpRdbVersion, 2);
  PutLe(buf_, Crc64Redis(0, buf_), 8);
  std::string out = std::move(buf_);
  buf_ = std::string();  // a moved-from string is valid but unspecified
  Reset();
  return out;
}

void SortForZsetDump(std::span<ZsetEntry> entries) {
  // Sorts 24-byte keys instead of the entries: an order-preserving integer of the score and the
  // first 8 member bytes (big endian, zero padded) decide almost every comparison without
  // touching the member's bytes; equal prefixes fall back to comparing the members.
  struct Key {
    uint64_t score;
    uint64_t prefix;
    const ZsetEntry* entry;
  };
  std::vector<Key> keys;
  keys.reserve(entries.size());
  for (const ZsetEntry& e : entries) {
    // IEEE 754 bits as an unsigned that orders like the double; -0 counts as 0 (they are
    // equal scores to Redis, whose order then goes by member).
    uint64_t bits = std::bit_cast<uint64_t>(e.score == 0 ? 0.0 : e.score);
    uint64_t score = (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
    uint64_t prefix = 0;
    for (size_t i = 0; i < 8; ++i) {
      prefix = (prefix << 8) | (i < e.member.size() ? static_cast<unsigned char>(e.member[i]) : 0);
    }
    keys.push_back({score, prefix, &e});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.prefix != b.prefix) return a.prefix > b.prefix;
    return a.entry->member > b.entry->member;
  });
  std::vector<ZsetEntry> sorted;
  sorted.reserve(entries.size());
  for (const Key& k : keys) sorted.push_back(*k.entry);
  std::copy(sorted.begin(), sorted.end(), entries.begin());
}

std::string EncodeZsetDump(std::span<const ZsetEntry> entries) {
  size_t bytes = 0;
  for (const ZsetEntry& e : entries) bytes += e.member.size();
  ZsetDumpWriter w(entries.size(), bytes);
  for (const ZsetEntry& e : entries) w.Add(e.member, e.score);
  return w.Finish();
}

}  // namespace wc::redis

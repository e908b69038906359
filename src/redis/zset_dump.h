// Builds the DUMP/RESTORE payload of a Redis sorted set on the client, so that a whole result
// set (word -> count) is published with one `RESTORE key 0 <payload> REPLACE` instead of ~1 M
// ZADD members (issue 13).
//
// Format (Redis 7.0.x, RDB version 10; written from the Redis 7.0.15 sources, not copied):
//
//   payload := type zset_len { member score }* rdb_version crc64
//   type        1 byte, 5 = RDB_TYPE_ZSET_2 (rdb.h), written by rdbSaveObjectType()
//   zset_len    length encoding of rdbSaveLen() in rdb.c:
//                 < 2^6   1 byte  00LLLLLL
//                 < 2^14  2 bytes 01LLLLLL LLLLLLLL (big endian)
//                 < 2^32  0x80 + 4 bytes big endian
//                 else    0x81 + 8 bytes big endian
//   member      a string as rdbSaveRawString() in rdb.c writes it without LZF: a canonical
//               decimal of at most 11 bytes that fits int32 ("0", "-5", "1234", not "007",
//               "-0", "+1") is integer-encoded (rdbEncodeInteger: 0xC0 + int8, 0xC1 + int16
//               LE, 0xC2 + int32 LE); any other string is zset_len-style length + raw bytes.
//               The loader (rdbGenericLoadStringObject) turns integer encodings back into the
//               same decimal text. Redis itself LZF-compresses members over 20 bytes when
//               rdbcompression is on; this writer never compresses (the loader accepts both).
//   score       IEEE 754 binary64, little endian (rdbSaveBinaryDoubleValue)
//   rdb_version 2 bytes little endian, 10 (cluster.c createDumpPayload)
//   crc64       8 bytes little endian: Redis's crc64 (crc64.c: Jones polynomial
//               0xad93d23594c935a9, reflected, init 0, no final xor) of everything before it,
//               checked by verifyDumpPayload() in cluster.c
//
// See rdb.c rdbSaveObject() (OBJ_ZSET, OBJ_ENCODING_SKIPLIST branch), rdbSaveLen(),
// rdbSaveRawString(), rdbSaveBinaryDoubleValue(), rdbLoadObject() (RDB_TYPE_ZSET_2 branch) and
// cluster.c createDumpPayload() / verifyDumpPayload() / restoreCommand() at
// https://github.com/redis/redis/blob/7.0.15/src/rdb.c
//
// Small sets: the payload is always RDB_TYPE_ZSET_2, also for sets Redis would keep as a
// listpack (<= zset-max-listpack-entries = 128 members, all <= zset-max-listpack-value = 64
// bytes). That is legal: rdbLoadObject converts a loaded ZSET_2 that fits those limits to a
// listpack, so after RESTORE the key has exactly the encoding a ZADD-built key would have.
//
// Order: the loader inserts members in payload order (zslInsert + dictAdd), so any order gives
// the same set. The fastest one for the server is Redis's own DUMP order, descending by
// (score, member bytes): every insert then lands at the head of the skiplist. Other orders are
// correct but slow: for 1.02 M members RESTORE took ~0.57 s in DUMP order and ~3 s shuffled
// (bench/publish_bench.cc), so sort first (SortForZsetDump, ~0.25 s). With that order and no
// member over 20 bytes (or rdbcompression off on the server), the payload is byte for byte
// what Redis's DUMP of the same skiplist-encoded set returns.
//
// RESTORE ... REPLACE over an existing big set also frees the old one, synchronously unless the
// server runs with lazyfree-lazy-server-del yes (restoreCommand -> dbDelete).
//
// Preconditions the writer does not check (the server does, at RESTORE):
//   - members are distinct: a duplicate makes RESTORE fail with "Bad data format"
//     ("Duplicate zset fields detected" in the server log); the key is left unchanged.
//   - at least one member: Redis has no empty sorted sets (a zset_len of 0 is "Bad data format").
//     Finish() throws instead; a publisher must DEL the key for an empty result.
//   - the payload fits the server's proto-max-bulk-len (512 MB by default), ~16 MB per million
//     short words.
// RESTORE is atomic: on any error the old value of the key stays.
//
// Ownership: the writer owns its buffer; Finish() moves it out. Thread-safety: none (use one
// writer per thread). Errors: Add() throws std::invalid_argument for a NaN score (Redis rejects
// NaN scores); Finish() throws std::logic_error when no member was added.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wc::redis {

// Redis's crc64() (crc64.c): CRC-64/Jones as Redis uses it. Continue a checksum by passing the
// previous result as `crc`; start with 0. Crc64Redis(0, "123456789") == 0xe9c6d914c4b8d9ca.
uint64_t Crc64Redis(uint64_t crc, std::string_view data);

// The RDB version this writer claims in the footer; RESTORE accepts payloads of versions up to
// its own (Redis >= 7.0 has RDB version >= 10).
inline constexpr uint16_t kZsetDumpRdbVersion = 10;

class ZsetDumpWriter {
 public:
  // Hints only (any value is correct): the number of members, which fixes the size of the
  // length field written first (a wrong hint costs one memmove of the payload in Finish), and
  // the total bytes of all members, for the buffer reservation.
  explicit ZsetDumpWriter(size_t expected_members = 0, size_t expected_member_bytes = 0);

  // Appends one member, in payload order (see "Order" above).
  void Add(std::string_view member, double score);

  size_t size() const { return members_; }
  bool empty() const { return members_ == 0; }

  // The complete payload for RESTORE. Leaves the writer empty, ready for another set (with the
  // same member-count hint). Throws std::logic_error if no member was added.
  std::string Finish();

 private:
  void Reset();

  size_t expected_members_;
  size_t header_slot_ = 0;  // bytes reserved at the front for type + zset_len
  size_t members_ = 0;
  std::string buf_;
};

// One (member, score) pair; the member's bytes must outlive the use.
struct ZsetEntry {
  std::string_view member;
  double score;
};

// Sorts into Redis's DUMP order: descending by score, then descending by member bytes (unsigned
// bytes; on a common prefix the longer member first), i.e. the skiplist's order (zslInsert,
// sdscmp) reversed. Ties between distinct members cannot occur.
void SortForZsetDump(std::span<ZsetEntry> entries);

// Encodes the entries in the given order (call SortForZsetDump first for the fast order).
// Same preconditions and errors as ZsetDumpWriter.
std::string EncodeZsetDump(std::span<const ZsetEntry> entries);

}  // namespace wc::redis

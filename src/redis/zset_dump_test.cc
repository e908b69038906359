#include "redis/zset_dump.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "redis_fixture.h"

namespace wc::redis {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Bit by bit, straight from the CRC definition (Jones polynomial, reflected, init 0).
uint64_t Crc64BitByBit(std::string_view data) {
  uint64_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int b = 0; b < 8; ++b) {
      // 0x95ac9329ac4bc9b5 is 0xad93d23594c935a9 with its bits reversed.
      crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ULL : crc >> 1;
    }
  }
  return crc;
}

TEST(ZsetDumpCrc64, RedisTestVector) {
  EXPECT_EQ(Crc64Redis(0, "123456789"), 0xe9c6d914c4b8d9caULL);
  EXPECT_EQ(Crc64BitByBit("123456789"), 0xe9c6d914c4b8d9caULL);
  EXPECT_EQ(Crc64Redis(0, ""), 0u);
}

TEST(ZsetDumpCrc64, SlicingMatchesBitByBitAtEveryLengthAndAlignment) {
  std::mt19937_64 rng(7);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len + offset <= data.size(); len += (len < 40 ? 1 : 13)) {
      std::string_view s(data.data() + offset, len);
      ASSERT_EQ(Crc64Redis(0, s), Crc64BitByBit(s)) << "offset " << offset << " len " << len;
    }
  }
  // Continuing a checksum equals checksumming the concatenation.
  std::string_view all(data);
  EXPECT_EQ(Crc64Redis(Crc64Redis(0, all.substr(0, 123)), all.substr(123)), Crc64Redis(0, all));
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// The payload of a one-member set without its 10-byte footer.
std::string Body(std::string_view member, double score) {
  ZsetDumpWriter w;
  w.Add(member, score);
  std::string p = w.Finish();
  return p.substr(0, p.size() - 10);
}

TEST(ZsetDumpWriter, LayoutOfOneMember) {
  ZsetDumpWriter w;
  w.Add("a", 1.0);
  std::string p = w.Finish();
  // type ZSET_2, 1 member, "a", 1.0 as LE binary64, RDB version 10 LE, CRC64 LE.
  std::string head = Bytes({5, 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 10, 0});
  ASSERT_EQ(p.size(), head.size() + 8);
  EXPECT_EQ(p.substr(0, head.size()), head);
  uint64_t crc = Crc64Redis(0, head);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(static_cast<unsigned char>(p[head.size() + i]), (crc >> (8 * i)) & 0xff);
}

TEST(ZsetDumpWriter, IntegerEncodingFollowsRdbSaveRawString) {
  const std::string one = Bytes({0, 0, 0, 0, 0, 0, 0xf0, 0x3f});
  auto member_bytes = [&](std::string_view m) {
    std::string b = Body(m, 1.0);
    return b.substr(2, b.size() - 2 - 8);  // without type, count and score
  };
  EXPECT_EQ(member_bytes("0"), Bytes({0xc0, 0}));
  EXPECT_EQ(member_bytes("-1"), Bytes({0xc0, 0xff}));
  EXPECT_EQ(member_bytes("127"), Bytes({0xc0, 0x7f}));
  EXPECT_EQ(member_bytes("-128"), Bytes({0xc0, 0x80}));
  EXPECT_EQ(member_bytes("128"), Bytes({0xc1, 0x80, 0}));
  EXPECT_EQ(member_bytes("-32768"), Bytes({0xc1, 0x00, 0x80}));
  EXPECT_EQ(member_bytes("32768"), Bytes({0xc2, 0x00, 0x80, 0, 0}));
  EXPECT_EQ(member_bytes("2147483647"), Bytes({0xc2, 0xff, 0xff, 0xff, 0x7f}));
  EXPECT_EQ(member_bytes("-2147483648"), Bytes({0xc2, 0, 0, 0, 0x80}));
  // Not canonical int32 decimals: length + raw bytes.
  for (std::string m : {"2147483648", "-2147483649", "007", "-0", "+1", "1 ", "-", "",
                        "12345678901", "1e3", "0x10"}) {
    EXPECT_EQ(member_bytes(m), static_cast<char>(m.size()) + m) << m;
  }
}

TEST(ZsetDumpWriter, LengthEncodingBoundaries) {
  // Member lengths 63/64 and 16383/16384 change the length field from 1 to 2 to 5 bytes.
  EXPECT_EQ(Body(std::string(63, 'x'), 0).substr(2, 1), Bytes({63}));
  EXPECT_EQ(Body(std::string(64, 'x'), 0).substr(2, 2), Bytes({0x40, 64}));
  EXPECT_EQ(Body(std::string(16383, 'x'), 0).substr(2, 2), Bytes({0x7f, 0xff}));
  EXPECT_EQ(Body(std::string(16384, 'x'), 0).substr(2, 5), Bytes({0x80, 0, 0, 0x40, 0}));
}

TEST(ZsetDumpWriter, MemberCountHintNeverChangesThePayload) {
  for (size_t n : {1, 63, 64, 16383, 16384, 20000}) {
    std::vector<std::string> members;
    for (size_t i = 0; i < n; ++i) members.push_back("m" + std::to_string(i));
    std::string reference;
    for (size_t hint : {size_t{0}, n, size_t{1} << 20}) {
      ZsetDumpWriter w(hint);
      for (size_t round = 0; round < 2; ++round) {  // the writer is reusable after Finish
        for (size_t i = 0; i < n; ++i) w.Add(members[i], static_cast<double>(i));
        EXPECT_EQ(w.size(), n);
        std::string p = w.Finish();
        EXPECT_TRUE(w.empty());
        if (reference.empty()) reference = p;
        EXPECT_EQ(p, reference) << "n " << n << " hint " << hint;
      }
    }
  }
}

TEST(ZsetDumpWriter, EmptySetAndNanAreRefused) {
  ZsetDumpWriter w;
  EXPECT_THROW(w.Finish(), std::logic_error);
  EXPECT_THROW(w.Add("a", std::nan("")), std::invalid_argument);
  EXPECT_TRUE(w.empty());
  EXPECT_THROW(EncodeZsetDump({}), std::logic_error);
}

TEST(ZsetDumpWriter, SortForZsetDumpIsRedisDumpOrder) {
  std::vector<ZsetEntry> e = {{"a", 1}, {"b", 2}, {"ab", 1}, {"\xff", 1}, {"", 1}, {"c", 3}};
  SortForZsetDump(e);
  std::vector<std::string_view> order;
  for (const auto& x : e) order.push_back(x.member);
  EXPECT_EQ(order, (std::vector<std::string_view>{"c", "b", "\xff", "ab", "a", ""}));
}

TEST(ZsetDumpWriter, SortForZsetDumpMatchesAPlainComparator) {
  std::mt19937_64 rng(5);
  const double scores[] = {-INFINITY, -2.5, -1, -0.0, 0.0, 1, 2, 3, 1e300, INFINITY};
  std::vector<std::string> members;
  std::set<std::string> seen;
  for (int attempt = 0; attempt < 20000; ++attempt) {
    // Long shared prefixes, NUL and 0xff bytes: the 8-byte prefix keys tie often.
    std::string m = std::string(rng() % 12, 'p');
    for (size_t k = rng() % 7; k > 0; --k) m.push_back("\0ap\xff"[rng() % 4]);
    if (seen.insert(m).second) members.push_back(m);
  }
  ASSERT_GT(members.size(), 5000u);
  std::vector<ZsetEntry> mine;
  for (const auto& m : members) mine.push_back({m, scores[rng() % 10]});
  std::vector<ZsetEntry> plain = mine;
  std::sort(plain.begin(), plain.end(), [](const ZsetEntry& a, const ZsetEntry& b) {
    return a.score != b.score ? a.score > b.score : a.member > b.member;
  });
  SortForZsetDump(mine);
  for (size_t i = 0; i < mine.size(); ++i) {
    ASSERT_EQ(mine[i].member, plain[i].member) << i;
    ASSERT_EQ(mine[i].score, plain[i].score) << i;
  }
}

// ---- Against a real redis-server 7.0. ----

std::string Score(double s) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", s);
  return buf;
}

class ZsetDumpServerTest : public testing::RedisTest {
 protected:
  // Builds `key` with ZADD (batches of 1000 members, pipelined), Redis's own way.
  void Zadd(const std::string& key, const std::vector<ZsetEntry>& entries) {
    size_t sent = 0;
    for (size_t lo = 0; lo < entries.size(); lo += 1000) {
      Args z{"ZADD", key};
      for (size_t k = lo; k < std::min(entries.size(), lo + 1000); ++k) {
        z.push_back(Score(entries[k].score));
        z.emplace_back(entries[k].member);
      }
      conn().Append(z);
      ++sent;
    }
    for (size_t i = 0; i < sent; ++i) {
      std::string err;
      ASSERT_FALSE(Connection::IsError(conn().GetReply(), &err)) << err;
    }
  }
  void Restore(const std::string& key, const std::string& payload) {
    EXPECT_EQ(conn().Command({"RESTORE", key, "0", payload, "REPLACE"}).str(), "OK");
  }
  std::string Dump(const std::string& key) {
    return std::string(conn().Command({"DUMP", key}).str());
  }
  std::string Encoding(const std::string& key) {
    return std::string(conn().Command({"OBJECT", "ENCODING", key}).str());
  }
  std::vector<std::string> Range(const std::string& key) {
    Reply r = conn().Command({"ZRANGE", key, "0", "-1", "WITHSCORES"});
    std::vector<std::string> out;
    for (size_t i = 0; i < r.size(); ++i) out.emplace_back(r[i].str());
    return out;
  }
  // RESTOREs `entries` encoded in the given order into "restored", builds "ref" with ZADD and
  // expects the same contents, encoding and DUMP bytes.
  void ExpectSameAsZadd(const std::vector<ZsetEntry>& entries, const std::string& encoding) {
    conn().Command({"DEL", "ref", "restored"});
    Zadd("ref", entries);
    Restore("restored", EncodeZsetDump(entries));
    EXPECT_EQ(Encoding("ref"), encoding);
    EXPECT_EQ(Encoding("restored"), encoding);
    EXPECT_EQ(Range("restored"), Range("ref"));
    EXPECT_EQ(Dump("restored"), Dump("ref"));
    EXPECT_EQ(conn().Command({"ZCARD", "restored"}).integer(),
              static_cast<int64_t>(entries.size()));
  }
  std::string RestoreError(const std::string& payload) {
    try {
      conn().Command({"RESTORE", "k", "0", payload, "REPLACE"});
    } catch (const RedisReplyError& e) {
      return e.what();
    }
    return "no error";
  }
};

// Members that exercise every member encoding: integer-like ones on both sides of each limit,
// binary bytes, the empty string, lengths around 20 (LZF), 64 (listpack) and 16384.
std::vector<std::string> TrickyMembers() {
  std::vector<std::string> m = {"0",
                                "-1",
                                "127",
                                "128",
                                "-129",
                                "32767",
                                "32768",
                                "-32769",
                                "2147483647",
                                "2147483648",
                                "-2147483648",
                                "-2147483649",
                                "007",
                                "-0",
                                "+1",
                                "12345678901",
                                "",
                                std::string("\0", 1),
                                std::string("a\0b", 3),
                                "\xff",
                                "\xff\xfe",
                                "\n",
                                "\r\n",
                                " ",
                                std::string(20, 'z'),
                                std::string(21, 'z'),
                                std::string(64, 'y'),
                                std::string(65, 'y'),
                                std::string(16384, 'q')};
  return m;
}

TEST_F(ZsetDumpServerTest, PayloadIsByteForByteRedisDump) {
  // Redis LZF-compresses members over 20 bytes in DUMP when rdbcompression is on; this writer
  // does not compress, so compare with compression off (the loader reads both forms).
  conn().Command({"CONFIG", "SET", "rdbcompression", "no"});
  std::vector<std::string> members = TrickyMembers();
  for (int i = 0; i < 1000; ++i) members.push_back("word" + std::to_string(i * 7919 % 1000));
  std::vector<ZsetEntry> entries;
  for (size_t i = 0; i < members.size(); ++i) {
    entries.push_back({members[i], static_cast<double>(i % 17 == 0 ? 1 : 1 + i % 5)});  // ties
  }
  entries.push_back({"big", 9007199254740992.0});  // 2^53
  Zadd("ref", entries);
  ASSERT_EQ(Encoding("ref"), "skiplist");
  SortForZsetDump(entries);
  std::string mine = EncodeZsetDump(entries);
  std::string redis = Dump("ref");
  ASSERT_EQ(mine.size(), redis.size());
  EXPECT_TRUE(mine == redis) << "first difference at byte "
                             << std::mismatch(mine.begin(), mine.end(), redis.begin()).first -
                                    mine.begin();
}

TEST_F(ZsetDumpServerTest, AnyOrderRestoresTheSameSet) {
  std::vector<std::string> members = TrickyMembers();
  for (int i = 0; i < 500; ++i) members.push_back("w" + std::to_string(i));
  std::vector<ZsetEntry> entries;
  for (size_t i = 0; i < members.size(); ++i) entries.push_back({members[i], double(i % 9)});
  std::mt19937 rng(3);
  std::shuffle(entries.begin(), entries.end(), rng);
  ExpectSameAsZadd(entries, "skiplist");  // random order
  SortForZsetDump(entries);
  ExpectSameAsZadd(entries, "skiplist");  // Redis's order
  std::reverse(entries.begin(), entries.end());
  ExpectSameAsZadd(entries, "skiplist");  // ascending: the slow order for the loader
}

TEST_F(ZsetDumpServerTest, OneMember) {
  ExpectSameAsZadd({{"hello", 1}}, "listpack");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", "hello"}).str(), "1");
  EXPECT_EQ(conn().Command({"TTL", "restored"}).integer(), -1);
}

TEST_F(ZsetDumpServerTest, ListpackThresholdOfMemberCount) {
  std::vector<std::string> members;
  for (int i = 0; i < 129; ++i) members.push_back("m" + std::to_string(i));
  std::vector<ZsetEntry> entries;
  for (int i = 0; i < 128; ++i) entries.push_back({members[i], double(i % 3 + 1)});
  ExpectSameAsZadd(entries, "listpack");  // 128 = zset-max-listpack-entries
  entries.push_back({members[128], 1});
  ExpectSameAsZadd(entries, "skiplist");
}

TEST_F(ZsetDumpServerTest, ListpackThresholdOfMemberLength) {
  std::string m64(64, 'a'), m65(65, 'b');
  ExpectSameAsZadd({{"x", 1}, {m64, 2}}, "listpack");  // 64 = zset-max-listpack-value
  ExpectSameAsZadd({{"x", 1}, {m65, 2}}, "skiplist");
}

TEST_F(ZsetDumpServerTest, BinaryMembers) {
  std::vector<std::string> members = TrickyMembers();
  std::vector<ZsetEntry> entries;
  for (size_t i = 0; i < members.size(); ++i) entries.push_back({members[i], double(i + 1)});
  ExpectSameAsZadd(entries, "skiplist");  // has members over 64 bytes
  entries.resize(24);                     // all short: listpack after RESTORE
  ExpectSameAsZadd(entries, "listpack");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", std::string("a\0b", 3)}).str(), "19");
}

TEST_F(ZsetDumpServerTest, CountScoresAreExactUpTo2Pow53) {
  const double p53 = 9007199254740992.0;
  std::vector<ZsetEntry> entries = {
      {"one", 1},        {"big", p53},        {"big-1", p53 - 1},
      {"zero", 0},       {"neg", -1},         {"half", 0.5},
      {"inf", INFINITY}, {"-inf", -INFINITY}, {"max", 1.7976931348623157e308}};
  ExpectSameAsZadd(entries, "listpack");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", "big"}).str(), "9007199254740992");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", "big-1"}).str(), "9007199254740991");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", "one"}).str(), "1");
  const std::string long_member(65, 'l');
  entries.push_back({long_member, 2});  // same scores in a skiplist
  ExpectSameAsZadd(entries, "skiplist");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", "big"}).str(), "9007199254740992");
}

TEST_F(ZsetDumpServerTest, CorruptedPayloadIsRejectedAndTheKeyKept) {
  std::vector<std::string> members;
  for (int i = 0; i < 300; ++i) members.push_back("m" + std::to_string(i));
  std::vector<ZsetEntry> entries;
  for (const auto& m : members) entries.push_back({m, 2});
  const std::string good = EncodeZsetDump(entries);
  conn().Command({"SET", "k", "old"});
  const std::string kBad = "ERR DUMP payload version or checksum are wrong";
  for (size_t pos : {size_t{0}, size_t{1}, good.size() / 2, good.size() - 12, good.size() - 10,
                     good.size() - 1}) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x01);
    EXPECT_EQ(RestoreError(bad), kBad) << "flipped byte " << pos;
  }
  EXPECT_EQ(RestoreError(good.substr(0, good.size() - 1)), kBad);
  EXPECT_EQ(RestoreError("short"), kBad);
  // A newer RDB version with a correct checksum is refused as well.
  std::string v11 = good.substr(0, good.size() - 10) + Bytes({11, 0});
  uint64_t crc = Crc64Redis(0, v11);
  for (int i = 0; i < 8; ++i) v11.push_back(static_cast<char>(crc >> (8 * i)));
  EXPECT_EQ(RestoreError(v11), kBad);
  EXPECT_EQ(conn().Command({"GET", "k"}).str(), "old");
  Restore("k", good);
  EXPECT_EQ(conn().Command({"ZCARD", "k"}).integer(), 300);
}

TEST_F(ZsetDumpServerTest, DuplicateMemberIsBadDataFormat) {
  conn().Command({"SET", "k", "old"});
  EXPECT_EQ(RestoreError(EncodeZsetDump({{{"a", 1}, {"b", 2}, {"a", 3}}})), "ERR Bad data format");
  EXPECT_EQ(conn().Command({"GET", "k"}).str(), "old");
}

TEST_F(ZsetDumpServerTest, EmptySetIsBadDataFormatSoTheWriterRefusesIt) {
  // What a zero-member payload would be: Redis refuses it (there are no empty sorted sets),
  // which is why Finish() throws and a publisher DELs the key instead.
  std::string empty = Bytes({5, 0, 10, 0});
  uint64_t crc = Crc64Redis(0, empty);
  for (int i = 0; i < 8; ++i) empty.push_back(static_cast<char>(crc >> (8 * i)));
  EXPECT_EQ(RestoreError(empty), "ERR Bad data format");
  ZsetDumpWriter w;
  EXPECT_THROW(w.Finish(), std::logic_error);
}

// 1.02 M word-like members with Zipf-like counts (most words counted once), as a real result.
// Times the encoder, RESTORE and the current way (ZADD batches of 1000 members sorted
// ascending, 16 in flight) and checks that both give Redis the same set, byte for byte.
TEST_F(ZsetDumpServerTest, MillionMembersRestoreVsZadd) {
  conn().Command({"CONFIG", "SET", "rdbcompression", "no"});
  const size_t n = 1020000;
  std::vector<std::string> members;
  members.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 50 == 0) {
      members.push_back(std::to_string(i));  // numbers: integer-encoded
      continue;
    }
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u;  // a bijection: distinct words
    std::string w;
    do {
      w.push_back(static_cast<char>('a' + h % 26));
      h /= 26;
    } while (h);
    if (i % 97 == 0) w += "-" + std::string(24, 'x');  // some long ones
    members.push_back(std::move(w));
  }
  std::vector<ZsetEntry> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    entries.push_back({members[i], std::max(1.0, std::floor(300000.0 / double(i + 1)))});
  }
  entries[12345].score = 9007199254740992.0;
  std::mt19937 rng(11);
  std::shuffle(entries.begin(), entries.end(), rng);  // as a hash table hands them out
  std::vector<ZsetEntry> shuffled = entries;

  auto t0 = Clock::now();
  SortForZsetDump(entries);
  auto t1 = Clock::now();
  double encode_ms = 1e9;
  std::string payload;
  for (int rep = 0; rep < 3; ++rep) {
    auto a = Clock::now();
    payload = EncodeZsetDump(entries);
    encode_ms = std::min(encode_ms, Ms(Clock::now() - a));
  }
  auto c0 = Clock::now();
  uint64_t crc = Crc64Redis(0, std::string_view(payload).substr(0, payload.size() - 8));
  double crc_ms = Ms(Clock::now() - c0);
  // A reflected CRC with init 0 over the data followed by its own CRC (little endian) is 0.
  ASSERT_EQ(Crc64Redis(crc, std::string_view(payload).substr(payload.size() - 8)), 0u);

  auto usec = [&](const char* cmd) {
    std::string f = InfoField(conn().Command({"INFO", "commandstats"}).str(), cmd);
    size_t p = f.find("usec=");
    return p == std::string::npos ? -1.0 : std::stod(f.substr(p + 5)) / 1000.0;
  };
  conn().Command({"CONFIG", "RESETSTAT"});
  auto r0 = Clock::now();
  Restore("restored", payload);
  double restore_ms = Ms(Clock::now() - r0);
  double restore_server_ms = usec("cmdstat_restore");

  conn().Command({"CONFIG", "RESETSTAT"});
  auto s0 = Clock::now();
  Restore("shuffled", EncodeZsetDump(shuffled));
  double restore_shuffled_ms = Ms(Clock::now() - s0);
  double restore_shuffled_server_ms = usec("cmdstat_restore");

  conn().Command({"CONFIG", "RESETSTAT"});
  auto p0 = Clock::now();
  Restore("restored", payload);  // REPLACE over the 1 M set: also frees the old one
  double replace_ms = Ms(Clock::now() - p0);
  double replace_server_ms = usec("cmdstat_restore");

  std::vector<ZsetEntry> ascending(entries.rbegin(), entries.rend());
  conn().Command({"CONFIG", "RESETSTAT"});
  auto z0 = Clock::now();
  {
    const size_t kWindow = 16;
    size_t sent = 0, answered = 0;
    for (size_t lo = 0; lo < n; lo += 1000) {
      Args z{"ZADD", "zadd"};
      z.reserve(2002);
      for (size_t k = lo; k < std::min(n, lo + 1000); ++k) {
        z.push_back(Score(ascending[k].score));
        z.emplace_back(ascending[k].member);
      }
      conn().Append(z);
      if (++sent - answered > kWindow) {
        ASSERT_FALSE(Connection::IsError(conn().GetReply()));
        ++answered;
      }
    }
    for (; answered < sent; ++answered) ASSERT_FALSE(Connection::IsError(conn().GetReply()));
  }
  double zadd_ms = Ms(Clock::now() - z0);
  double zadd_server_ms = usec("cmdstat_zadd");

  EXPECT_EQ(conn().Command({"ZCARD", "restored"}).integer(), static_cast<int64_t>(n));
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", members[12345]}).str(), "9007199254740992");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", members[0]}).str(), "300000");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", members[2]}).str(), "100000");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", members[n - 1]}).str(), "1");
  EXPECT_EQ(conn().Command({"ZSCORE", "restored", "1019950"}).str(), "1");
  std::string redis_dump = Dump("zadd");
  EXPECT_TRUE(redis_dump == payload) << "Redis's DUMP of the ZADD-built set differs";
  EXPECT_TRUE(Dump("shuffled") == payload);
  EXPECT_TRUE(Dump("restored") == payload);

  std::printf(
      "[ZsetDump] %zu members, payload %.1f MB\n"
      "[ZsetDump] client: sort %.0f ms, encode %.1f ms (of which CRC64 %.1f ms)\n"
      "[ZsetDump] RESTORE new key, DUMP order:  %.0f ms wall, %.0f ms in Redis\n"
      "[ZsetDump] RESTORE new key, random order: %.0f ms wall, %.0f ms in Redis\n"
      "[ZsetDump] RESTORE REPLACE of a 1 M set:   %.0f ms wall, %.0f ms in Redis\n"
      "[ZsetDump] ZADD x %zu batches of 1000 ascending: %.0f ms wall, %.0f ms in Redis\n",
      n, payload.size() / 1e6, Ms(t1 - t0), encode_ms, crc_ms, restore_ms, restore_server_ms,
      restore_shuffled_ms, restore_shuffled_server_ms, replace_ms, replace_server_ms,
      (n + 999) / 1000, zadd_ms, zadd_server_ms);
}

}  // namespace
}  // namespace wc::redis

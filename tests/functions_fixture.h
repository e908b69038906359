// The fixture of the mylib.lua test suites (src/redis/functions_test.cc and
// shuffle_functions_test.cc): a real redis-server with the library loaded, the nine keys of the
// default job, and small helpers to call functions, add and deliver stream entries, read the
// job record, and prove that a refused call wrote nothing (Snap / ExpectUnchanged).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "redis/functions.h"
#include "redis_fixture.h"

namespace wc::redis {

inline const std::string kId = "0123456789abcdef0123456789abcdef";
inline const std::string kOtherId = "fedcba9876543210fedcba9876543210";
inline const Args kKeys{"files", "files:job",   "files:plan", "files:done",   "files:failed",
                        "count", "files:rdone", "files:redo", "files:blocked"};

inline std::string Path(int n) { return "/d/f" + std::to_string(n) + ".csv"; }
// Plan descriptor of task n: every third task is a byte range (of a file of 100 bytes).
inline std::string Desc(int n) {
  return (n % 3 == 2 ? "10-20" : "") +
         std::string(",100,1700000000123456789,1700000001000000007,4242|") + Path(n);
}

struct Entry {
  std::string id;
  std::map<std::string, std::string> f;
};

// Everything Redis holds, and its count of writes: equal snapshots mean nothing was written.
struct Snapshot {
  int64_t changes = 0;
  std::map<std::string, std::string> dumps;
};

class FunctionsFixture : public testing::RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    LoadFunctions(conn());
  }
  Reply Call(std::string_view fn, const Args& args) { return FCall(conn(), fn, kKeys, args); }
  // The error message of the call, or "no error".
  std::string Err(std::string_view fn, const Args& args, const Args& keys = kKeys) {
    try {
      FCall(conn(), fn, keys, args);
    } catch (const RedisReplyError& e) {
      return e.what();
    }
    return "no error";
  }
  // Delivers every undelivered entry to consumer `who`.
  std::vector<Entry> Deliver(const std::string& who = "w") {
    std::vector<Entry> out;
    Reply r = conn().Command({"XREADGROUP", "GROUP", "worker", who, "STREAMS", "files", ">"});
    if (r.is_nil()) return out;
    for (size_t i = 0; i < r[0][1].size(); ++i) {
      Reply e = r[0][1][i];
      Entry x{std::string(e[0].str()), {}};
      for (size_t k = 0; k + 1 < e[1].size(); k += 2)
        x.f[std::string(e[1][k].str())] = e[1][k + 1].str();
      out.push_back(x);
    }
    return out;
  }
  // XADDs an entry with these fields; returns its id.
  std::string Add(const Args& fields) {
    Args a{"XADD", "files", "*"};
    a.insert(a.end(), fields.begin(), fields.end());
    return std::string(conn().Command(a).str());
  }
  std::string Field(const std::string& f) {
    Reply r = conn().Command({"HGET", "files:job", f});
    return r.is_nil() ? "nil" : std::string(r.str());
  }
  std::string Score(const std::string& w) {
    Reply r = conn().Command({"ZSCORE", "count", w});
    return r.is_nil() ? "nil" : std::string(r.str());
  }
  std::set<std::string> Members(const std::string& key) {
    Reply r = conn().Command({"SMEMBERS", key});
    std::set<std::string> s;
    for (size_t i = 0; i < r.size(); ++i) s.insert(std::string(r[i].str()));
    return s;
  }
  int64_t Pending() { return conn().Command({"XPENDING", "files", "worker"})[0].integer(); }
  int64_t Bit(const std::string& key, int n) {
    return conn().Command({"GETBIT", key, std::to_string(n)}).integer();
  }
  int64_t Len() { return conn().Command({"XLEN", "files"}).integer(); }
  Snapshot Snap() {
    Snapshot s;
    s.changes = std::stoll(
        InfoField(conn().Command({"INFO", "persistence"}).str(), "rdb_changes_since_last_save"));
    Reply keys = conn().Command({"KEYS", "*"});
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string k(keys[i].str());
      s.dumps[k] = conn().Command({"DUMP", k}).str();
    }
    return s;
  }
  void ExpectUnchanged(const Snapshot& before) {
    Snapshot now = Snap();
    EXPECT_EQ(now.changes, before.changes) << "something was written";
    EXPECT_TRUE(now.dumps == before.dumps) << "a key changed";
  }
  std::map<std::string, std::string> Progress() {
    Reply r = Call("wc_progress_v4", {});
    std::map<std::string, std::string> m;
    for (size_t i = 0; i + 1 < r.size(); i += 2) m[std::string(r[i].str())] = r[i + 1].str();
    return m;
  }
};

}  // namespace wc::redis

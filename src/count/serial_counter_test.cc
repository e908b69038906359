#include "count/serial_counter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <utility>

#include "gen/generator.h"
#include "test_util.h"
#include "util/mapped_file.h"

namespace wc {
namespace {

using testing::AsMap;

class SerialCounterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gen::Generator g(11);
    for (int i = 0; i < 4; ++i)
      good_.push_back(dir_.Write("g" + std::to_string(i) + ".csv", g.File(i, 1500)));
    expected_ = AsMap(CountFiles(good_, SerialOptions{.threads = 1}).counts);
    ASSERT_FALSE(expected_.empty());
  }
  testing::TempDir dir_;
  std::vector<std::string> good_;
  std::map<std::string, uint64_t> expected_;
};

TEST_F(SerialCounterTest, SameCountsForAnyThreadsAndChunkSize) {
  for (unsigned threads : {1u, 2u, 5u}) {
    for (uint64_t chunk : {1ull << 30, 20000ull, 777ull}) {
      SerialResult r = CountFiles(good_, SerialOptions{.threads = threads, .chunk_bytes = chunk});
      EXPECT_TRUE(r.failures.empty());
      ASSERT_EQ(AsMap(r.counts), expected_) << threads << " threads, chunk " << chunk;
      EXPECT_EQ(r.files_counted, good_.size());
    }
  }
}

TEST_F(SerialCounterTest, FailedFilesContributeNothing) {
  // Each bad file fails after some good records: its partial counts must be taken back.
  std::string big_bad = gen::Generator(12).File(9, 2000) + "1,2,3,4,5,6,7,8\n";
  std::vector<std::string> paths = good_;
  paths.insert(paths.begin() + 1, dir_.Write("bad_fields.csv", big_bad));
  paths.push_back(dir_.Write("bad_quote.csv", "a,text\n1,hello world\n2,\"never closed\n"));
  paths.push_back(dir_.Write("empty.csv", ""));
  paths.push_back(dir_.path() + "/missing.csv");
  for (uint64_t chunk : {1ull << 30, 30000ull}) {
    SerialResult r = CountFiles(paths, SerialOptions{.threads = 2, .chunk_bytes = chunk});
    ASSERT_EQ(r.failures.size(), 4u);
    EXPECT_NE(r.failures[0].message.find("bad_fields.csv:"), std::string::npos);
    EXPECT_NE(r.failures[0].message.find("expected 7 fields, saw 8"), std::string::npos);
    EXPECT_NE(r.failures[1].message.find("bad_quote.csv:3:"), std::string::npos);
    EXPECT_NE(r.failures[3].message.find("missing.csv"), std::string::npos);
    EXPECT_EQ(AsMap(r.counts), expected_) << "chunk " << chunk;
    EXPECT_EQ(r.files_counted, good_.size());
    // bad_fields.csv's words were counted and taken back: they stay in the table at 0, and
    // are not distinct words of the result.
    EXPECT_GT(r.counts.size(), expected_.size());
    EXPECT_EQ(r.distinct, expected_.size());
  }
}

}  // namespace
}  // namespace wc

namespace wc {
namespace {

// Regression: a malformed first data row broke ReadSchema during the undo of that file and
// terminated the process.
TEST_F(SerialCounterTest, MalformedFirstDataRowFailsOnlyThatFile) {
  std::vector<std::string> paths = good_;
  paths.push_back(dir_.Write("first_row.csv", "text,a\n\"never closed\n"));
  paths.push_back(dir_.Write("first_row2.csv", "a,text\n1,x,y\n2,z,w,v\n"));
  SerialResult r = CountFiles(paths, SerialOptions{.threads = 2, .chunk_bytes = 8});
  ASSERT_EQ(r.failures.size(), 2u);
  EXPECT_EQ(AsMap(r.counts), expected_);
}

}  // namespace
}  // namespace wc

namespace wc {
namespace {

// Runs `action` right after the `nth` (1-based) mapping of `path`, from inside the MappedFile
// constructor: a file changing while it is counted, made deterministic.
class OnNthOpen {
 public:
  OnNthOpen(std::string path, int nth, std::function<void()> action) {
    path_ = std::move(path), nth_ = nth, opens_ = 0, action_ = std::move(action);
    MappedFile::SetTestHook(&Hook);
  }
  ~OnNthOpen() { MappedFile::SetTestHook(nullptr); }
  static int opens() { return opens_; }

 private:
  static void Hook(const std::string& path) {
    if (path == path_ && ++opens_ == nth_) action_();
  }
  static inline std::string path_;
  static inline int nth_ = 0, opens_ = 0;
  static inline std::function<void()> action_;
};

std::function<void()> Truncate(const std::string& path, off_t size) {
  return [=] { ASSERT_EQ(::truncate(path.c_str(), size), 0); };
}

TEST_F(SerialCounterTest, AFileTruncatedWhileCountedFailsAloneAndTheRestStaysExact) {
  const std::string body = gen::Generator(13).File(3, 3000);
  for (unsigned threads : {1u, 2u}) {
    // chunk 1 GiB: one task, truncated on its first open; 40000: ranges, the 3rd open (phase 1
    // opened it once to split it) truncates it under one range while others are counted.
    for (auto [chunk, nth] : {std::pair{1ull << 30, 1}, std::pair{40000ull, 3}}) {
      std::vector<std::string> paths = good_;
      const std::string changing = dir_.Write("changing.csv", body);
      paths.insert(paths.begin() + 2, changing);
      OnNthOpen truncate(changing, nth, Truncate(changing, 1000));
      SerialResult r = CountFiles(paths, SerialOptions{.threads = threads, .chunk_bytes = chunk});
      ASSERT_GE(OnNthOpen::opens(), nth);
      ASSERT_EQ(r.failures.size(), 1u) << threads << " threads, chunk " << chunk;
      EXPECT_EQ(r.failures[0].message, changing + ": changed while it was read");
      EXPECT_EQ(AsMap(r.counts), expected_) << threads << " threads, chunk " << chunk;
      EXPECT_EQ(r.files_counted, good_.size());
    }
  }
}

// Ninth held-out pass: a big file replaced by a rename while its ranges were counted was counted
// as a mix of the two files (the ranges of one over the bytes of the other), exit 0. Every range
// now checks it reads the file planned. The rename lands once the plan is made, when the file
// before it is first counted (its second mapping; with one thread, before any range of the
// replaced file is read): the ranges then read the other file whole, and only the check of each
// range's version against the plan's sees it.
TEST_F(SerialCounterTest, AFileReplacedWhileItsRangesAreCountedFailsAloneAndTheRestStaysExact) {
  const std::string body = gen::Generator(15).File(5, 4000);
  for (unsigned threads : {1u, 2u}) {
    std::vector<std::string> paths = good_;
    const std::string replaced = dir_.Write("replaced.csv", body);
    const std::string other = dir_.Write("other.tmp", gen::Generator(16).File(6, 4000));
    paths.insert(paths.begin() + 1, replaced);
    OnNthOpen swap(good_[0], 2, [&] { ASSERT_EQ(::rename(other.c_str(), replaced.c_str()), 0); });
    SerialResult r = CountFiles(paths, SerialOptions{.threads = threads, .chunk_bytes = 40000});
    ASSERT_GE(OnNthOpen::opens(), 2);
    ASSERT_EQ(r.failures.size(), 1u) << threads << " threads";
    EXPECT_EQ(r.failures[0].message, replaced + ": changed while it was read");
    EXPECT_EQ(AsMap(r.counts), expected_) << threads << " threads";
    EXPECT_EQ(r.files_counted, good_.size());
  }
}

// A file that fails to parse is taken back by counting it again; if it changed in between, the
// table holding it is dropped instead and the other files stay exact.
TEST_F(SerialCounterTest, AFailedFileThatChangesBeforeItsUndoFailsAloneAndTheRestStaysExact) {
  std::string bad = gen::Generator(14).File(4, 3000) + "1,2,3,4,5,6,7,8\n";
  for (unsigned threads : {1u, 2u}) {
    std::vector<std::string> paths = good_;
    const std::string path = dir_.Write("bad.csv", bad);
    paths.insert(paths.begin() + 1, path);
    OnNthOpen truncate(path, 2, Truncate(path, 5000));  // the 2nd open is the undo
    SerialResult r = CountFiles(paths, SerialOptions{.threads = threads});
    ASSERT_EQ(OnNthOpen::opens(), 2);
    ASSERT_EQ(r.failures.size(), 1u);
    EXPECT_NE(r.failures[0].message.find("expected 7 fields, saw 8"), std::string::npos);
    EXPECT_EQ(AsMap(r.counts), expected_) << threads << " threads";
  }
}

}  // namespace
}  // namespace wc

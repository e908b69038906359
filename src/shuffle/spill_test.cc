#include "shuffle/spill.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "test_util.h"
#include "util/error.h"

namespace wc::shuffle {
namespace {

using testing::AsMap;
using testing::ReadFile;
using testing::TempDir;

// Words of every length 0..40 (long ones spill into the table's arena), NUL and 0xff included,
// with counts past 2^32.
WordTable RandomTable(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  static const std::string alphabet("ab\0\xff c", 6);
  WordTable t(16);
  for (int i = 0; i < n; ++i) {
    std::string w(rng() % 41 > 30 ? rng() % 41 : rng() % 7, 'x');
    for (char& c : w) c = alphabet[rng() % alphabet.size()];
    t.AddUnpadded(w, rng() % 5 == 0 ? (uint64_t{1} << 40) + rng() % 1000 : 1 + rng() % 3);
  }
  return t;
}

constexpr std::string_view kJob = "0123456789abcdef0123456789abcdef";

std::map<std::string, uint64_t> ReadAll(const std::string& path, uint64_t map, uint32_t parts,
                                        std::string_view job = kJob) {
  std::map<std::string, uint64_t> out;
  for (uint32_t p = 0; p < parts; ++p) {
    ReadPartition(path, job, map, parts, p, [&](std::string_view w, uint64_t c) {
      EXPECT_EQ(PartitionOf(w, parts), p) << w;
      EXPECT_TRUE(out.emplace(std::string(w), c).second) << "word twice: " << w;
    });
  }
  return out;
}

TEST(Spill, EveryPartitionTogetherIsTheTable) {
  TempDir dir;
  for (uint32_t parts : {1u, 2u, 7u, 64u}) {
    WordTable t = RandomTable(parts, 20000);
    SpillStats st = WriteMapOutput(dir.path(), kJob, 5, parts, t);
    EXPECT_EQ(st.words, t.size());
    std::string path = MapOutputPath(dir.path(), 5);
    EXPECT_EQ(st.bytes, std::filesystem::file_size(path));
    EXPECT_EQ(ReadAll(path, 5, parts), AsMap(t)) << parts << " partitions";
  }
  // Only the final file is left: no temporary names.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(Spill, EmptyTableGivesEmptyPartitions) {
  TempDir dir;
  WriteMapOutput(dir.path(), kJob, 0, 3, WordTable());
  EXPECT_TRUE(ReadAll(MapOutputPath(dir.path(), 0), 0, 3).empty());
}

TEST(Spill, PartitionOfDependsOnlyOnTheWordAndTheCount) {
  // Pinned values (XXH3-64 of the bytes, modulo): a word must land in the same partition on
  // every host and with every build, or workers of two builds would split a word's count.
  EXPECT_EQ(PartitionOf("hello", 1000003), 347986u);
  EXPECT_EQ(PartitionOf("", 1000003), 778394u);
  EXPECT_EQ(PartitionOf("hello", 1), 0u);
  std::map<uint32_t, int> spread;
  for (int i = 0; i < 10000; ++i) ++spread[PartitionOf("w" + std::to_string(i), 4)];
  ASSERT_EQ(spread.size(), 4u);
  for (const auto& [p, n] : spread) EXPECT_NEAR(n, 2500, 250) << p;
  EXPECT_EQ(PartitionOf("word", 16), PartitionOf(std::string("word"), 16));
}

TEST(Spill, MissingFileIsReportedAsMissing) {
  TempDir dir;
  try {
    ReadAll(MapOutputPath(dir.path(), 9), 9, 2);
    FAIL() << "no error";
  } catch (const SpillError& e) {
    EXPECT_EQ(e.kind(), SpillError::Kind::kMissing);
    EXPECT_NE(std::string(e.what()).find("map-9.wcs"), std::string::npos) << e.what();
  }
}

SpillError::Kind ReadKind(const std::string& path, uint64_t map, uint32_t parts,
                          std::string_view job = kJob) {
  try {
    ReadAll(path, map, parts, job);
  } catch (const SpillError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << path;
  return SpillError::Kind::kMissing;
}

TEST(Spill, EveryFlippedByteIsDetected) {
  TempDir dir;
  WordTable t = RandomTable(3, 300);
  WriteMapOutput(dir.path(), kJob, 1, 3, t);
  const std::string path = MapOutputPath(dir.path(), 1);
  const std::string good = ReadFile(path);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    ASSERT_EQ(ReadKind(path, 1, 3), SpillError::Kind::kCorrupt) << "byte " << i;
  }
}

TEST(Spill, TruncatedEmptyOrForeignFilesAreCorrupt) {
  TempDir dir;
  WriteMapOutput(dir.path(), kJob, 2, 4, RandomTable(4, 500));
  const std::string path = MapOutputPath(dir.path(), 2);
  const std::string good = ReadFile(path);
  for (size_t len : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, len);
    EXPECT_EQ(ReadKind(path, 2, 4), SpillError::Kind::kCorrupt) << len;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << good;
  EXPECT_EQ(ReadKind(path, 3, 4), SpillError::Kind::kCorrupt);  // another map task's file
  EXPECT_EQ(ReadKind(path, 2, 5), SpillError::Kind::kCorrupt);  // other partition count
  EXPECT_EQ(ReadAll(path, 2, 4).size(), RandomTable(4, 500).size());
}

// Regression (held-out pass): map outputs carried no job id, so a reducer read whatever file sat
// at map-<m>.wcs, another job's output included, and counted it.
TEST(Spill, AnotherJobsOutputIsCorruptForThisJobAndNamesIt) {
  TempDir dir;
  WriteMapOutput(dir.path(), "fedcba9876543210fedcba9876543210", 2, 4, RandomTable(4, 500));
  const std::string path = MapOutputPath(dir.path(), 2);
  try {
    ReadAll(path, 2, 4);
    FAIL() << "another job's output was read";
  } catch (const SpillError& e) {
    EXPECT_EQ(e.kind(), SpillError::Kind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("holds job fedcba9876543210fedcba9876543210's output, "
                                         "not job 0123456789abcdef0123456789abcdef's"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(ReadKind(path, 2, 4, "job-of-another-length"), SpillError::Kind::kCorrupt);
  EXPECT_EQ(ReadAll(path, 2, 4, "fedcba9876543210fedcba9876543210").size(),
            RandomTable(4, 500).size());
}

TEST(Spill, RewritingReplacesTheFileWhole) {
  TempDir dir;
  WriteMapOutput(dir.path(), kJob, 7, 2, RandomTable(1, 1000));
  WordTable second = RandomTable(2, 50);
  WriteMapOutput(dir.path(), kJob, 7, 2, second);
  EXPECT_EQ(ReadAll(MapOutputPath(dir.path(), 7), 7, 2), AsMap(second));
}

TEST(Spill, UnwritableDirectoryThrowsOutputErrorNamingTheFile) {
  TempDir dir;
  const std::string missing = dir.path() + "/no/such/dir";
  try {
    WriteMapOutput(missing, kJob, 4, 2, RandomTable(1, 10));
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing + "/map-4.wcs"), std::string::npos) << e.what();
  }
}

// A write that fails halfway (here: past RLIMIT_FSIZE, as on a full disk) is an output error, not
// an input error of the map task, and leaves neither the file nor its temporary behind.
TEST(Spill, AFailedWriteThrowsOutputErrorAndLeavesNoFile) {
  TempDir dir;
  int error = 0;
  try {
    testing::FileSizeLimit limit(4096);
    WriteMapOutput(dir.path(), kJob, 3, 2, RandomTable(1, 20000));
  } catch (const OutputError& e) {
    error = e.error();
  }
  EXPECT_EQ(error, EFBIG);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

}  // namespace
}  // namespace wc::shuffle

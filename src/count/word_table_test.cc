#include "count/word_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "test_util.h"

namespace wc {
namespace {

using testing::AsMap;

// Random words of every length 0..40 over a small alphabet (so repeats happen), NUL included.
std::string RandomWord(std::mt19937_64& rng) {
  static const std::string alphabet("ab\0\xff", 4);
  std::string w(rng() % 41 > 30 ? rng() % 41 : rng() % 6, 'x');
  for (char& c : w) c = alphabet[rng() % alphabet.size()];
  return w;
}

TEST(WordTable, CountsLikeAStdMapAcrossGrowth) {
  std::mt19937_64 rng(1);
  WordTable table(16);
  std::map<std::string, uint64_t> expected;
  for (int i = 0; i < 200000; ++i) {
    std::string w = RandomWord(rng);
    table.AddUnpadded(w);
    ++expected[w];
  }
  EXPECT_EQ(AsMap(table), expected);
  EXPECT_EQ(table.size(), expected.size());
  for (const auto& [w, c] : expected) ASSERT_EQ(table.Get(w), c) << w;
  EXPECT_EQ(table.Get("not there at all, this is long"), 0u);
}

TEST(WordTable, EmptyWordIsAWord) {
  WordTable t;
  t.AddUnpadded("");
  t.AddUnpadded("");
  EXPECT_EQ(t.Get(""), 2u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(WordTable, SixteenAndSeventeenByteWordsAreDistinct) {
  WordTable t;
  t.AddUnpadded("abcdefghijklmnop");
  t.AddUnpadded("abcdefghijklmnopq");
  t.AddUnpadded("abcdefghijklmnop");
  EXPECT_EQ(t.Get("abcdefghijklmnop"), 2u);
  EXPECT_EQ(t.Get("abcdefghijklmnopq"), 1u);
}

TEST(WordTable, MergeAddsCounts) {
  std::mt19937_64 rng(2);
  WordTable a, b;
  std::map<std::string, uint64_t> expected;
  for (int i = 0; i < 50000; ++i) {
    std::string w = RandomWord(rng);
    (i % 3 ? a : b).AddUnpadded(w);
    ++expected[w];
  }
  a.Merge(b);
  EXPECT_EQ(AsMap(a), expected);
}

TEST(WordTable, NegativeDeltaCancelsAndHidesZeroCounts) {
  WordTable t;
  t.AddUnpadded("keep", 3);
  t.AddUnpadded("gone", 2);
  t.AddUnpadded("a long word that lives in the arena", 1);
  t.AddUnpadded("gone", static_cast<uint64_t>(-2));
  t.AddUnpadded("a long word that lives in the arena", static_cast<uint64_t>(-1));
  EXPECT_EQ(AsMap(t), (std::map<std::string, uint64_t>{{"keep", 3}}));
}

}  // namespace
}  // namespace wc

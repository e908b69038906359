#include "count/counts_format.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "test_util.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace wc {
namespace {

TEST(CountsFormat, EscapesControlBytesBackslashAndDel) {
  EXPECT_EQ(EscapeWord(std::string("a\\b\tc\nd\re\x01\x7f\x1f\xC3\xA9", 14)),
            "a\\\\b\\tc\\nd\\re\\x01\\x7f\\x1f\xC3\xA9");
}

TEST(CountsFormat, UnescapeInvertsEscapeOnEveryByte) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string w(rng() % 20, 'x');
    for (char& c : w) c = static_cast<char>(rng() % 256);
    ASSERT_EQ(UnescapeWord(EscapeWord(w)), w);
  }
  EXPECT_THROW(UnescapeWord("a\\"), std::invalid_argument);
  EXPECT_THROW(UnescapeWord("\\xg0"), std::invalid_argument);
  EXPECT_THROW(UnescapeWord("\\q"), std::invalid_argument);
}

TEST(CountsFormat, SortedByCountThenBytes) {
  WordTable t;
  t.AddUnpadded("b", 2);
  t.AddUnpadded("a", 2);
  t.AddUnpadded("\xC3\xA9", 2);  // bytes above 0x7f sort after ASCII
  t.AddUnpadded("z", 5);
  t.AddUnpadded("", 1);
  auto sorted = SortedCounts(t);
  std::vector<WordCount> expected{{"z", 5}, {"a", 2}, {"b", 2}, {"\xC3\xA9", 2}, {"", 1}};
  EXPECT_EQ(sorted, expected);
  EXPECT_EQ(TopCounts(t, 2), (std::vector<WordCount>{{"z", 5}, {"a", 2}}));
  EXPECT_EQ(TopCounts(t, 99).size(), 5u);
}

TEST(CountsFormat, WritesTheCountsFile) {
  testing::TempDir dir;
  WordTable t;
  t.AddUnpadded("x\ty", 1);
  t.AddUnpadded("the", 3);
  std::string path = dir.path() + "/out.txt";
  OutputFile out(path);
  WriteCountsFile(&out, SortedCounts(t));
  out.Commit();
  EXPECT_EQ(testing::ReadFile(path), "3\tthe\n1\tx\\ty\n");
}

TEST(CountsFormat, AFullDiskIsAnOutputErrorNamingTheFile) {
  WordTable t;
  t.AddUnpadded("the", 3);
  try {
    OutputFile out("/dev/full");
    WriteCountsFile(&out, SortedCounts(t));
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(e.path(), "/dev/full");
    EXPECT_EQ(e.error(), ENOSPC);
    EXPECT_STREQ(e.what(), "/dev/full: cannot write: No space left on device");
  }
}

// Top lines go to a terminal: a word from a CSV must not drive it (ESC sequences, C1 CSI raw
// or in UTF-8, CR) nor break the line, while printable words, the ones the lab's reference
// prints, stay byte for byte (UTF-8, backslashes, quotes and colons included).
TEST(CountsFormat, TopLinesEscapeControlBytesOnlyAndKeepPrintableWords) {
  testing::TempDir dir;
  std::string path = dir.path() + "/top.txt";
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_GE(f.get(), 0);
  const std::vector<WordCount> top = {{"\x1b[2Jred", 9},
                                      {"a\xc2\x9b"
                                       "31m",
                                       8},
                                      {"b\x9b"
                                       "31m",
                                       7},
                                      {"car\rret", 6},
                                      {"line\nbreak", 5},
                                      {"caf\xc3\xa9 \xf0\x9f\x98\x80", 4},
                                      {"C:\\dir \"q\": x", 3},
                                      {"", 2},
                                      {"l\xe9gacy\xa0", 1}};
  ASSERT_TRUE(WriteTop(f.get(), top));
  f = UniqueFd();
  EXPECT_EQ(testing::ReadFile(path),
            "\\x1b[2Jred: 9\n"
            "a\\xc2\\x9b31m: 8\n"
            "b\\x9b31m: 7\n"
            "car\\rret: 6\n"
            "line\\nbreak: 5\n"
            "caf\xc3\xa9 \xf0\x9f\x98\x80: 4\n"
            "C:\\dir \"q\": x: 3\n"
            ": 2\n"
            "l\xe9gacy\xa0: 1\n");
}

}  // namespace
}  // namespace wc

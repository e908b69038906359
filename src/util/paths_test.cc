#include "util/paths.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "test_util.h"
#include "util/error.h"

namespace wc {
namespace {

TEST(IsUnderTest, ComparesWholeComponents) {
  EXPECT_TRUE(IsUnder("/data/a/x.csv", "/data/a"));
  EXPECT_TRUE(IsUnder("/data/a/x.csv", "/data/a/"));
  EXPECT_TRUE(IsUnder("/data/a", "/data/a"));
  EXPECT_TRUE(IsUnder("/anything", "/"));
  // Regression: a string prefix made /data/ab/x.csv "under" /data/a.
  EXPECT_FALSE(IsUnder("/data/ab/x.csv", "/data/a"));
  EXPECT_FALSE(IsUnder("/data", "/data/a"));
  EXPECT_FALSE(IsUnder("/data/a/../b/x.csv", "/data/a"));
}

TEST(CommonDirectoryTest, DeepestDirectoryByComponents) {
  EXPECT_EQ(CommonDirectory({"/data/a/x.csv", "/data/a/y.csv"}), "/data/a");
  // Regression: data/a + data/ab gave /data/a, and the worker refused data/ab's files.
  EXPECT_EQ(CommonDirectory({"/data/a/x.csv", "/data/ab/y.csv"}), "/data");
  EXPECT_EQ(CommonDirectory({"/data/ab/y.csv", "/data/a/x.csv"}), "/data");
  EXPECT_EQ(CommonDirectory({"/x.csv", "/data/a/x.csv"}), "/");
  EXPECT_EQ(CommonDirectory({}), "/");
}

// Regression: a FIFO or directory named x.csv was skipped silently; it must be listed, so that
// opening it reports it by name.
TEST(ExpandInputs, DirectoryListsEveryCsvEntryWhateverItsType) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write("a.csv", "text\n");
  dir.Write("notes.txt", "x");
  ASSERT_EQ(::mkfifo((d + "/b.csv").c_str(), 0600), 0);
  std::filesystem::create_directory(d + "/c.csv");
  EXPECT_EQ(ExpandInputs({d}),
            (std::vector<std::string>{d + "/a.csv", d + "/b.csv", d + "/c.csv"}));
}

// Held-out pass: a directory listed dot files (.hidden.csv) that the glob dir/*.csv (and the
// reference's Python glob) skips. A directory yields exactly the glob's files.
TEST(ExpandInputs, DirectorySkipsHiddenFilesLikeTheGlob) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write("a.csv", "text\n");
  dir.Write(".hidden.csv", "text\n");
  dir.Write(".csv", "text\n");
  EXPECT_EQ(ExpandInputs({d}), (std::vector<std::string>{d + "/a.csv"}));
  EXPECT_EQ(ExpandInputs({d}), ExpandInputs({d + "/*.csv"}));
  std::filesystem::remove(d + "/a.csv");
  EXPECT_THROW(ExpandInputs({d}), InputError);  // only hidden files: nothing matches
}

// Held-out pass 23: `serial data/ data//` counted every file twice: the directory spelled with
// a trailing slash yielded "data//a.csv", which the glob data//*.csv (Python's too) names
// "data/a.csv". A directory's files are named as the glob names them, and so deduplicated.
TEST(ExpandInputs, ADirectorysFilesAreNamedAsItsGlobNamesThem) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write("a.csv", "text\n");
  for (const std::string& spelled : {d + "/", d + "//", d + "///"}) {
    EXPECT_EQ(ExpandInputs({spelled}), (std::vector<std::string>{d + "/a.csv"})) << spelled;
    EXPECT_EQ(ExpandInputs({spelled}), ExpandInputs({spelled + "*.csv"})) << spelled;
  }
  EXPECT_EQ(ExpandInputs({d, d + "/", d + "//"}), (std::vector<std::string>{d + "/a.csv"}));
}

// Fifth held-out pass: a file literally named "*.csv" stood for the glob "dir/*.csv" (1 file
// counted of 4, exit 0), and "x[1].csv" for itself: Python's glob, the reference's DATA_PATH,
// matches patterns always. A literal '[' is written "[[]".
TEST(ExpandInputs, APathWithGlobCharactersIsAlwaysAPattern) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write("a.csv", "text\n");
  dir.Write("b.csv", "text\n");
  dir.Write("*.csv", "text\n");
  EXPECT_EQ(ExpandInputs({d + "/*.csv"}),
            (std::vector<std::string>{d + "/*.csv", d + "/a.csv", d + "/b.csv"}));
  dir.Write("x[1].csv", "text\n");
  EXPECT_THROW(ExpandInputs({d + "/x[1].csv"}), InputError);  // matches x1.csv: none
  EXPECT_EQ(ExpandInputs({d + "/x[[]1].csv"}), (std::vector<std::string>{d + "/x[1].csv"}));
}

// Ninth held-out pass: a directory literally named "*.csv" (another user can plant one in a
// shared directory) replaced the whole glob by its own files, exit 0. It is one of the matches,
// as in Python's glob (and then refused when opened: not a regular file).
TEST(ExpandInputs, ADirectoryNamedLikeThePatternIsOneOfItsMatches) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write("a.csv", "text\n");
  dir.Write("b.csv", "text\n");
  std::filesystem::create_directory(d + "/*.csv");
  dir.Write("*.csv/planted.csv", "text\n");
  EXPECT_EQ(ExpandInputs({d + "/*.csv"}),
            (std::vector<std::string>{d + "/*.csv", d + "/a.csv", d + "/b.csv"}));
}

// Held-out pass: the glob was glibc's, not Python's, and other files were counted (exit 0). A
// pattern is now matched by Python's fnmatch rules (CPython 3.11), each checked here.
TEST(FnMatch, BackslashIsALiteralNotAnEscape) {
  EXPECT_TRUE(FnMatch("a\\b.csv", "?\\b.csv"));
  EXPECT_FALSE(FnMatch("ab.csv", "?\\b.csv"));  // glibc: "\b" is "b"
  EXPECT_TRUE(FnMatch("a\\b.csv", "*\\b.csv"));
  EXPECT_FALSE(FnMatch("ab.csv", "*\\b.csv"));
  EXPECT_TRUE(FnMatch("a\\b.csv", "[a]\\b.csv"));
  EXPECT_TRUE(FnMatch("a\\x.csv", "a\\*.csv"));
  EXPECT_FALSE(FnMatch("a*.csv", "a\\*.csv"));
  // "[a\]" is the set {a, \}: the ']' closes it.
  EXPECT_TRUE(FnMatch("a.csv", "[a\\]*.csv"));
  EXPECT_TRUE(FnMatch("\\x.csv", "[a\\]*.csv"));
  EXPECT_FALSE(FnMatch("]x.csv", "[a\\]*.csv"));
}

TEST(FnMatch, OnlyExclamationNegatesACaretIsAMember) {
  EXPECT_TRUE(FnMatch("^", "[^a]"));
  EXPECT_TRUE(FnMatch("a", "[^a]"));
  EXPECT_FALSE(FnMatch("b", "[^a]"));  // glibc: "[^a]" negates
  EXPECT_TRUE(FnMatch("b", "[!a]"));
  EXPECT_FALSE(FnMatch("a", "[!a]"));
  EXPECT_FALSE(FnMatch("b", "[!ab]"));
  EXPECT_TRUE(FnMatch("!", "[a!]"));
}

TEST(FnMatch, BracketFirstIsAMemberAndAnUnclosedBracketALiteral) {
  EXPECT_TRUE(FnMatch("]", "[]a]"));
  EXPECT_TRUE(FnMatch("a", "[]a]"));
  EXPECT_FALSE(FnMatch("b", "[]a]"));
  EXPECT_TRUE(FnMatch("b", "[!]a]"));
  EXPECT_FALSE(FnMatch("]", "[!]a]"));
  EXPECT_TRUE(FnMatch("[a", "[a"));
  EXPECT_TRUE(FnMatch("x[ab", "x[a*"));  // the '[' literal, the '*' still a wildcard
  EXPECT_FALSE(FnMatch("a", "[a"));
  EXPECT_TRUE(FnMatch("[]", "[]"));    // "[]" is not a set: no ']' after the first
  EXPECT_TRUE(FnMatch("[!]", "[!]"));  // nor is "[!]"
  EXPECT_FALSE(FnMatch("a", "[!]"));
}

TEST(FnMatch, RangesReversedRangesAndHyphens) {
  EXPECT_TRUE(FnMatch("b", "[a-c]"));
  EXPECT_FALSE(FnMatch("d", "[a-c]"));
  EXPECT_FALSE(FnMatch("b", "[c-a]"));  // reversed: matches nothing
  EXPECT_FALSE(FnMatch("c", "[c-a]"));
  EXPECT_TRUE(FnMatch("x", "[!c-a]"));  // its negation: anything
  EXPECT_TRUE(FnMatch("c", "[!c-a]"));
  EXPECT_TRUE(FnMatch("x", "[c-ax]"));  // the reversed range goes with both ends, x stays
  EXPECT_FALSE(FnMatch("a", "[c-ax]"));
  EXPECT_TRUE(FnMatch("y", "[c-a!x]"));  // and a '!' left first negates, as in Python
  EXPECT_FALSE(FnMatch("x", "[c-a!x]"));
  EXPECT_TRUE(FnMatch("-", "[a-]"));
  EXPECT_TRUE(FnMatch("-", "[-a]"));
  EXPECT_FALSE(FnMatch("b", "[-a]"));
  EXPECT_TRUE(FnMatch("-", "[a-c-]"));
  EXPECT_TRUE(FnMatch("-", "[a-b-c]"));  // a range's end starts no range: '-' and 'c' members
  EXPECT_TRUE(FnMatch("c", "[a-b-c]"));
  EXPECT_FALSE(FnMatch("b", "[a--]"));  // 'a' to '-' is reversed
}

TEST(FnMatch, NamesAreCodePointsAsPythonDecodesThem) {
  // U+00E0..U+00FF: "é" (U+00E9, two bytes) is one code point in the range, "Ā" (U+0100) not.
  EXPECT_TRUE(FnMatch("\xc3\xa9.csv", "[\xc3\xa0-\xc3\xbf].csv"));
  EXPECT_FALSE(FnMatch("\xc4\x80.csv", "[\xc3\xa0-\xc3\xbf].csv"));
  EXPECT_FALSE(FnMatch("a.csv", "[\xc3\xa0-\xc3\xbf].csv"));
  EXPECT_TRUE(FnMatch("\xc3\xa9.csv", "?.csv"));
  EXPECT_TRUE(FnMatch("\xf0\x9f\x98\x80", "?"));
  // An ill-formed byte b is U+DC00 + b: a lone 0xE9 is in [\x80-\xff], "é" is not.
  EXPECT_TRUE(FnMatch("\xe9.csv", "[\x80-\xff].csv"));
  EXPECT_FALSE(FnMatch("\xc3\xa9.csv", "[\x80-\xff].csv"));
  EXPECT_TRUE(FnMatch("\xe9.csv", "?.csv"));
  EXPECT_TRUE(FnMatch("\xed\xa0\x80", "???"));  // an encoded surrogate is three bytes
  EXPECT_TRUE(FnMatch("\xe2\x82", "??"));       // a truncated sequence, one per byte
  EXPECT_TRUE(FnMatch("a\nb", "a?b"));          // '?' takes a newline too
}

TEST(ExpandInputs, GlobFollowsPythonNotGlibc) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write("a\\b.csv", "text\n");
  dir.Write("ab.csv", "text\n");
  dir.Write("^.csv", "text\n");
  EXPECT_EQ(ExpandInputs({d + "/?\\b.csv"}), (std::vector<std::string>{d + "/a\\b.csv"}));
  EXPECT_EQ(ExpandInputs({d + "/[^a]*.csv"}),
            (std::vector<std::string>{d + "/^.csv", d + "/a\\b.csv", d + "/ab.csv"}));
  EXPECT_EQ(ExpandInputs({d + "/[!a]*.csv"}), (std::vector<std::string>{d + "/^.csv"}));
  EXPECT_THROW(ExpandInputs({d + "/[b-a]*"}), InputError);
}

TEST(ExpandInputs, HiddenNamesOnlyForAComponentBeginningWithADot) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  dir.Write(".h.csv", "text\n");
  dir.Write("v.csv", "text\n");
  std::filesystem::create_directory(d + "/.hd");
  dir.Write(".hd/x.csv", "text\n");
  EXPECT_EQ(ExpandInputs({d + "/*"}), (std::vector<std::string>{d + "/v.csv"}));
  EXPECT_THROW(ExpandInputs({d + "/?h.csv"}), InputError);
  EXPECT_EQ(ExpandInputs({d + "/.*"}), (std::vector<std::string>{d + "/.h.csv", d + "/.hd"}));
  EXPECT_EQ(ExpandInputs({d + "/.h*/*.csv"}), (std::vector<std::string>{d + "/.hd/x.csv"}));
  EXPECT_THROW(ExpandInputs({d + "/[.]h.csv"}), InputError);  // begins with '[', not '.'
  EXPECT_THROW(ExpandInputs({d + "/*/x.csv"}), InputError);
}

TEST(ExpandInputs, AMagicMiddleComponentMatchesOnlyDirectories) {
  testing::TempDir dir;
  const std::string& d = dir.path();
  std::filesystem::create_directory(d + "/sa");
  dir.Write("sa/x.csv", "text\n");
  dir.Write("sb", "text\n");                                   // a file: no x.csv below it
  std::filesystem::create_directory_symlink("sa", d + "/sl");  // a link to a directory is one
  std::filesystem::create_symlink("nowhere", d + "/sn");
  EXPECT_EQ(ExpandInputs({d + "/s*/x.csv"}),
            (std::vector<std::string>{d + "/sa/x.csv", d + "/sl/x.csv"}));
  EXPECT_EQ(ExpandInputs({d + "/s?/"}), (std::vector<std::string>{d + "/sa/", d + "/sl/"}));
  // The last component matches whatever exists (a directory kept: refused when opened, a
  // dangling link too), and the path is joined as Python joins it ("//" before a magic
  // component's directory is one '/').
  EXPECT_EQ(ExpandInputs({d + "//s*"}),
            (std::vector<std::string>{d + "/sa", d + "/sb", d + "/sl", d + "/sn"}));
  EXPECT_EQ(ExpandInputs({d + "/s[a]/x.cs[v]"}), (std::vector<std::string>{d + "/sa/x.csv"}));
}

}  // namespace
}  // namespace wc

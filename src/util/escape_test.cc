#include "util/escape.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "util/error.h"

namespace wc {
namespace {

TEST(EscapeForLog, EscapesControlBytesKeepsBackslashAndUtf8) {
  EXPECT_EQ(EscapeForLog(std::string("a\nb\x1b[31m\\c\td\re\x7f\x00\xC3\xA9", 18)),
            "a\\nb\\x1b[31m\\c\\td\\re\\x7f\\x00\xC3\xA9");
  EXPECT_EQ(EscapeForLog("plain text, nothing to do"), "plain text, nothing to do");
}

// C1 controls reach a terminal as CSI and friends: U+0080-U+009F in UTF-8, and a raw byte
// 0x80-0x9F outside any UTF-8 sequence (an 8-bit terminal's CSI). Other UTF-8, and stray
// bytes 0xA0-0xFF (printable in 8-bit charsets), are kept; the counts format keeps them all.
TEST(EscapeForLog, EscapesC1ControlsKeepsOtherUtf8) {
  EXPECT_EQ(EscapeForLog("a\xc2\x9b"
                         "31mb\xc2\x85"),
            "a\\xc2\\x9b31mb\\xc2\\x85");
  EXPECT_EQ(EscapeForLog("x\x9b"
                         "1m\x80y"),
            "x\\x9b1m\\x80y");
  EXPECT_EQ(EscapeForLog("\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            "\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");  // NBSP, e-acute, euro, emoji
  // A continuation byte 0x80-0x9F inside a well-formed sequence is no control.
  EXPECT_EQ(EscapeForLog("\xe2\x80\x9c"), "\xe2\x80\x9c");
  // Truncated or overlong sequences: their 0x80-0x9F bytes are escaped, the rest kept.
  EXPECT_EQ(EscapeForLog("\xe2\x80"), "\xe2\\x80");
  EXPECT_EQ(EscapeForLog("\xc0\x9b"), "\xc0\\x9b");
  EXPECT_EQ(EscapeForLog("caf\xe9"), "caf\xe9");
  EXPECT_FALSE(NeedsEscape("\xc2\x9b", Backslash::kEscape));  // the counts format: unchanged
  EXPECT_TRUE(NeedsEscape("\xc2\x9b", Backslash::kKeep));
  EXPECT_TRUE(NeedsEscape("\x9b", Backslash::kKeep));
}

// What makes it safe to escape a message that embeds an already escaped what().
TEST(EscapeForLog, IsIdempotentAndLeavesNoControlByte) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 30, 'x');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    const std::string once = EscapeForLog(s);
    ASSERT_EQ(EscapeForLog(once), once);
    ASSERT_FALSE(NeedsEscape(once, Backslash::kKeep));
  }
}

TEST(AppendEscaped, BackslashModeIsTheCountsFileRule) {
  std::string out = "x";
  AppendEscaped(&out, "a\\b\n", Backslash::kEscape);
  EXPECT_EQ(out, "xa\\\\b\\n");
  EXPECT_TRUE(NeedsEscape("a\\b", Backslash::kEscape));
  EXPECT_FALSE(NeedsEscape("a\\b", Backslash::kKeep));
}

// A file name must not forge a second line or reach the terminal with ESC through what().
TEST(Errors, WhatEscapesThePathAndPathKeepsTheBytes) {
  const std::string path = "a\ncommit tasks=1000 result=accepted\x1b[31m.csv";
  InputError in(path, 3, "expected 7 fields, saw 8");
  EXPECT_STREQ(in.what(),
               "a\\ncommit tasks=1000 result=accepted\\x1b[31m.csv:3: expected 7 fields, saw 8");
  EXPECT_EQ(in.path(), path);
  OutputError out(path, "cannot write", 28);
  EXPECT_EQ(std::string(out.what()).find_first_of("\n\x1b"), std::string::npos);
}

// Held-out pass 18: a `"` in a file name ended its quoted log value early (path="x" n=99 ...).
TEST(QuoteForLog, QuotesAndBackslashesAreEscapedAndRestored) {
  EXPECT_EQ(QuoteForLog(R"(q" n=99 error="x\r)"), R"(q\" n=99 error=\"x\\r)");
  EXPECT_EQ(QuoteForLog("plain/path.csv"), "plain/path.csv");
  for (std::string s : {R"(q" n=99 error="x\r)", R"(\)", R"(\")", R"(a\\"b)", ""})
    EXPECT_EQ(UnquoteLogValue(QuoteForLog(s)), s) << s;
}

}  // namespace
}  // namespace wc

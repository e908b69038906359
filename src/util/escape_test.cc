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

}  // namespace
}  // namespace wc

#include "util/bounds.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "util/error.h"

namespace wc {
namespace {

using testing::UsageErrorOf;

TEST(ParseInteger, AcceptsDecimalIntegersInRange) {
  IntRange r{0, 256};
  EXPECT_EQ(ParseInteger("--workers", "0", r), 0);
  EXPECT_EQ(ParseInteger("--workers", "256", r), 256);
  EXPECT_EQ(ParseInteger("n", "-5", IntRange{-10, 10}), -5);
}

// CLI11 read "-5" into an unsigned option as 18446744073709551611, and "010" as 8.
TEST(ParseInteger, RefusesWhatIsNotAnIntegerInRangeNamingOptionAndRange) {
  IntRange r{0, 256};
  EXPECT_EQ(UsageErrorOf([&] { ParseInteger("--workers", "100000", r); }),
            "--workers must be an integer from 0 to 256, got 100000");
  for (const char* bad : {"-1", "", " 1", "1 ", "0x10", "1e3", "2.5", "+", "18446744073709551617",
                          "99999999999999999999", "abc"}) {
    EXPECT_NE(UsageErrorOf([&] { ParseInteger("--workers", bad, r); }), "(no error)") << bad;
  }
  EXPECT_EQ(UsageErrorOf([&] {
              ParseInteger("--rows", "\x1b[2J", IntRange{0, 9});
            }),
            "--rows must be an integer from 0 to 9, got \\x1b[2J");
}

TEST(ParseSeconds, AcceptsDecimalSecondsInRangeAndZeroWhenItMeansOff) {
  SecondsRange r{1, 86400, true};
  EXPECT_EQ(ParseSeconds("S", "0", r), 0);
  EXPECT_EQ(ParseSeconds("S", "1.5", r), 1.5);
  EXPECT_EQ(UsageErrorOf([&] { ParseSeconds("S", "0.001", r); }),
            "S must be 0 (off) or a number of seconds from 1 to 86400, got 0.001");
  EXPECT_EQ(ParseSeconds("S", "1e+1", r), 10);  // a '+' in the exponent, not in front
  for (const char* bad : {"", "inf", "nan", "-1", "0x10", " 2", "2s", "86401", "+5"})
    EXPECT_NE(UsageErrorOf([&] { ParseSeconds("S", bad, r); }), "(no error)") << bad;
  EXPECT_EQ(SecondsRange({0, 3600}).Describe(), "a number of seconds from 0 to 3600");
}

TEST(NonEmpty, RefusesTheEmptyString) {
  EXPECT_EQ(NonEmpty("--column", "text"), "text");
  EXPECT_EQ(UsageErrorOf([] { NonEmpty("--column", ""); }), "--column must be a non-empty string");
}

}  // namespace
}  // namespace wc

#include "util/paths.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace wc

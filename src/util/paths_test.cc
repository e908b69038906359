#include "util/paths.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "test_util.h"

namespace wc {
namespace {

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

}  // namespace
}  // namespace wc

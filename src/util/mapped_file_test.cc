#include "util/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "test_util.h"
#include "util/error.h"

namespace wc {
namespace {

using testing::TempDir;

// The message of the InputError that opening `path` throws ("" if none).
std::string OpenError(const std::string& path) {
  try {
    MappedFile f(path);
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), path);
    return e.message();
  }
  return "";
}

TEST(MappedFile, MapsAFileWithZeroPadding) {
  TempDir dir;
  MappedFile f(dir.Write("a.csv", "text\nhello\n"));
  EXPECT_EQ(f.view(), "text\nhello\n");
  for (size_t i = 0; i < MappedFile::kPadding; ++i) ASSERT_EQ(f.data()[f.size() + i], 0);
}

// Regression: open(2) of a FIFO without a writer blocked forever.
TEST(MappedFile, RefusesAFifoWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.path() + "/x.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(OpenError(fifo), "not a regular file (FIFO)");
}

TEST(MappedFile, RefusesADirectoryAndADevice) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/d.csv");
  EXPECT_EQ(OpenError(dir.path() + "/d.csv"), "not a regular file (directory)");
  EXPECT_EQ(OpenError("/dev/null"), "not a regular file (character device)");
}

}  // namespace
}  // namespace wc

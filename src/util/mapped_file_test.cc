#include "util/mapped_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"
#include "util/error.h"

namespace wc {
namespace {

using testing::TempDir;

const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));

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

// Regression: truncating a file while it was mapped killed the process with SIGBUS.
TEST(MappedFile, TruncatedWhileMappedReadsZerosAndReportsTheChange) {
  TempDir dir;
  const std::string path = dir.Write("t.csv", std::string(5 * kPage + 100, 'a'));
  MappedFile f(path);
  EXPECT_FALSE(f.Changed());
  ASSERT_EQ(::truncate(path.c_str(), kPage + 10), 0);
  size_t as = 0, zeros = 0;
  for (size_t i = 0; i < f.size(); ++i) (f.data()[i] == 'a' ? as : zeros) += 1;
  EXPECT_EQ(as, kPage + 10);
  EXPECT_EQ(zeros, f.size() - as);
  EXPECT_TRUE(f.Changed());
  try {
    f.CheckUnchanged();
    FAIL() << "no error";
  } catch (const FileChangedError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_EQ(std::string(e.what()), path + ": changed while it was read");
  }
}

TEST(MappedFile, ARewriteOfTheSameSizeIsAChange) {
  TempDir dir;
  const std::string path = dir.Write("t.csv", "text\nhello\n");
  const timespec old_times[2] = {{946684800, 0}, {946684800, 0}};  // 2000-01-01
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old_times, 0), 0);
  MappedFile f(path);
  f.CheckUnchanged();
  dir.Write("t.csv", "text\njello\n");
  EXPECT_THROW(f.CheckUnchanged(), FileChangedError);
}

// The SIGBUS handler keeps track of many live mappings at once (its slots come in chunks).
TEST(MappedFile, ManyLiveMappingsAreAllProtected) {
  TempDir dir;
  std::vector<MappedFile> files;
  for (int i = 0; i < 200; ++i) {
    files.emplace_back(dir.Write("f" + std::to_string(i) + ".csv", std::string(3 * kPage, 'b')));
  }
  for (int i : {0, 63, 64, 199}) {
    ASSERT_EQ(::truncate(files[i].path().c_str(), 0), 0);
    EXPECT_EQ(files[i].data()[2 * kPage], 0) << i;
    EXPECT_TRUE(files[i].Changed());
  }
  EXPECT_FALSE(files[1].Changed());
  EXPECT_EQ(files[1].data()[2 * kPage], 'b');
}

// Only faults inside a MappedFile are absorbed: any other SIGBUS gets the action that was there
// before (the default, death; under AddressSanitizer, its report).
TEST(MappedFileDeathTest, AFaultElsewhereStillKills) {
  TempDir dir;
  const std::string path = dir.Write("t.csv", std::string(3 * kPage, 'c'));
  MappedFile installs_the_handler(path);
  EXPECT_EXIT(
      {
        int fd = ::open(path.c_str(), O_RDONLY);
        auto* p =
            static_cast<volatile char*>(::mmap(nullptr, 3 * kPage, PROT_READ, MAP_PRIVATE, fd, 0));
        if (::truncate(path.c_str(), 0) != 0) ::_exit(3);
        char c = p[2 * kPage];
        ::_exit(c);
      },
#if defined(__SANITIZE_ADDRESS__)
      ::testing::ExitedWithCode(1), "AddressSanitizer: BUS");  // its handler was there before
#else
      ::testing::KilledBySignal(SIGBUS), "");
#endif
}

}  // namespace
}  // namespace wc

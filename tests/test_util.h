// Small fixtures shared by the unit tests: real files in a private temp dir.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "count/word_table.h"

namespace wc::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name and returns the full path.
  std::string Write(const std::string& name, std::string_view contents) const;

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);

// While it lives, files this process writes are limited to `bytes` (RLIMIT_FSIZE) and a write
// past that fails with EFBIG instead of raising SIGXFSZ: a full disk, in a unit test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  uint64_t old_limit_;
  void (*old_handler_)(int);
};

// A WordTable as an ordered map (word -> count), for readable comparisons.
std::map<std::string, uint64_t> AsMap(const WordTable& table);

// The what() of the UsageError `f` throws, or "(no error)".
std::string UsageErrorOf(const std::function<void()>& f);

}  // namespace wc::testing

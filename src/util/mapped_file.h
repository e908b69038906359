// Read-only, zero-padded memory mapping of a whole file.
//
// Ownership: a MappedFile owns its mapping and file descriptor; it is move-only and unmaps on
// destruction. Views handed out (data(), view()) live exactly as long as the MappedFile.
// Padding: at least kPadding readable zero bytes follow the last byte of the file, so hot loops
// may load 16 or 32 bytes at any position inside the file without a bounds check. Those bytes
// are never part of the file's contents.
// Thread-safety: const methods may be used from any number of threads at once.
// Errors: the constructor throws InputError naming the path (cannot open, not a regular file,
// mmap failure). A FIFO, socket, device or directory is refused at once, "not a regular file
// (FIFO)": it is opened without blocking and never read. A 0-byte file maps fine (size() == 0,
// data() points at kPadding zeros).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wc {

class MappedFile {
 public:
  static constexpr size_t kPadding = 64;

  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Tells the kernel the pages of [begin, end) are no longer needed by this process (they stay
  // in the page cache). Keeps the resident set bounded while streaming over multi-GB files.
  void Release(size_t begin, size_t end) const;

 private:
  void Reset() noexcept;

  std::string path_;
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t reserved_ = 0;  // bytes of address space reserved (file pages + padding pages)
};

}  // namespace wc

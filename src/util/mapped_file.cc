#include "util/mapped_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "util/error.h"
#include "util/unique_fd.h"

namespace wc {

namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "unknown file type";
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO (or a device) named like a CSV file must not wait for a writer.
  // It has no effect on a regular file, and the file is only ever read through the mapping.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  struct stat st {};
  if (fd < 0) {
    int err = errno;
    // A socket cannot be opened at all (ENXIO): say what it is.
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      throw InputError(path, 0, fmt::format("not a regular file ({})", FileTypeName(st.st_mode)));
    }
    throw InputError(path, 0, ErrnoMessage("cannot open", err));
  }
  UniqueFd closer(fd);
  if (::fstat(fd, &st) != 0) throw InputError(path, 0, ErrnoMessage("cannot stat", errno));
  if (!S_ISREG(st.st_mode)) {
    throw InputError(path, 0, fmt::format("not a regular file ({})", FileTypeName(st.st_mode)));
  }
  size_ = static_cast<size_t>(st.st_size);

  // Reserve the file's pages plus at least one zero page of padding as anonymous memory, then
  // map the file over the front of it. Reads past EOF land in the file's last page (zero-filled
  // by the kernel) or in the anonymous zero pages behind it, never in unmapped memory.
  const size_t page = PageSize();
  const size_t file_pages = (size_ + page - 1) / page * page;
  reserved_ = file_pages + (kPadding + page - 1) / page * page;
  void* base = ::mmap(nullptr, reserved_, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw InputError(path, 0, ErrnoMessage("cannot reserve memory", errno));
  data_ = static_cast<char*>(base);
  if (size_ > 0) {
    void* mapped = ::mmap(base, size_, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (mapped == MAP_FAILED) {
      int err = errno;
      Reset();
      throw InputError(path, 0, ErrnoMessage("cannot map", err));
    }
    ::madvise(base, size_, MADV_SEQUENTIAL);
  }
}

MappedFile::~MappedFile() { Reset(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      reserved_(std::exchange(other.reserved_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    reserved_ = std::exchange(other.reserved_, 0);
  }
  return *this;
}

void MappedFile::Reset() noexcept {
  if (data_ != nullptr) ::munmap(data_, reserved_);
  data_ = nullptr;
  size_ = 0;
  reserved_ = 0;
}

void MappedFile::Release(size_t begin, size_t end) const {
  const size_t page = PageSize();
  begin = (begin + page - 1) / page * page;
  end = end / page * page;
  if (end > size_) end = size_ / page * page;
  if (begin < end) ::madvise(data_ + begin, end - begin, MADV_DONTNEED);
}

}  // namespace wc

// UniqueFd: owns a POSIX file descriptor and closes it on destruction (close errors ignored;
// a writer that must see them calls Release() and closes itself). Move-only.
#pragma once

#include <unistd.h>

#include <utility>

namespace wc {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  // Gives up ownership; returns the descriptor.
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace wc

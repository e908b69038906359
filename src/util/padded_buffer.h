// A growable byte buffer that always keeps kPadding zero bytes readable past its end, so that
// views into it satisfy the same "16 readable bytes" contract as MappedFile.
// Single-owner, not thread-safe. Views are invalidated by any non-const call.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>
#include <vector>

namespace wc {

class PaddedBuffer {
 public:
  static constexpr size_t kPadding = 64;

  PaddedBuffer() { buf_.resize(kPadding + 256); }

  void clear() { size_ = 0; }
  void append(const char* p, size_t n) {
    Reserve(size_ + n);
    std::memcpy(buf_.data() + size_, p, n);
    size_ += n;
  }
  void push_back(char c) {
    Reserve(size_ + 1);
    buf_[size_++] = c;
  }
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }
  const char* data() const { return buf_.data(); }
  size_t size() const { return size_; }
  std::string_view view() const { return {buf_.data(), size_}; }

 private:
  void Reserve(size_t n) {
    if (n + kPadding > buf_.size()) buf_.resize(2 * (n + kPadding));
    // Bytes past size_ may hold old data from before clear(); the padding contract only says
    // "readable", and every reader masks bytes past the end of its view.
  }

  std::vector<char> buf_;
  size_t size_ = 0;
};

}  // namespace wc

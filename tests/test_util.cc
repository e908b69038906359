#include "test_util.h"

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "util/error.h"

namespace wc::testing {

FileSizeLimit::FileSizeLimit(uint64_t bytes) {
  struct rlimit r {};
  if (::getrlimit(RLIMIT_FSIZE, &r) != 0) throw std::runtime_error("getrlimit failed");
  old_limit_ = r.rlim_cur;
  old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  r.rlim_cur = bytes;
  if (::setrlimit(RLIMIT_FSIZE, &r) != 0) throw std::runtime_error("setrlimit failed");
}

FileSizeLimit::~FileSizeLimit() {
  struct rlimit r {};
  ::getrlimit(RLIMIT_FSIZE, &r);
  r.rlim_cur = old_limit_;
  ::setrlimit(RLIMIT_FSIZE, &r);
  std::signal(SIGXFSZ, old_handler_);
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/wc_test_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, std::string_view contents) const {
  std::string p = path_ + "/" + name;
  std::ofstream out(p, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) throw std::runtime_error("cannot write " + p);
  return p;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, uint64_t> AsMap(const WordTable& table) {
  std::map<std::string, uint64_t> m;
  table.ForEach([&](std::string_view w, uint64_t c) { m[std::string(w)] = c; });
  return m;
}

std::string UsageErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace wc::testing

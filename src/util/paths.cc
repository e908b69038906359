#include "util/paths.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "util/error.h"

namespace wc {

namespace fs = std::filesystem;

namespace {

bool HasGlobChars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> Glob(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  if (rc == GLOB_NOMATCH || out.empty()) throw InputError(pattern, 0, "no file matches");
  if (rc != 0) throw InputError(pattern, 0, "cannot expand pattern");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> ExpandInputs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](std::string p) {
    if (seen.insert(p).second) out.push_back(std::move(p));
  };
  for (const std::string& arg : args) {
    std::error_code ec;
    if (HasGlobChars(arg)) {
      // Always a pattern, as the reference's Python glob takes DATA_PATH, even where a file or
      // directory is literally named so: a file literally named "*.csv" did not stand for the
      // glob (it is one of its matches), nor does a directory so named (another user could
      // plant one in a shared directory): a directory among the matches is refused like any
      // non-regular input. A literal '*', '?' or '[' is written [*], [?], [[].
      for (auto& f : Glob(arg)) add(std::move(f));
    } else if (fs::is_directory(arg, ec)) {
      std::vector<std::string> files;
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        // Like the glob dir/*.csv (and the reference's Python glob): a name beginning with '.'
        // is hidden, never an input.
        const std::string name = entry.path().filename().string();
        if (!name.starts_with('.') && entry.path().extension() == ".csv") {
          files.push_back(entry.path().string());
        }
      }
      if (ec) throw InputError(arg, 0, "cannot list directory: " + ec.message());
      if (files.empty()) throw InputError(arg, 0, "directory holds no .csv file");
      std::sort(files.begin(), files.end());
      for (auto& f : files) add(std::move(f));
    } else {
      add(arg);
    }
  }
  return out;
}

void PushPathComponents(const std::string& path, std::vector<std::string>* todo) {
  std::vector<std::string> parts;
  for (size_t begin = 0; begin <= path.size();) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    if (end > begin) parts.push_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  todo->insert(todo->end(), parts.rbegin(), parts.rend());
}

bool IsMissing(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

bool IsUnder(const std::string& path, const std::string& dir) {
  fs::path p = fs::path(path).lexically_normal(), d = fs::path(dir).lexically_normal();
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di) {
    if (di->empty() && std::next(di) == d.end()) break;  // "dir/" ends with an empty component
    if (pi == p.end() || *pi != *di) return false;
    ++pi;
  }
  return true;
}

std::string CommonDirectory(const std::vector<std::string>& paths) {
  if (paths.empty()) return "/";
  fs::path root = fs::path(paths[0]).lexically_normal().parent_path();
  for (const auto& p : paths) {
    while (!root.empty() && root != root.root_path() && !IsUnder(p, root.string()))
      root = root.parent_path();
  }
  return root.empty() ? "/" : root.string();
}

}  // namespace wc

#include "util/safe_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "util/error.h"

namespace wc {

UniqueFd OpenNoFollow(const std::string& path, int flags, mode_t mode) {
  return UniqueFd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
}

std::string MakePrivateDir(const std::string& parent, const std::string& prefix) {
  const std::string pattern = parent + "/" + prefix + "XXXXXX";
  std::string path = pattern;  // mkdtemp fills in the X's, also when it fails
  if (::mkdtemp(path.data()) == nullptr) {
    throw OutputError(pattern, "cannot create a private directory", errno);
  }
  // mkdtemp asks for 0700 but the umask may take bits away: set it exactly, on the directory
  // just made (O_NOFOLLOW: the name is ours, no one else can have replaced it with a link in a
  // sticky /tmp, and if they could, we refuse rather than chmod their target).
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0 || ::fchmod(dir.get(), 0700) != 0) {
    int err = errno;
    ::rmdir(path.c_str());
    throw OutputError(path, "cannot make the private directory 0700", err);
  }
  return path;
}

}  // namespace wc

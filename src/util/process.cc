#include "util/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace wc {

pid_t SpawnChild(const std::vector<std::string>& args, const SpawnOptions& options) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Ignored signals stay ignored across exec: give the child the default SIGPIPE back (the
    // parent, wordcount's main, ignores it).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    ::prctl(PR_SET_PDEATHSIG, options.death_signal);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    if (options.new_process_group) ::setpgid(0, 0);
    if (options.private_files) ::umask(077);
    if (options.quiet_stdout) {
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
      }
    }
    if (!options.stderr_file.empty()) {
      int fd = ::open(options.stderr_file.c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) ::dup2(fd, 2);
    }
    if (options.search_path) {
      ::execvp(argv[0], argv.data());
    } else {
      ::execv(argv[0], argv.data());
    }
    ::_exit(127);
  }
  return pid;
}

}  // namespace wc

#include "util/process.h"

#include <fcntl.h>
#include <pthread.h>
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
  // Every signal blocked across fork: until its exec the child has the parent's handlers, and
  // `run`'s stop handler only records a signal, so a SIGTERM sent to the new child (a stop
  // right as workers start) would be lost and the child would run on.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(err));
  }
  if (pid == 0) {
    // The default action for every signal the parent handles (a pending one then acts as it
    // would on the child), and for SIGPIPE, which the parent ignores (ignored signals stay
    // ignored across exec); other ignored signals (nohup's SIGHUP) stay ignored. Then the
    // parent's own mask.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      struct sigaction cur {};
      if (sig == SIGKILL || sig == SIGSTOP || ::sigaction(sig, nullptr, &cur) != 0) continue;
      if (sig == SIGPIPE || (cur.sa_handler != SIG_IGN && cur.sa_handler != SIG_DFL))
        ::sigaction(sig, &dfl, nullptr);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
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
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

}  // namespace wc

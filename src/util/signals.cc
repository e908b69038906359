#include "util/signals.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

namespace wc {

// The registered temporary files: a list the handler can walk at any moment without a lock.
// Nodes are pushed, never freed (a handler may be reading one); Release only clears `live`.
struct TempNode {
  std::atomic<bool> live{true};
  TempNode* next = nullptr;  // written before the node is published
  std::string path;          // immutable once published
  bool directory = false;    // immutable once published
};

namespace {

static_assert(std::atomic<int>::is_always_lock_free, "the handlers need lock-free atomics");

std::atomic<int> g_answer{-1};  // StopAnswer, -1: none installed
std::atomic<int> g_stop{0};
std::atomic<int> g_socket{-1};

std::atomic<TempNode*> g_temps{nullptr};
// CreationWindow: how many threads are inside one (the stop signals are blocked there, so the
// handler never runs on such a thread). g_dying: the handler has started.
std::atomic<int> g_creating{0};
std::atomic<bool> g_dying{false};
std::atomic<void (*)(int)> g_dying_hook{nullptr};

std::vector<int> StopSignals() {
  std::vector<int> s = {SIGHUP,  SIGINT,    SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                        SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO};
#ifdef SIGPWR
  s.push_back(SIGPWR);
#endif
#ifdef SIGSTKFLT
  s.push_back(SIGSTKFLT);
#endif
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) s.push_back(sig);
  return s;
}

void OnStopCleanly(int sig) {
  int none = 0;
  g_stop.compare_exchange_strong(none, sig);
  int fd = g_socket.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

// SA_RESETHAND has put the default action back: the signal, blocked while this runs, is
// delivered again when it returns, and ends the process the way it would have without us.
void OnRemoveTempsAndDie(int sig) {
  g_dying.store(true);
  // Another thread inside a CreationWindow finishes its registration first (bounded: a creation
  // stuck in the kernel must not keep the process alive).
  for (int i = 0; i < 2000 && g_creating.load() > 0; ++i) {
    struct timespec ms = {0, 1000000};
    ::nanosleep(&ms, nullptr);
  }
  for (TempNode* t = g_temps.load(); t != nullptr; t = t->next) {
    if (t->live.load() && !t->directory) ::unlink(t->path.c_str());
  }
  // Newest first: a directory's subdirectories were made (and pushed) after it.
  for (TempNode* t = g_temps.load(); t != nullptr; t = t->next) {
    if (t->live.load() && t->directory) ::rmdir(t->path.c_str());
  }
  if (void (*hook)(int) = g_dying_hook.load()) hook(sig);
  ::raise(sig);
}

}  // namespace

void InstallStopAnswer(StopAnswer answer) {
  g_answer.store(static_cast<int>(answer));
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  if (answer == StopAnswer::kStopCleanly) {
    sa.sa_handler = OnStopCleanly;
    sa.sa_flags = SA_RESTART;  // blocking calls go on; the loops poll StopSignal()
  } else {
    sa.sa_handler = OnRemoveTempsAndDie;
    sa.sa_flags = SA_RESETHAND;
  }
  for (int sig : StopSignals()) ::sigaction(sig, &sa, nullptr);
}

void SetDyingHook(void (*hook)(int sig)) { g_dying_hook.store(hook); }

int StopSignal() { return g_stop.load(); }

void RequestStop(int signal) {
  if (g_answer.load() != static_cast<int>(StopAnswer::kStopCleanly)) return;
  int none = 0;
  g_stop.compare_exchange_strong(none, signal);
}

bool SleepUnlessStopped(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  for (;;) {
    if (StopSignal() != 0) return true;
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(10)));
  }
}

void SetStopSocket(int fd) { g_socket.store(fd); }

TempFileGuard::TempFileGuard(const std::string& path, Kind kind)
    : node_(new TempNode{.path = path, .directory = kind == Kind::kDirectory}) {
  // Pushed with a CAS: threads (gen) register files concurrently.
  TempNode* head = g_temps.load();
  do {
    node_->next = head;
  } while (!g_temps.compare_exchange_weak(head, node_));
}

void TempFileGuard::Release() {
  if (node_ == nullptr) return;
  node_->live.store(false);
  node_ = nullptr;  // the node stays in the list, dead: a handler may be walking it
}

}  // namespace wc

namespace wc {

namespace {
const sigset_t& StopSignalSet() {
  static const sigset_t set = [] {
    sigset_t s;
    sigemptyset(&s);
    for (int sig : StopSignals()) sigaddset(&s, sig);
    return s;
  }();
  return set;
}
}  // namespace

CreationWindow::CreationWindow() {
  // Blocked here: a signal for this thread waits until the file is registered (one for the
  // process goes to another thread, whose handler waits for this window).
  pthread_sigmask(SIG_BLOCK, &StopSignalSet(), &old_mask_);
  g_creating.fetch_add(1);
  if (g_dying.load()) {
    // The handler is removing the files: creating one now could leave it behind. The process
    // ends in a moment (the handler raises the signal again).
    g_creating.fetch_sub(1);
    for (;;) ::pause();
  }
}

CreationWindow::~CreationWindow() {
  g_creating.fetch_sub(1);
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);  // a pending signal is delivered now
}

bool WriteUnlessStopped(int fd, std::string_view bytes) {
  struct stat st {};
  const bool can_block = ::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
  while (!bytes.empty()) {
    size_t len = bytes.size();
    if (can_block) {
      struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
      int ready = ::poll(&p, 1, 50);
      if (ready < 0 && errno != EINTR) return false;
      if (ready <= 0) {
        if (StopSignal() != 0) {  // a stop while the reader does not read: give up
          errno = EINTR;
          return false;
        }
        continue;
      }
      // Room for PIPE_BUF bytes at least: a write of that many does not block.
      len = std::min<size_t>(len, PIPE_BUF);
    }
    ssize_t n = ::write(fd, bytes.data(), len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace wc

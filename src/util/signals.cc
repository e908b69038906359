#include "util/signals.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace wc {

// The registered temporary files: a list the handler can walk at any moment without a lock.
// Nodes are pushed, never freed (a handler may be reading one); Release only clears `live`.
struct TempNode {
  std::atomic<bool> live{true};
  TempNode* next = nullptr;  // written before the node is published
  std::string path;          // immutable once published
};

namespace {

static_assert(std::atomic<int>::is_always_lock_free, "the handlers need lock-free atomics");

std::atomic<int> g_answer{-1};  // StopAnswer, -1: none installed
std::atomic<int> g_stop{0};
std::atomic<int> g_socket{-1};

std::atomic<TempNode*> g_temps{nullptr};

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
  for (TempNode* t = g_temps.load(); t != nullptr; t = t->next) {
    if (t->live.load()) ::unlink(t->path.c_str());
  }
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

TempFileGuard::TempFileGuard(const std::string& path) : node_(new TempNode{.path = path}) {
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

// The process's answer to terminating signals, chosen once in main.
//
// Handled: every signal whose default action ends the process and that can be caught without
// being a fault of the process itself: SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
// SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO, SIGPWR, SIGSTKFLT and the real-time
// signals (kStopSignals). Faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS) keep
// their actions; SIGPIPE is ignored (main), so a write to a closed pipe fails with EPIPE.
//
//   * StopAnswer::kStopCleanly (`run`): the handler only records the first signal. The
//     coordinator's loops and every wait for Redis (job/redis_session.h) poll StopSignal() and stop
//     cleanly: workers stopped, the job saved and kept for a rerun, temporary outputs removed by
//     their owners, exit 128 + signal. While it waits for a Redis reply, the socket registered
//     with SetStopSocket is shut down by the handler, so a stopped or silent server cannot hold
//     the stop for the reply timeout. RequestStop(SIGPIPE) asks for the same stop when standard
//     output or error lost its reader (exit 6 then, like any closed pipe).
//   * StopAnswer::kRemoveTempsAndDie (every other command): the handler unlinks the temporary
//     files registered with TempFileGuard, removes the registered directories that are empty,
//     and dies of the same signal (its default action), so an interrupted `serial --out`,
//     `split` or `gen` leaves no temporary file and no directory it made behind. Files are
//     created (and registered) inside a CreationWindow, which the handler waits for: a file
//     another thread is creating when the signal comes is never missed.
//
// Thread-safety: everything here may be called from any thread; the handlers are
// async-signal-safe (lock-free atomics, unlink, rmdir, shutdown, poll).
#pragma once

#include <signal.h>

#include <chrono>
#include <string>
#include <string_view>

namespace wc {

enum class StopAnswer { kStopCleanly, kRemoveTempsAndDie };

// Installs the answer for every signal of kStopSignals (again: replaces the previous answer).
void InstallStopAnswer(StopAnswer answer);

// kRemoveTempsAndDie: `hook` (nullptr: none) is called by the handler with the signal after the
// temporary files are removed and before the process dies of it (a worker's last log line).
// It must be async-signal-safe. Set it before the signals may come.
void SetDyingHook(void (*hook)(int sig));

// The first stop signal received (or requested), 0 if none. Only kStopCleanly records one.
int StopSignal();
// Asks for the clean stop as if `signal` had arrived (the first request wins). Ignored unless the
// process answers kStopCleanly: elsewhere (workers, serial) the error itself is the answer.
void RequestStop(int signal);
// Sleeps `d`, or less if a stop is requested meanwhile; returns StopSignal() != 0.
bool SleepUnlessStopped(std::chrono::milliseconds d);

// The socket the stop handler shuts down (shutdown(2), the descriptor stays open) so that a
// blocking read on it returns at once; -1: none. One at a time (the coordinator's session).
void SetStopSocket(int fd);

// Writes all of `bytes` to `fd`. A descriptor that can block (pipe, FIFO, terminal, socket) is
// written at most PIPE_BUF bytes at a time, each when poll(2) says there is room, so that a
// stop requested (StopSignal() != 0) ends the wait for a reader that does not read: returns
// false with errno EINTR then (a reader that reads gets everything, stop or not). Other failures:
// false, errno set (EPIPE: the reader went away). Never throws.
bool WriteUnlessStopped(int fd, std::string_view bytes);

struct TempNode;

// Registers a temporary file (or a directory made for the command's output) for removal by the
// kRemoveTempsAndDie handler; the destructor (or Release) unregisters it. The file itself is the
// caller's to remove on every other path. Each registration keeps a few bytes for the life of
// the process (the handler may read a registration at any moment, so none is ever freed).
// Register inside the CreationWindow that created the file.
class TempFileGuard {
 public:
  enum class Kind { kFile, kDirectory };
  explicit TempFileGuard(const std::string& path, Kind kind = Kind::kFile);
  ~TempFileGuard() { Release(); }
  TempFileGuard(TempFileGuard&& o) noexcept : node_(o.node_) { o.node_ = nullptr; }
  TempFileGuard& operator=(TempFileGuard&&) = delete;
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  void Release();

 private:
  TempNode* node_;
};

// Scope in which a thread creates a temporary file and registers it (TempFileGuard). The stop
// signals are blocked inside it, and the kRemoveTempsAndDie handler waits (up to 2 s) until no
// thread is inside one before it removes the registered files: a file created just before the
// signal is removed too; a thread that enters one after the handler started waits there for the
// process to end. Keep it short: only the creation and the registration.
class CreationWindow {
 public:
  CreationWindow();
  ~CreationWindow();
  CreationWindow(const CreationWindow&) = delete;
  CreationWindow& operator=(const CreationWindow&) = delete;

 private:
  sigset_t old_mask_;
};

}  // namespace wc

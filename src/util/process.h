// Starting child processes that never outlive their parent.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace wc {

struct SpawnOptions {
  int death_signal = 9;            // sent to the child when the parent dies (PR_SET_PDEATHSIG)
  bool new_process_group = false;  // Ctrl-C on the terminal then reaches the parent only
  bool quiet_stdout = false;       // stdin and stdout from /dev/null
  bool search_path = false;        // execvp instead of execv
  bool private_files = false;      // umask 077: files the child creates are its user's only
  // Non-empty: the child's stderr goes to this file (truncated; 0600; never through a link).
  std::string stderr_file;
};

// fork + exec of args[0] with args. Returns the child's pid; throws std::runtime_error if fork
// fails (naming errno's reason, e.g. "Resource temporarily unavailable"). An exec failure makes the
// child exit with code 127. The child starts with the default action for every signal this
// process handles, and for SIGPIPE even though wordcount ignores it; a signal sent to the child
// before its exec acts on it as on the program it runs (signals are blocked across the fork).
pid_t SpawnChild(const std::vector<std::string>& args, const SpawnOptions& options);

}  // namespace wc

// `wordcount run` on the terminal: runs the job (job/coordinator.h), shows its progress line,
// prints the top words (stdout) and the summary (stderr), writes --out, and maps the job's
// outcome to an exit code (cli/exit_codes.h).
#pragma once

#include <string>

#include "job/config.h"
#include "job/coordinator.h"

namespace wc::cli {

struct RunArgs {
  job::RunOptions job;
  std::string out;  // --out: every count
  bool quiet = false;
};

int RunJobCommand(const job::JobConfig& config, const RunArgs& args);

}  // namespace wc::cli

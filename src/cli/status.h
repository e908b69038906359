// `wordcount status` and `wordcount top`: a job's state and its current top words, read from
// Redis (running or finished). Each returns an exit code (cli/exit_codes.h); Redis problems are
// reported on stderr (exit 4).
#pragma once

#include <string>

#include "job/config.h"

namespace wc::cli {

int PrintStatus(const job::JobConfig& config, const std::string& redis_url, bool json);
int PrintTop(const job::JobConfig& config, const std::string& redis_url, int n);

}  // namespace wc::cli

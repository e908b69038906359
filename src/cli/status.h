// `wordcount status` and `wordcount top`: a job's state and its current top words, read from
// Redis (running or finished). Each returns an exit code (cli/exit_codes.h); Redis problems are
// reported on stderr (exit 4).
#pragma once

#include <string>

#include "job/config.h"

namespace wc::cli {

// Where the job's Redis is: --redis URL, or --sentinel host:port,... with --master-name (the
// primary they name), or neither: the embedded Redis of the job running on this host.
struct RedisLocation {
  std::string url;
  std::string sentinels, master_name;
};

int PrintStatus(const job::JobConfig& config, const RedisLocation& where, bool json);
int PrintTop(const job::JobConfig& config, const RedisLocation& where, int n);

}  // namespace wc::cli

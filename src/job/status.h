// `wordcount status`: the state of a job, read from Redis (running or finished).
// Errors: returns an exit code; Redis problems are reported on stderr (exit 4).
#pragma once

#include <string>

#include "job/config.h"

namespace wc::job {

int PrintStatus(const JobConfig& config, const std::string& redis_url, bool json);

}  // namespace wc::job

#include "job/local_workers.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <utility>

#include "util/log.h"

namespace wc::job {

WorkerMix WorkerMix::For(const JobConfig& c, std::optional<int> workers) {
  if (workers) return WorkerMix{.normal = *workers};
  return WorkerMix{.normal = c.n_normal_workers,
                   .crashing = c.n_crashing_workers,
                   .sleeping = c.n_sleeping_workers};
}

std::vector<WorkerSpec> WorkerMix::Initial() const {
  std::vector<WorkerSpec> out;
  for (int i = 0; i < crashing; ++i) out.push_back({fmt::format("crash{}", i + 1), true, false});
  for (int i = 0; i < sleeping; ++i) out.push_back({fmt::format("sleep{}", i + 1), false, true});
  for (int i = 0; i < normal; ++i) out.push_back({fmt::format("w{}", i + 1), false, false});
  return out;
}

std::vector<WorkerSpec> WorkerRounds::Next() {
  if (mix_.total() <= 0) return {};
  if (++rounds_ > kMaxRounds) {
    throw JobIncomplete(
        fmt::format("the job could not finish after {} rounds of workers", kMaxRounds));
  }
  const int size = std::max(1, mix_.normal);
  Log::Warn("job_incomplete", "round={} respawning={}", rounds_, size);
  std::vector<WorkerSpec> out;
  for (int i = 0; i < size; ++i) out.push_back({fmt::format("round{}-w{}", rounds_, i + 1)});
  return out;
}

LocalWorkers::LocalWorkers(std::string exe, const WorkerOptions& options, const WorkerMix& mix)
    : pool_(std::move(exe), options), mix_(mix), rounds_(mix) {
  if (!options.redis.password.empty()) ::setenv(kPasswordEnv, options.redis.password.c_str(), 1);
}

void LocalWorkers::Start() {
  if (!std::exchange(started_, true)) Spawn(mix_.Initial());
  rounds_ = WorkerRounds(mix_);
}

void LocalWorkers::KeepUp() {
  if (pool_.alive() == 0) Spawn(rounds_.Next());
}

void LocalWorkers::Spawn(const std::vector<WorkerSpec>& workers) {
  for (const WorkerSpec& w : workers) pool_.Spawn(w.name, w.crash, w.slow);
}

}  // namespace wc::job

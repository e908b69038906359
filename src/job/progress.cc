#include "job/progress.h"

namespace wc::job {

ProgressSnapshot ProgressSnapshot::Of(const JobSpec& spec, const JobState& s, double seconds,
                                      size_t workers, int redis_restarts) {
  return ProgressSnapshot{.mode = spec.mode,
                          .phase = s.state(),
                          .total_tasks = spec.total_tasks(),
                          .done_tasks = s.Int("done_tasks") + s.Int("done_parts"),
                          .pending = s.Int("pending"),
                          .bytes = spec.plan.bytes,
                          .seconds = seconds,
                          .workers = workers,
                          .redis_restarts = redis_restarts};
}

}  // namespace wc::job

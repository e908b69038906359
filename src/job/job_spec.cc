#include "job/job_spec.h"

#include <fmt/format.h>

#include "util/error.h"
#include "util/log.h"
#include "util/paths.h"

namespace wc::job {

int64_t JobSpec::total_tasks() const {
  return static_cast<int64_t>(plan.tasks.size()) + (shuffle() ? partitions : 0);
}

JobIdentity JobSpec::Identity(const std::string& spill) const {
  return JobIdentity{.digest = digest,
                     .mode = mode,
                     .tasks = static_cast<uint32_t>(plan.tasks.size()),
                     .parts = partitions,
                     .spill = spill,
                     .column = column};
}

std::vector<std::pair<std::string, std::string>> JobSpec::Info() const {
  return {{"count_key", count_key},
          {"files", std::to_string(plan.files)},
          {"bytes", std::to_string(plan.bytes)},
          {"data_root", plan.data_root}};
}

JobInputs JobInputs::Of(const std::string& data) {
  JobInputs in;
  try {
    in.files = ExpandInputs({data});
  } catch (const InputError& e) {
    in.none = e.what();
  }
  return in;
}

JobSpec PlanJob(const JobConfig& c, const JobInputs& inputs, int workers) {
  JobSpec spec{.mode = c.mode, .column = c.column, .count_key = c.count};
  if (inputs.files.empty()) throw NoInput(inputs.none.empty() ? "no input" : inputs.none);
  spec.plan = MakePlan(inputs.files, c.chunk_bytes, c.column);
  const Plan& plan = spec.plan;
  if (plan.tasks.empty() && plan.missing == plan.files)
    throw NoInput(plan.failures.empty() ? "no input" : plan.failures.front());
  Log::Event("plan", "files={} tasks={} bytes={} rejected={} data_root=\"{}\"", plan.files,
             plan.tasks.size(), plan.bytes, plan.failures.size(), plan.data_root);
  if (spec.shuffle()) {
    spec.partitions = c.partitions > 0 ? static_cast<uint32_t>(c.partitions)
                                       : DefaultPartitions(plan.bytes, workers);
  }
  spec.digest = PlanDigest(
      plan, fmt::format("mode={} column={} parts={} in={} count={} fname={}", ToString(c.mode),
                        c.column, spec.partitions, c.in, c.count, c.fname));
  return spec;
}

}  // namespace wc::job

// JobSpec: what one `run` counts and how, fixed before Redis is touched: the plan of its inputs
// (job/plan.h), shuffle mode's number of partitions, the digest that names the job (a rerun with
// the same digest is the same job and resumes it; it also names the embedded Redis's state
// directory), and what the job is begun with in Redis (job/job_claim.h: its identity and the
// record's info fields).
//
// Pure but for reading the inputs' metadata and logging the `plan` event. Errors: PlanJob throws
// NoInput when no input file matched or every input named is missing (the message names one); a
// file that cannot be planned is only a failure of the plan (Plan::failures).
// Thread-safety: a value, not changed after PlanJob.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "job/config.h"
#include "job/job_store.h"
#include "job/plan.h"

namespace wc::job {

class NoInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// DATA_PATH (or --data) expanded once, by Python's glob rules: the files a job plans, or why there
// are none. `run` expands it before it writes anything (its LOGFILE, its --out temporary), so
// that no file the run makes itself is ever an input, and its output checks see the same files.
struct JobInputs {
  std::vector<std::string> files;
  std::string none;  // why `files` is empty ("data/*.csv: no file matches"); "" otherwise
  static JobInputs Of(const std::string& data);
};

struct JobSpec {
  Plan plan;
  Mode mode = Mode::kDirect;
  std::string column = "text";
  std::string count_key = "count";  // COUNT
  uint32_t partitions = 0;          // shuffle: R; direct: 0
  std::string digest;               // PlanDigest of the plan and the settings that shape the result

  bool shuffle() const { return mode == Mode::kShuffle; }
  // Every task of the job: its count tasks, or its map tasks and one reduce task per partition.
  int64_t total_tasks() const;
  // The identity JobClaim begins the job with; `spill` names its spill directory (shuffle).
  JobIdentity Identity(const std::string& spill) const;
  // The fields stored in the job record for `status`: count key, files, bytes, data root.
  std::vector<std::pair<std::string, std::string>> Info() const;
};

// Plans the job of `c` over `inputs`. `workers`: how many workers the run starts, for shuffle
// mode's default partitions (job/plan.h: DefaultPartitions).
JobSpec PlanJob(const JobConfig& c, const JobInputs& inputs, int workers);

}  // namespace wc::job

// Shuffle mode's map outputs: the job's own directory SPILL_DIR/<name> (name "job-<job id>",
// kept in the job record so that a resumed job finds its outputs again).
//
// Ownership: Remove() deletes the job's directory, and SPILL_DIR itself only if this run made
// it and it is empty (other jobs and users may share it). Errors: Prepare throws UsageError
// naming the directory. Thread-safety: none.
#pragma once

#include <filesystem>
#include <string>

namespace wc::job {

class SpillArea {
 public:
  // Creates root/name (and root) if missing.
  void Prepare(const std::filesystem::path& root, const std::string& name);
  void Remove();
  bool prepared() const { return !name_.empty(); }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path dir() const { return root_ / name_; }

 private:
  std::filesystem::path root_;
  std::string name_;
  bool made_root_ = false;
};

}  // namespace wc::job

// Shuffle mode's map outputs: the job's own directory SPILL_DIR/<name> (name "job-<job id>",
// kept in the job record so that a resumed job finds its outputs again).
//
// Ownership: Remove() deletes the job's directory, and SPILL_DIR itself only if this run (or an
// earlier run of the job: RootMadeByEarlierRun) made it (or it is the run's own default) and it
// is empty (other jobs and users may share it);
// after PrepareRoot alone, only such an empty root. Errors:
// Prepare throws UsageError naming the directory. Thread-safety: none.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace wc::job {

// What the map outputs take, and would take, of the spill directory's file system.
struct SpillSpace {
  size_t maps = 0;     // map tasks of the job
  size_t written = 0;  // map outputs (map-<m>.wcs) in the job's directory now
  uint64_t written_bytes = 0;
  uint64_t needed_bytes = 0;  // every map's output, extrapolated by input bytes (0: unknown)
  uint64_t fs_bytes = 0, free_bytes = 0;  // the file system's size and space available
};

// A message for a spill directory that could not take a map output, e.g. "SPILL_DIR /s is
// full: the 24 map outputs need about 8.9 MB (13 written, 4.8 MB), its file system has 5.0 MB,
// 40 KB free". It says "full" only if the free space is less than what the rest would need.
std::string DescribeSpillTrouble(const std::filesystem::path& root, const SpillSpace& s);

// Why `root` may not hold map outputs ("" if it may): CheckSafeDirectory of it and the
// directories above it (util/safe_files.h), then the root itself must be a directory of this user
// or shared with the sticky bit (like /tmp), not writable by others without the sticky bit, and
// writable by this process. Whoever could rename or replace entries there could swap a map output
// for their own and change the result. Checks only: nothing is made.
std::string SpillRootTrouble(const std::filesystem::path& root);
// True for the name of a job's map output directory in SPILL_DIR: job-<32 hex digits>.
bool IsSpillJobDirName(std::string_view name);
// Why the job's directory `dir` (root/job-<id>, made 0700 by the coordinator) may not be used:
// not a real directory of this user (a link, another user's), or writable by others.
std::string SpillJobDirTrouble(const std::filesystem::path& dir);

class SpillArea {
 public:
  // Creates root if missing and checks it and the directories above it (CheckSafeDirectory,
  // util/safe_files.h: a link or a directory another user could swap is refused): a directory of
  // this user (or shared with the sticky bit, like /tmp), not writable by others without the sticky
  // bit, writable by this process. `root_is_ours`: the root is the run's own default (under
  // STATE_DIR), removed when empty even if an earlier run made it. The coordinator calls it before
  // anything else is made, so that an unusable SPILL_DIR leaves nothing behind.
  void PrepareRoot(const std::filesystem::path& root, bool root_is_ours = false);
  // PrepareRoot, then creates root/name if missing (0700, never a link).
  void Prepare(const std::filesystem::path& root, const std::string& name,
               bool root_is_ours = false);
  void Remove();
  // Removes <root>/<name> of another (replaced) job, if `name` is a job's ("job-" + 32 hex):
  // `recorded_root` is that job's SPILL_DIR as its record says (its coordinator's: it may be
  // another directory than this job's, or this job may be a direct one), else this area's root.
  // Only a directory of this user's, in a root that passes CheckSafeDirectory, is removed.
  void RemoveReplaced(const std::string& name, const std::string& recorded_root) const;
  // Measures dir()'s map outputs and its file system. `input_bytes[m]`: map task m's input.
  SpillSpace Measure(const std::vector<uint64_t>& input_bytes) const;
  // The message for a worker that could not write its output: DescribeSpillTrouble of this
  // area (or, before Prepare, a generic one), and that the job is kept for a rerun.
  std::string OutputTrouble(const std::vector<uint64_t>& input_bytes) const;
  // PrepareRoot made the root (it did not exist), or it is the run's own default.
  bool made_root() const { return made_root_; }
  // An earlier run of this job made the root (recorded in the job's state directory): Remove
  // removes it too if it is empty.
  void RootMadeByEarlierRun() { made_root_ = true; }
  bool prepared() const { return !name_.empty(); }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path dir() const { return root_ / name_; }

 private:
  std::filesystem::path root_;
  std::string name_;
  bool made_root_ = false;
};

}  // namespace wc::job

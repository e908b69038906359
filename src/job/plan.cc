#include "job/plan.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "job/task.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/mapped_file.h"
#include "util/paths.h"

namespace wc::job {

Plan MakePlan(const std::vector<std::string>& files, uint64_t chunk_bytes,
              const std::string& column) {
  Plan plan;
  plan.files = files.size();
  std::vector<std::string> paths;
  for (const auto& f : files) {
    // Every input that is not a regular file we may read is refused here, named as given and
    // with serial's words (util/mapped_file.h), and gets no task: a FIFO is never opened, and
    // no worker waits CLAIM_IDLE_MS x MAX_DELIVERIES for a file it can never read. The tasks
    // keep the real path of the resolution that was checked and read (never another resolution
    // of the name: a link swapped between two would plan one file's stamp with another's path).
    try {
      FilePlan p = PlanFile(f, chunk_bytes, column);  // opened by the name given: named so
      for (const auto& r : p.ranges) plan.tasks.push_back({p.resolved, r, p.stamp, f});
      plan.bytes += p.stamp.size;
      paths.push_back(p.resolved);
    } catch (const InputError& e) {
      if (IsMissing(f)) ++plan.missing;
      plan.failures.push_back(e.what());
    }
  }
  plan.data_root = CommonDirectory(paths);
  return plan;
}

std::string NamedAsGiven(const PlannedTask& task, const std::string& message) {
  if (task.input.empty() || task.input == task.path) return message;
  const std::string resolved = EscapeForLog(task.path);
  if (!message.starts_with(resolved) || message.compare(resolved.size(), 1, ":") != 0)
    return message;
  return EscapeForLog(task.input) + message.substr(resolved.size());
}

std::vector<uint64_t> TaskInputBytes(const Plan& plan) {
  std::vector<uint64_t> bytes;
  for (const PlannedTask& t : plan.tasks) {
    uint64_t end = t.range.end;
    if (end == csv::ByteRange::kToEnd) {
      std::error_code ec;
      end = std::filesystem::file_size(t.path, ec);
      if (ec) end = 0;
    }
    bytes.push_back(end > t.range.begin ? end - t.range.begin : 0);
  }
  return bytes;
}

uint32_t DefaultPartitions(uint64_t bytes, int workers) {
  uint64_t by_size = (bytes + (128ull << 20) - 1) / (128ull << 20);
  uint64_t by_workers = 2ull * static_cast<uint64_t>(std::max(workers, 1));
  return static_cast<uint32_t>(std::clamp<uint64_t>(std::max(by_workers, by_size), 1,
                                                    static_cast<uint64_t>(kMaxPartitions)));
}

std::string PlanDigest(const Plan& plan, const std::string& extra) {
  std::string text = "plan descriptors 3 (range, size, mtime, ctime, inode, path)\n" + extra;
  // The stamps as planned: ctime and inode change with every write or replacement and cannot be
  // set back (touch sets mtime only), so a file changed in any way is another job.
  for (const auto& t : plan.tasks) text += "\n" + Descriptor(t);
  XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

}  // namespace wc::job

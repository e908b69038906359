#include "job/plan.h"

#include <filesystem>

#include "count/count_task.h"
#include "util/error.h"
#include "util/paths.h"

namespace wc::job {

Plan MakePlan(const std::vector<std::string>& files, uint64_t chunk_bytes,
              const std::string& column) {
  Plan plan;
  plan.files = files.size();
  std::vector<std::string> paths;
  for (const auto& f : files) {
    std::error_code ec;
    std::string path = std::filesystem::weakly_canonical(f, ec).string();
    if (ec) path = std::filesystem::absolute(f).lexically_normal().string();
    try {
      uint64_t size = 0;
      for (const auto& r : PlanFileTasks(path, chunk_bytes, column, &size))
        plan.tasks.push_back({path, r});
      plan.bytes += size;
      paths.push_back(path);
    } catch (const InputError& e) {
      plan.failures.push_back(e.what());
    }
  }
  plan.data_root = CommonDirectory(paths);
  return plan;
}

}  // namespace wc::job

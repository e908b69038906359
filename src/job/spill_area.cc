#include "job/spill_area.h"

#include <fmt/format.h>

#include "util/error.h"
#include "util/log.h"

namespace wc::job {

namespace fs = std::filesystem;

void SpillArea::Prepare(const fs::path& root, const std::string& name) {
  std::error_code ec;
  root_ = fs::absolute(root, ec);
  made_root_ = !fs::exists(root_, ec);
  fs::create_directories(root_ / name, ec);
  if (ec) {
    throw UsageError(fmt::format("cannot create the spill directory {}: {}",
                                 (root_ / name).string(), ec.message()));
  }
  name_ = name;
}

void SpillArea::Remove() {
  if (name_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir(), ec);
  if (made_root_) fs::remove(root_, ec);  // only if empty
  Log::Event("spill_removed", "dir=\"{}\" error=\"{}\"", dir().string(), ec ? ec.message() : "");
}

}  // namespace wc::job

#include "shuffle/reducer.h"

#include <algorithm>

#include "shuffle/spill.h"

namespace wc::shuffle {

Partition MergePartition(const std::string& dir, std::string_view job, uint32_t maps,
                         uint32_t parts, uint32_t part, const std::vector<bool>& skip) {
  Partition out;
  for (uint32_t m = 0; m < maps; ++m) {
    if (m < skip.size() && skip[m]) continue;
    try {
      PrefetchingAdder adder(out.totals, 1);  // holds pending words by value
      out.records +=
          ReadPartition(MapOutputPath(dir, m), job, m, parts, part,
                        [&](std::string_view w, uint64_t c) { adder.Add(w.data(), w.size(), c); });
    } catch (const SpillError& e) {
      out.lost.emplace_back(m, e.what());
    }
  }
  return out;
}

std::vector<std::pair<uint64_t, std::string_view>> SortedByCount(const WordTable& table) {
  std::vector<std::pair<uint64_t, std::string_view>> wc;
  wc.reserve(table.size());
  table.ForEach([&](std::string_view w, uint64_t c) { wc.emplace_back(c, w); });
  std::sort(wc.begin(), wc.end());
  return wc;
}

}  // namespace wc::shuffle

#include "shuffle/mapper.h"

namespace wc::shuffle {

MapStats RunMap(const std::string& path, csv::ByteRange range, const std::string& column,
                const std::string& dir, uint32_t map, uint32_t parts) {
  WordTable table(1 << 14);
  MapStats st;
  st.input = CountFileRangeOrNothing(path, range, table, column);
  st.output = WriteMapOutput(dir, map, parts, table);
  return st;
}

}  // namespace wc::shuffle

#include "shuffle/mapper.h"

namespace wc::shuffle {

MapStats RunMap(const std::string& path, csv::ByteRange range, const FileStamp& planned,
                const std::string& column, const std::string& dir, std::string_view job,
                uint32_t map, uint32_t parts) {
  WordTable table(1 << 14);
  MapStats st;
  st.input = CountFileRangeOrNothing(path, range, table, column, &planned);
  st.output = WriteMapOutput(dir, job, map, parts, table);
  return st;
}

}  // namespace wc::shuffle

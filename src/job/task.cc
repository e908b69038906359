#include "job/task.h"

#include <charconv>
#include <stdexcept>

namespace wc::job {

JobKeys KeysOf(const JobConfig& c) {
  JobKeys k;
  k.stream = c.in;
  k.counts = c.count;
  k.fname = c.fname;
  return k;
}

redis::Args TaskFields(const JobKeys& keys, const std::string& path, const csv::ByteRange& range) {
  redis::Args f{keys.fname, path};
  if (!(range == csv::ByteRange{})) {
    f.push_back("range");
    f.push_back(std::to_string(range.begin) + "-" + std::to_string(range.end));
  }
  return f;
}

Task ParseTask(const JobKeys& keys, const redis::Reply& entry) {
  Task t;
  t.id = std::string(entry[0].str());
  redis::Reply fields = entry[1];
  if (fields.is_nil()) throw std::invalid_argument("task " + t.id + " was deleted from the stream");
  bool have_path = false;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    std::string_view k = fields[i].str(), v = fields[i + 1].str();
    if (k == keys.fname) {
      t.path = std::string(v);
      have_path = true;
    } else if (k == "range") {
      auto dash = v.find('-');
      uint64_t b = 0, e = 0;
      if (dash == std::string_view::npos ||
          std::from_chars(v.data(), v.data() + dash, b).ec != std::errc() ||
          std::from_chars(v.data() + dash + 1, v.data() + v.size(), e).ec != std::errc()) {
        throw std::invalid_argument("task " + t.id + " has a malformed range: " + std::string(v));
      }
      t.range = csv::ByteRange{b, e};
    }
  }
  if (!have_path) throw std::invalid_argument("task " + t.id + " has no field " + keys.fname);
  return t;
}

}  // namespace wc::job

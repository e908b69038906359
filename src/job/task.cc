#include "job/task.h"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace wc::job {

namespace {

std::string RangeText(const csv::ByteRange& range) {
  if (range == csv::ByteRange{}) return "";
  return std::to_string(range.begin) + "-" + std::to_string(range.end);
}

uint64_t ParseNumber(const std::string& id, std::string_view field, std::string_view v) {
  uint64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty() || x > UINT32_MAX) {
    throw std::invalid_argument("task " + id + " has a malformed " + std::string(field) + ": " +
                                std::string(v));
  }
  return x;
}

}  // namespace

redis::Args TaskFields(const JobKeys& keys, const std::string& path, const csv::ByteRange& range) {
  redis::Args f{keys.fname, path};
  if (std::string r = RangeText(range); !r.empty()) {
    f.push_back("range");
    f.push_back(r);
  }
  return f;
}

redis::Args MapTaskFields(const JobKeys& keys, const std::string& path, const csv::ByteRange& range,
                          uint32_t m, uint32_t parts, const std::string& spill) {
  redis::Args f = TaskFields(keys, path, range);
  for (const std::string& s :
       {std::string("kind"), std::string("map"), std::string("map"), std::to_string(m),
        std::string("parts"), std::to_string(parts), std::string("spill"), spill}) {
    f.push_back(s);
  }
  return f;
}

std::string MapDescription(const std::string& path, const csv::ByteRange& range) {
  return RangeText(range) + "|" + path;
}

Task ParseTask(const JobKeys& keys, const redis::Reply& entry) {
  Task t;
  t.id = std::string(entry[0].str());
  redis::Reply fields = entry[1];
  if (fields.is_nil()) throw std::invalid_argument("task " + t.id + " was deleted from the stream");
  bool have_path = false, have_map = false, have_part = false, have_maps = false,
       have_parts = false;
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
    } else if (k == "kind") {
      if (v == "map") {
        t.kind = Task::Kind::kMap;
      } else if (v == "reduce") {
        t.kind = Task::Kind::kReduce;
      } else {
        throw std::invalid_argument("task " + t.id + " has an unknown kind: " + std::string(v));
      }
    } else if (k == "map") {
      t.map = static_cast<uint32_t>(ParseNumber(t.id, k, v));
      have_map = true;
    } else if (k == "part") {
      t.part = static_cast<uint32_t>(ParseNumber(t.id, k, v));
      have_part = true;
    } else if (k == "maps") {
      t.maps = static_cast<uint32_t>(ParseNumber(t.id, k, v));
      have_maps = true;
    } else if (k == "parts") {
      t.parts = static_cast<uint32_t>(ParseNumber(t.id, k, v));
      have_parts = true;
    } else if (k == "spill") {
      t.spill = std::string(v);
    }
  }
  auto require = [&](bool have, const char* field) {
    if (!have) throw std::invalid_argument("task " + t.id + " has no field " + field);
  };
  if (t.kind != Task::Kind::kReduce) require(have_path, keys.fname.c_str());
  if (t.kind == Task::Kind::kCount) return t;
  require(have_parts && t.parts > 0, "parts");
  bool spill_ok = !t.spill.empty() && t.spill != "." && t.spill != "..";
  for (char ch : t.spill) {
    spill_ok = spill_ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                            ch == '_' || ch == '-');
  }
  if (!spill_ok)
    throw std::invalid_argument("task " + t.id + " has a bad spill directory name: " + t.spill);
  if (t.kind == Task::Kind::kMap) {
    require(have_map, "map");
  } else {
    require(have_part && t.part < t.parts, "part");
    require(have_maps, "maps");
  }
  return t;
}

}  // namespace wc::job

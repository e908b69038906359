#include "job/task.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

namespace wc::job {

namespace {

// ^[0-9]+$ with fewer than 10 digits (mylib.lua's small_number).
std::optional<uint32_t> SmallNumber(std::string_view s) {
  if (s.empty() || s.size() >= 10) return std::nullopt;
  uint32_t x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return x;
}

std::optional<uint64_t> Number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return x;
}

// A time in ns: an optional '-', then a Number within int64_t.
std::optional<int64_t> Time(std::string_view s) {
  bool negative = s.starts_with('-');
  auto abs = Number(negative ? s.substr(1) : s);
  if (!abs || *abs > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return negative ? -static_cast<int64_t>(*abs) : static_cast<int64_t>(*abs);
}

}  // namespace

std::string Descriptor(const PlannedTask& t) {
  std::string range = t.range == csv::ByteRange{}
                          ? std::string()
                          : std::to_string(t.range.begin) + "-" + std::to_string(t.range.end);
  return fmt::format("{},{},{},{},{}|{}", range, t.stamp.size, t.stamp.mtime_ns, t.stamp.ctime_ns,
                     t.stamp.inode, t.path);
}

std::optional<PlannedTask> ParseDescriptor(std::string_view d) {
  auto bar = d.find('|');
  if (bar == std::string_view::npos || bar + 1 == d.size()) return std::nullopt;
  PlannedTask t;
  t.path = std::string(d.substr(bar + 1));
  // "<range>,<size>,<mtime>,<ctime>,<inode>": the stamp is required (as in mylib.lua's
  // split_descriptor).
  std::vector<std::string_view> fields;
  for (std::string_view head = d.substr(0, bar);;) {
    auto comma = head.find(',');
    fields.push_back(head.substr(0, comma));
    if (comma == std::string_view::npos) break;
    head.remove_prefix(comma + 1);
  }
  if (fields.size() != 5) return std::nullopt;
  auto size = Number(fields[1]), inode = Number(fields[4]);
  auto mtime = Time(fields[2]), ctime = Time(fields[3]);
  if (!size || !mtime || !ctime || !inode) return std::nullopt;
  t.stamp = {.size = *size, .mtime_ns = *mtime, .ctime_ns = *ctime, .inode = *inode};
  std::string_view range = fields[0];
  if (range.empty()) return t;
  auto dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto b = Number(range.substr(0, dash)), e = Number(range.substr(dash + 1));
  if (!b || !e || *b >= *e) return std::nullopt;
  t.range = csv::ByteRange{*b, *e};
  return t;
}

std::variant<Task, Foreign> Classify(const redis::Reply& entry, const JobView& job,
                                     const std::vector<PlannedTask>& plan) {
  std::string id(entry[0].str());
  redis::Reply fields = entry[1];
  auto foreign = [&](std::string why) { return Foreign{id, std::move(why)}; };
  if (fields.is_nil()) return foreign("entry deleted from the stream");
  std::optional<std::string_view> job_id, task, part, publish;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    std::string_view k = fields[i].str(), v = fields[i + 1].str();
    std::optional<std::string_view>* slot = k == "job"       ? &job_id
                                            : k == "task"    ? &task
                                            : k == "part"    ? &part
                                            : k == "publish" ? &publish
                                                             : nullptr;
    if (!slot) continue;
    if (*slot) return foreign("field " + std::string(k) + " repeated");
    *slot = v;
  }
  if (!job_id) return foreign("no job field");
  if (*job_id != job.id) return foreign("job " + std::string(*job_id) + " is not the current job");
  if (task.has_value() + part.has_value() + publish.has_value() != 1)
    return foreign("needs exactly one of task, part and publish");
  Task t;
  t.entry = id;
  if (publish) {
    // Whether it is the job's own publish entry (the record names it) is checked on delivery.
    if (job.mode != Mode::kShuffle) return foreign("publish entry in a direct job");
    t.kind = Task::Kind::kPublish;
    return t;
  }
  if (task) {
    auto n = SmallNumber(*task);
    if (!n || *n >= job.tasks || *n >= plan.size())
      return foreign("task " + std::string(*task) + " is not in the plan");
    t.kind = job.mode == Mode::kShuffle ? Task::Kind::kMap : Task::Kind::kCount;
    t.n = *n;
    t.path = plan[*n].path;
    t.range = plan[*n].range;
    t.stamp = plan[*n].stamp;
    return t;
  }
  auto r = SmallNumber(*part);
  if (job.mode != Mode::kShuffle || !r || *r >= job.parts)
    return foreign("part " + std::string(*part) + " is not a partition of the job");
  t.kind = Task::Kind::kReduce;
  t.n = *r;
  return t;
}

}  // namespace wc::job

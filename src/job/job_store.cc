#include "job/job_store.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "count/counts_format.h"
#include "redis/functions.h"
#include "redis/pipeline.h"

namespace wc::job {

using redis::Args;
using redis::Connection;
using redis::Reply;

namespace {

uint64_t ParseScore(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && p == s.data() + s.size()) return v;
  return static_cast<uint64_t>(std::stod(std::string(s)));  // e.g. "1e+20" past 2^53
}

}  // namespace

void JobStore::Create(Connection& c, const JobSpec& spec, const Plan& plan) {
  const bool shuffle = spec.mode == Mode::kShuffle;
  redis::LoadFunctions(c);
  Args del{"DEL"};
  for (const auto& k : keys_.All()) del.push_back(k);
  c.Command(del);
  c.Command({"XGROUP", "CREATE", keys_.stream, keys_.group, "0", "MKSTREAM"});
  if (shuffle) {
    // Before the tasks: a state restored from a checkpoint taken in the middle is still known
    // as a shuffle job (and is never "done").
    c.Command({"HSET", keys_.meta(), "mode", "shuffle", "phase", "map", "maps",
               std::to_string(plan.tasks.size()), "parts", std::to_string(spec.partitions), "spill",
               spec.spill, "fname", keys_.fname});
  }
  redis::Pipeline pipe(c, 1000);
  for (size_t k = 0; k < plan.tasks.size(); ++k) {
    const PlannedTask& t = plan.tasks[k];
    Args args{"XADD", keys_.stream, "*"};
    Args fields = shuffle ? MapTaskFields(keys_, t.path, t.range, static_cast<uint32_t>(k),
                                          spec.partitions, spec.spill)
                          : TaskFields(keys_, t.path, t.range);
    args.insert(args.end(), fields.begin(), fields.end());
    pipe.Add(args);
    if (shuffle)
      pipe.Add({"HSET", keys_.maps(), std::to_string(k), MapDescription(t.path, t.range)});
  }
  pipe.Finish();
  // Written last: a state restored from a checkpoint taken in the middle lacks it.
  c.Command({"HSET", keys_.meta(), "tasks", std::to_string(plan.tasks.size()), "files",
             std::to_string(plan.files), "bytes", std::to_string(plan.bytes), "data_root",
             plan.data_root});
}

bool JobStore::Intact(Connection& c, size_t planned_tasks, bool* map_phase) {
  try {
    Progress p = ReadProgress(c);
    Reply marker = c.Command({"HGET", keys_.meta(), "tasks"});
    // Shuffle jobs grow (reduce tasks, redone map tasks); the marker is written last.
    *map_phase = p.phase == "map";
    return static_cast<size_t>(p.entries) >= planned_tasks && !marker.is_nil();
  } catch (const redis::RedisReplyError& e) {
    if (e.prefix() != "NOSTREAM" && e.prefix() != "NOGROUP") throw;
    return false;
  }
}

int JobStore::StartReduce(Connection& c) {
  return static_cast<int>(
      redis::FCall(c, "wc_start_reduce_v1", keys_.FunctionKeys(), {keys_.group}).integer());
}

Progress JobStore::ReadProgress(Connection& c) {
  Reply p = redis::FCall(c, "wc_progress_v3", keys_.FunctionKeys(), {keys_.group});
  Progress out;
  out.entries = p[0].integer();
  out.pending = p[1].integer();
  out.delivered = p[3].integer();
  out.done = p[4].integer() == 1;
  out.phase = std::string(p[5].str());
  return out;
}

std::vector<std::string> JobStore::Failures(Connection& c) {
  std::vector<std::string> out;
  for (auto& [id, message] : FailureRecords(c)) out.push_back(std::move(message));
  return out;
}

std::vector<std::pair<std::string, std::string>> JobStore::FailureRecords(Connection& c) {
  std::vector<std::pair<std::string, std::string>> out;
  Reply failed = c.Command({"HGETALL", keys_.failed()});
  for (size_t i = 0; i + 1 < failed.size(); i += 2)
    out.emplace_back(std::string(failed[i].str()), std::string(failed[i + 1].str()));
  return out;
}

WordCountPairs JobStore::Top(Connection& c, int n) {
  WordCountPairs top;
  if (n <= 0) return top;
  // Redis orders ties differently from the project: every word tied with the n-th is fetched
  // and the project's order applied here.
  Reply head = c.Command(
      {"ZREVRANGE", keys_.counts, std::to_string(n - 1), std::to_string(n - 1), "WITHSCORES"});
  std::string min_score = head.size() == 2 ? std::string(head[1].str()) : "-inf";
  Reply all = c.Command({"ZRANGEBYSCORE", keys_.counts, min_score, "+inf", "WITHSCORES"});
  std::vector<WordCount> views;
  for (size_t i = 0; i + 1 < all.size(); i += 2)
    views.push_back({all[i].str(), ParseScore(all[i + 1].str())});
  SortCounts(views);
  for (size_t i = 0; i < views.size() && i < static_cast<size_t>(n); ++i)
    top.emplace_back(std::string(views[i].word), views[i].count);
  return top;
}

WordTable JobStore::Counts(Connection& c) {
  WordTable table(1 << 16);
  constexpr int64_t kPage = 100000;
  for (int64_t start = 0;; start += kPage) {
    Reply r = c.Command({"ZRANGE", keys_.counts, std::to_string(start),
                         std::to_string(start + kPage - 1), "WITHSCORES"});
    for (size_t i = 0; i + 1 < r.size(); i += 2)
      table.AddUnpadded(r[i].str(), ParseScore(r[i + 1].str()));
    if (static_cast<int64_t>(r.size()) < 2 * kPage) break;
  }
  return table;
}

std::map<std::string, std::string> JobStore::Meta(Connection& c) {
  std::map<std::string, std::string> out;
  Reply meta = c.Command({"HGETALL", keys_.meta()});
  for (size_t i = 0; i + 1 < meta.size(); i += 2)
    out[std::string(meta[i].str())] = std::string(meta[i + 1].str());
  return out;
}

std::vector<ConsumerInfo> JobStore::Consumers(Connection& c) {
  std::vector<ConsumerInfo> out;
  Reply consumers = c.Command({"XINFO", "CONSUMERS", keys_.stream, keys_.group});
  for (size_t i = 0; i < consumers.size(); ++i) {
    ConsumerInfo w;
    for (size_t k = 0; k + 1 < consumers[i].size(); k += 2) {
      std::string_view f = consumers[i][k].str();
      if (f == "name") w.name = std::string(consumers[i][k + 1].str());
      if (f == "pending") w.pending = consumers[i][k + 1].integer();
      if (f == "idle") w.idle_ms = consumers[i][k + 1].integer();
    }
    out.push_back(std::move(w));
  }
  return out;
}

int64_t JobStore::DistinctWords(Connection& c) {
  return c.Command({"ZCARD", keys_.counts}).integer();
}

Entries JobStore::Parse(const Reply& entries) const {
  Entries out;
  for (size_t i = 0; i < entries.size(); ++i) {
    try {
      out.tasks.push_back(ParseTask(keys_, entries[i]));
    } catch (const std::invalid_argument& e) {
      out.malformed.emplace_back(std::string(entries[i][0].str()), e.what());
    }
  }
  return out;
}

Entries JobStore::ReadHistory(Connection& c, const std::string& consumer) {
  Reply r = c.Command({"XREADGROUP", "GROUP", keys_.group, consumer, "COUNT", "1000", "STREAMS",
                       keys_.stream, "0"});
  return r.is_nil() || r.size() == 0 ? Entries{} : Parse(r[0][1]);
}

Entries JobStore::ReadNew(Connection& c, const std::string& consumer, int64_t block_ms) {
  Reply r = c.Command({"XREADGROUP", "GROUP", keys_.group, consumer, "COUNT", "1", "BLOCK",
                       std::to_string(block_ms), "STREAMS", keys_.stream, ">"});
  return r.is_nil() || r.size() == 0 ? Entries{} : Parse(r[0][1]);
}

Entries JobStore::Steal(Connection& c, const std::string& consumer, int64_t idle_ms, int count,
                        std::string* cursor) {
  Reply r = c.Command({"XAUTOCLAIM", keys_.stream, keys_.group, consumer, std::to_string(idle_ms),
                       *cursor, "COUNT", std::to_string(count)});
  *cursor = std::string(r[0].str());
  return Parse(r[1]);
}

void JobStore::Touch(Connection& c, const std::string& consumer,
                     const std::vector<std::string>& ids) {
  Reply mine = c.Command({"XPENDING", keys_.stream, keys_.group, "-", "+", "10000", consumer});
  std::set<std::string> held;
  for (size_t i = 0; i < mine.size(); ++i) held.emplace(mine[i][0].str());
  Args claim{"XCLAIM", keys_.stream, keys_.group, consumer, "0"};
  for (const auto& id : ids) {
    if (held.count(id)) claim.push_back(id);
  }
  claim.push_back("JUSTID");
  if (claim.size() > 6) c.Command(claim);
}

int JobStore::Deliveries(Connection& c, const std::string& id) {
  Reply r = c.Command({"XPENDING", keys_.stream, keys_.group, id, id, "1"});
  return r.size() == 0 ? 0 : static_cast<int>(r[0][3].integer());
}

JobStore::CommitResult JobStore::Commit(Connection& c, const std::vector<std::string>& ids,
                                        const WordTable& table) {
  // (word, count) pairs sorted by (count, word): the order in which Redis inserts new
  // sorted-set members fastest.
  std::vector<std::pair<uint64_t, std::string_view>> wc;
  wc.reserve(table.size());
  table.ForEach([&](std::string_view w, uint64_t n) { wc.emplace_back(n, w); });
  std::sort(wc.begin(), wc.end());
  Args args{keys_.group, std::to_string(ids.size())};
  args.reserve(2 + ids.size() + 2 * wc.size());
  args.insert(args.end(), ids.begin(), ids.end());
  for (const auto& [n, w] : wc) {
    args.emplace_back(w);
    args.push_back(std::to_string(n));
  }
  Reply r = redis::FCall(c, "wc_commit_v1", {keys_.stream, keys_.counts}, args);
  CommitResult out;
  out.accepted = r[0].integer() == 1;
  if (out.accepted) {
    out.words = r[1].integer();
  } else {
    out.stale_entry = std::string(r[1].str());
  }
  return out;
}

bool JobStore::Fail(Connection& c, const Task& t, const std::string& message) {
  if (t.kind == Task::Kind::kMap) {
    return redis::FCall(c, "wc_map_fail_v1", keys_.FunctionKeys(),
                        {keys_.group, t.id, std::to_string(t.map), message})
               .integer() == 1;
  }
  return redis::FCall(c, "wc_fail_v1", {keys_.stream, keys_.failed()}, {keys_.group, t.id, message})
             .integer() == 1;
}

bool JobStore::MapDone(Connection& c, const Task& t) {
  return redis::FCall(c, "wc_map_done_v1", keys_.FunctionKeys(),
                      {keys_.group, t.id, std::to_string(t.map)})
             .integer() == 1;
}

JobStore::RedoResult JobStore::RedoMaps(Connection& c, const Task& t,
                                        const std::vector<std::pair<uint32_t, std::string>>& lost,
                                        int max_redos) {
  Args args{keys_.group, t.id, std::to_string(t.part), std::to_string(max_redos)};
  for (const auto& [m, why] : lost) {
    args.push_back(std::to_string(m));
    args.push_back(why);
  }
  int64_t r = redis::FCall(c, "wc_redo_maps_v1", keys_.FunctionKeys(), args).integer();
  return r == 2   ? RedoResult::kFailedMapsSkipped
         : r == 1 ? RedoResult::kSentBack
                  : RedoResult::kNotPending;
}

bool JobStore::Publish(Connection& c, const Task& t,
                       const std::vector<std::pair<uint64_t, std::string_view>>& sorted) {
  constexpr size_t kMembers = 1000, kWindow = 16;
  redis::Pipeline pipe(c, kWindow);
  for (size_t lo = 0; lo < sorted.size(); lo += kMembers) {
    size_t hi = std::min(sorted.size(), lo + kMembers);
    Args z{"ZADD", keys_.counts};
    z.reserve(2 + 2 * (hi - lo));
    for (size_t k = lo; k < hi; ++k) {
      z.push_back(std::to_string(sorted[k].first));
      z.emplace_back(sorted[k].second);
    }
    pipe.Add(z);
  }
  pipe.Finish();
  return redis::FCall(c, "wc_commit_v1", {keys_.stream, keys_.counts}, {keys_.group, "1", t.id})[0]
             .integer() == 1;
}

}  // namespace wc::job

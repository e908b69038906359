#include "job/job_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include "count/counts_format.h"
#include "redis/functions.h"
#include "redis/pipeline.h"
#include "redis/zset_dump.h"
#include "shuffle/run.h"
#include "util/escape.h"

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

std::string Str(const Reply& r) {
  return r.is_integer() ? std::to_string(r.integer()) : std::string(r.str());
}
int64_t Int(const Reply& r) {
  if (r.is_integer()) return r.integer();
  int64_t v = 0;
  std::string_view s = r.str();
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

std::string JobState::Get(const std::string& name) const {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : it->second;
}

int64_t JobState::Int(const std::string& name) const {
  std::string v = Get(name);
  int64_t x = 0;
  std::from_chars(v.data(), v.data() + v.size(), x);
  return x;
}

bool JobState::active() const {
  std::string s = state();
  return s == "count" || s == "map" || s == "reduce" || s == "publish";
}

JobView JobState::View() const {
  JobView v;
  v.id = id();
  v.mode = Get("mode") == "shuffle" ? Mode::kShuffle : Mode::kDirect;
  v.tasks = static_cast<uint32_t>(Int("tasks"));
  v.parts = static_cast<uint32_t>(Int("parts"));
  v.spill = Get("spill");
  v.column = Get("column");
  v.max_deliveries = static_cast<int>(Int("max_deliveries"));
  v.epoch = Int("epoch");
  return v;
}

Reply JobStore::Call(Connection& c, std::string_view function, const Args& args) {
  return redis::FCall(c, function, keys_.FunctionKeys(), args);
}

Reply JobStore::CallReadOnly(Connection& c, std::string_view function, const Args& args) {
  return redis::FCallReadOnly(c, function, keys_.FunctionKeys(), args);
}

JobState JobStore::State(Connection& c) {
  Reply r = CallReadOnly(c, "wc_progress_v4", {});
  JobState s;
  for (size_t i = 0; i + 1 < r.size(); i += 2) s.fields[Str(r[i])] = Str(r[i + 1]);
  return s;
}

BeginResult JobStore::Begin(Connection& c, const std::string& new_id, const JobIdentity& ident,
                            const std::string& owner, int64_t lease_ms, bool replace,
                            const std::vector<std::pair<std::string, std::string>>& info) {
  Args args{new_id,
            ident.digest,
            owner,
            std::to_string(lease_ms),
            ToString(ident.mode),
            keys_.group,
            replace ? "1" : "0",
            std::to_string(ident.tasks),
            std::to_string(ident.parts),
            ident.spill,
            keys_.fname,
            ident.column};
  for (const auto& [k, v] : info) {
    args.push_back(k);
    args.push_back(v);
  }
  Reply r = Call(c, "wc_job_begin_v4", args);
  BeginResult b;
  std::string kind = Str(r[0]);
  b.id = Str(r[1]);
  if (kind == "created" || kind == "done") {
    b.kind = kind == "created" ? BeginResult::Kind::kCreated : BeginResult::Kind::kDone;
    b.epoch = Int(r[2]);
    if (kind == "created" && r.size() > 3) b.replaced_spill = Str(r[3]);
  } else if (kind == "resumed") {
    b.kind = BeginResult::Kind::kResumed;
    b.epoch = Int(r[2]);
    b.state = Str(r[3]);
  } else if (kind == "busy") {
    b.kind = BeginResult::Kind::kBusy;
    b.owner = Str(r[2]);
    b.state = Str(r[3]);
    b.created_ms = Int(r[4]);
    b.lease_left_ms = Int(r[5]);
  } else if (kind == "mismatch") {
    b.kind = BeginResult::Kind::kMismatch;
    b.owner = Str(r[2]);
    b.state = Str(r[3]);
  } else if (kind == "failed") {
    b.kind = BeginResult::Kind::kFailed;
    b.epoch = Int(r[2]);
    b.reason = Str(r[3]);
  } else {
    throw redis::RedisProtocolError("wc_job_begin_v4 replied " + kind);
  }
  return b;
}

std::string JobStore::AddPlanAndStart(Connection& c, const std::string& id, int64_t epoch,
                                      const std::vector<PlannedTask>& tasks) {
  constexpr size_t kBatch = 500;
  redis::Pipeline pipe(c, 8);
  for (size_t lo = 0; lo < tasks.size(); lo += kBatch) {
    Args args{"FCALL", "wc_job_add_v4", "9"};
    for (auto& k : keys_.FunctionKeys()) args.push_back(std::move(k));
    args.push_back(id);
    args.push_back(std::to_string(epoch));
    args.push_back(std::to_string(lo));
    for (size_t i = lo; i < std::min(tasks.size(), lo + kBatch); ++i)
      args.push_back(Descriptor(tasks[i]));
    pipe.Add(args);
  }
  pipe.Finish();
  return Str(Call(c, "wc_job_start_v4", {id, std::to_string(epoch)}));
}

void JobStore::Renew(Connection& c, const std::string& id, int64_t epoch, int64_t lease_ms,
                     const std::string& owner) {
  Call(c, "wc_lease_v4", {id, std::to_string(epoch), std::to_string(lease_ms), owner});
}

void JobStore::Release(Connection& c, const std::string& id, int64_t epoch) {
  Call(c, "wc_job_release_v4", {id, std::to_string(epoch)});
}

bool JobStore::TakeOver(Connection& c, const std::string& id, const std::string& owner) {
  return Int(Call(c, "wc_job_takeover_v4", {id, owner})) == 1;
}

void JobStore::FailJob(Connection& c, const std::string& id, int64_t epoch,
                       const std::string& reason) {
  Call(c, "wc_job_fail_v4", {id, std::to_string(epoch), reason});
}

std::vector<std::pair<std::string, std::string>> JobStore::Failures(Connection& c) {
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

ResultCounts JobStore::ReadCounts(Connection& c) {
  // Pages of ZRANGE ... REV (count descending, member bytes descending), all in flight at once;
  // the views point into the replies, which the result keeps.
  constexpr int64_t kPage = 100000;
  const int64_t n = DistinctWords(c);
  ResultCounts out;
  {
    redis::Pipeline pipe(c, static_cast<size_t>(n / kPage + 1), &out.pages);
    for (int64_t start = 0; start < n; start += kPage)
      pipe.Add({"ZRANGE", keys_.counts, std::to_string(start), std::to_string(start + kPage - 1),
                "REV", "WITHSCORES"});
    pipe.Finish();
  }
  out.sorted.reserve(static_cast<size_t>(n));
  for (const Reply& r : out.pages)
    for (size_t i = 0; i + 1 < r.size(); i += 2)
      out.sorted.push_back({r[i].str(), ParseScore(r[i + 1].str())});
  shuffle::DumpOrderToCountsOrder(out.sorted);
  return out;
}

std::vector<Args> JobStore::DirectCommands(Mode mode) const {
  const JobKeys& k = keys_;
  std::vector<Args> commands = {
      {"XREADGROUP", "GROUP", k.group, "wc", "COUNT", "1", "STREAMS", k.stream, ">"},
      {"XAUTOCLAIM", k.stream, k.group, "wc", "0", "0-0", "COUNT", "1"},
      {"XPENDING", k.stream, k.group, "-", "+", "1", "wc"},
      // The heartbeat (Touch): refused, a slow worker's tasks would be stolen from it.
      {"XCLAIM", k.stream, k.group, "wc", "0", "0-1", "JUSTID"},
      {"XINFO", "GROUPS", k.stream},
      {"XINFO", "CONSUMERS", k.stream, k.group},
      {"EXISTS", k.job()},
      {"EXISTS", k.stream},
      {"HMGET", k.job(), "mode", "state"},
      {"HGETALL", k.plan()},
      {"HGETALL", k.failed()},
      {"HKEYS", k.failed()},
      {"ZCARD", k.counts},
      {"ZRANGE", k.counts, "0", "1", "REV", "WITHSCORES"},
      {"ZREVRANGE", k.counts, "0", "1", "WITHSCORES"},
      {"ZRANGEBYSCORE", k.counts, "1", "+inf", "WITHSCORES"},
  };
  if (mode == Mode::kShuffle) {
    // The publish reads the partitions' runs (held-out pass 20: refused only then, exit 7 with
    // the job left in its publish phase); LostKeys counts them.
    commands.push_back({"HMGET", k.parts(), "0"});
    commands.push_back({"HLEN", k.parts()});
    commands.push_back({"BITCOUNT", k.rdone()});
  }
  return commands;
}

std::vector<std::string> JobStore::DeniedCommands(Connection& c, Mode mode,
                                                  const std::vector<Args>& also) {
  Args args{mode == Mode::kShuffle ? "shuffle" : "direct"};
  auto add = [&](const Args& command) {
    args.push_back(std::to_string(command.size()));
    args.insert(args.end(), command.begin(), command.end());
  };
  for (const Args& command : DirectCommands(mode)) add(command);
  for (const Args& command : also) add(command);
  Reply r = CallReadOnly(c, "wc_acl_check_v4", args);
  std::vector<std::string> denied;
  for (size_t i = 0; i < r.size(); ++i) denied.emplace_back(r[i].str());
  return denied;
}

int64_t JobStore::MaxArgumentBytes(Connection& c) {
  try {
    Reply r = c.Command({"CONFIG", "GET", "proto-max-bulk-len"});
    if (r.size() == 2) return Int(r[1]);
  } catch (const redis::RedisReplyError&) {
    // CONFIG denied (an ACL, a managed Redis): unknown
  }
  return 0;
}

int64_t JobStore::DistinctWords(Connection& c) {
  return c.Command({"ZCARD", keys_.counts}).integer();
}

std::pair<int64_t, uint64_t> JobStore::ResultSum(Connection& c) {
  Reply r = CallReadOnly(c, "wc_result_sum_v4", {});
  const std::string_view sum = r[1].str();
  uint64_t total = 0;
  auto [end, ec] = std::from_chars(sum.data(), sum.data() + sum.size(), total);
  if (ec != std::errc() || end != sum.data() + sum.size())
    throw redis::RedisProtocolError("wc_result_sum_v4: not a total: " + std::string(sum));
  return {r[0].integer(), total};
}

std::string JobStore::OutOfMemory(Connection& c, const std::string& server) {
  std::string info(c.Command({"INFO", "memory"}).str());
  double used = std::atof(redis::InfoField(info, "used_memory").c_str());
  double max = std::atof(redis::InfoField(info, "maxmemory").c_str());
  if (max > 0 && used >= 0.95 * max)
    return fmt::format("Redis {} is out of memory ({:.0f} of maxmemory {:.0f} bytes used)", server,
                       used, max);
  return "";
}

std::string JobStore::LostKeys(Connection& c) {
  std::vector<std::string> lost;
  if (c.Command({"EXISTS", keys_.job()}).integer() == 0)
    lost.push_back("record '" + keys_.job() + "'");
  if (c.Command({"EXISTS", keys_.stream}).integer() == 0) {
    lost.push_back("stream '" + keys_.stream + "'");
  } else {
    Reply groups = c.Command({"XINFO", "GROUPS", keys_.stream});
    bool found = false;
    for (size_t i = 0; i < groups.size(); ++i)
      for (size_t k = 0; k + 1 < groups[i].size(); k += 2)
        found = found || (groups[i][k].str() == "name" && groups[i][k + 1].str() == keys_.group);
    if (!found) lost.push_back("consumer group '" + keys_.group + "'");
  }
  // A shuffle job's finished partitions each have their run in P:parts until the job is done:
  // one deleted (HDEL, DEL) can never be published (the job is made anew, wc_job_begin_v4).
  Reply job = c.Command({"HMGET", keys_.job(), "mode", "state"});
  if (job.size() == 2 && !job[0].is_nil() && job[0].str() == "shuffle" && !job[1].is_nil() &&
      (job[1].str() == "reduce" || job[1].str() == "publish")) {
    const int64_t finished = c.Command({"BITCOUNT", keys_.rdone()}).integer();
    const int64_t runs = c.Command({"HLEN", keys_.parts()}).integer();
    if (runs < finished) {
      lost.push_back(fmt::format("reduced run of {} of its {} finished partitions ('{}')",
                                 finished - runs, finished, keys_.parts()));
    }
  }
  if (lost.empty()) return "";
  std::string what;
  for (size_t i = 0; i < lost.size(); ++i)
    what += (i ? (i + 1 == lost.size() ? " and " : ", ") : "") + lost[i];
  return fmt::format(
      "the job's {} {} gone from Redis, deleted by another client (FLUSHALL, DEL) "
      "or evicted (run again: the job is made anew)",
      what, lost.size() == 1 ? "is" : "are");
}

std::string JobStore::WrongTypes(Connection& c) {
  struct Want {
    std::string key;
    const char* type;  // as TYPE names it
    const char* what;
  };
  const Want wants[] = {
      {keys_.stream, "stream", "the task stream (IN)"},
      {keys_.job(), "hash", "the job record"},
      {keys_.plan(), "hash", "the job's plan"},
      {keys_.done(), "string", "the done bitmap"},
      {keys_.failed(), "hash", "the failed tasks"},
      {keys_.counts, "zset", "the counts (COUNT)"},
      {keys_.rdone(), "string", "the done partitions"},
      {keys_.redo(), "set", "the maps to redo"},
      {keys_.blocked(), "set", "the waiting reduces"},
      {keys_.foreign(), "hash", "the foreign entries"},
      {keys_.parts(), "hash", "the partitions' runs"},
  };
  std::string out;
  for (const Want& w : wants) {
    std::string type(c.Command({"TYPE", w.key}).str());
    if (type == "none" || type == w.type) continue;
    out += fmt::format("{}'{}' holds a {}, not {} (a {})", out.empty() ? "" : "; ",
                       EscapeForLog(w.key), type, w.what, w.type);
  }
  if (out.empty()) return out;
  return "the job's keys are held by something else: " + out +
         " (another program's key of the same name? choose other IN/COUNT names, or delete "
         "those keys)";
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

std::vector<PlannedTask> JobStore::ReadPlan(Connection& c, uint32_t tasks) {
  std::vector<PlannedTask> plan(tasks);
  Reply r = c.Command({"HGETALL", keys_.plan()});
  for (size_t i = 0; i + 1 < r.size(); i += 2) {
    std::string_view k = r[i].str();
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), n);
    if (ec != std::errc() || p != k.data() + k.size() || n >= tasks) continue;
    if (auto t = ParseDescriptor(r[i + 1].str())) plan[n] = std::move(*t);
  }
  return plan;
}

std::vector<bool> JobStore::FailedTasks(Connection& c, uint32_t tasks) {
  std::vector<bool> failed(tasks, false);
  Reply r = c.Command({"HKEYS", keys_.failed()});
  for (size_t i = 0; i < r.size(); ++i) {
    std::string_view k = r[i].str();
    auto colon = k.find(':');
    if (colon == std::string_view::npos) continue;
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(k.data() + colon + 1, k.data() + k.size(), n);
    if (ec == std::errc() && p == k.data() + k.size() && n < tasks) failed[n] = true;
  }
  return failed;
}

JobStore::Entries JobStore::Classified(const Reply& entries, const JobView& job,
                                       const std::vector<PlannedTask>& plan) const {
  Entries out;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto v = Classify(entries[i], job, plan);
    if (auto* t = std::get_if<Task>(&v)) {
      out.tasks.push_back(std::move(*t));
    } else {
      out.foreign.push_back(std::get<Foreign>(std::move(v)));
    }
  }
  return out;
}

JobStore::Entries JobStore::ReadHistory(Connection& c, const std::string& consumer,
                                        const JobView& job, const std::vector<PlannedTask>& plan) {
  Reply r = c.Command({"XREADGROUP", "GROUP", keys_.group, consumer, "COUNT", "1000", "STREAMS",
                       keys_.stream, "0"});
  return r.is_nil() || r.size() == 0 ? Entries{} : Classified(r[0][1], job, plan);
}

JobStore::Entries JobStore::ReadNew(Connection& c, const std::string& consumer, int64_t block_ms,
                                    const JobView& job, const std::vector<PlannedTask>& plan) {
  Reply r = c.Command({"XREADGROUP", "GROUP", keys_.group, consumer, "COUNT", "1", "BLOCK",
                       std::to_string(block_ms), "STREAMS", keys_.stream, ">"});
  return r.is_nil() || r.size() == 0 ? Entries{} : Classified(r[0][1], job, plan);
}

JobStore::Entries JobStore::Steal(Connection& c, const std::string& consumer, int64_t idle_ms,
                                  int count, std::string* cursor, const JobView& job,
                                  const std::vector<PlannedTask>& plan) {
  Reply r = c.Command({"XAUTOCLAIM", keys_.stream, keys_.group, consumer, std::to_string(idle_ms),
                       *cursor, "COUNT", std::to_string(count)});
  *cursor = std::string(r[0].str());
  return Classified(r[1], job, plan);
}

void JobStore::Touch(Connection& c, const std::string& consumer,
                     const std::vector<std::string>& entries) {
  Reply mine = c.Command({"XPENDING", keys_.stream, keys_.group, "-", "+", "10000", consumer});
  std::set<std::string> held;
  for (size_t i = 0; i < mine.size(); ++i) held.emplace(mine[i][0].str());
  Args claim{"XCLAIM", keys_.stream, keys_.group, consumer, "0"};
  for (const auto& id : entries) {
    if (held.count(id)) claim.push_back(id);
  }
  claim.push_back("JUSTID");
  if (claim.size() > 6) c.Command(claim);
}

int JobStore::Deliveries(Connection& c, const std::string& entry) {
  Reply r = c.Command({"XPENDING", keys_.stream, keys_.group, entry, entry, "1"});
  return r.size() == 0 ? 0 : static_cast<int>(r[0][3].integer());
}

JobStore::CommitResult JobStore::Commit(Connection& c, const std::string& job,
                                        const std::vector<Task>& tasks, const WordTable& table) {
  // (word, count) pairs sorted by (count, word): the order in which Redis inserts new
  // sorted-set members fastest.
  std::vector<std::pair<uint64_t, std::string_view>> wc;
  wc.reserve(table.size());
  table.ForEach([&](std::string_view w, uint64_t n) { wc.emplace_back(n, w); });
  std::sort(wc.begin(), wc.end());
  Args args{job, std::to_string(tasks.size())};
  args.reserve(2 + 2 * tasks.size() + 2 * wc.size());
  for (const Task& t : tasks) {
    args.push_back(t.entry);
    args.push_back(std::to_string(t.n));
  }
  for (const auto& [n, w] : wc) {
    args.emplace_back(w);
    args.push_back(std::to_string(n));
  }
  Reply r = Call(c, "wc_commit_v4", args);
  CommitResult out;
  out.accepted = Int(r[0]) == 1;
  if (out.accepted) {
    out.words = Int(r[1]);
    out.job_done = Str(r[2]) == "done";
  } else {
    out.stale_entry = Str(r[1]);
  }
  return out;
}

bool JobStore::Fail(Connection& c, const std::string& job, const Task& t, const std::string& why) {
  return Int(Call(c, "wc_fail_v4", {job, t.entry, std::to_string(t.n), why})) == 1;
}

bool JobStore::MarkForeign(Connection& c, const std::string& job, const Foreign& f) {
  return Int(Call(c, "wc_foreign_v4", {job, f.entry, f.why})) == 1;
}

bool JobStore::MapDone(Connection& c, const std::string& job, const Task& t) {
  return Int(Call(c, "wc_map_done_v4", {job, t.entry, std::to_string(t.n)})[0]) == 1;
}

bool JobStore::AckIfFinished(Connection& c, const std::string& job, const Task& t) {
  if (t.kind != Task::Kind::kCount && t.kind != Task::Kind::kMap) return false;  // plan tasks only
  return Int(Call(c, "wc_ack_finished_v4", {job, t.entry, std::to_string(t.n)})) == 1;
}

JobStore::RedoResult JobStore::RedoMaps(Connection& c, const std::string& job, const Task& t,
                                        const std::vector<std::pair<uint32_t, std::string>>& lost,
                                        int max_redos) {
  Args args{job, t.entry, std::to_string(t.n), std::to_string(max_redos)};
  for (const auto& [m, why] : lost) {
    args.push_back(std::to_string(m));
    args.push_back(why);
  }
  int64_t r = Int(Call(c, "wc_redo_maps_v4", args));
  return r == 2   ? RedoResult::kFailedMapsSkipped
         : r == 1 ? RedoResult::kSentBack
                  : RedoResult::kNotPending;
}

bool JobStore::ReduceDone(Connection& c, const std::string& job, const Task& t, uint64_t distinct,
                          uint64_t total, const std::string& run, std::string* state) {
  Reply r = Call(
      c, "wc_reduce_done_v4",
      {job, t.entry, std::to_string(t.n), std::to_string(distinct), std::to_string(total), run});
  if (state) *state = Str(r[1]);
  return Int(r[0]) == 1;
}

std::vector<std::string> JobStore::Runs(Connection& c, uint32_t parts) {
  Args args{"HMGET", keys_.parts()};
  for (uint32_t r = 0; r < parts; ++r) args.push_back(std::to_string(r));
  Reply reply = c.Command(args);
  std::vector<std::string> runs;
  runs.reserve(parts);
  for (uint32_t r = 0; r < parts; ++r) {
    if (reply[r].is_nil())
      throw shuffle::RunError(
          fmt::format("reduced run of partition {}: missing from {}", r, keys_.parts()));
    runs.emplace_back(reply[r].str());
  }
  return runs;
}

std::string JobStore::ResultPayload(const std::vector<WordCount>& dump_order) {
  size_t bytes = 0;
  for (const auto& w : dump_order) bytes += w.word.size();
  redis::ZsetDumpWriter writer(dump_order.size(), bytes);
  for (const auto& w : dump_order) writer.Add(w.word, static_cast<double>(w.count));
  return writer.Finish();
}

JobStore::PublishResult JobStore::Publish(Connection& c, const std::string& job, const Task& t,
                                          uint64_t distinct, uint64_t total,
                                          const std::string* payload) {
  Reply r = Call(c, "wc_publish_v4",
                 {job, t.entry, std::to_string(distinct), std::to_string(total),
                  payload ? "restore" : "written", payload ? *payload : std::string()});
  PublishResult out;
  int64_t kind = Int(r[0]);
  out.kind = kind == 1   ? PublishResult::Kind::kPublished
             : kind == 2 ? PublishResult::Kind::kRefused
                         : PublishResult::Kind::kNotPending;
  if (kind == 2) out.refusal = Str(r[1]);
  return out;
}

void JobStore::PublishWrite(Connection& c, const std::string& job,
                            const std::vector<WordCount>& counts) {
  constexpr size_t kMembers = 2000, kWindow = 8;
  State(c);  // through FCall: loads the library if a restarted Redis lacks it
  redis::Pipeline pipe(c, kWindow);
  for (size_t lo = 0; lo < counts.size(); lo += kMembers) {
    size_t hi = std::min(counts.size(), lo + kMembers);
    Args z{"FCALL", "wc_publish_write_v4", "9"};
    for (auto& k : keys_.FunctionKeys()) z.push_back(std::move(k));
    z.push_back(job);
    z.reserve(z.size() + 2 * (hi - lo));
    for (size_t k = lo; k < hi; ++k) {
      z.push_back(std::to_string(counts[k].count));
      z.emplace_back(counts[k].word);
    }
    pipe.Add(z);
  }
  pipe.Finish();
}

}  // namespace wc::job

#include "job/job_claim.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>

#include "util/log.h"

namespace wc::job {

using redis::Connection;

namespace {

std::string Hostname() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

}  // namespace

pid_t DeadOwnerHere(const std::string& owner) {
  auto field = [&](const std::string& name) {
    auto at = owner.find(name + "=");
    if (at == std::string::npos) return std::string();
    at += name.size() + 1;
    return owner.substr(at, owner.find(' ', at) - at);
  };
  std::string host = field("host"), pid = field("pid");
  if (host != Hostname() || pid.empty() || pid.size() > 9 ||
      pid.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  const auto p = static_cast<pid_t>(std::stol(pid));
  return p > 0 && ::kill(p, 0) != 0 && errno == ESRCH ? p : 0;
}

namespace {

bool OwnerIsDeadHere(const std::string& owner) { return DeadOwnerHere(owner) != 0; }

}  // namespace

Eviction ReadEviction(Connection& c) {
  Eviction e;
  std::string memory(c.Command({"INFO", "memory"}).str());
  e.policy = redis::InfoField(memory, "maxmemory_policy");
  std::string stats(c.Command({"INFO", "stats"}).str());
  if (std::string n = redis::InfoField(stats, "evicted_keys"); !n.empty())
    e.evicted_keys = std::atoll(n.c_str());
  return e;
}

void RefuseEvictingRedis(Connection& c, const std::string& server) {
  std::string policy;
  try {
    policy = redis::InfoField(c.Command({"INFO", "memory"}).str(), "maxmemory_policy");
  } catch (const redis::RedisReplyError&) {
    // INFO refused (an ACL): CONFIG may be allowed
  }
  try {
    if (policy.empty()) {
      redis::Reply r = c.Command({"CONFIG", "GET", "maxmemory-policy"});
      if (r.size() == 2) policy = std::string(r[1].str());
    }
  } catch (const redis::RedisReplyError& e) {
    Log::Warn("eviction_policy_unknown", "error=\"{}\"", e.what());
    return;
  }
  if (policy.rfind("allkeys-", 0) == 0) {
    throw EvictionRisk(fmt::format(
        "Redis {} evicts keys (maxmemory-policy {}): the job's state and result could vanish "
        "mid-job; use noeviction or a volatile-* policy",
        server, policy));
  }
}

void RefuseDeniedCommands(Connection& c, JobStore& store, Mode mode,
                          const std::vector<redis::Args>& also) {
  std::vector<std::string> denied;
  try {
    denied = store.DeniedCommands(c, mode, also);
  } catch (const redis::RedisPermissionError&) {
    // The check's own FCALL names the job's keys: a key the ACL denies refuses the call itself
    // ("no permissions to access one of the keys"). Name which.
    for (const std::string& key : store.keys().All()) {
      try {
        c.Command({"EXISTS", key});
      } catch (const redis::RedisPermissionError&) {
        denied.push_back(key);
      }
    }
    if (denied.empty()) throw;
    throw redis::RedisPermissionError(fmt::format(
        "Redis at {} refused the job's keys {} (NOPERM, asked before the job began: nothing was "
        "written): its ACL denies the user wordcount authenticates as (the default user) keys "
        "the job needs (IN, COUNT and the keys named after IN)",
        c.options().address(), fmt::join(denied, ", ")));
  }
  if (denied.empty()) return;
  throw redis::RedisPermissionError(fmt::format(
      "Redis at {} refused {} (NOPERM, asked before the job began: nothing was written): its "
      "ACL denies the user wordcount authenticates as (the default user) what the job needs",
      c.options().address(), fmt::join(denied, "; ")));
}

JobClaim::JobClaim(JobStore& store, ClaimSpec spec) : store_(store), spec_(std::move(spec)) {}

std::string JobClaim::NewId() {
  std::random_device rd;  // /dev/urandom
  auto word = [&] { return (static_cast<uint64_t>(rd()) << 32) ^ rd(); };
  return fmt::format("{:016x}{:016x}", word(), word());
}

std::string JobClaim::Owner() {
  return fmt::format("host={} pid={} started={}", Hostname(), ::getpid(),
                     std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
}

BeginResult JobClaim::Begin(Connection& c, const std::string& new_id) {
  for (int takeovers = 0;; ++takeovers) {
    BeginResult b =
        store_.Begin(c, new_id, spec_.identity, spec_.owner, kLeaseMs, spec_.replace, spec_.info);
    using K = BeginResult::Kind;
    // A busy job is the one on our stream, or the job of another stream whose result is the
    // COUNT we share (that one is never ours to take over: its record is on its own stream).
    if (b.kind == K::kBusy) b.count_holder = store_.State(c).id() != b.id;
    if (b.kind == K::kBusy && !b.count_holder && takeovers < 3 && OwnerIsDeadHere(b.owner)) {
      // Its coordinator died on this host: end its lease, then begin again (and resume).
      bool taken = store_.TakeOver(c, b.id, b.owner);
      Log::Warn("lease_taken_over", "job={} owner=\"{}\" taken={}", b.id, b.owner, taken);
      continue;
    }
    if (b.kind == K::kCreated || b.kind == K::kResumed || b.kind == K::kDone) {
      try {
        evicted_at_begin_ = ReadEviction(c).evicted_keys;
      } catch (const redis::RedisReplyError&) {
        evicted_at_begin_ = -1;  // INFO refused: Evicted() goes by the policy alone
      }
      id_ = b.id;
      epoch_ = b.epoch;
      last_renew_ = std::chrono::steady_clock::now();
    }
    return b;
  }
}

std::string JobClaim::Refusal(const BeginResult& b, const std::string& stream) {
  switch (b.kind) {
    case BeginResult::Kind::kBusy:
      if (b.count_holder) {
        // (Its lease is never ended from here, even with its coordinator gone from this host:
        // that is for a run of its own job, which resumes it. Said, not waited out blindly:
        // held-out pass 23.)
        const pid_t gone = DeadOwnerHere(b.owner);
        return fmt::format(
            "job {} ({}) of {}, on another stream (IN), counts into the COUNT key this job would "
            "count into (lease live for {:.1f} s more{}): refusing to delete its result under it",
            b.id, b.state, b.owner, b.lease_left_ms / 1000.0,
            gone > 0 ? fmt::format("; its coordinator, pid {}, is gone from this host: a run of "
                                   "that job takes it over at once, or rerun this one after the "
                                   "lease",
                                   gone)
                     : std::string());
      }
      return fmt::format(
          "job {} ({}) of {} holds the keys of '{}' (lease live for {:.1f} s more); refusing "
          "to start a second job on them",
          b.id, b.state, b.owner, stream, b.lease_left_ms / 1000.0);
    case BeginResult::Kind::kMismatch:
      return fmt::format(
          "an unfinished job {} ({}, last held by {}) with another plan holds the keys of '{}'; "
          "run with --replace to discard it",
          b.id, b.state, b.owner, stream);
    case BeginResult::Kind::kFailed:
      return fmt::format(
          "job {} on the keys of '{}' failed earlier ({}); run with --replace to "
          "count again",
          b.id, stream, b.reason);
    default:
      return "";
  }
}

bool JobClaim::Ensure(Connection& c, const std::vector<PlannedTask>& tasks) {
  JobState s = store_.State(c);
  if (s.state() == "none") {
    // Evicted, the job would only be evicted again: refused as at the start (exit 7), not made
    // again as if a restart had lost it.
    if (std::string why = Evicted(c); !why.empty()) throw EvictionRisk(why);
    Log::Warn(
        "job_lost",
        "Redis holds no job (restored without it, or its keys were deleted): creating it again");
    BeginAgain(c);
  } else if (s.id() != id_) {
    // A Redis rolled back to a checkpoint from before this job began holds an earlier job that
    // had ended (held-out pass 16): its epoch, the stream's fencing token, is older than ours. This
    // job is made again over it, as when Redis holds none. A job that took the keys since has a
    // newer epoch: that one is never overwritten.
    const bool ended = s.done() || s.state() == "failed";
    if (!ended || s.Int("epoch") >= epoch_ || s.Int("lease_ms_left") > 0)
      throw LeaseLost(fmt::format("job {} of {} took the keys", s.id(), s.Get("owner")));
    Log::Warn("job_lost",
              "Redis holds an earlier job {} ({}, epoch {}) instead, restored from an older "
              "checkpoint: creating this job again",
              s.id(), s.state(), s.Int("epoch"));
    BeginAgain(c);
  } else if (std::string lost = s.entries_lost(); !lost.empty()) {
    // Its record is here, its entries are not (DEL of the stream, XGROUP DESTROY, a shuffle
    // job's run deleted): the workers cannot go on (held-out pass 21: NOGROUP until they gave
    // up, exit 4). Made again at once, as when the record is gone.
    if (std::string why = Evicted(c); !why.empty()) throw EvictionRisk(why);
    Log::Warn("job_lost",
              "lost={} Redis holds the job's record without it (deleted by another client, or "
              "evicted): creating the job again",
              lost);
    BeginAgain(c);
  } else if (s.Int("epoch") != epoch_) {
    Reclaim(c);
    if (s.state() != "creating") return false;
  } else if (s.state() != "creating") {
    return false;
  }
  store_.AddPlanAndStart(c, id_, epoch_, tasks);
  return true;
}

void JobClaim::BeginAgain(Connection& c) {
  BeginResult b = store_.Begin(c, id_, spec_.identity, spec_.owner, kLeaseMs, false, spec_.info);
  if (b.kind != BeginResult::Kind::kCreated) throw LeaseLost("job " + b.id + " took the keys");
  epoch_ = b.epoch;
}

void JobClaim::Reclaim(Connection& c) {
  BeginResult b = store_.Begin(c, id_, spec_.identity, spec_.owner, kLeaseMs, false, spec_.info);
  // A Redis rolled back to a checkpoint from before this run took the job over holds the lease
  // of the coordinator before it (held-out pass 15): if that one is gone from this host, its
  // lease ends now, as at the start (Begin).
  if (b.kind == BeginResult::Kind::kBusy && b.id == id_ && OwnerIsDeadHere(b.owner)) {
    bool taken = store_.TakeOver(c, b.id, b.owner);
    Log::Warn("lease_taken_over", "job={} owner=\"{}\" taken={}", b.id, b.owner, taken);
    b = store_.Begin(c, id_, spec_.identity, spec_.owner, kLeaseMs, false, spec_.info);
  }
  if (b.id == id_ &&
      (b.kind == BeginResult::Kind::kResumed || b.kind == BeginResult::Kind::kCreated ||
       b.kind == BeginResult::Kind::kDone)) {
    epoch_ = b.epoch;
    Log::Warn("lease_reclaimed", "job={} epoch={}", id_, epoch_);
    return;
  }
  throw LeaseLost(fmt::format("job {} is held by {}", b.id, b.owner));
}

void JobClaim::Renew(Connection& c) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_renew_ < std::chrono::milliseconds(kLeaseMs / 3)) return;
  try {
    store_.Renew(c, id_, epoch_, kLeaseMs, spec_.owner);
  } catch (const redis::RedisReplyError& e) {
    if (e.prefix() == "STALEJOB") {
      if (store_.State(c).state() == "none") return;  // the job is gone: made again (JobKeeper)
      throw LeaseLost(std::string("another job took the keys: ") + e.what());
    }
    if (e.prefix() != "STALELEASE") throw;
    Reclaim(c);
  }
  last_renew_ = now;
}

void JobClaim::Release(Connection& c) { store_.Release(c, id_, epoch_); }

std::string JobClaim::Evicted(Connection& c) const {
  Eviction e;
  try {
    e = ReadEviction(c);
  } catch (const redis::RedisReplyError&) {
    return "";  // INFO refused: nothing to go by
  }
  // A restart resets the counter: then every eviction counted is since.
  const int64_t before = e.evicted_keys < evicted_at_begin_ ? 0 : evicted_at_begin_;
  const bool rose = before >= 0 && e.evicted_keys > before;
  if (!e.takes_any_key() && !(rose && e.policy.rfind("volatile-", 0) != 0)) return "";
  return fmt::format(
      "Redis {} evicted the job's keys (maxmemory-policy {}, evicted_keys {}{}): the job's state "
      "and result vanish under eviction; use noeviction or a volatile-* policy",
      spec_.server, e.policy.empty() ? "unknown" : e.policy, e.evicted_keys,
      rose ? fmt::format(", {} since the job began here", e.evicted_keys - before) : "");
}

}  // namespace wc::job

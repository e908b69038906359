// JobClaim: the coordinator's hold on its job in Redis (the job protocol of mylib.lua): it
// begins the job (creates, resumes or finds it done, or learns who else holds the keys), keeps
// Redis holding *our* job after a restart restored an older state, renews the lease, and
// releases it. Each method makes one attempt on the given connection and throws like
// JobStore; LeaseLost when another coordinator holds the job now.
//
// Lease: kLeaseMs of Redis server time, renewed every third of it. A coordinator whose epoch is
// not the record's has been replaced. The lease of a coordinator whose process is gone from this
// host is taken over at once (wc_job_takeover_v4), so a rerun need not wait for it.
// Thread-safety: none (the coordinator's loop).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "job/job_store.h"

namespace wc::job {

inline constexpr int64_t kLeaseMs = 10000;

// Another coordinator holds the job now (its epoch is newer, or another job took the keys).
class LeaseLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The server may evict the job's keys (maxmemory-policy allkeys-*).
class EvictionRisk : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How the server evicts, from INFO (allowed where CONFIG may not be): its maxmemory-policy
// ("" if INFO does not say) and its evicted_keys counter (-1 if INFO does not say).
struct Eviction {
  std::string policy;
  int64_t evicted_keys = -1;
  // allkeys-*: keys without a TTL, as all the job's keys are, may go.
  bool takes_any_key() const { return policy.rfind("allkeys-", 0) == 0; }
};
Eviction ReadEviction(redis::Connection& c);

// Throws EvictionRisk, naming `server` (its URL, without password), if Redis may evict keys
// without a TTL (the job's keys have none). The policy comes from INFO, else CONFIG GET; a
// server that answers neither is let through with a warning: the result check still holds.
void RefuseEvictingRedis(redis::Connection& c, const std::string& server);

// Throws redis::RedisPermissionError, naming the server of `c` and every command or key
// denied, if the ACL user of `c` may not do all a job of `mode` needs: the job's functions'
// calls and `store`'s own commands (JobStore::DeniedCommands) and `also` (the checkpoints').
// Run before a job begins: a refusal found midway leaves a begun job that blocks later runs,
// and a function stopped by the ACL after its first write is not rolled back.
void RefuseDeniedCommands(redis::Connection& c, JobStore& store, Mode mode,
                          const std::vector<redis::Args>& also);

// The pid of `owner` ("host=H pid=P ...", JobClaim::Owner()'s format) if H is this host and P is
// not running here (its coordinator is gone), else 0 (another host, alive, or not that format).
pid_t DeadOwnerHere(const std::string& owner);

struct ClaimSpec {
  JobIdentity identity;  // spill: set by JobClaim for a created job ("job-<id>" in shuffle mode)
  std::string owner;     // "host=H pid=P started=T"
  std::vector<std::pair<std::string, std::string>> info;  // stored in the record
  bool replace = false;                                   // --replace
  std::string server;  // the server's URL without password, for messages
};

class JobClaim {
 public:
  JobClaim(JobStore& store, ClaimSpec spec);

  // A fresh random job id (32 hex characters).
  static std::string NewId();
  // "host=<this host> pid=<this pid> started=<unix time>".
  static std::string Owner();

  // Begins the job with `new_id` if it creates one. kCreated, kResumed and kDone make this the
  // holder (id(), epoch()); the others are refusals (Refusal() says why).
  BeginResult Begin(redis::Connection& c, const std::string& new_id);
  // A refusal for the user: whose job, since when, what to do. `stream` names the keys.
  static std::string Refusal(const BeginResult& b, const std::string& stream);

  // Makes Redis hold our job: after a restart restored a state without it (no checkpoint yet)
  // it is begun again (unless the server evicted it: EvictionRisk, see Evicted()); half created, or
  // created just now, its plan is written and it is started; from before our lease (an older
  // epoch), it is reclaimed (a dead coordinator's lease on this host taken over); holding an
  // earlier job that had ended (an older epoch: a checkpoint from before ours), ours is begun
  // again over it; ours having lost its task entries (JobState::entries_lost), it is begun
  // again too. Another job with a newer epoch took the keys: LeaseLost. Returns true if the
  // plan was written (the caller saves then).
  bool Ensure(redis::Connection& c, const std::vector<PlannedTask>& tasks);
  // Renews the lease if a third of it has passed; reclaims it after a STALELEASE.
  void Renew(redis::Connection& c);
  void Release(redis::Connection& c);
  // Why the job's keys, found gone, were evicted rather than lost in a restart or deleted: the
  // server evicts keys without a TTL now (allkeys-*), or its evicted_keys rose since Begin under
  // a policy that cannot have chosen keys with a TTL only. "" if not (or INFO does not say).
  std::string Evicted(redis::Connection& c) const;

  const std::string& id() const { return id_; }
  int64_t epoch() const { return epoch_; }

 private:
  // Our epoch is not the record's: begin again; only a resume keeps us.
  void Reclaim(redis::Connection& c);
  // Our job, lost (no record, an older ended one, or its entries gone), begun again with our
  // id: LeaseLost if anything but a creation answers.
  void BeginAgain(redis::Connection& c);

  JobStore& store_;
  int64_t evicted_at_begin_ = -1;  // the server's evicted_keys when the job began here
  ClaimSpec spec_;
  std::string id_;
  int64_t epoch_ = 0;
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace wc::job

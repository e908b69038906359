// JobClaim: the coordinator's hold on its job in Redis (the job protocol of mylib.lua): it
// begins the job (creates, resumes or finds it done, or learns who else holds the keys), keeps
// Redis holding *our* job after a restart restored an older state, renews the lease, and
// releases it. Each method makes one attempt on the given connection and throws like
// JobStore; LeaseLost when another coordinator holds the job now.
//
// Lease: kLeaseMs of Redis server time, renewed every third of it. A coordinator whose epoch is
// not the record's has been replaced. The lease of a coordinator whose process is gone from this
// host is taken over at once (wc_job_takeover_v3), so a rerun need not wait for it.
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

// Throws EvictionRisk if Redis may evict keys without a TTL (the job's keys have none). A server
// that refuses CONFIG (an ACL) is let through with a warning: the result check still holds.
void RefuseEvictingRedis(redis::Connection& c);

// The pid of `owner` ("host=H pid=P ...", JobClaim::Owner()'s format) if H is this host and P is
// not running here (its coordinator is gone), else 0 (another host, alive, or not that format).
pid_t DeadOwnerHere(const std::string& owner);

struct ClaimSpec {
  JobIdentity identity;  // spill: set by JobClaim for a created job ("job-<id>" in shuffle mode)
  std::string owner;     // "host=H pid=P started=T"
  std::vector<std::pair<std::string, std::string>> info;  // stored in the record
  bool replace = false;                                   // --replace
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
  // it is begun again; half created, or created just now, its plan is written and it is
  // started; from before our lease (an older epoch), it is reclaimed. Returns true if the plan
  // was written (the caller saves then).
  bool Ensure(redis::Connection& c, const std::vector<PlannedTask>& tasks);
  // Renews the lease if a third of it has passed; reclaims it after a STALELEASE.
  void Renew(redis::Connection& c);
  void Release(redis::Connection& c);

  const std::string& id() const { return id_; }
  int64_t epoch() const { return epoch_; }

 private:
  // Our epoch is not the record's: begin again; only a resume keeps us.
  void Reclaim(redis::Connection& c);

  JobStore& store_;
  ClaimSpec spec_;
  std::string id_;
  int64_t epoch_ = 0;
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace wc::job

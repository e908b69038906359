// JobKeeper: keeps the run's job in Redis, and durable there, while the coordinator supervises
// it; the coordinator's side of "Why the counts stay exact when Redis crashes" (README). A
// restarted Redis may have lost the job (restored from a checkpoint without it, with it half
// created, or from before this run's lease): after every restart or broken connection the next
// Step makes Redis hold the job again (JobClaim::Ensure) and saves synchronously whenever its
// plan was (re)written. Every Step renews the lease and takes the periodic checkpoint; the start
// of a shuffle job's reduce phase (made inside Redis by the function that finished the last map)
// is saved synchronously too.
//
// Ownership: refers to the claim, store, durability and spec it is given, which outlive it.
// Errors: every method makes one attempt on the given connection and throws like JobClaim and
// Durability; Step throws LeaseLost when another job took the keys.
// Thread-safety: none (the coordinator's loop).
#pragma once

#include "job/job_claim.h"
#include "job/job_spec.h"
#include "job/job_store.h"
#include "job/persistence.h"
#include "redis/connection.h"

namespace wc::job {

class JobKeeper {
 public:
  JobKeeper(JobClaim& claim, JobStore& store, Durability& durability, const JobSpec& spec)
      : claim_(claim), store_(store), durability_(durability), spec_(spec) {}

  // Redis may have lost the job (it restarted, or the connection broke): the next Step makes
  // sure that it holds it.
  void Recheck() { recheck_ = true; }
  // Makes Redis hold the job; if its plan was (re)written, saves and logs `job_created`.
  void Ensure(redis::Connection& c);
  // One step on a live Redis: Ensure if a recheck is due, renew the lease, checkpoint if due.
  // Returns the job's state.
  JobState Step(redis::Connection& c);
  // Saves synchronously the first time `s` shows the reduce phase, and the publish phase, since
  // the job was (re)created (logging `reduce_phase` / `publish_phase`, `elapsed_s` into the run).
  void NotePhase(redis::Connection& c, const JobState& s, double elapsed_s);
  // How often the job's plan was written (1, and one more each time Redis lost the job).
  int creations() const { return creations_; }

 private:
  JobClaim& claim_;
  JobStore& store_;
  Durability& durability_;
  const JobSpec& spec_;
  bool recheck_ = false;
  bool reduce_seen_ = false;
  bool publish_seen_ = false;
  int creations_ = 0;
};

}  // namespace wc::job

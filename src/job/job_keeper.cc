#include "job/job_keeper.h"

#include <fmt/format.h>

#include "util/log.h"

namespace wc::job {

void JobKeeper::Ensure(redis::Connection& c) {
  if (!claim_.Ensure(c, spec_.plan.tasks)) return;
  reduce_seen_ = publish_seen_ = false;  // a re-created shuffle job runs both phases again
  durability_.SaveNow(c);
  ++creations_;
  Log::Event("job_created", "job={} stream={} tasks={} mode={} partitions={} creation={}",
             claim_.id(), store_.keys().stream, spec_.plan.tasks.size(), ToString(spec_.mode),
             spec_.partitions, creations_);
}

JobState JobKeeper::Step(redis::Connection& c) {
  if (recheck_) {  // after a restart or a broken connection
    Ensure(c);
    recheck_ = false;
  }
  claim_.Renew(c);  // a record that is gone is not an error here: it is made again below
  durability_.MaybeCheckpoint(c);
  JobState s = store_.State(c);
  if (s.state() == "none" || !s.entries_lost().empty()) {
    // A server that answered all along but lost the record or the task entries (FLUSHALL, DEL):
    // the job is made again, as after a restart without it.
    Ensure(c);
    s = store_.State(c);
  }
  if (s.id() != claim_.id()) throw LeaseLost(fmt::format("job {} took the keys", s.id()));
  return s;
}

void JobKeeper::NotePhase(redis::Connection& c, const JobState& s, double elapsed_s) {
  // The function that acknowledged the last map (reduce) started the reduce (publish) phase;
  // save it. Without the save at the publish phase, forced crashes every REDIS_RESTART_INTERVAL
  // livelocked a job whose last reduce was committed after the window's checkpoint: each crash
  // took it back to the reduce phase, each redone reduce to a publish cut by the next crash.
  if (s.state() == "reduce" && !reduce_seen_) {
    reduce_seen_ = true;
    Log::Event("reduce_phase", "partitions={} after_s={:.3f}", spec_.partitions, elapsed_s);
    durability_.SaveNow(c);
  } else if (s.state() == "publish" && !publish_seen_) {
    reduce_seen_ = publish_seen_ = true;
    Log::Event("publish_phase", "partitions={} after_s={:.3f}", spec_.partitions, elapsed_s);
    durability_.SaveNow(c);
  }
}

}  // namespace wc::job

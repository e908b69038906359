// When a result read from a replicated Redis may be printed as final.
//
// Replication is asynchronous: a primary can answer a read, then be demoted (cut off, killed)
// in favour of a replica that never received the last writes - the completion of the job among
// them. A result read there is exact (counting is deterministic), but the surviving history
// would not say the job is done, so it must not be reported as the job's final result.
// ConfirmedOnPrimary closes that window: on the same connection that served the reads, WAIT
// until every replica online acknowledged everything written before (the completion
// included), then check that Sentinel still names this server as the primary. After that any
// later failover promotes a replica that holds the completion (Sentinel promotes only
// replicas; a replica that joins later copies the primary whole).
//
// Thread-safety: none (the session's). Errors: none thrown; a refusal or a Redis error is
// `false`, logged (`result_unconfirmed` with the reason): read again.
#pragma once

#include <chrono>

#include "job/redis_session.h"

namespace wc::job {

// True if every read the session made since it had made `connection` connections ran on one
// server, which is still the primary Sentinel names and whose replicas (at least one) all hold
// every write before this call. REQUIRES: session.sentinel().enabled().
bool ConfirmedOnPrimary(RedisSession& session, int connection,
                        std::chrono::milliseconds wait = std::chrono::milliseconds(2000));

}  // namespace wc::job

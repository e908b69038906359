// The private state of an embedded Redis: STATE_DIR/job-<key>, where <key> is derived from the
// job's plan digest, so a rerun of the same job after the coordinator was SIGKILLed finds the
// same directory, starts Redis from its checkpoint (dump.rdb or the AOF) and resumes the job.
//
// Layout (directory 0700, files 0600):
//   dump.rdb / appendonly*  Redis's persistence     redis.conf  written by redis::RedisServer
//   password                the Redis password      redis.sock  the embedded Redis's socket (0700)
//   endpoint                where it listens: "unix <redis-server pid>" (its socket is redis.sock
//                           here; REDIS_HA none), or "<port> <pid>" (TCP on 127.0.0.1: the
//                           primary, REDIS_HA sentinel)
//
// The embedded Redis (without HA) listens only on redis.sock: no other user (root aside) can
// even connect to it, and it has no TCP port that another user could take while it restarts.
//
// Security: STATE_DIR and its job directories are created 0700. STATE_DIR and the directories
// above it must pass CheckSafeDirectory (util/safe_files.h: owned by root or this user, not
// writable by others unless sticky, links followed only where no other user can plant them);
// an existing STATE_DIR keeps its mode (it may be shared, like /tmp). An existing job directory
// is used only if it is a real directory (not a symbolic link) owned by this user and closed
// to others (mode 0700 or stricter); no mode is ever changed but of a directory the run made.
// A job-<key> of another user (in a shared STATE_DIR: their run of the same job, or planted; the
// name is predictable) is never used or touched: the job's directory is then this user's
// job-<key>.XXXXXX (mkdtemp: unpredictable), found again by a rerun (the first by name). Files
// are opened without following symbolic links. The password never appears on a command line.
// Errors: throws UsageError naming the path; OutputError (exit 6) for a file that cannot be
// written there (a full disk). Thread-safety: none needed (the coordinator's).
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "redis/connection.h"

namespace wc::job {

// Creates `dir` (the state root) 0700 if missing. An existing one keeps its mode, never
// changed (it may be shared, like /tmp): CheckSafeDirectory (util/safe_files.h) has it owned by
// root or this user and not writable by others unless sticky (UsageError otherwise). The job
// directories in it are the private ones.
void MakeStateRoot(const std::string& dir);

// This user's directory named `name` under `root`: root/name, unless another user holds that
// name (a shared STATE_DIR: their entry, of the same job or planted; any predictable name can be
// taken first), then this user's root/name.XXXXXX (the first by name; made by mkdtemp, 0700, if
// there is none). An own fallback is used again also once the other user's entry is gone. The
// path is not created otherwise, nor checked further (the caller checks what it finds there).
// Logs `dir_taken dir=... owner_uid=... using=...` when the name is taken. Throws UsageError if
// a fallback cannot be made.
struct OwnEntry {
  std::string path;
  bool made = false;              // this call made the fallback
  std::optional<uid_t> taken_by;  // the user holding root/name, if another one
};
OwnEntry FindOwnEntry(const std::string& root, const std::string& name);

// $XDG_STATE_HOME/wordcount, else $HOME/.local/state/wordcount.
std::string DefaultStateRoot();

class StateDir {
 public:
  // Opens STATE_DIR/job-<key>, or the fallback above (creating STATE_DIR and it, 0700), and
  // locks it for this process (flock): a second `run` of the same job on this host is refused
  // (StateBusy) while the first runs. The lock goes with the process, also when it is SIGKILLed.
  StateDir(const std::string& root, const std::string& key);
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  const std::string& path() const { return path_; }
  // True if this process created the directory (no earlier run of the job left it).
  bool fresh() const { return fresh_; }
  // The Redis password: `configured` if not empty, else the one kept here (made, random, on
  // first use).
  std::string Password(const std::string& configured);
  // Records where the server listens, for `status` and `top`: TCP on 127.0.0.1:port, or
  // (WriteSocketEndpoint) SocketPath().
  void WriteEndpoint(int port, pid_t pid);
  void WriteSocketEndpoint(pid_t pid);
  // path()/redis.sock. Throws UsageError if that is too long for a unix socket (STATE_DIR too
  // deep).
  std::string SocketPath() const;
  // The path() a StateDir(root, key) has, and its socket (SocketPath()'s check), without
  // creating anything: a STATE_DIR too deep is refused before any directory is made.
  static std::string PathFor(const std::string& root, const std::string& key);
  static std::string SocketPathFor(const std::string& path);
  // Removes the directory and everything in it.
  void Remove();

 private:
  std::string path_;
  bool fresh_ = false;
  int lock_fd_ = -1;
};

// Thrown when another process holds a job's state directory.
class StateBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True for the name of a job's state directory: job-<16 hex digits>, or its fallback
// job-<16 hex digits>.XXXXXX (six letters or digits). Not a shuffle job's map output directory
// (job-<32 hex digits>, when SPILL_DIR is STATE_DIR) nor anything else another user planted.
bool IsStateDirName(std::string_view name);

// The embedded Redis servers under `root` that run now (their endpoint's pid is alive), with
// their passwords: this user's jobs only (another user's job directory in a shared STATE_DIR is
// skipped, even for root: its server is never sent a password).
std::vector<redis::ConnectOptions> FindEmbeddedServers(const std::string& root);

// The pid of the process holding a flock on `file` (a job directory's lock: its `run`), from
// /proc/locks (read, never taken: a probe lock could make a `run` starting at that moment refuse
// the job as busy); 0 if none.
pid_t FlockHolder(const std::string& file);

// A stopped job's state directory under STATE_DIR: its `run` was stopped or killed before the
// job was done. It is kept for a rerun with the same config and data, which resumes it; a rerun
// with changed data plans another job (another digest, another directory), so it stays until
// removed by hand. Never removed automatically: another run may still resume it.
struct KeptJob {
  std::string path;  // absolute: STATE_DIR/job-<key>
  double age_s = 0;  // since its directory was last written (a checkpoint, a restart)
};
// This user's job directories under `root` whose `run` does not run (no holder of their lock),
// `except` (a path) left out, oldest first. Nothing (no error) if `root` cannot be read.
std::vector<KeptJob> FindKeptJobs(const std::string& root, const std::string& except = "");
// "45 s", "12 min", "3.5 h", "2.0 days".
std::string AgeText(double seconds);

}  // namespace wc::job

// Opening and creating files in directories that other users may write to (/tmp, a shared
// SPILL_DIR), where a predictable name can be taken over beforehand: a symbolic link planted at
// LOGFILE would make `run` truncate and append to its target, a directory pre-created at
// /tmp/wordcount-<pid> would hold Redis's dump where its creator can read and replace it.
//
// Errors: OpenNoFollow reports failure through errno, so the caller can name the file in its own
// error type (UsageError for LOGFILE, InputError for an input...). MakePrivateDir and OutputFile
// throw OutputError naming the path they were given.
// Thread-safety: the functions are reentrant; one OutputFile belongs to one thread at a time.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "util/signals.h"
#include "util/unique_fd.h"

namespace wc {

// open(2) with O_NOFOLLOW | O_CLOEXEC added to `flags`: if the final component of `path` is a
// symbolic link, the open fails with ELOOP instead of following it (links in the directories
// above are followed as usual). Returns an invalid UniqueFd (get() < 0) with errno set on
// failure.
UniqueFd OpenNoFollow(const std::string& path, int flags, mode_t mode = 0600);

// The safe-path check (like OpenSSH's secure_filename / StrictModes), for a directory the
// command is to write in (STATE_DIR, SPILL_DIR, LOGFILE's, an output's): walks `dir` from / (a
// relative path from the working directory) one component at a time with lstat(2). Every
// directory on the way must be owned by root or by this user and not writable by group or
// others unless it has the sticky bit: otherwise another user could rename the tool's directory
// away mid-run and put their own in its place. A symbolic link on the way is followed only if
// the directory holding it is not writable by others, or (sticky) the link is owned by this user
// or root, the kernel's protected_symlinks rule (which may be off): a link another user planted
// in /tmp is not followed into a third user's directory. Components that do not exist yet end the
// walk (they are to be made by this process); so does one that is not a directory (the caller's
// own open or mkdir then reports it). Throws UsageError naming `what`, `dir`, the unsafe
// directory or link and why.
void CheckSafeDirectory(const std::string& dir, std::string_view what);
// For a command that writes a data set of .csv files into `outdir` (split, gen): a directory
// read as input takes all its *.csv files, so .csv files already there (an earlier split's parts,
// another data set) would be counted with the new ones. Throws OutputError naming `outdir`, how
// many .csv files it holds (the first three by name) and that `command` writes only into a new
// directory or one without .csv files. A missing or unreadable `outdir` passes (it is created
// next, or the first file written there fails, named).
void RefuseCsvFiles(const std::string& outdir, std::string_view command);
// The descriptor an output path names: 1 for /dev/stdout, 2 for /dev/stderr, N for /dev/fd/N
// and /proc/self/fd/N; -1 for any other path. Such an output is that descriptor (duplicated),
// written in place at its offset, never opened again; `--out` naming standard output is `-`.
int DescriptorNamed(const std::string& path);

// What to add to an open(O_WRONLY | O_NONBLOCK) failure of `path`: " (a FIFO that no process
// reads: start its reader first)" for ENXIO on a FIFO, else "".
std::string NoReaderHint(const std::string& path, int err);
// CheckSafeDirectory of the directory that holds `file` ("." if it names none); the message
// names `file` ("output file pub/x.txt: /tmp/pub: ...").
void CheckSafeParent(const std::string& file, std::string_view what);
// CheckSafeDirectory, then makes the missing directories of `dir` (mode 0755 & ~umask: never
// writable by others), then CheckSafeDirectory again (a directory that appeared meanwhile is
// checked too). Returns the error of making them; throws UsageError as CheckSafeDirectory.
std::error_code MakeSafeDirectories(const std::string& dir, std::string_view what);
// The directories MakeOutputDirectories made for a command's output (`split`, `gen`). Until
// Keep() they are the command's to take back: the destructor removes those still empty, deepest
// first (one that something else filled stays, and so do its parents), and a signal that ends
// the command removes them too (util/signals.h, kRemoveTempsAndDie). Movable, not copyable.
class OutputDirectories {
 public:
  OutputDirectories() = default;
  OutputDirectories(OutputDirectories&& o) noexcept;
  OutputDirectories& operator=(OutputDirectories&&) = delete;
  ~OutputDirectories();
  // Deepest first.
  const std::vector<std::string>& made() const { return made_; }
  // The command succeeded: they stay.
  void Keep();

 private:
  friend OutputDirectories MakeOutputDirectories(const std::string&, std::string_view);
  std::vector<std::string> made_;
  std::vector<TempFileGuard> guards_;
  bool kept_ = false;
};
// MakeSafeDirectories for a command's output directory: throws OutputError naming `dir` if it
// cannot be made (UsageError as CheckSafeDirectory), after removing what it made.
OutputDirectories MakeOutputDirectories(const std::string& dir, std::string_view what);

// Creates a new directory named `prefix` plus six unpredictable characters in `parent`
// (mkdtemp(3): it never reuses an existing name or follows a link there), with mode 0700
// whatever the umask, and returns its path, "<parent>/<prefix>XXXXXX". The caller owns the
// directory and removes it.
std::string MakePrivateDir(const std::string& parent, const std::string& prefix);

// Refuses (UsageError naming both) an output path that is one of `inputs`: the same file by
// device and inode (`--out data/tweets_0001.csv` would replace an input with its counts). A
// link at `out` is replaced by the output, not followed, so only `out` itself is compared.
// Inputs that cannot be stat'ed are skipped (they fail as inputs). `what` names the output in
// the message ("--out", "LOGFILE") and `harm` says what it would do to the input.
void RefuseInputAsOutput(const std::string& out, const std::vector<std::string>& inputs,
                         std::string_view what = "--out",
                         std::string_view harm = "it would be replaced by its counts");
// The same for standard output and standard error, which every command writes (its top lines,
// its messages and summary): one open on an input (`2>> input`, held-out pass 22) is refused.
void RefuseInputAsStandardStreams(const std::vector<std::string>& inputs);

// An output file (`--out`, a `split` part, a `gen` file) that appears at its path whole or not
// at all, the one way every command writes a result file.
//
// The constructor creates a private temporary file in the target's directory at once
// (".<name>.<pid>-<12 random hex digits>.tmp", O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600: it can be
// neither pre-created nor a link), so a destination that cannot be written (missing directory, no
// permission, a directory in the way) fails before the command does any work. Commit() fsyncs
// it, gives it the mode a new file gets (0666 & ~umask), renames it over the target (rename(2)
// replaces a symbolic link planted there, it never follows it) and fsyncs the directory. Until
// then the target is untouched: an earlier file there stays as it was. Every path that does not
// commit removes the temporary file: an error (disk full), the destructor (an exception, a clean
// stop), and a fatal signal (util/signals.h: kRemoveTempsAndDie). One left by a process that
// died of SIGKILL or a fault is removed by the next OutputFile of the same target once that
// process is gone (the pid in the name; this user's files only).
//
// The target's directory passes CheckSafeParent first (UsageError: "output file <path>: ...").
// A target the final rename could not replace is refused at once (OutputError, EPERM): another
// user's file in a sticky directory, an immutable or append-only file or directory. A device or
// FIFO of another user in a directory others can write to is refused too (OutputError).
// Writes to a pipe, FIFO or terminal give up when a stop is requested while the reader does not
// read (util/signals.h WriteUnlessStopped; OutputError "not written: stopped by a signal").
//
// Not replaced but written in place (no temporary file, no atomicity): a device, FIFO or socket
// named directly (not through a link: `--out /dev/null`, a named pipe), and the names of this
// process's own descriptors (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N).
class OutputFile {
 public:
  explicit OutputFile(std::string path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  const std::string& path() const { return path_; }
  // The temporary file written until Commit ("" when written in place): a file of this
  // process, never one of its inputs, even if a pattern over the directory matches it.
  const std::string& temp_path() const { return tmp_; }
  // Appends all of `bytes` (OutputError naming path() on failure: the file is then abandoned).
  void Write(std::string_view bytes);
  // Makes the data durable and closes the temporary file (idempotent), so that many files can
  // wait for their Commit without holding a descriptor each.
  void Finish();
  // Finish, then rename over path(). After an error nothing is at path() that was not before;
  // with Keep::kOnFailure the finished temporary file stays (its name in the OutputError), for
  // a result that took a whole job to make (`--out`).
  enum class Keep { kNothing, kOnFailure };
  void Commit(Keep keep = Keep::kNothing);

 private:
  void Abandon() noexcept;

  std::string path_, tmp_;
  UniqueFd fd_;
  std::optional<TempFileGuard> guard_;  // while the temporary file exists
  bool committed_ = false;
  bool in_place_ = false;
  bool abandoned_ = false;
};

}  // namespace wc

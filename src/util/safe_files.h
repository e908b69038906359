// Opening and creating files in directories that other users may write to (/tmp, a shared
// SPILL_DIR), where a predictable name can be taken over beforehand: a symbolic link planted at
// LOGFILE would make `run` truncate and append to its target, a directory pre-created at
// /tmp/wordcount-<pid> would hold Redis's dump where its creator can read and replace it.
//
// Errors: OpenNoFollow reports failure through errno, so the caller can name the file in its own
// error type (UsageError for LOGFILE, InputError for an input...). MakePrivateDir throws
// OutputError naming the path it tried.
// Thread-safety: both are reentrant.
#pragma once

#include <sys/types.h>

#include <string>

#include "util/unique_fd.h"

namespace wc {

// open(2) with O_NOFOLLOW | O_CLOEXEC added to `flags`: if the final component of `path` is a
// symbolic link, the open fails with ELOOP instead of following it (links in the directories
// above are followed as usual). Returns an invalid UniqueFd (get() < 0) with errno set on
// failure.
UniqueFd OpenNoFollow(const std::string& path, int flags, mode_t mode = 0600);

// Creates a new directory named `prefix` plus six unpredictable characters in `parent`
// (mkdtemp(3): it never reuses an existing name or follows a link there), with mode 0700
// whatever the umask, and returns its path, "<parent>/<prefix>XXXXXX". The caller owns the
// directory and removes it.
std::string MakePrivateDir(const std::string& parent, const std::string& prefix);

}  // namespace wc

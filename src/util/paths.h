// Expanding the PATH arguments of the CLI (a file, a directory or a glob) into input files.
// Errors: throws InputError for a pattern or directory that matches no file, so a typo is
// never mistaken for an empty data set.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace wc {

// A directory yields its entries whose names end in ".csv" and do not begin with '.' (sorted),
// exactly the files of the glob dir/*.csv, whatever their type: a FIFO or a subdirectory named
// x.csv is refused by name when opened (OpenInputFile, util/mapped_file.h) instead of silently
// skipped; a path with '*', '?' or '[' is a glob pattern, always, and yields exactly the matches
// of CPython 3.11's glob.glob(path) (the reference takes DATA_PATH so), sorted: fnmatch's rules
// per component (FnMatch), no escape character ('\\' is a literal; a literal '*', '?' or '[' is
// written [*], [?], [[]), a name beginning with '.' matched only by a component beginning with
// '.', a component followed by others matching only directories (links followed), a directory
// that cannot be listed having no matches, and a match that is a directory kept; anything else is
// taken as a file path and checked when opened. The paths are as given (joined as Python joins
// them, never resolved), the names used in messages. The result keeps the order of `args`, each
// argument's matches sorted, duplicates removed.
std::vector<std::string> ExpandInputs(const std::vector<std::string>& args);

// Python's fnmatch.fnmatchcase(name, pattern) for one path component, both decoded as Python
// decodes file names (UTF-8, an ill-formed byte b standing for the code point 0xDC00 + b), so
// ranges compare code points: '*' any run, '?' any one code point; "[...]" a set: ']' first is a
// member, "[!...]" negates (a leading '^' is a member), "a-z" a range (a reversed one, "z-a", is
// dropped with both ends; a '-' first or last is a member), an unclosed '[' a literal.
bool FnMatch(std::string_view name, std::string_view pattern);

// Appends the components of `path` (split at '/', empty ones dropped) to `todo` so that the
// first is popped first (todo->back()): the work list of a walk that resolves a path one
// component at a time, pushing a link's target the same way.
void PushPathComponents(const std::string& path, std::vector<std::string>* todo);

// True if `path` does not exist: stat fails with ENOENT or ENOTDIR (a dangling link too). Every
// input missing is "no input" (exit 3) for `serial` and `run` alike; some missing among others
// are failed files.
bool IsMissing(const std::string& path);

// True if `a` and `b` name the same file: the same device and inode when both exist (links
// followed), else the same path once symlinks in the existing part are resolved
// (weakly_canonical of the absolute paths). Errors resolving either are "not the same".
bool SameFile(const std::string& a, const std::string& b);

// True if `path` is `dir` or lies below it, compared by whole path components of the two
// lexically normal paths ("/data/ab/x" is not under "/data/a"). No file-system access: resolve
// symlinks first (weakly_canonical) where that matters.
bool IsUnder(const std::string& path, const std::string& dir);

// The deepest directory holding every one of `paths` (by components, as IsUnder); "/" if none.
std::string CommonDirectory(const std::vector<std::string>& paths);

}  // namespace wc

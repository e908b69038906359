// Expanding the PATH arguments of the CLI (a file, a directory or a glob) into input files.
// Errors: throws InputError for a pattern or directory that matches no file, so a typo is
// never mistaken for an empty data set.
#pragma once

#include <string>
#include <vector>

namespace wc {

// A directory yields its entries whose names end in ".csv" (sorted), whatever their type: a
// FIFO or a subdirectory named x.csv is refused by name when opened (MappedFile) instead of
// silently skipped; a glob pattern yields its matches (sorted); anything else is taken as a
// file path and checked when opened.
// The result keeps the order of `args`, each argument's matches sorted, duplicates removed.
std::vector<std::string> ExpandInputs(const std::vector<std::string>& args);

}  // namespace wc

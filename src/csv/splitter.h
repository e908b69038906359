// `wordcount split`: the lab's split_csv.py done right. Streams the input once (memory-mapped,
// never loaded whole), cuts only at record starts (quote-aware), copies the header into every
// part, and names the parts part_0001.csv, part_0002.csv, ... so that counting the parts gives
// exactly the counts of the input.
//
// One subtlety makes that true in all cases: if the input's first data row is wider than its
// header (pandas then reads the extra leading fields as an index), every part's header gets the
// same number of empty leading names, so each part is read with the same column alignment.
//
// Errors: throws InputError/CsvError naming the input (and line) if it cannot be read or does
// not parse, FileChangedError if it changed while it was split (util/mapped_file.h), OutputError
// naming the part (or directory) that cannot be written, before the input is read if the first
// part cannot be created, and before anything is written if OUTDIR already holds a .csv file
// (the parts of an earlier split would be read with the new ones). Parts are written as temporary
// files and renamed into place only once all of them are written (util/safe_files.h: a link planted
// at a part's name is replaced, never followed): a failed or interrupted split leaves no part and
// no temporary file behind, and a failed one no directory it created.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wc::csv {

struct SplitOptions {
  uint64_t rows = 0;  // data records per part; 0 = not by rows
  uint64_t bytes =
      0;  // about this many data bytes per part (at least one record); 0 = not by bytes
};

// REQUIRES: exactly one of options.rows and options.bytes is non-zero (else UsageError).
// Returns the parts' paths in order. An input with no data rows gives no parts.
std::vector<std::string> SplitCsv(const std::string& input, const std::string& outdir,
                                  const SplitOptions& options);

}  // namespace wc::csv

// The subcommands of `wordcount`. Each returns the process exit code (cli/exit_codes.h) and
// reports problems on stderr; main() owns argument parsing and catches what escapes (an
// OutputError always escapes: main maps it to kExitOutput).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bounds.h"

namespace wc::cli {

// The accepted values of serial's, split's and gen's numeric options (util/bounds.h; the job's
// options share the ranges of the config keys they mirror, job/config.h). Shown in --help.
inline constexpr IntRange kThreadsRange{0, 256};  // --threads; 0: one per hardware thread
inline constexpr IntRange kGenFilesRange{1, 100'000};
// gen builds each file in memory (~170 bytes a row): 1,000,000 rows is ~170 MB per thread.
inline constexpr IntRange kGenRowsRange{0, 1'000'000};
inline constexpr IntRange kSeedRange{0, INT64_MAX};
inline constexpr IntRange kSplitRange{1, int64_t{1} << 40};  // split --rows, --bytes

struct SerialArgs {
  std::vector<std::string> inputs;
  unsigned threads = 0;
  size_t top = 3;
  std::string out;
  uint64_t chunk_bytes = 64ull << 20;
  std::string column = "text";
  bool quiet = false;
};
int RunSerial(const SerialArgs& args);

struct SplitArgs {
  std::string input;
  std::string outdir;
  uint64_t rows = 0;
  uint64_t bytes = 0;
};
int RunSplit(const SplitArgs& args);

struct GenArgs {
  std::string outdir;
  uint64_t files = 8;
  uint64_t rows = 20000;
  uint64_t seed = 1;
  unsigned threads = 0;
};
int RunGen(const GenArgs& args);

}  // namespace wc::cli

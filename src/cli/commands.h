// The subcommands of `wordcount`. Each returns the process exit code (cli/exit_codes.h) and
// reports problems on stderr; main() owns argument parsing and catches what escapes (an
// OutputError always escapes: main maps it to kExitOutput).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wc::cli {

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

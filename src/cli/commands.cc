#include "cli/commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>

#include "cli/exit_codes.h"
#include "count/counts_format.h"
#include "count/serial_counter.h"
#include "csv/splitter.h"
#include "gen/generator.h"
#include "util/error.h"
#include "util/log.h"
#include "util/paths.h"
#include "util/safe_files.h"

namespace wc::cli {

namespace {
double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int RunSerial(const SerialArgs& args) {
  std::vector<std::string> files;
  try {
    files = ExpandInputs(args.inputs);
  } catch (const InputError& e) {
    WriteStderrLine(fmt::format("wordcount serial: {}", e.what()));
    return kExitNoInput;
  }
  RefuseInputAsStandardStreams(files);
  // Created before counting: a destination that cannot be written fails at once (exit 6).
  std::optional<OutputFile> out;
  if (!args.out.empty()) {
    // (`-` is standard output: checked with standard error above.)
    if (args.out != "-") RefuseInputAsOutput(args.out, files);
    if (args.out != "-") out.emplace(args.out);
  }
  auto t0 = std::chrono::steady_clock::now();
  SerialOptions options;
  options.threads = args.threads;
  options.chunk_bytes = args.chunk_bytes;
  options.column = args.column;
  SerialResult result = CountFiles(files, options);
  double count_s = SecondsSince(t0);
  // Every input missing (a literal path naming no file): no input, as for a pattern or `run`.
  if (result.files_counted == 0 && std::all_of(files.begin(), files.end(), IsMissing)) {
    for (const auto& f : result.failures) WriteStderrLine("wordcount serial: " + f.message);
    return kExitNoInput;
  }

  // The counts file first: one that cannot be written is exit 6 before anything is printed.
  // `--out -` makes standard output the counts file alone (no top lines).
  if (!args.out.empty()) {
    WriteCountsFile(out ? &*out : nullptr, SortedCounts(result.counts));
    if (out) out->Commit(OutputFile::Keep::kOnFailure);
  }
  errno = 0;
  if (args.out != "-" &&
      (std::fflush(stdout) != 0 || !WriteTop(STDOUT_FILENO, TopCounts(result.counts, args.top))))
    throw OutputError("standard output", "cannot write", errno);

  if (!args.quiet) {
    double mb = static_cast<double>(result.bytes_counted) / 1e6;
    WriteStderr(fmt::format(
        "counted {} of {} files, {:.1f} MB, {} records, {} words, {} distinct in {:.2f} s "
        "({:.0f} MB/s)\n",
        result.files_counted, files.size(), mb, result.records, result.words, result.distinct,
        count_s, count_s > 0 ? mb / count_s : 0.0));
  }
  for (const auto& f : result.failures) WriteStderrLine("FAILED " + f.message);
  if (!result.failures.empty()) {
    WriteStderr(fmt::format("{} file(s) failed and were not counted\n", result.failures.size()));
    return kExitInputFailed;
  }
  return kExitOk;
}

int RunSplit(const SplitArgs& args) {
  RefuseInputAsStandardStreams({args.input});
  try {
    auto parts = csv::SplitCsv(args.input, args.outdir, {args.rows, args.bytes});
    WriteStderrLine(fmt::format("wrote {} part(s) to {}", parts.size(), args.outdir));
    return kExitOk;
  } catch (const InputError& e) {
    WriteStderrLine(fmt::format("wordcount split: {}", e.what()));
    return kExitInputFailed;
  }
}

int RunGen(const GenArgs& args) {
  auto t0 = std::chrono::steady_clock::now();
  gen::GenOptions options{args.files, args.rows, args.seed, args.threads};
  auto paths = gen::GenerateDataset(args.outdir, options);  // OutputError goes to main
  WriteStderrLine(fmt::format("generated {} file(s) of {} rows in {} ({:.1f} s)", paths.size(),
                              args.rows, args.outdir, SecondsSince(t0)));
  return kExitOk;
}

}  // namespace wc::cli

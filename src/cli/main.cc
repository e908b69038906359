// wordcount: fault-tolerant distributed word count (see README.md).
// main() parses the command line and maps every error that escapes a command to an exit code;
// nothing below it exits the process.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "util/error.h"

int main(int argc, char** argv) {
  using namespace wc::cli;
  CLI::App app{"wordcount: exact, fault-tolerant word count of the text column of CSV files"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);

  SerialArgs serial;
  auto* s = app.add_subcommand("serial", "Count in this process (the reference counter)");
  s->add_option("paths", serial.inputs, "CSV files, directories or globs")->required();
  s->add_option("--threads", serial.threads, "Worker threads (0 = one per core)");
  s->add_option("--top", serial.top, "How many top words to print")->capture_default_str();
  s->add_option("--out", serial.out, "Write every count to this file ('-' = stdout)");
  s->add_option("--chunk-bytes", serial.chunk_bytes,
                "Split files larger than this many bytes into record-aligned ranges")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  s->add_option("--column", serial.column, "Column to count")->capture_default_str();
  s->add_flag("--quiet,-q", serial.quiet, "No summary on stderr");

  SplitArgs split;
  auto* sp = app.add_subcommand("split", "Split a CSV into parts at record boundaries");
  sp->add_option("input", split.input, "Input CSV file")->required();
  sp->add_option("outdir", split.outdir, "Output directory")->required();
  auto* rows = sp->add_option("--rows", split.rows, "Data rows per part")->check(CLI::PositiveNumber);
  auto* bytes = sp->add_option("--bytes", split.bytes, "About this many data bytes per part")
                    ->check(CLI::PositiveNumber);
  rows->excludes(bytes);
  bytes->excludes(rows);

  GenArgs gen;
  auto* g = app.add_subcommand("gen", "Generate look-alike Customer Support on Twitter CSVs");
  g->add_option("outdir", gen.outdir, "Output directory")->required();
  g->add_option("--files", gen.files, "Number of files")->capture_default_str();
  g->add_option("--rows", gen.rows, "Data rows per file")->capture_default_str();
  g->add_option("--seed", gen.seed, "Seed")->capture_default_str();
  g->add_option("--threads", gen.threads, "Threads (0 = one per core)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (*s) return RunSerial(serial);
    if (*sp) {
      if (split.rows == 0 && split.bytes == 0) {
        fmt::print(stderr, "wordcount split: give --rows N or --bytes N\n");
        return kExitUsage;
      }
      return RunSplit(split);
    }
    if (*g) return RunGen(gen);
  } catch (const wc::UsageError& e) {
    fmt::print(stderr, "wordcount: {}\n", e.what());
    return kExitUsage;
  } catch (const wc::InputError& e) {
    fmt::print(stderr, "wordcount: {}\n", e.what());
    return kExitInputFailed;
  } catch (const std::exception& e) {
    fmt::print(stderr, "wordcount: internal error: {}\n", e.what());
    return kExitInternal;
  }
  return kExitUsage;
}

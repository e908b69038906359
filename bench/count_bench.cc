// Counting-engine benchmarks on the look-alike data set (`wordcount gen --files 140 --rows 20000
// --seed 1`, ~440 MB). Reports MB/s (bytes_per_second) per benchmark; compare rows of one run.
//
//   build/count_bench                       # generates the data once into build/bench-data
//   WC_BENCH_FILES=20 build/count_bench     # smaller set for a quick look
//
// What each row isolates:
//   CountFiles/threads:N   the whole `serial` engine (CSV scan + tokenize + WordTable + merge)
//   ScanOnly               CSV scanning without counting (text values found, nothing hashed)
//   TokenizeOnly           scanning + splitting into words, nothing hashed
//   AbslFlatHashMap        same scan and tokenizer, absl::flat_hash_map<string_view,uint64>
//                          instead of WordTable (the "plain flat hash map" baseline)
//   SplitRecordRanges      the quote-aware boundary scan used to split big files
#include <absl/container/flat_hash_map.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "count/serial_counter.h"
#include "count/tokenizer.h"
#include "csv/csv_scanner.h"
#include "csv/record_ranges.h"
#include "gen/generator.h"
#include "util/mapped_file.h"

namespace {

const std::vector<std::string>& Dataset() {
  static const std::vector<std::string> files = [] {
    const char* env = std::getenv("WC_BENCH_FILES");
    uint64_t n = env ? std::strtoull(env, nullptr, 10) : 140;
    std::string dir = "build/bench-data/" + std::to_string(n);
    if (!std::filesystem::exists(dir + "/done")) {
      wc::gen::GenerateDataset(dir, {.files = n, .rows = 20000, .seed = 1});
      std::FILE* f = std::fopen((dir + "/done").c_str(), "w");
      if (f) std::fclose(f);
    }
    std::vector<std::string> out;
    for (uint64_t i = 1; i <= n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/tweets_%04llu.csv", static_cast<unsigned long long>(i));
      out.push_back(dir + name);
    }
    return out;
  }();
  return files;
}

int64_t DatasetBytes() {
  int64_t total = 0;
  for (const auto& f : Dataset()) total += static_cast<int64_t>(std::filesystem::file_size(f));
  return total;
}

void BM_CountFiles(benchmark::State& state) {
  const auto& files = Dataset();
  for (auto _ : state) {
    wc::SerialResult r = wc::CountFiles(files, {.threads = static_cast<unsigned>(state.range(0))});
    benchmark::DoNotOptimize(r.counts.size());
    state.counters["distinct"] = static_cast<double>(r.counts.size());
  }
  state.SetBytesProcessed(state.iterations() * DatasetBytes());
}
BENCHMARK(BM_CountFiles)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Runs `visit` over the text values of every file, one thread.
template <class Visitor>
void ScanAll(Visitor& v) {
  for (const auto& path : Dataset()) {
    wc::MappedFile file(path);
    wc::csv::Schema schema = wc::csv::ReadSchema(file.view(), path);
    wc::csv::TextScanner scanner(file.view(), path, schema);
    scanner.Scan(schema.data_begin, file.size(), v);
  }
}

struct NoCount {
  uint64_t bytes = 0;
  void OnRecord(size_t) {}
  void OnText(std::string_view t) { bytes += t.size(); }
};

void BM_ScanOnly(benchmark::State& state) {
  for (auto _ : state) {
    NoCount v;
    ScanAll(v);
    benchmark::DoNotOptimize(v.bytes);
  }
  state.SetBytesProcessed(state.iterations() * DatasetBytes());
}
BENCHMARK(BM_ScanOnly)->Unit(benchmark::kMillisecond)->UseRealTime();

struct TokenizeOnly {
  uint64_t words = 0;
  void OnRecord(size_t) {}
  void OnText(std::string_view t) {
    wc::ForEachWord(t, [this](const char*, size_t n) { words += n; });
  }
};

void BM_TokenizeOnly(benchmark::State& state) {
  for (auto _ : state) {
    TokenizeOnly v;
    ScanAll(v);
    benchmark::DoNotOptimize(v.words);
  }
  state.SetBytesProcessed(state.iterations() * DatasetBytes());
}
BENCHMARK(BM_TokenizeOnly)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline: a good general-purpose flat hash map keyed by views. Keys are copied into strings
// on insert, as a real counter that outlives its input must do.
struct AbslCount {
  absl::flat_hash_map<std::string, uint64_t> counts;
  void OnRecord(size_t) {}
  void OnText(std::string_view t) {
    wc::ForEachWord(t, [this](const char* w, size_t n) {
      auto it = counts.find(absl::string_view(w, n));
      if (it != counts.end()) {
        ++it->second;
      } else {
        counts.emplace(std::string(w, n), 1);
      }
    });
  }
};

void BM_AbslFlatHashMap(benchmark::State& state) {
  for (auto _ : state) {
    AbslCount v;
    ScanAll(v);
    benchmark::DoNotOptimize(v.counts.size());
    state.counters["distinct"] = static_cast<double>(v.counts.size());
  }
  state.SetBytesProcessed(state.iterations() * DatasetBytes());
}
BENCHMARK(BM_AbslFlatHashMap)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SplitRecordRanges(benchmark::State& state) {
  for (auto _ : state) {
    size_t ranges = 0;
    for (const auto& path : Dataset()) {
      wc::MappedFile file(path);
      wc::csv::Schema schema = wc::csv::ReadSchema(file.view(), path);
      ranges += wc::csv::SplitRecordRanges(file.view(), path, schema, 1 << 20).size();
    }
    benchmark::DoNotOptimize(ranges);
  }
  state.SetBytesProcessed(state.iterations() * DatasetBytes());
}
BENCHMARK(BM_SplitRecordRanges)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

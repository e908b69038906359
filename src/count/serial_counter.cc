#include "count/serial_counter.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "count/count_task.h"
#include "csv/csv_scanner.h"
#include "csv/record_ranges.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace wc {

namespace {

struct Task {
  size_t file;
  csv::ByteRange range;
  // Filled by the counting phase: the part of the range that was counted, as a range.
  csv::ByteRange counted{0, 0};
  TaskStats stats;
};

struct FileState {
  std::optional<FileFailure> failure;
  std::mutex mu;  // guards failure during the counting phase
};

// Runs fn(thread, i) for i in [0, n) on `threads` threads, each index exactly once. If fn
// throws, the remaining indexes are abandoned and the first exception is rethrown after join.
template <class Fn>
void ParallelFor(size_t n, unsigned threads, Fn&& fn) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto loop = [&](unsigned t) {
    try {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(t, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next.store(n);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(loop, t);
  loop(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

SerialResult CountFiles(const std::vector<std::string>& paths, const SerialOptions& options) {
  if (options.chunk_bytes == 0) throw UsageError("chunk size must be positive");
  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, threads);

  std::vector<FileState> files(paths.size());

  // Phase 1: plan. Big files are split (and so validated) here, in parallel.
  std::vector<std::vector<csv::ByteRange>> plans(paths.size());
  ParallelFor(paths.size(), threads, [&](unsigned, size_t f) {
    try {
      uint64_t size = 0;
      plans[f] = PlanFileTasks(paths[f], options.chunk_bytes, options.column, &size);
    } catch (const InputError& e) {
      files[f].failure = FileFailure{paths[f], e.what()};
    }
  });
  std::vector<Task> tasks;
  for (size_t f = 0; f < paths.size(); ++f) {
    for (const auto& r : plans[f]) tasks.push_back(Task{f, r, csv::ByteRange{0, 0}, TaskStats{}});
  }

  // Phase 2: count. Each thread owns a table.
  std::vector<WordTable> tables(threads, WordTable(1 << 16));
  ParallelFor(tasks.size(), threads, [&](unsigned t, size_t i) {
    Task& task = tasks[i];
    try {
      task.stats = CountFileRange(paths[task.file], task.range, tables[t], options.column);
      task.counted = task.range;
    } catch (const InputError& e) {
      if (const auto* ce = dynamic_cast<const csv::CsvError*>(&e)) {
        task.counted = csv::ByteRange{task.range.begin, ce->record_begin()};
      }
      std::lock_guard<std::mutex> lock(files[task.file].mu);
      if (!files[task.file].failure)
        files[task.file].failure = FileFailure{paths[task.file], e.what()};
    }
  });

  // Phase 3: take back what was counted of failed files, so they contribute nothing.
  std::vector<size_t> undo;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& task = tasks[i];
    if (files[task.file].failure && task.counted.end > task.counted.begin) undo.push_back(i);
  }
  ParallelFor(undo.size(), threads, [&](unsigned t, size_t k) {
    const Task& task = tasks[undo[k]];
    // Counting is deterministic, so recounting the same records with -1 cancels them exactly.
    // It can only fail if the file changed meanwhile; then the result cannot be exact.
    try {
      CountFileRange(paths[task.file], task.counted, tables[t], options.column, ~uint64_t{0});
    } catch (const InputError& e) {
      throw InputError(
          paths[task.file], 0,
          std::string("changed while being counted, counts are not exact: ") + e.what());
    }
  });

  // Phase 4: merge into the biggest table.
  auto biggest = std::max_element(tables.begin(), tables.end(),
                                  [](const auto& a, const auto& b) { return a.size() < b.size(); });
  SerialResult result;
  result.counts = std::move(*biggest);
  for (auto& t : tables) {
    if (&t != &*biggest) result.counts.Merge(t);
  }
  for (size_t f = 0; f < paths.size(); ++f) {
    if (files[f].failure) result.failures.push_back(*files[f].failure);
  }
  for (const Task& task : tasks) {
    if (files[task.file].failure) continue;
    result.bytes_counted += task.stats.bytes;
    result.records += task.stats.records;
    result.words += task.stats.words;
  }
  result.files_counted = paths.size() - result.failures.size();
  return result;
}

}  // namespace wc

#include "count/serial_counter.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "count/count_task.h"
#include "csv/csv_scanner.h"
#include "csv/record_ranges.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace wc {

namespace {

constexpr size_t kNoTable = ~size_t{0};

struct Task {
  size_t file;
  csv::ByteRange range;
  // Filled by the counting phase: the table the task was counted into, the part of the range
  // that was counted there (a failed parse stops early), and the version of the file it read.
  size_t table = kNoTable;
  csv::ByteRange counted{0, 0};
  MappedFile::Version version;
  bool undone = false;  // counted again with -1 (its file failed)
  TaskStats stats;
};

struct FileState {
  std::optional<FileFailure> failure;
  std::mutex mu;  // guards failure during the counting phases
};

// Runs fn(thread, i) for i in [0, n) on up to `threads` threads (fewer if the system gives no
// more), each index exactly once. If fn
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
  for (unsigned t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(loop, t);
    } catch (const std::system_error&) {
      break;  // no more threads (a process limit): fewer count the same indexes
    }
  }
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
  std::vector<FilePlan> plans(paths.size());
  ParallelFor(paths.size(), threads, [&](unsigned, size_t f) {
    try {
      plans[f] = PlanFile(paths[f], options.chunk_bytes, options.column);
    } catch (const InputError& e) {
      files[f].failure = FileFailure{paths[f], e.what()};
    }
  });
  std::vector<Task> tasks;
  for (size_t f = 0; f < paths.size(); ++f) {
    for (const auto& r : plans[f].ranges) tasks.push_back(Task{.file = f, .range = r});
  }
  auto fail = [&](size_t f, const std::string& message) {
    std::lock_guard<std::mutex> lock(files[f].mu);
    if (!files[f].failure) files[f].failure = FileFailure{paths[f], message};
  };
  auto failed = [&](size_t f) {
    std::lock_guard<std::mutex> lock(files[f].mu);
    return files[f].failure.has_value();
  };

  // Phases 2 and 3, in rounds. Each thread counts into its own table (no more threads than
  // tasks: an idle one would only hold an empty table, ~2 MB).
  threads = static_cast<unsigned>(std::clamp<size_t>(tasks.size(), 1, threads));
  std::vector<WordTable> tables(threads, WordTable(1 << 16));
  // A table is spoiled when it holds counts that cannot be taken back: a file changed while it
  // was counted, or between its count and its undo. A spoiled table is dropped whole and the
  // tasks of good files it held are counted again in the next round. Every spoiled round adds a
  // failed file, so the rounds end.
  std::vector<char> spoiled(threads, 0);
  std::vector<size_t> todo(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) todo[i] = i;
  while (!todo.empty()) {
    // Phase 2: count.
    ParallelFor(todo.size(), threads, [&](unsigned t, size_t k) {
      Task& task = tasks[todo[k]];
      const std::string& path = paths[task.file];
      task.table = t;
      try {
        MappedFile file(path);
        task.version = file.version();
        // Every range of a file is of the file planned: one replaced meanwhile (a rename over
        // it) would mix two files' ranges. Nothing of it was counted here yet.
        if (!(task.version == plans[task.file].version)) {
          fail(task.file, FileChangedError(path).what());
          return;
        }
        task.stats = CountRange(file, ReadSchemaOf(file, options.column), task.range, tables[t]);
        task.counted = task.range;
      } catch (const FileChangedError& e) {
        spoiled[t] = 1;
        fail(task.file, e.what());
      } catch (const InputError& e) {
        if (const auto* ce = dynamic_cast<const csv::CsvError*>(&e)) {
          task.counted = csv::ByteRange{task.range.begin, ce->record_begin()};
        }
        fail(task.file, e.what());
      }
    });

    // Phase 3: take back what was counted of failed files, so they contribute nothing. Counting
    // is deterministic, so counting the same bytes again with -1 cancels them exactly; they are
    // the same bytes if the file has the same version, and did not change during the undo.
    // Each table is undone by one thread (ParallelFor over tables).
    ParallelFor(tables.size(), threads, [&](unsigned, size_t t) {
      for (Task& task : tasks) {
        if (spoiled[t]) return;
        if (task.table != t || task.undone || task.counted.end <= task.counted.begin ||
            !failed(task.file)) {
          continue;
        }
        task.undone = true;
        try {
          MappedFile file(paths[task.file]);
          if (!(file.version() == task.version)) throw FileChangedError(paths[task.file]);
          CountRange(file, ReadSchemaOf(file, options.column), task.counted, tables[t],
                     ~uint64_t{0});
        } catch (const InputError&) {
          spoiled[t] = 1;  // the file is reported already; its first error says why
        }
      }
    });

    todo.clear();
    for (size_t i = 0; i < tasks.size(); ++i) {
      Task& task = tasks[i];
      if (task.table == kNoTable || !spoiled[task.table]) continue;
      if (!failed(task.file)) todo.push_back(i);
      task = Task{.file = task.file, .range = task.range};
    }
    for (size_t t = 0; t < tables.size(); ++t) {
      if (spoiled[t]) tables[t] = WordTable(1 << 16);
      spoiled[t] = 0;
    }
  }

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
  result.counts.ForEach([&](std::string_view, uint64_t) { ++result.distinct; });
  return result;
}

}  // namespace wc

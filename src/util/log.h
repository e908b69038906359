// Structured event log of one process: one line per event,
//   2026-11-23T20:38:30.123Z w-3[12345] commit task=1700000000000-0 words=1234 result=accepted
// appended to LOGFILE with O_APPEND (lines from several processes do not interleave) and, for
// warnings and errors, also written to stderr unless quiet.
//
// There is one log per process (a function-local static): Log::Open() once in main, then
// Log::Event() anywhere. Thread-safe. Open throws UsageError if LOGFILE cannot be opened;
// Write never throws: a line that cannot be written is skipped.
//
// Lines are built by callers from untrusted text too (file names, stream fields, Redis
// replies), so Write escapes every control byte of the finished line (EscapeForLog,
// util/escape.h) before it writes it: one event is always exactly one line, and no ESC sequence
// reaches a terminal. A caller cannot opt out and need not escape itself (escaping twice is
// harmless).
#pragma once

#include <fmt/format.h>

#include <array>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "util/escape.h"

namespace wc {

// Fields a caller formatted itself from trusted parts (numbers, fixed names), put into a line as
// they are, e.g. " replicas_acked=2 wait_us=31" after another field: never escaped (a string
// argument is, as a value).
struct LogFields {
  std::string text;
};

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

class Log {
 public:
  // `path` empty: no file. truncate: the file is to start afresh (the coordinator's, like the
  // lab's), but not yet: its lines are held in memory until StartAfresh() truncates the file and
  // writes them, once the run is known to have inputs and the job (a run that ends before, e.g.
  // with no input or refused, appends its lines at exit and leaves the earlier log as it was).
  // The file is opened without following a symbolic link (LOGFILE is a predictable name, often
  // in /tmp: a link planted there must not make us truncate or write into its target) and
  // without blocking on a FIFO, after its directory passed CheckSafeParent (util/safe_files.h).
  // A file it creates is 0600 (the log names the inputs). With `truncate`, the process holds
  // an exclusive flock on the file until it exits (the log is its own while it runs) and makes
  // it 0600.
  // Throws UsageError naming `path` if its directory is unsafe, if it is a symbolic link,
  // belongs to another user, cannot be opened for writing (missing directory, no permission, a
  // FIFO without reader), or, with `truncate`, another process holds it so (a second `run` with
  // the same LOGFILE); the log then stays as it was.
  // Now(): the current time as every line starts with it ("2026-11-27T04:21:27.963Z", UTC, so
  // lines compare as strings in time order).
  static std::string Now();
  static void Open(const std::string& path, std::string process, bool truncate,
                   LogLevel stderr_level);
  static void Write(LogLevel level, std::string_view event, std::string_view fields);
  // True if a line could not be written to the file opened last: it misses events.
  static bool Incomplete();
  // For a process that dies of a stop signal (util/signals.h kRemoveTempsAndDie: a worker):
  // its last line in LOGFILE becomes `WARN exit reason=interrupted signal=N`, written from the
  // signal handler (async-signal-safe: the prefix is built here, the time computed there).
  // Call after Open().
  static void SayStopSignalAtDeath();
  // See Open(truncate). No effect otherwise, or a second time.
  static void StartAfresh();
  // For a worker, whose log file must not be an input of the job it joins (known only then):
  // Hold() keeps its lines in memory; Release() appends them and writes from then on; Drop()
  // closes the file without a line more (warnings and errors still reach stderr). A process that
  // exits holding them appends them, as after Open(truncate).
  static void Hold();
  static void Release();
  static void Drop();

  // Every string argument goes into the line through QuoteForLog (util/escape.h), and one not
  // in quotes (`stream={}`) through BareForLog: no value can end early and add fields (a file
  // name `x" recorded=false error="y`, an IN `files tasks=999`).
  template <class... T>
  static void Event(std::string_view event, fmt::format_string<T...> fields, T&&... args) {
    Write(LogLevel::kInfo, event, Fields(fields, std::index_sequence_for<T...>(), args...));
  }
  template <class... T>
  static void Warn(std::string_view event, fmt::format_string<T...> fields, T&&... args) {
    Write(LogLevel::kWarn, event, Fields(fields, std::index_sequence_for<T...>(), args...));
  }
  template <class... T>
  static void Error(std::string_view event, fmt::format_string<T...> fields, T&&... args) {
    Write(LogLevel::kError, event, Fields(fields, std::index_sequence_for<T...>(), args...));
  }

 private:
  // For each of the first N replacement fields of `fields` ("{}", "{:.1f}"; "{{" is none), whether
  // it stands between a pair of the format's '"' (a quoted value: error="{}{}").
  template <size_t N>
  static std::array<bool, N> QuotedFields(std::string_view fields) {
    std::array<bool, N> quoted{};
    size_t n = 0;
    bool in_quotes = false;
    for (size_t p = 0; p < fields.size() && n < N; ++p) {
      if (fields[p] == '"') in_quotes = !in_quotes;
      if (fields[p] != '{') continue;
      if (p + 1 < fields.size() && fields[p + 1] == '{') {
        ++p;
        continue;
      }
      quoted[n++] = in_quotes;
    }
    return quoted;
  }
  template <class T>
  static decltype(auto) Value(const T& v, bool quoted) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      return quoted ? QuoteForLog(std::string_view(v)) : BareForLog(std::string_view(v));
    } else {
      return (v);
    }
  }
  template <class... T, size_t... I>
  static std::string Fields(fmt::string_view fields, std::index_sequence<I...>, const T&... args) {
    [[maybe_unused]] const auto quoted =
        QuotedFields<sizeof...(T)>(std::string_view(fields.data(), fields.size()));
    return fmt::vformat(fields, fmt::make_format_args(Value(args, quoted[I])...));
  }
};

// Writes `text` as is to standard error; false if it could not. Never throws (stderr may be a
// closed pipe). A reader that went away (EPIPE) asks for the clean stop (util/signals.h:
// RequestStop(SIGPIPE), which only `run` answers). The log's own copies to stderr go through it.
bool WriteStderr(std::string_view text);
// Writes `line`, escaped with EscapeForLog, and a newline to standard error in one write(2), for
// messages outside the log (errors, summaries naming files). As WriteStderr.
void WriteStderrLine(std::string_view line);
// True once a write to standard error (WriteStderr) failed: main turns a command's exit 0 into
// 6, as for standard output (`gen ... 2>&1 | true`, `run 2>/dev/full`).
bool StderrFailed();

}  // namespace wc

template <>
struct fmt::formatter<wc::LogFields> : fmt::formatter<std::string_view> {
  auto format(const wc::LogFields& f, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(f.text, ctx);
  }
};

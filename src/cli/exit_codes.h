// Exit codes of the wordcount binary (documented in --help and the README).
#pragma once

namespace wc::cli {

inline constexpr int kExitOk = 0;           // everything counted
inline constexpr int kExitInputFailed = 1;  // some input files failed; the rest were counted
inline constexpr int kExitUsage = 2;    // bad command line, option or config value; Redis password
inline constexpr int kExitNoInput = 3;  // no input file matched
inline constexpr int kExitRedis = 4;    // Redis unreachable or failing past the retry limit
inline constexpr int kExitIncomplete = 5;  // the job could not be completed
inline constexpr int kExitOutput = 6;      // a result could not be written (--out, parts, ...)
inline constexpr int kExitRefused = 7;     // another job or type holds the keys, NOPERM, eviction
inline constexpr int kExitVerify = 8;      // the result in Redis is not the job's (evicted?)
inline constexpr int kExitInternal = 70;   // unexpected internal error (a bug)

inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 all counted; 1 some input files failed (named on stderr, the rest counted);\n"
    "2 bad usage, option, config key or value, or a Redis password missing or refused (it comes\n"
    "from $WC_REDIS_PASSWORD, never from the URL); 3 no input file matched; 4 Redis unreachable;\n"
    "5 job could not be completed (worker: no job to serve); 6 output could not be written\n"
    "(disk full, closed pipe: the file is named, except for a reader that went away, for which\n"
    "run stops cleanly); 7 refused: another job holds the keys (or took them), a key holds\n"
    "another type (named), Redis's ACL denies a command (NOPERM), or Redis may evict them;\n"
    "8 the result in Redis differs from what the job recorded; 17 (worker) deliberate crash\n"
    "point; 128+N run stopped cleanly by signal N (130 SIGINT, 143 SIGTERM;\n"
    "the job is kept for a rerun); 70 internal error.";

}  // namespace wc::cli

// `wordcount gen`: a deterministic look-alike of the Customer Support on Twitter data set
// (twcs.csv: tweet_id, author_id, inbound, created_at, text, response_tweet_id,
// in_response_to_tweet_id), written the way Python's csv module writes it (QUOTE_MINIMAL).
//
// Texts draw words from a Zipf-distributed vocabulary and mix in what the real tweets carry:
// @-mentions of brand handles and numeric customer ids, unique t.co links, emoji and other
// UTF-8, punctuation stuck to words, double spaces, embedded newlines/CRLF/commas/quotes, and
// a sprinkling of empty and NA-like texts. ~20,000 rows make ~3.2 MB.
//
// Determinism: the same (seed, file index, rows) always gives the same bytes, whatever the
// thread count. Thread-safety: a Generator is immutable after construction and may be shared.
// Errors: GenerateDataset throws OutputError if the directory or a file cannot be written, and
// before writing anything if the directory already holds a .csv file (util/safe_files.h:
// RefuseCsvFiles: an earlier data set's files would be mixed with the new ones); the
// files are renamed into place only once all are written, so a failure leaves none of them and
// no directory it created.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wc::gen {

struct GenOptions {
  uint64_t files = 8;     // number of CSV files
  uint64_t rows = 20000;  // data rows per file
  uint64_t seed = 1;      // everything derives from it
  unsigned threads = 0;   // 0: one per hardware thread
};

class Generator {
 public:
  explicit Generator(uint64_t seed);
  // The full contents of file number `index` (0-based) with `rows` data rows.
  std::string File(uint64_t index, uint64_t rows) const;

 private:
  struct Alias {
    std::vector<double> prob;
    std::vector<uint32_t> alias;
  };
  uint64_t seed_;
  std::vector<std::string> vocab_;
  Alias zipf_;
  friend class RowWriter;
};

// Writes files named tweets_0001.csv ... into `outdir` (created if missing). Returns the paths.
std::vector<std::string> GenerateDataset(const std::string& outdir, const GenOptions& options);

}  // namespace wc::gen

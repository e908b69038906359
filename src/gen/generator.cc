#include "gen/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <filesystem>
#include <memory>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "util/error.h"
#include "util/paths.h"
#include "util/safe_files.h"

namespace wc::gen {

namespace {

constexpr size_t kVocabulary = 500000;
constexpr double kZipfExponent = 1.27;
constexpr uint64_t kCustomers = 80000;

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Words a support conversation is made of, most frequent first.
constexpr std::array<std::string_view, 96> kCommon = {
    "to",   "the",   "I",        "you",     "a",       "and",    "my",      "for",    "is",
    "it",   "your",  "in",       "of",      "this",    "we",     "on",      "me",     "can",
    "that", "with",  "have",     "us",      "be",      "not",    "are",     "please", "DM",
    "help", "so",    "at",       "what",    "just",    "but",    "we'd",    "do",     "Hi",
    "if",   "get",   "from",     "was",     "account", "all",    "an",      "or",     "phone",
    "no",   "will",  "know",     "our",     "out",     "Thanks", "any",     "been",   "there",
    "has",  "still", "time",     "now",     "service", "like",   "order",   "up",     "more",
    "send", "here",  "look",     "happy",   "sorry",   "it's",   "details", "I'm",    "app",
    "hear", "when",  "update",   "iPhone",  "Can",     "number", "back",    "one",    "help.",
    "they", "how",   "customer", "working", "would",   "Please", "email",   "got",    "issue",
    "new",  "why",   "again",    "been",    "day",     "flight"};

constexpr std::array<std::string_view, 24> kBrands = {
    "AppleSupport", "AmazonHelp",   "Uber_Support",   "SpotifyCares",  "Delta",
    "Tesco",        "AmericanAir",  "comcastcares",   "TMobileHelp",   "British_Airways",
    "SouthwestAir", "VirginTrains", "Ask_Spectrum",   "hulu_support",  "sprintcare",
    "XboxSupport",  "AzureSupport", "ChipotleTweets", "UPSHelp",       "AskPlayStation",
    "NikeSupport",  "GWRHelp",      "SW_Help",        "AirAsiaSupport"};

constexpr std::array<std::string_view, 16> kEmoji = {
    "\xF0\x9F\x98\xA1", "\xF0\x9F\x99\x8F", "\xF0\x9F\x98\x82",         "\xE2\x9D\xA4\xEF\xB8\x8F",
    "\xF0\x9F\x91\x8D", "\xF0\x9F\x98\xA9", "\xF0\x9F\x98\x8A",         "\xF0\x9F\x98\xAD",
    "\xF0\x9F\x94\xA5", "\xF0\x9F\x92\xAF", "\xF0\x9F\x98\x92",         "\xF0\x9F\xA4\x94",
    "\xF0\x9F\x98\x8D", "\xF0\x9F\x99\x84", "\xE2\x9C\x88\xEF\xB8\x8F", "\xF0\x9F\x93\xB1"};

constexpr std::array<std::string_view, 10> kUtf8Words = {
    "caf\xC3\xA9",
    "na\xC3\xAFve",
    "\xC3\xBC"
    "ber",
    "se\xC3\xB1or",
    "gr\xC3\xBC\xC3\x9F"
    "e",
    "\xE3\x81\x82\xE3\x82\x8A\xE3\x81\x8C\xE3\x81\xA8\xE3\x81\x86",
    "\xE2\x80\x94",
    "\xE2\x80\x9Cwhy\xE2\x80\x9D",
    "d\xC3\xA9j\xC3\xA0",
    "\xC2\xA3"
    "50"};

constexpr std::array<std::string_view, 8> kPunct = {",", ".", "!", "?", "!!", "...", ":", "?!"};
constexpr std::array<std::string_view, 7> kNaLike = {"",     "NA",   "null", "N/A",
                                                     " NA ", "None", "nan"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 3> kMonths = {"Oct", "Nov", "Dec"};

std::string SyntheticWord(uint64_t n) {
  // Injective: consonant-vowel syllables in mixed radix; each syllable is 2 bytes.
  static constexpr std::string_view kC = "bcdfghjklmnprstvwz";
  static constexpr std::string_view kV = "aeiou";
  constexpr uint64_t kSyl = kC.size() * kV.size();
  std::string w;
  uint64_t block = kSyl;
  while (n >= block) {
    n -= block;
    block *= kSyl;
  }
  do {
    uint64_t s = n % kSyl;
    w += kC[s / kV.size()];
    w += kV[s % kV.size()];
    n /= kSyl;
    block /= kSyl;
  } while (block > 1);
  return w;
}

}  // namespace

Generator::Generator(uint64_t seed) : seed_(seed) {
  vocab_.reserve(kVocabulary);
  for (auto w : kCommon) vocab_.emplace_back(w);
  for (uint64_t i = 0; vocab_.size() < kVocabulary; ++i) vocab_.push_back(SyntheticWord(i));
  // Shuffle the synthetic part so short words are not all the most frequent.
  uint64_t st = seed ^ 0x5eedULL;
  for (size_t i = vocab_.size() - 1; i > kCommon.size(); --i) {
    size_t j = kCommon.size() + SplitMix(st) % (i - kCommon.size() + 1);
    std::swap(vocab_[i], vocab_[j]);
  }
  // Vose's alias method for Zipf(kZipfExponent) over ranks 1..kVocabulary: O(1) sampling.
  const size_t n = vocab_.size();
  std::vector<double> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i)
    sum += p[i] = 1.0 / std::pow(static_cast<double>(i + 1), kZipfExponent);
  zipf_.prob.assign(n, 0);
  zipf_.alias.assign(n, 0);
  std::vector<uint32_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    p[i] = p[i] * static_cast<double>(n) / sum;
    (p[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    uint32_t s = small.back(), l = large.back();
    small.pop_back();
    zipf_.prob[s] = p[s];
    zipf_.alias[s] = l;
    p[l] -= 1.0 - p[s];
    if (p[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  for (uint32_t i : large) zipf_.prob[i] = 1.0;
  for (uint32_t i : small) zipf_.prob[i] = 1.0;
}

class RowWriter {
 public:
  RowWriter(const Generator& g, uint64_t file, uint64_t rows) : g_(g), rows_(rows) {
    state_ = g.seed_ * 0x9E3779B97F4A7C15ULL ^ (file + 1) * 0xD1B54A32D192ED03ULL;
    first_id_ = file * rows + 1;
  }

  std::string Write() {
    std::string out;
    out.reserve(rows_ * 170 + 128);
    out += "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n";
    for (uint64_t r = 0; r < rows_; ++r) Row(first_id_ + r, out);
    return out;
  }

 private:
  uint64_t Next() { return SplitMix(state_); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Uniform() < p; }
  uint64_t Below(uint64_t n) { return Next() % n; }

  const std::string& ZipfWord() {
    size_t i = Below(g_.zipf_.prob.size());
    if (Uniform() >= g_.zipf_.prob[i]) i = g_.zipf_.alias[i];
    return g_.vocab_[i];
  }

  void Text(bool inbound, uint64_t id, std::string& t) {
    double kind = Uniform();
    if (kind < 0.003) {  // empty and NA-like texts
      t = kNaLike[Below(kNaLike.size())];
      return;
    }
    if (kind < 0.0035) {
      t = "\n";
      return;
    }
    if (inbound) {
      t += '@';
      t += kBrands[Below(kBrands.size())];
    } else {
      t += fmt::format("@{}", 1 + Below(kCustomers));
    }
    uint64_t words = 5 + Below(22) + (Chance(0.3) ? Below(12) : 0);
    for (uint64_t w = 0; w < words; ++w) {
      double r = Uniform();
      t += Chance(0.02) ? "  " : " ";
      if (r < 0.015) {
        t += kEmoji[Below(kEmoji.size())];
      } else if (r < 0.022) {
        t += kUtf8Words[Below(kUtf8Words.size())];
      } else if (r < 0.030) {
        t += fmt::format("@{}", 1 + Below(kCustomers));
      } else if (r < 0.036) {
        t += "\"" + ZipfWord() + "\"";  // quotes force CSV quoting with "" escapes
      } else if (r < 0.045) {
        t += ZipfWord();
        t += Chance(0.5) ? "\n" : "\r\n";
        t += ZipfWord();
      } else {
        t += ZipfWord();
        if (Chance(0.05)) t += kPunct[Below(kPunct.size())];
        if (Chance(0.01)) t += kEmoji[Below(kEmoji.size())];
      }
    }
    if (Chance(0.06)) {  // a unique t.co link
      static constexpr std::string_view kB62 =
          "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
      uint64_t h = id * 0x9E3779B97F4A7C15ULL ^ g_.seed_;
      t += " https://t.co/";
      for (int i = 0; i < 10; ++i, h /= 62) t += kB62[h % 62];
    }
    if (!inbound && Chance(0.5))
      t += fmt::format(" ^{}{}", char('A' + Below(26)), char('A' + Below(26)));
    if (Chance(0.01)) t += " ";  // trailing space: an empty last word
  }

  static void Field(std::string_view v, std::string& out) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
      out += v;
      return;
    }
    out += '"';
    for (char c : v) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }

  void Row(uint64_t id, std::string& out) {
    bool inbound = Chance(0.55);
    std::string text;
    Text(inbound, id, text);
    uint64_t secs = id * 37;
    out += fmt::format("{},", id);
    if (inbound) {
      out += fmt::format("{},True,", 1 + Below(kCustomers));
    } else {
      out += kBrands[Below(kBrands.size())];
      out += ",False,";
    }
    out += fmt::format("{} {} {:02} {:02}:{:02}:{:02} +0000 2017,", kDays[(secs / 86400) % 7],
                       kMonths[(secs / 2678400) % 3], 1 + (secs / 86400) % 28, (secs / 3600) % 24,
                       (secs / 60) % 60, secs % 60);
    Field(text, out);
    out += ',';
    double r = Uniform();
    if (r < 0.6) {
      out += fmt::format("{}", id + 1 + Below(5));
    } else if (r < 0.75) {
      out += fmt::format("\"{},{}\"", id + 1, id + 2 + Below(5));
    }
    out += ',';
    if (Chance(0.7)) out += fmt::format("{}", id > 1 ? id - 1 : id);
    out += '\n';
  }

  const Generator& g_;
  uint64_t rows_;
  uint64_t state_;
  uint64_t first_id_;
};

std::string Generator::File(uint64_t index, uint64_t rows) const {
  return RowWriter(*this, index, rows).Write();
}

std::vector<std::string> GenerateDataset(const std::string& outdir, const GenOptions& options) {
  // Files of an earlier data set left beside (or under the names of) the new ones would make a
  // mixed data set: refused, as split refuses them (before any directory is made).
  CheckSafeDirectory(outdir, "output directory");
  RefuseCsvFiles(outdir, "gen");
  OutputDirectories created = MakeOutputDirectories(outdir, "output directory");
  Generator gen(options.seed);
  std::vector<std::string> paths(options.files);
  for (uint64_t f = 0; f < options.files; ++f) {
    paths[f] = (std::filesystem::path(outdir) / fmt::format("tweets_{:04}.csv", f + 1)).string();
  }
  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(options.files)));
  std::atomic<uint64_t> next{0};
  std::vector<std::exception_ptr> errors(threads);
  // Every file stays a temporary file (closed once written) until all are written: a failure
  // (a full disk) leaves none of them, and the directory only if it was there before.
  std::vector<std::unique_ptr<OutputFile>> outs(options.files);
  auto work = [&](unsigned t) {
    try {
      for (uint64_t f; (f = next.fetch_add(1)) < options.files;) {
        // util/safe_files.h: whole or not at all, links replaced
        outs[f] = std::make_unique<OutputFile>(paths[f]);
        outs[f]->Write(gen.File(f, options.rows));
        outs[f]->Finish();
      }
    } catch (...) {
      errors[t] = std::current_exception();
      next.store(options.files);  // the other threads stop after their file
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(work, t);
    } catch (const std::system_error&) {
      break;  // no more threads (a process limit): fewer write the same files
    }
  }
  work(0);
  for (auto& th : pool) th.join();
  size_t committed = 0;
  try {
    for (const auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    for (; committed < outs.size(); ++committed) outs[committed]->Commit();
  } catch (...) {
    std::error_code ec;
    for (size_t i = 0; i < committed; ++i) std::filesystem::remove(paths[i], ec);
    outs.clear();  // removes the temporary files (then `created` the directories it made)
    throw;
  }
  created.Keep();
  return paths;
}

}  // namespace wc::gen

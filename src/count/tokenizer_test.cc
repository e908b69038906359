#include "count/tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "util/padded_buffer.h"

namespace wc {
namespace {

std::vector<std::string> Split(std::string_view text) {
  PaddedBuffer buf;  // provides the 16 readable bytes the tokenizer may load
  buf.append(text.data(), text.size());
  std::vector<std::string> words;
  ForEachWord(buf.view(), [&](const char* w, size_t n) { words.emplace_back(w, n); });
  return words;
}

// Python's str.split(" "), written the obvious way.
std::vector<std::string> PythonSplit(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ' ') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

TEST(Tokenizer, EmptyTextIsOneEmptyWord) { EXPECT_EQ(Split(""), (std::vector<std::string>{""})); }

TEST(Tokenizer, LeadingTrailingAndDoubleSpacesGiveEmptyWords) {
  EXPECT_EQ(Split(" a  b "), (std::vector<std::string>{"", "a", "", "b", ""}));
}

TEST(Tokenizer, TabsNewlinesAndCarriageReturnsAreNotSeparators) {
  EXPECT_EQ(Split("a\tb\nc\rd e"), (std::vector<std::string>{"a\tb\nc\rd", "e"}));
}

TEST(Tokenizer, MatchesPythonSplitOnRandomTexts) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "  ab\t\n\xC3\xA9";
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s(rng() % 70, 'x');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    ASSERT_EQ(Split(s), PythonSplit(s)) << s;
  }
}

}  // namespace
}  // namespace wc

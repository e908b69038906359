// The reference grammar, case by case. Every expectation here was checked against pandas
// (read_csv(lineterminator='\n')); the differential test checks the same on random files.
#include "csv/csv_scanner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "util/mapped_file.h"

namespace wc::csv {
namespace {

using Texts = std::vector<std::string>;

struct Collect {
  Texts* texts;
  std::vector<size_t>* records;
  void OnRecord(size_t r) { records->push_back(r); }
  void OnText(std::string_view t) { texts->emplace_back(t); }
};

// The text values of a whole CSV given as a string, as the reference sees them.
Texts TextsOf(std::string_view csv, const char* column = "text") {
  testing::TempDir dir;
  MappedFile file(dir.Write("t.csv", csv));
  Schema schema = ReadSchema(file.view(), file.path(), column);
  TextScanner scanner(file.view(), file.path(), schema);
  Texts texts;
  std::vector<size_t> records;
  Collect c{&texts, &records};
  scanner.Scan(schema.data_begin, file.size(), c);
  return texts;
}

// The error a CSV produces: "line:message", or "" if it parses.
std::string ErrorOf(std::string_view csv) {
  try {
    TextsOf(csv);
  } catch (const CsvError& e) {
    return std::to_string(e.line()) + ":" + e.message();
  }
  return "";
}

TEST(CsvScanner, PlainRows) {
  EXPECT_EQ(TextsOf("a,text,b\n1,hello world,2\n3,x,4\n"), (Texts{"hello world", "x"}));
}

TEST(CsvScanner, LastRowWithoutNewline) {
  EXPECT_EQ(TextsOf("a,text\n1,x\n2,y"), (Texts{"x", "y"}));
}

TEST(CsvScanner, QuotedFieldKeepsCommasNewlinesAndEscapedQuotes) {
  EXPECT_EQ(TextsOf("a,text\n1,\"x\ny\r\nz, \"\"q\"\"\"\n"), (Texts{"x\ny\r\nz, \"q\""}));
}

TEST(CsvScanner, CharactersAfterClosingQuoteAreKept) {
  EXPECT_EQ(TextsOf("a,text\n1,\"abc\"def x\n2,\"ab\"c\"d\n"), (Texts{"abcdef x", "abc\"d"}));
}

TEST(CsvScanner, QuoteInsideUnquotedFieldIsLiteral) {
  EXPECT_EQ(TextsOf("a,text\n1,ab\"c\n"), (Texts{"ab\"c"}));
}

TEST(CsvScanner, CarriageReturnIsData) {
  EXPECT_EQ(TextsOf("a,text,b\r\n1,x y,z\r\n"), (Texts{"x y"}));
  EXPECT_EQ(TextsOf("a,text\n\r\n1,x\r\n"), (Texts{"nan", "x\r"}));
}

TEST(CsvScanner, CrlfHeaderHasNoTextColumnWhenTextIsLast) {
  EXPECT_EQ(ErrorOf("a,text\r\n1,x\r\n"), "1:no column named 'text' in the header");
}

TEST(CsvScanner, BlankAndWhitespaceOnlyLinesAreSkipped) {
  EXPECT_EQ(TextsOf("\n\na,text\n  \n1,x\n \t\n\n2,y\n   "), (Texts{"x", "y"}));
}

TEST(CsvScanner, LineStartingWithBlanksIsARecord) {
  EXPECT_EQ(TextsOf("a,text\n  1,x\n"), (Texts{"x"}));
}

TEST(CsvScanner, MissingValuesReadAsNan) {
  EXPECT_EQ(TextsOf("a,text\n1,NA\n2, NA \n3,\"NA\"\n4,None\n5,\n6,n/a\n7,-nan\n8,\"\"\n9\n"),
            (Texts{"nan", " NA ", "nan", "nan", "nan", "nan", "nan", "nan", "nan"}));
}

TEST(CsvScanner, EveryPandasNaStringIsMissing) {
  for (const char* na :
       {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}) {
    EXPECT_EQ(TextsOf(std::string("a,text\n1,") + na + "\n"), (Texts{"nan"})) << na;
  }
  EXPECT_EQ(TextsOf("a,text\n1,nA\n2,NONE\n"), (Texts{"nA", "NONE"}));
}

TEST(CsvScanner, TextThatIsExactlyNewlineIsSkipped) {
  EXPECT_EQ(TextsOf("a,text\n1,\"\n\"\n2,\"\n\n\"\n"), (Texts{"\n\n"}));
}

TEST(CsvScanner, NulByteEndsTheValue) {
  using namespace std::string_literals;
  EXPECT_EQ(TextsOf("a,text,b\n1,x\0y,2\n2,\"NA\0z\",3\n"s), (Texts{"x", "nan"}));
}

TEST(CsvScanner, ByteOrderMarkIsDropped) {
  EXPECT_EQ(TextsOf("\xEF\xBB\xBFtext,a\nx,1\n"), (Texts{"x"}));
}

TEST(CsvScanner, FirstOfDuplicateTextColumnsWins) {
  EXPECT_EQ(TextsOf("text,text\nx,y\n"), (Texts{"x"}));
}

TEST(CsvScanner, QuotedHeaderName) { EXPECT_EQ(TextsOf("a,\"text\"\n1,x\n"), (Texts{"x"})); }

TEST(CsvScanner, WiderFirstRowMakesAnImplicitIndex) {
  EXPECT_EQ(TextsOf("a,text\n1,2,hello\n3,4,x\n"), (Texts{"hello", "x"}));
  EXPECT_EQ(TextsOf("a,text\n1,2,hello\n3,4\n"), (Texts{"hello", "nan"}));
  // A trailing comma on the first row shifts every row.
  EXPECT_EQ(TextsOf("a,text\n1,x,\n2,y\n"), (Texts{"nan", "nan"}));
}

TEST(CsvScanner, ShortRowsArePaddedWithNan) {
  EXPECT_EQ(TextsOf("a,text,c\n1\n1,2\n1,2,3\n"), (Texts{"nan", "2", "2"}));
}

TEST(CsvScanner, RowWiderThanHeaderIsAnErrorNamingItsLine) {
  EXPECT_EQ(ErrorOf("a,text,c\n1\n1,2,3,4\n"), "3:expected 3 fields, saw 4");
  // Lines are physical lines: a quoted newline counts.
  EXPECT_EQ(ErrorOf("a,text\n1,\"x\ny\"\n1,2,3\n"), "4:expected 2 fields, saw 3");
}

TEST(CsvScanner, UnterminatedQuoteIsAnErrorAtItsLine) {
  EXPECT_EQ(ErrorOf("a,text\n1,x\n2,\"abc\ndef\n"),
            "3:end of file inside a quoted field that starts here");
}

TEST(CsvScanner, EmptyOrBlankFileHasNoColumns) {
  EXPECT_EQ(ErrorOf(""), "0:no columns to parse (empty file)");
  EXPECT_EQ(ErrorOf("\n \n\t\n"), "0:no columns to parse (empty file)");
}

TEST(CsvScanner, HeaderOnlyFileHasNoRows) {
  EXPECT_EQ(TextsOf("a,text\n"), Texts{});
  EXPECT_EQ(TextsOf("a,text"), Texts{});
}

TEST(CsvScanner, MissingTextColumnIsAnError) {
  EXPECT_EQ(ErrorOf("a,b\n1,2\n"), "1:no column named 'text' in the header");
  EXPECT_EQ(ErrorOf("a, text\n1,2\n"), "1:no column named 'text' in the header");
}

TEST(CsvScanner, OtherColumnByName) {
  EXPECT_EQ(TextsOf("a,body\n1,x y\n", "body"), (Texts{"x y"}));
}

TEST(CsvScanner, TrailingDelimiterAtEofMakesAnEmptyField) {
  EXPECT_EQ(TextsOf("text,a\nx,1\ny,"), (Texts{"x", "y"}));
  EXPECT_EQ(TextsOf("a,text\n1,x\n2,"), (Texts{"x", "nan"}));
}

TEST(CsvScanner, LongFieldsCrossManySimdBlocks) {
  std::string big(1000, 'w');
  big[500] = ' ';
  EXPECT_EQ(TextsOf("a,text\n1," + big + "\n2,\"" + big + "\"\n"), (Texts{big, big}));
}

TEST(CsvScanner, ErrorAfterGoodRecordsReportsWhereItStopped) {
  std::string csv = "a,text\n1,x\n2,y\n3,z,9\n";
  try {
    TextsOf(csv);
    FAIL() << "no error";
  } catch (const CsvError& e) {
    EXPECT_EQ(e.record_begin(), csv.find("3,z"));
    EXPECT_NE(std::string(e.what()).find("t.csv:4:"), std::string::npos) << e.what();
  }
}

TEST(CsvScanner, UnreadablePathNamesTheFile) {
  try {
    MappedFile f("/nonexistent/dir/x.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "/nonexistent/dir/x.csv");
    EXPECT_NE(e.message().find("cannot open"), std::string::npos);
  }
}

}  // namespace
}  // namespace wc::csv

#include "csv/splitter.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "csv/csv_scanner.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace wc::csv {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class PartWriter {
 public:
  PartWriter(const MappedFile& in, std::string header, std::string outdir,
             const SplitOptions& options, size_t data_begin)
      : in_(in),
        header_(std::move(header)),
        outdir_(std::move(outdir)),
        options_(options),
        part_begin_(data_begin) {}

  void OnRecord(size_t record) {
    bool full = options_.rows ? records_ == options_.rows
                              : records_ > 0 && record - part_begin_ >= options_.bytes;
    if (full) {
      Emit(record);
      part_begin_ = record;
      records_ = 0;
    }
    ++records_;
  }
  void OnText(std::string_view) {}

  void Finish() {
    if (records_ > 0) Emit(in_.size());
  }
  const std::vector<std::string>& parts() const { return parts_; }

 private:
  void Emit(size_t end) {
    std::string path =
        (std::filesystem::path(outdir_) / fmt::format("part_{:04}.csv", parts_.size() + 1))
            .string();
    std::unique_ptr<std::FILE, FileCloser> out(std::fopen(path.c_str(), "wb"));
    if (!out) throw OutputError(path, "cannot create", errno);
    parts_.push_back(path);
    const size_t n = end - part_begin_;
    bool ok = std::fwrite(header_.data(), 1, header_.size(), out.get()) == header_.size() &&
              std::fwrite(in_.data() + part_begin_, 1, n, out.get()) == n;
    int err = ok ? 0 : errno;
    if (std::fclose(out.release()) != 0 && ok) err = errno, ok = false;
    if (!ok) throw OutputError(path, "cannot write", err);
  }

  const MappedFile& in_;
  std::string header_;
  std::string outdir_;
  SplitOptions options_;
  size_t part_begin_;
  uint64_t records_ = 0;
  std::vector<std::string> parts_;
};

}  // namespace

std::vector<std::string> SplitCsv(const std::string& input, const std::string& outdir,
                                  const SplitOptions& options) {
  if ((options.rows == 0) == (options.bytes == 0)) {
    throw UsageError("split needs exactly one of --rows N and --bytes N, with N > 0");
  }
  MappedFile in(input);
  Schema schema;
  try {
    schema = ReadSchema(in.view(), input, /*required_column=*/"");
  } catch (const CsvError&) {
    in.CheckUnchanged();  // a change explains the error better
    throw;
  }
  std::string header(schema.leading_fields, ',');
  header.append(in.data() + schema.header_begin, schema.header_end - schema.header_begin);
  header += '\n';

  std::error_code ec;
  std::filesystem::create_directories(outdir, ec);
  if (ec) throw OutputError(outdir, "cannot create directory: " + ec.message());

  PartWriter writer(in, std::move(header), outdir, options, schema.data_begin);
  try {
    TextScanner scanner(in.view(), input, schema);  // schema.text_index is kNoColumn
    scanner.Scan(schema.data_begin, in.size(), writer);
    writer.Finish();
    in.CheckUnchanged();  // parts cut from a file that changed meanwhile are not its parts
  } catch (...) {
    for (const auto& p : writer.parts()) std::filesystem::remove(p, ec);
    throw;
  }
  return writer.parts();
}

}  // namespace wc::csv

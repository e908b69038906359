#include "csv/splitter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <string_view>

#include "csv/csv_scanner.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/safe_files.h"

namespace wc::csv {

namespace {

class PartWriter {
 public:
  PartWriter(const MappedFile& in, std::string header, std::string outdir,
             const SplitOptions& options, size_t data_begin)
      : in_(in),
        header_(std::move(header)),
        outdir_(std::move(outdir)),
        options_(options),
        part_begin_(data_begin),
        next_(std::make_unique<OutputFile>(PartPath(1))) {}

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
    next_.reset();
  }

  // Renames every part into place (until then they are temporary files: util/safe_files.h);
  // returns their paths. If one fails, the parts already renamed are removed.
  std::vector<std::string> Commit() {
    std::vector<std::string> done;
    try {
      for (auto& part : parts_) {
        part->Commit();
        done.push_back(part->path());
      }
    } catch (...) {
      std::error_code ec;
      for (const auto& p : done) std::filesystem::remove(p, ec);
      throw;
    }
    return done;
  }

 private:
  std::string PartPath(size_t n) const {
    return (std::filesystem::path(outdir_) / fmt::format("part_{:04}.csv", n)).string();
  }

  void Emit(size_t end) {
    std::unique_ptr<OutputFile> out =
        next_ ? std::move(next_) : std::make_unique<OutputFile>(PartPath(parts_.size() + 1));
    out->Write(header_);
    try {
      out->Write(std::string_view(in_.data() + part_begin_, end - part_begin_));
    } catch (const OutputError& e) {
      // write(2) from pages of an input truncated meanwhile fails with EFAULT: the input
      // changed, not the output.
      if (e.error() == EFAULT) in_.CheckUnchanged();
      throw;
    }
    out->Finish();  // closed: a split into many parts does not hold a descriptor per part
    parts_.push_back(std::move(out));
  }

  const MappedFile& in_;
  std::string header_;
  std::string outdir_;
  SplitOptions options_;
  size_t part_begin_;
  uint64_t records_ = 0;
  std::unique_ptr<OutputFile> next_;  // the first part, created before any is cut
  std::vector<std::unique_ptr<OutputFile>> parts_;
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

  CheckSafeDirectory(outdir, "output directory");  // util/safe_files.h, before reading it
  RefuseCsvFiles(outdir, "split");
  // On any error the directories made here are removed (after the writer and its files).
  OutputDirectories created = MakeOutputDirectories(outdir, "output directory");
  // Creates the first part at once: an output directory that cannot take it fails before the
  // input is read. Every part stays a temporary file until all are written and the input is
  // known unchanged; on any error they are removed with the writer.
  PartWriter writer(in, std::move(header), outdir, options, schema.data_begin);
  TextScanner scanner(in.view(), input, schema);  // schema.text_index is kNoColumn
  scanner.Scan(schema.data_begin, in.size(), writer);
  writer.Finish();
  in.CheckUnchanged();  // parts cut from a file that changed meanwhile are not its parts
  std::vector<std::string> parts = writer.Commit();
  created.Keep();
  return parts;
}

}  // namespace wc::csv

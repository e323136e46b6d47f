#pragma once
// What `--out DIR` writes: DIR/log.csv (one row per logged step) and DIR/summary.json (the final
// metrics). Every file is written atomically, to a temporary file renamed over the target, so a
// reader (or a crash) never sees a half-written file.

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "polo/core/error.hpp"

namespace polo::examples {

/// Seconds since construction (or the last `restart`), from the steady clock.
class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  void restart() { start_ = Clock::now(); }
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed and
/// synced, then renamed over `path`. Throws polo::io_error with the path and the reason; on
/// failure no temporary file is left behind and any previous `path` is untouched.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path tmp =
      path.string() + fmt::format(".tmp.{}", static_cast<long>(::getpid()));
  auto fail = [&](std::string_view what, const std::string& reason) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw io_error(path.string(), fmt::format("{}: {}", what, reason));
  };
  auto last_error = [] { return std::strerror(errno != 0 ? errno : EIO); };
  errno = 0;
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) fail("cannot create a temporary file", last_error());
  bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size() &&
            std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  std::string reason = ok ? "" : last_error();
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    reason = last_error();
  }
  if (!ok) fail("cannot write", reason);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename the temporary file into place", ec.message());
}

/// Writes `json` to `path` atomically, indented, with a final newline. NaN and infinities are
/// written as `null` (nlohmann-json's `dump` does so; JSON has no NaN).
template <class Json>
requires requires(const Json& j) {
  j.dump(2);
}
void write_json(const std::filesystem::path& path, const Json& json) {
  write_file_atomic(path, json.dump(2) + "\n");
}

/// A CSV log: a header row, then one row of numbers per logged step. Numbers are written in
/// the shortest form that reads back to the same double; NaN and infinities as empty fields.
///
/// Rows are kept in memory and the whole file is rewritten atomically by `flush()`, which runs
/// at most every `flush_interval_seconds` from `row()`, and on destruction; logs of a few
/// thousand rows cost nothing to rewrite, and the file on disk is always complete. An empty
/// path keeps the log in memory only (`text()`).
class CsvLog {
 public:
  CsvLog(std::filesystem::path path, std::vector<std::string> columns,
         double flush_interval_seconds = 5.0)
      : path_(std::move(path)), columns_(std::move(columns)), interval_(flush_interval_seconds) {
    if (columns_.empty())
      throw invalid_argument("polo::examples::CsvLog: columns must not be empty");
    for (std::size_t k = 0; k < columns_.size(); ++k) {
      if (k > 0) text_ += ',';
      append_field(columns_[k]);
    }
    text_ += '\n';
    flush();
  }

  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;

  ~CsvLog() {
    try {
      if (dirty_) flush();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
  }

  /// Appends one row; `values` must have one entry per column.
  void row(std::span<const double> values) {
    if (values.size() != columns_.size()) {
      detail::fail_argument("polo::examples::CsvLog::row", "number of values",
                            fmt::format("the number of columns ({})", columns_.size()),
                            values.size());
    }
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (k > 0) text_ += ',';
      if (std::isfinite(values[k])) fmt::format_to(std::back_inserter(text_), "{}", values[k]);
    }
    text_ += '\n';
    ++rows_;
    dirty_ = true;
    if (since_flush_.seconds() >= interval_) flush();
  }
  void row(std::initializer_list<double> values) {
    row(std::span<const double>(values.begin(), values.size()));
  }

  /// Rewrites the file with every row so far (atomically).
  void flush() {
    if (!path_.empty()) write_file_atomic(path_, text_);
    dirty_ = false;
    since_flush_.restart();
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] const std::vector<std::string>& columns() const noexcept { return columns_; }
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  /// The CSV text so far (what the file holds after the next flush).
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  // RFC 4180: quote a field holding a comma, a quote or a line break; double inner quotes.
  void append_field(std::string_view field) {
    if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
      text_ += field;
      return;
    }
    text_ += '"';
    for (const char c : field) {
      if (c == '"') text_ += '"';
      text_ += c;
    }
    text_ += '"';
  }

  std::filesystem::path path_;
  std::vector<std::string> columns_;
  double interval_;
  std::string text_;
  std::size_t rows_ = 0;
  bool dirty_ = false;
  Stopwatch since_flush_;
};

/// The output directory of a run (`--out DIR`). An empty directory means "no output": `log`
/// returns a log that keeps its rows in memory only and `write_summary` does nothing, so a
/// trainer needs no branches.
class RunOutput {
 public:
  /// Creates `dir` (and its parents) when given. Throws polo::io_error naming the directory.
  explicit RunOutput(std::filesystem::path dir) : dir_(std::move(dir)) {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
      throw io_error(dir_.string(),
                     fmt::format("cannot create the output directory: {}", ec.message()));
    }
    if (!std::filesystem::is_directory(dir_, ec)) {
      throw io_error(dir_.string(), "not a directory");
    }
  }

  [[nodiscard]] bool enabled() const noexcept { return !dir_.empty(); }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

  /// Starts DIR/log.csv with these columns (the header row is written at once). The log lives
  /// as long as this RunOutput; a second call replaces it.
  CsvLog& log(std::vector<std::string> columns) {
    log_.reset();  // flush the previous log first
    log_ = std::make_unique<CsvLog>(enabled() ? dir_ / "log.csv" : std::filesystem::path{},
                                    std::move(columns));
    return *log_;
  }

  /// Writes DIR/summary.json (NaN as null).
  template <class Json>
  void write_summary(const Json& summary) const {
    if (enabled()) write_json(dir_ / "summary.json", summary);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<CsvLog> log_;
};

}  // namespace polo::examples

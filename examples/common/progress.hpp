#pragma once
// A one-line progress display: rewritten in place on a terminal, plain throttled lines in a log.

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include <unistd.h>

namespace polo::examples {

/// Shows a training run's progress on one line.
///
/// On a terminal each `update` rewrites the line in place ('\r', the text, clear to the end of
/// the line). Anywhere else (a pipe, a file, CI logs) updates become plain lines, at most one per
/// `plain_interval_seconds`, so logs stay short; `finish` always prints its line. A null stream
/// shows nothing (`--quiet`).
class ProgressLine {
 public:
  enum class Mode { automatic, terminal, plain };

  explicit ProgressLine(std::FILE* stream = stdout, double plain_interval_seconds = 2.0,
                        Mode mode = Mode::automatic)
      : stream_(stream), interval_(plain_interval_seconds) {
    if (stream_ != nullptr) {
      terminal_ =
          mode == Mode::terminal || (mode == Mode::automatic && ::isatty(::fileno(stream_)) == 1);
    }
  }

  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  /// Ends an unfinished terminal line so that what follows starts on a fresh one.
  ~ProgressLine() {
    if (stream_ != nullptr && open_) {
      std::fputc('\n', stream_);
      std::fflush(stream_);
    }
  }

  /// Shows `text` as the current progress (throttled when not on a terminal).
  void update(std::string_view text) {
    if (stream_ == nullptr) return;
    if (terminal_) {
      write_in_place(text);
      open_ = true;
      return;
    }
    const auto now = Clock::now();
    if (printed_ && std::chrono::duration<double>(now - last_).count() < interval_) return;
    last_ = now;
    printed_ = true;
    write_line(text);
  }

  /// Shows `text` as the final line, always.
  void finish(std::string_view text) {
    if (stream_ == nullptr) return;
    if (terminal_) {
      write_in_place(text);
      std::fputc('\n', stream_);
      std::fflush(stream_);
      open_ = false;
    } else {
      write_line(text);
    }
  }

  [[nodiscard]] bool is_terminal() const noexcept { return terminal_; }

 private:
  using Clock = std::chrono::steady_clock;

  void write_in_place(std::string_view text) {
    std::fputc('\r', stream_);
    std::fwrite(text.data(), 1, text.size(), stream_);
    std::fputs("\x1b[K", stream_);  // clear what a longer previous line left behind
    std::fflush(stream_);
  }

  void write_line(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stream_);
    std::fputc('\n', stream_);
    std::fflush(stream_);
  }

  std::FILE* stream_;
  double interval_;
  bool terminal_ = false;
  bool open_ = false;
  bool printed_ = false;
  Clock::time_point last_{};
};

}  // namespace polo::examples

#pragma once
// polo's exceptions and the argument checks every component uses to raise them.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "polo/core/types.hpp"

namespace polo {

/// A wrong shape, an out-of-range hyper-parameter or an inconsistent input. The message names
/// the argument, what was expected and what came.
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A non-finite value (NaN or inf) at a position that counts. Carries the field, row and column.
class nonfinite_error : public invalid_argument {
 public:
  nonfinite_error(std::string where, std::string field, Index row, Index col, double value)
      : invalid_argument(fmt::format("{}: {} must be finite at every valid position, got {} at row "
                                     "{}, column {}",
                                     where, field, value, row, col)),
        field_(std::move(field)),
        row_(row),
        col_(col) {}

  [[nodiscard]] const std::string& field() const noexcept { return field_; }
  [[nodiscard]] Index row() const noexcept { return row_; }
  [[nodiscard]] Index col() const noexcept { return col_; }

 private:
  std::string field_;
  Index row_;
  Index col_;
};

/// A file that cannot be read or written (checkpoints, data sets): names the path and the reason.
class io_error : public std::runtime_error {
 public:
  io_error(std::string path, std::string reason)
      : std::runtime_error(fmt::format("polo: {}: {}", path, reason)),
        path_(std::move(path)),
        reason_(std::move(reason)) {}

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

namespace detail {

/// Throws `polo::invalid_argument` with "<where>: <field> must be <expected>, got <actual>".
template <class Actual>
[[noreturn]] void fail_argument(std::string_view where, std::string_view field,
                                std::string_view expected, const Actual& actual) {
  throw invalid_argument(fmt::format("{}: {} must be {}, got {}", where, field, expected, actual));
}

inline void require(bool ok, std::string_view where, std::string_view field,
                    std::string_view expected, double actual) {
  if (!ok) fail_argument(where, field, expected, actual);
}

inline void require_positive(std::string_view where, std::string_view field, double value) {
  require(value > 0.0, where, field, "> 0", value);
}

inline void require_nonnegative(std::string_view where, std::string_view field, double value) {
  require(value >= 0.0, where, field, ">= 0", value);
}

/// Closed interval [lo, hi].
inline void require_in(std::string_view where, std::string_view field, double value, double lo,
                       double hi) {
  if (!(value >= lo && value <= hi)) {
    fail_argument(where, field, fmt::format("in [{}, {}]", lo, hi), value);
  }
}

/// Half-open interval [lo, hi).
inline void require_in_half_open(std::string_view where, std::string_view field, double value,
                                 double lo, double hi) {
  if (!(value >= lo && value < hi)) {
    fail_argument(where, field, fmt::format("in [{}, {})", lo, hi), value);
  }
}

}  // namespace detail
}  // namespace polo

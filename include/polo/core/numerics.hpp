#pragma once
// Stable scalar functions and masked reductions. Reductions accumulate in double whatever the
// input scalar, and read values only where the mask says the token counts.

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// log(1 + e^x) without overflow for large x or loss of precision for very negative x.
inline double softplus(double x) noexcept {
  if (x > 0.0) return x + std::log1p(std::exp(-x));
  return std::log1p(std::exp(x));
}

/// log(sigmoid(x)) = -softplus(-x).
inline double log_sigmoid(double x) noexcept {
  return -softplus(-x);
}

/// 1 / (1 + e^-x), exact at both tails.
inline double sigmoid(double x) noexcept {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

/// log(sum(exp(x))); -inf for an empty range or all -inf; NaN if any entry is NaN.
template <class Scalar>
double logsumexp(std::span<const Scalar> x) noexcept {
  double hi = -std::numeric_limits<double>::infinity();
  for (const Scalar v : x) {
    const auto d = static_cast<double>(v);
    if (d > hi || std::isnan(d)) hi = d;  // std::max would drop a NaN and hide it
    if (std::isnan(hi)) break;
  }
  if (!std::isfinite(hi)) return hi;
  double sum = 0.0;
  for (const Scalar v : x)
    sum += std::exp(static_cast<double>(v) - hi);
  return hi + std::log(sum);
}

/// Writes log-softmax of `x` into `out` (same size); returns the logsumexp.
template <class Scalar, class Out>
double log_softmax(std::span<const Scalar> x, std::span<Out> out) noexcept {
  const double lse = logsumexp(x);
  for (std::size_t k = 0; k < x.size(); ++k)
    out[k] = static_cast<Out>(x[k] - lse);
  return lse;
}

/// Number of valid positions of a [rows, cols] mask (all of them for a null mask).
inline double count_valid(const MaskView& mask, Index rows, Index cols) {
  if (mask.is_null()) return static_cast<double>(rows * cols);
  return mask.visit([&](auto valid) {
    double n = 0.0;
    for (Index i = 0; i < rows; ++i) {
      for (Index t = 0; t < cols; ++t)
        n += valid(i, t) ? 1.0 : 0.0;
    }
    return n;
  });
}

/// Sum over valid positions, in double.
template <class S>
double masked_sum(TokenView<const S> x, const MaskView& mask = {}) {
  detail::require_mask_shape("polo::masked_sum", mask, x.rows(), x.cols());
  return mask.visit([&](auto valid) {
    double sum = 0.0;
    for (Index i = 0; i < x.rows(); ++i) {
      const S* row = x.row(i);
      for (Index t = 0; t < x.cols(); ++t) {
        if (valid(i, t)) sum += static_cast<double>(row[t]);
      }
    }
    return sum;
  });
}

/// Mean over valid positions; 0 when none is valid (never NaN).
template <class S>
double masked_mean(TokenView<const S> x, const MaskView& mask = {}) {
  detail::require_mask_shape("polo::masked_mean", mask, x.rows(), x.cols());
  const double n = count_valid(mask, x.rows(), x.cols());
  return n > 0.0 ? masked_sum(x, mask) / n : 0.0;
}

/// Population (ddof = 0) or sample (ddof = 1) variance over valid positions, in double, two-pass.
/// Returns 0 when fewer than ddof + 1 positions are valid.
template <class S>
double masked_variance(TokenView<const S> x, const MaskView& mask = {}, int ddof = 0) {
  detail::require_mask_shape("polo::masked_variance", mask, x.rows(), x.cols());
  const double n = count_valid(mask, x.rows(), x.cols());
  if (n <= static_cast<double>(ddof)) return 0.0;
  const double mean = masked_sum(x, mask) / n;
  const double ss = mask.visit([&](auto valid) {
    double acc = 0.0;
    for (Index i = 0; i < x.rows(); ++i) {
      for (Index t = 0; t < x.cols(); ++t) {
        if (valid(i, t)) {
          const double d = static_cast<double>(x(i, t)) - mean;
          acc += d * d;
        }
      }
    }
    return acc;
  });
  return ss / (n - ddof);
}

namespace detail {

struct Position {
  Index row;
  Index col;
  double value;
};

/// The first non-finite value at a valid position, if any.
template <class S>
std::optional<Position> find_nonfinite(TokenView<const S> x, const MaskView& mask) {
  return mask.visit([&](auto valid) -> std::optional<Position> {
    for (Index i = 0; i < x.rows(); ++i) {
      for (Index t = 0; t < x.cols(); ++t) {
        if (valid(i, t) && !std::isfinite(static_cast<double>(x(i, t)))) {
          return Position{i, t, static_cast<double>(x(i, t))};
        }
      }
    }
    return std::nullopt;
  });
}

/// Throws `nonfinite_error` naming `field` if `x` (when present) holds a non-finite value at a
/// valid position. Losses call this only after their result came out non-finite, so the common
/// path pays nothing for the check.
template <class S>
void check_finite(std::string_view where, std::string_view field, TokenView<const S> x,
                  const MaskView& mask) {
  if (x.is_null()) return;
  if (const auto bad = find_nonfinite(x, mask)) {
    throw nonfinite_error(std::string(where), std::string(field), bad->row, bad->col, bad->value);
  }
}

template <class S>
void check_finite(std::string_view where, std::string_view field, SeqView<const S> x) {
  for (Index i = 0; i < x.size(); ++i) {
    if (!std::isfinite(static_cast<double>(x[i]))) {
      throw nonfinite_error(std::string(where), std::string(field), i, 0,
                            static_cast<double>(x[i]));
    }
  }
}

/// Whether every valid entry of a `[B, T]` gradient and the value are finite (one cheap pass).
template <class S>
bool all_finite(double value, TokenView<const S> grad) {
  if (!std::isfinite(value)) return false;
  double sum = 0.0;
  for (Index i = 0; i < grad.rows(); ++i) {
    const S* row = grad.row(i);
    for (Index t = 0; t < grad.cols(); ++t)
      sum += static_cast<double>(row[t]) * 0.0;
  }
  return std::isfinite(sum);
}

}  // namespace detail
}  // namespace polo

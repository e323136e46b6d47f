#pragma once
// Internals shared by the token losses: on-the-fly aggregation weights (so `compute` allocates
// nothing), output-view checks and the non-finite diagnosis DESIGN.md asks for.

#include <cmath>
#include <initializer_list>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "polo/core/aggregation.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo::detail {

/// The per-row weight w_i of `polo::aggregation_weights`, computed row by row inside the fused
/// loop instead of into a buffer. `valid` is the typed mask a `MaskView::visit` hands out.
template <class Valid>
class RowWeights {
 public:
  RowWeights(const Aggregation& agg, Valid valid, Index rows, Index cols)
      : mode_(agg.mode), valid_(valid), cols_(cols) {
    row_norm_ = agg.normalizer > 0.0 ? agg.normalizer : static_cast<double>(rows);
    switch (agg.mode) {
      case AggregationMode::token_mean: {
        double n = agg.normalizer;
        if (n <= 0.0) {
          n = 0.0;
          for (Index i = 0; i < rows; ++i) {
            n += valid_in_row(i);
          }
        }
        constant_ = n > 0.0 ? 1.0 / n : 0.0;
        break;
      }
      case AggregationMode::seq_mean_token_mean:
        break;
      case AggregationMode::seq_mean_token_sum:
        constant_ = rows > 0 ? 1.0 / row_norm_ : 0.0;
        break;
      case AggregationMode::token_sum_over_constant:
        constant_ = 1.0 / agg.normalizer;
        break;
    }
  }

  [[nodiscard]] double operator()(Index i) const {
    if (mode_ != AggregationMode::seq_mean_token_mean) return constant_;
    const double n = valid_in_row(i);
    return n > 0.0 ? 1.0 / (row_norm_ * n) : 0.0;
  }

 private:
  [[nodiscard]] double valid_in_row(Index i) const {
    double n = 0.0;
    for (Index t = 0; t < cols_; ++t) {
      n += valid_(i, t) ? 1.0 : 0.0;
    }
    return n;
  }

  AggregationMode mode_;
  Valid valid_;
  Index cols_;
  double row_norm_ = 0.0;
  double constant_ = 0.0;
};

/// A required `[rows, cols]` input.
template <class S>
void require_input(std::string_view where, std::string_view field, TokenView<S> v, Index rows,
                   Index cols) {
  require_shape(where, field, v, rows, cols);
}

/// A `[rows, cols]` output view: right shape, and not a broadcast (stride 0) view, which would
/// make every row write over the same memory.
template <class S>
void require_output(std::string_view where, std::string_view field, TokenView<S> v, Index rows,
                    Index cols) {
  require_shape(where, field, v, rows, cols);
  if (rows > 1 && cols > 0 && v.stride() == 0) {
    fail_argument(where, fmt::format("{} row stride", field), "> 0 (an output cannot broadcast)",
                  0);
  }
}

/// The owning form of a loss call: sizes the result's gradient (the member `grad`) and its
/// per-token losses like the `[rows, cols]` input, runs the zero-allocation kernel
/// `run(grad_view, per_token_view)` into them, and keeps its value and metrics.
template <class Result, class S, class Run>
Result owning_call(Index rows, Index cols, TokenArray<S> Result::*grad, Run&& run) {
  Result out;
  (out.*grad).resize(rows, cols);
  out.per_token.resize(rows, cols);
  const auto v = std::forward<Run>(run)(TokenView<S>(out.*grad), TokenView<S>(out.per_token));
  out.value = v.value;
  out.metrics = v.metrics;
  return out;
}

/// Turns one element of `std::initializer_list` into a named input for `fail_nonfinite`.
template <class S>
using NamedInput = std::pair<std::string_view, TokenView<const S>>;

/// Called only when a loss's value or gradient came out non-finite (so the common path pays
/// nothing): throws `nonfinite_error` for the first input holding NaN/inf at a valid position,
/// else `invalid_argument` saying the finite inputs overflowed (`hint` says how to avoid it).
template <class S>
[[noreturn]] void fail_nonfinite(std::string_view where,
                                 std::initializer_list<NamedInput<S>> inputs, const MaskView& mask,
                                 double value, std::string_view hint) {
  for (const auto& [field, view] : inputs) {
    check_finite(where, field, view, mask);
  }
  fail_argument(where, "the loss", fmt::format("finite for finite inputs ({})", hint), value);
}

}  // namespace polo::detail

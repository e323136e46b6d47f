#pragma once
// How per-token losses become one number: the aggregation modes PPO and GRPO share.
//
// Every mode is a per-row weight w_i such that aggregate(x) = sum_i w_i * sum_{t valid} x_it, so a
// loss's gradient with respect to token (i, t) is w_i times the per-token derivative.

#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/view.hpp"

namespace polo {

enum class AggregationMode {
  token_mean,  ///< sum / (valid tokens in the batch)          (verl token-mean, TRL bnpo/dapo)
  seq_mean_token_mean,      ///< mean over rows of each row's token mean    (TRL grpo)
  seq_mean_token_sum,       ///< mean over rows of each row's token sum
  token_sum_over_constant,  ///< sum / constant                             (TRL dr_grpo: B * L_max)
};

struct Aggregation {
  AggregationMode mode = AggregationMode::token_mean;
  /// token_mean: the valid-token count of the whole batch when > 0 (so that micro-batches add up
  /// to the full-batch loss, as TRL's dapo does); seq_mean_*: the whole batch's row count when > 0;
  /// token_sum_over_constant: the constant itself (required, > 0).
  double normalizer = 0.0;

  static Aggregation token_mean(double global_tokens = 0.0) {
    return {AggregationMode::token_mean, global_tokens};
  }
  static Aggregation seq_mean_token_mean(double global_rows = 0.0) {
    return {AggregationMode::seq_mean_token_mean, global_rows};
  }
  static Aggregation seq_mean_token_sum(double global_rows = 0.0) {
    return {AggregationMode::seq_mean_token_sum, global_rows};
  }
  static Aggregation token_sum_over(double constant) {
    return {AggregationMode::token_sum_over_constant, constant};
  }

  void validate(std::string_view where) const {
    if (mode == AggregationMode::token_sum_over_constant) {
      detail::require_positive(where, "aggregation.normalizer (the constant)", normalizer);
    } else {
      detail::require_nonnegative(where, "aggregation.normalizer", normalizer);
    }
  }
};

/// Writes the per-row weights of `agg` for a `[rows, cols]` batch under `mask` into `weights`
/// (size `rows`). Rows without a valid token contribute nothing (their valid sum is empty; under
/// seq_mean_token_mean their weight is 0); nothing divides by zero.
inline void aggregation_weights(const Aggregation& agg, const MaskView& mask, Index rows,
                                Index cols, std::span<double> weights) {
  constexpr std::string_view where = "polo::aggregation_weights";
  agg.validate(where);
  detail::require_mask_shape(where, mask, rows, cols);
  if (static_cast<Index>(weights.size()) != rows) {
    detail::fail_argument(where, "weights size", fmt::format("[{}] (one per row)", rows),
                          fmt::format("[{}]", weights.size()));
  }
  auto valid_in_row = [&](Index i) {
    if (mask.is_null()) return static_cast<double>(cols);
    return mask.visit([&](auto valid) {
      double n = 0.0;
      for (Index t = 0; t < cols; ++t)
        n += valid(i, t) ? 1.0 : 0.0;
      return n;
    });
  };
  const double row_norm = agg.normalizer > 0.0 ? agg.normalizer : static_cast<double>(rows);
  switch (agg.mode) {
    case AggregationMode::token_mean: {
      double n = agg.normalizer;
      if (n <= 0.0) {
        for (Index i = 0; i < rows; ++i)
          n += valid_in_row(i);
      }
      const double w = n > 0.0 ? 1.0 / n : 0.0;
      std::fill(weights.begin(), weights.end(), w);
      break;
    }
    case AggregationMode::seq_mean_token_mean:
      for (Index i = 0; i < rows; ++i) {
        const double n = valid_in_row(i);
        weights[static_cast<std::size_t>(i)] = n > 0.0 ? 1.0 / (row_norm * n) : 0.0;
      }
      break;
    case AggregationMode::seq_mean_token_sum:
      std::fill(weights.begin(), weights.end(), rows > 0 ? 1.0 / row_norm : 0.0);
      break;
    case AggregationMode::token_sum_over_constant:
      std::fill(weights.begin(), weights.end(), 1.0 / agg.normalizer);
      break;
  }
}

inline std::vector<double> aggregation_weights(const Aggregation& agg, const MaskView& mask,
                                               Index rows, Index cols) {
  std::vector<double> w(static_cast<std::size_t>(rows));
  aggregation_weights(agg, mask, rows, cols, w);
  return w;
}

/// The aggregate of `x` over valid positions.
template <class S>
double aggregate(TokenView<const S> x, const MaskView& mask, const Aggregation& agg) {
  agg.validate("polo::aggregate");
  detail::require_mask_shape("polo::aggregate", mask, x.rows(), x.cols());
  const auto w = aggregation_weights(agg, mask, x.rows(), x.cols());
  return mask.visit([&](auto valid) {
    double total = 0.0;
    for (Index i = 0; i < x.rows(); ++i) {
      double row_sum = 0.0;
      for (Index t = 0; t < x.cols(); ++t) {
        if (valid(i, t)) row_sum += static_cast<double>(x(i, t));
      }
      total += w[static_cast<std::size_t>(i)] * row_sum;
    }
    return total;
  });
}

}  // namespace polo

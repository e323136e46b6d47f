#pragma once
// Helpers shared by the loss, distribution and advantage tests.

#include <vector>

#include "polo/core/aggregation.hpp"
#include "test_support.hpp"

namespace polo_loss_test {

/// The reference vectors carry 6 significant digits: half a unit in the last place is up to 5e-6
/// relative.
inline constexpr double kVectorTol = 5e-6;

/// Every aggregation mode, the global-count ones with the fixture's `global_tokens` (token_mean)
/// and `sum_over` (token_sum_over) constants.
inline std::vector<polo::Aggregation> all_aggregations(double global_tokens, double sum_over) {
  return {polo::Aggregation::token_mean(), polo::Aggregation::token_mean(global_tokens),
          polo::Aggregation::seq_mean_token_mean(), polo::Aggregation::seq_mean_token_sum(),
          polo::Aggregation::token_sum_over(sum_over)};
}

}  // namespace polo_loss_test

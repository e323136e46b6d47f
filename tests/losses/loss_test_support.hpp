#pragma once
// Helpers shared by the loss, distribution and advantage tests.

#include <cmath>
#include <vector>

#include "polo/core/aggregation.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
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

/// The shared GRPO fixture of policy_gradient.md §8: G = 4 sequences of one prompt, T = 3.
struct GrpoFixture {
  polo::TokenArrayd logp = polo_test::tokens(
      {{-0.9, -1.1, -0.1}, {-2.1, -0.3, -1.0}, {-0.5, -0.6, -0.7}, {-1.3, -0.2, -0.9}});
  polo::TokenArrayd old = polo_test::tokens(
      {{-1.0, -1.0, -0.5}, {-1.8, -0.4, -1.0}, {-0.5, -0.9, -0.7}, {-1.2, -0.4, -1.0}});
  polo::TokenArrayd ref = polo_test::tokens(
      {{-1.1, -0.9, -0.6}, {-1.9, -0.5, -1.2}, {-0.7, -0.8, -0.6}, {-1.0, -0.3, -1.1}});
  polo::TokenArrayd mask = polo_test::tokens({{1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {1, 1, 1}});
};

/// `old` plus random log-ratios in [lo, hi) whose ratio exp(.) keeps >= 1e-4 from every kink
/// (clip boundaries, dual-clip caps ...), so finite differences never straddle one.
inline polo::TokenArrayd random_logp_away_from(polo::Rng& gen, const polo::TokenArrayd& old,
                                               const std::vector<double>& kinks, double lo,
                                               double hi) {
  polo::TokenArrayd logp(old.rows(), old.cols());
  for (polo::Index k = 0; k < old.size(); ++k) {
    double lr = 0.0;
    bool near = true;
    while (near) {
      lr = polo::uniform(gen, lo, hi);
      near = false;
      for (const double kink : kinks)
        near = near || std::abs(std::exp(lr) - kink) < 1e-4;
    }
    logp.data()[k] = old.data()[k] + lr;
  }
  return logp;
}

/// A random mask with about 75% valid tokens, (0, 0) valid and the last row fully padded (a row
/// without a valid token must contribute nothing).
inline polo::MaskArray random_mask(polo::Rng& gen, polo::Index rows, polo::Index cols) {
  polo::MaskArray m(rows, cols);
  for (polo::Index k = 0; k < m.size(); ++k)
    m.data()[k] = polo::uniform(gen) < 0.75 ? 1 : 0;
  m.row(rows - 1).setZero();
  m(0, 0) = 1;
  return m;
}

}  // namespace polo_loss_test

#pragma once
// Exact and Monte-Carlo expectations of a ranking-gradient estimator, for the unbiasedness tests
// of PG-Rank and PL-Rank.

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "polo/ranking/metrics.hpp"
#include "polo/ranking/plackett_luce.hpp"
#include "polo/ranking/result.hpp"
#include "ranking/ranking_test_support.hpp"
#include "test_support.hpp"

namespace polo_ranking_test {

/// The ascent gradient -grad_scores of one query's estimator on rankings `y`.
using Estimator = std::function<polo::TokenArrayd(
    const polo::TokenArrayd& scores, const polo::TokenArrayd& relevance, const polo::Rankings& y)>;

/// sum over the top-k prefixes y of pi(y) * estimate(y) with one sample (K = 1): exactly the
/// estimator's expectation. Full permutations are enumerated and cut to k; the probability of a
/// prefix is the sum over its extensions, so weighting every permutation by its own probability
/// sums each prefix with its marginal.
inline std::vector<double> enumerated_expectation(const polo::TokenArrayd& s,
                                                  const polo::TokenArrayd& rel, polo::Index k,
                                                  const Estimator& estimate) {
  const auto n = static_cast<std::size_t>(s.cols());
  std::vector<std::int32_t> pool(n);
  for (std::size_t j = 0; j < n; ++j)
    pool[j] = static_cast<std::int32_t>(j);
  const std::vector<double> sv(s.data(), s.data() + n);
  std::vector<double> mean(n, 0.0);
  for (const auto& y : permutations(pool)) {
    const double p = brute_probability(sv, pool, y, n);
    polo::Rankings r(1, k);
    for (polo::Index c = 0; c < k; ++c)
      r(0, c) = y[static_cast<std::size_t>(c)];
    const polo::TokenArrayd g = estimate(s, rel, r);
    for (std::size_t j = 0; j < n; ++j)
      mean[j] += p * g(0, static_cast<polo::Index>(j));
  }
  return mean;
}

struct MonteCarlo {
  std::vector<double> mean;
  std::vector<double> stderr_of_mean;  ///< sample std of one estimate / sqrt(trials)
};

/// `trials` independent estimates, each from K fresh top-k samples.
inline MonteCarlo monte_carlo(const polo::TokenArrayd& s, const polo::TokenArrayd& rel,
                              polo::Index k, polo::Index samples, int trials, polo::Rng& gen,
                              const Estimator& estimate) {
  const auto n = static_cast<std::size_t>(s.cols());
  std::vector<double> sum(n, 0.0), sq(n, 0.0);
  for (int t = 0; t < trials; ++t) {
    const polo::Rankings y = polo::PlackettLuce<double>{s}.sample(gen, samples, k);
    const polo::TokenArrayd g = estimate(s, rel, y);
    for (std::size_t j = 0; j < n; ++j) {
      const double v = g(0, static_cast<polo::Index>(j));
      sum[j] += v;
      sq[j] += v * v;
    }
  }
  MonteCarlo mc{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t j = 0; j < n; ++j) {
    mc.mean[j] = sum[j] / trials;
    const double var = (sq[j] - trials * mc.mean[j] * mc.mean[j]) / (trials - 1);
    mc.stderr_of_mean[j] = std::sqrt(std::max(var, 0.0) / trials);
  }
  return mc;
}

/// Every coordinate within 5 standard errors of `exact` (a correct estimator fails one
/// coordinate with probability ~6e-7); `scale` multiplies `exact` (the biased `mean` baseline).
inline void check_unbiased(const MonteCarlo& mc, const std::vector<double>& exact,
                           double scale = 1.0) {
  for (std::size_t j = 0; j < exact.size(); ++j) {
    INFO("item " << j << ": Monte-Carlo mean " << mc.mean[j] << " +- " << mc.stderr_of_mean[j]
                 << ", exact " << scale * exact[j]);
    CHECK(std::abs(mc.mean[j] - scale * exact[j]) <= 5.0 * mc.stderr_of_mean[j] + 1e-12);
  }
}

/// d E[nDCG@k] / ds for one query by enumeration (independent of the library's estimators).
inline std::vector<double> exact_ndcg_gradient(const polo::TokenArrayd& s,
                                               const polo::TokenArrayd& rel, polo::Index k,
                                               polo::Gain gain = polo::Gain::exponential) {
  const auto n = static_cast<std::size_t>(s.cols());
  std::vector<std::int32_t> pool(n);
  for (std::size_t j = 0; j < n; ++j)
    pool[j] = static_cast<std::int32_t>(j);
  const std::vector<double> r(rel.data(), rel.data() + n);
  auto utility = [&](const std::vector<std::int32_t>& y) {
    return polo::ndcg_at_k(std::span<const std::int32_t>(y), std::span<const double>(r), k, gain);
  };
  return exact_gradient(std::vector<double>(s.data(), s.data() + n), pool, utility);
}

}  // namespace polo_ranking_test

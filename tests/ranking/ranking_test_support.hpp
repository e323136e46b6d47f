#pragma once
// Helpers shared by the ranking tests: the common data of the golden vectors, brute-force
// Plackett-Luce probabilities by the product formula (independent of the library's code) and
// the exact expected utility of a policy by enumerating every permutation.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

#include "polo/core/types.hpp"
#include "polo/ranking/plackett_luce.hpp"
#include "test_support.hpp"

namespace polo_ranking_test {

/// The vectors carry 6 significant digits.
inline constexpr double kVectorTol = 5e-6;

/// Common data of ranking_flow_offline_meta.md §10: s = [1, 0.5, -0.5, 2], rel = [3, 2, 0, 1].
inline polo::TokenArrayd common_scores() {
  return polo_test::tokens({{1.0, 0.5, -0.5, 2.0}});
}
inline polo::TokenArrayd common_relevance() {
  return polo_test::tokens({{3, 2, 0, 1}});
}

inline polo::Rankings rankings(std::initializer_list<std::initializer_list<std::int32_t>> rows) {
  polo::Rankings y(static_cast<polo::Index>(rows.size()),
                   static_cast<polo::Index>(rows.begin()->size()));
  polo::Index i = 0;
  for (const auto& row : rows) {
    polo::Index c = 0;
    for (const std::int32_t v : row)
      y(i, c++) = v;
    ++i;
  }
  return y;
}

/// Every ordering of `items` (lexicographic).
inline std::vector<std::vector<std::int32_t>> permutations(std::vector<std::int32_t> items) {
  std::sort(items.begin(), items.end());
  std::vector<std::vector<std::int32_t>> out;
  do {
    out.push_back(items);
  } while (std::next_permutation(items.begin(), items.end()));
  return out;
}

/// pi(y_{0:m}) by the product formula over the items `pool` (the valid ones).
inline double brute_probability(const std::vector<double>& s, const std::vector<std::int32_t>& pool,
                                const std::vector<std::int32_t>& y, std::size_t m) {
  std::vector<std::int32_t> left = pool;
  double p = 1.0;
  for (std::size_t k = 0; k < m; ++k) {
    double total = 0.0;
    for (const std::int32_t j : left)
      total += std::exp(s[static_cast<std::size_t>(j)]);
    p *= std::exp(s[static_cast<std::size_t>(y[k])]) / total;
    left.erase(std::find(left.begin(), left.end(), y[k]));
  }
  return p;
}

/// E_{y ~ PL(s)} [U(y)] by enumerating every full permutation of `pool`; `utility` sees the full
/// permutation (a top-k utility reads only its prefix).
inline double exact_expectation(
    const std::vector<double>& s, const std::vector<std::int32_t>& pool,
    const std::function<double(const std::vector<std::int32_t>&)>& utility) {
  double e = 0.0;
  for (const auto& y : permutations(pool))
    e += brute_probability(s, pool, y, y.size()) * utility(y);
  return e;
}

/// d E / d s by central differences of `exact_expectation` (h = 1e-6: error ~1e-10).
inline std::vector<double> exact_gradient(
    std::vector<double> s, const std::vector<std::int32_t>& pool,
    const std::function<double(const std::vector<std::int32_t>&)>& utility) {
  std::vector<double> g(s.size(), 0.0);
  for (const std::int32_t j : pool) {
    const auto k = static_cast<std::size_t>(j);
    const double saved = s[k];
    s[k] = saved + 1e-6;
    const double up = exact_expectation(s, pool, utility);
    s[k] = saved - 1e-6;
    const double down = exact_expectation(s, pool, utility);
    s[k] = saved;
    g[k] = (up - down) / 2e-6;
  }
  return g;
}

}  // namespace polo_ranking_test

#pragma once
// Ranking metrics of one query: DCG and nDCG@k with exponential or linear gain, precision and
// recall@k, reciprocal rank. ALGORITHMS ranking_flow_offline_meta.md §1(b).
//
// A ranking lists item indices into `relevance`, best first; an entry of -1 is an empty slot (a
// query with fewer items than the cutoff) and counts as nothing. Positions are 0-based and the
// DCG weight of position i is 1 / log2(i + 2).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// The gain of a graded label.
enum class Gain {
  exponential,  ///< G(r) = 2^r - 1 (Burges et al., Fair-PGRank, PL-Rank, LETOR)
  linear,       ///< G(r) = r (trec_eval, BEIR)
};

/// The utility a ranking estimator optimizes (and an evaluation reports).
enum class RankingMetric {
  ndcg,             ///< DCG@k / IDCG@k; 0 for a query whose IDCG@k is 0
  dcg,              ///< DCG@k, unnormalized (what PL-Rank's published runs optimize)
  precision,        ///< relevant items in the top k, / k
  reciprocal_rank,  ///< 1 / (1 + position of the first relevant item in the top k); not additive
};

/// Whether U(y) = sum_i w_i G(rel_{y_i}): the per-position (reward-to-go) and PL-Rank estimators
/// need it; reciprocal rank is not.
constexpr bool is_additive(RankingMetric m) noexcept {
  return m != RankingMetric::reciprocal_rank;
}

inline double gain_of(double relevance, Gain gain) noexcept {
  return gain == Gain::exponential ? std::exp2(relevance) - 1.0 : relevance;
}

/// The DCG weight of 0-based position i.
inline double dcg_weight(Index position) noexcept {
  return 1.0 / std::log2(static_cast<double>(position) + 2.0);
}

namespace detail {

template <class R>
double relevance_at(std::span<const R> relevance, std::int32_t item, std::string_view where) {
  if (item < 0) return 0.0;
  if (static_cast<std::size_t>(item) >= relevance.size()) {
    fail_argument(where, "ranking entry", fmt::format("in [0, {}) or -1", relevance.size()), item);
  }
  return static_cast<double>(relevance[static_cast<std::size_t>(item)]);
}

inline void require_cutoff(std::string_view where, Index k) {
  if (k < 1) fail_argument(where, "k", ">= 1", k);
}

}  // namespace detail

/// DCG@k = sum_{i < min(k, |y|)} G(rel_{y_i}) / log2(i + 2).
template <class R>
double dcg_at_k(std::span<const std::int32_t> ranking, std::span<const R> relevance, Index k,
                Gain gain = Gain::exponential) {
  detail::require_cutoff("polo::dcg_at_k", k);
  double dcg = 0.0;
  const Index m = std::min<Index>(k, static_cast<Index>(ranking.size()));
  for (Index i = 0; i < m; ++i) {
    const std::int32_t item = ranking[static_cast<std::size_t>(i)];
    if (item < 0) continue;
    dcg += gain_of(detail::relevance_at(relevance, item, "polo::dcg_at_k"), gain) * dcg_weight(i);
  }
  return dcg;
}

/// The DCG@k of the items sorted by decreasing relevance.
template <class R>
double ideal_dcg_at_k(std::span<const R> relevance, Index k, Gain gain = Gain::exponential) {
  detail::require_cutoff("polo::ideal_dcg_at_k", k);
  std::vector<double> gains;
  gains.reserve(relevance.size());
  for (const R r : relevance)
    gains.push_back(gain_of(static_cast<double>(r), gain));
  const auto m =
      static_cast<std::ptrdiff_t>(std::min<std::size_t>(static_cast<std::size_t>(k), gains.size()));
  std::partial_sort(gains.begin(), gains.begin() + m, gains.end(), std::greater<>());
  double dcg = 0.0;
  for (std::ptrdiff_t i = 0; i < m; ++i)
    dcg += gains[static_cast<std::size_t>(i)] * dcg_weight(i);
  return dcg;
}

/// nDCG@k = DCG@k / IDCG@k. A query without a relevant item (IDCG@k = 0) scores 0: choice, as
/// "return 0 with a zero gradient" in the reference (Fair-PGRank returns 1, PL-Rank skips it);
/// evaluations that skip such queries test `ideal_dcg_at_k` first.
template <class R>
double ndcg_at_k(std::span<const std::int32_t> ranking, std::span<const R> relevance, Index k,
                 Gain gain = Gain::exponential) {
  const double ideal = ideal_dcg_at_k(relevance, k, gain);
  return ideal > 0.0 ? dcg_at_k(ranking, relevance, k, gain) / ideal : 0.0;
}

/// The fraction of the k slots that hold an item with relevance >= `relevant_at`.
template <class R>
double precision_at_k(std::span<const std::int32_t> ranking, std::span<const R> relevance, Index k,
                      double relevant_at = 1.0) {
  detail::require_cutoff("polo::precision_at_k", k);
  double hits = 0.0;
  const Index m = std::min<Index>(k, static_cast<Index>(ranking.size()));
  for (Index i = 0; i < m; ++i) {
    const std::int32_t item = ranking[static_cast<std::size_t>(i)];
    if (item >= 0 && detail::relevance_at(relevance, item, "polo::precision_at_k") >= relevant_at)
      hits += 1.0;
  }
  return hits / static_cast<double>(k);
}

/// The fraction of all relevant items that the top k hold; 0 when the query has none.
template <class R>
double recall_at_k(std::span<const std::int32_t> ranking, std::span<const R> relevance, Index k,
                   double relevant_at = 1.0) {
  detail::require_cutoff("polo::recall_at_k", k);
  double total = 0.0;
  for (const R r : relevance)
    total += static_cast<double>(r) >= relevant_at ? 1.0 : 0.0;
  if (total == 0.0) return 0.0;
  return precision_at_k(ranking, relevance, k, relevant_at) * static_cast<double>(k) / total;
}

/// 1 / (1 + position of the first item with relevance >= `relevant_at`); 0 when none is ranked.
template <class R>
double reciprocal_rank(std::span<const std::int32_t> ranking, std::span<const R> relevance,
                       double relevant_at = 1.0) {
  for (std::size_t i = 0; i < ranking.size(); ++i) {
    const std::int32_t item = ranking[i];
    if (item >= 0 && detail::relevance_at(relevance, item, "polo::reciprocal_rank") >= relevant_at)
      return 1.0 / static_cast<double>(i + 1);
  }
  return 0.0;
}

}  // namespace polo

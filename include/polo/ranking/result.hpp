#pragma once
// The inputs and the owning result the ranking losses share (PG-Rank, PL-Rank, ListMLE).

#include <cstdint>

#include "polo/core/mask.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// A batch of Q queries of up to n items. `scores` is the only differentiable input.
template <class S>
struct RankingInputs {
  TokenView<const S> scores{};     ///< s, [Q, n], the model's scores (Plackett-Luce logits)
  TokenView<const S> relevance{};  ///< graded labels >= 0, [Q, n] (not read by ListMLE)
  /// [Q K, k]: K rankings per query (rows qK ... qK + K - 1), item indices best first, -1 for an
  /// empty slot. For the estimators, samples of `PlackettLuce::sample`; for ListMLE, the targets.
  TokenView<const std::int32_t> rankings{};
  MaskView mask{};  ///< [Q, n], nonzero where an item exists; null = all do
};

/// The owning result of a ranking loss.
template <class S, class M>
struct RankingResult {
  double value = 0.0;         ///< the loss (mean over queries of `per_query`)
  TokenArray<S> grad_scores;  ///< d value / d scores, [Q, n]; exactly 0 at padded items
  SeqArrayd per_query;        ///< each query's loss before the batch mean, [Q]
  M metrics{};
};

namespace detail {

/// The owning form every ranking loss shares: allocate the result, run the loss's
/// zero-allocation `compute` into it, keep the value and the metrics.
template <class M, class S, class Loss>
RankingResult<S, M> owning_ranking_call(const Loss& loss, const RankingInputs<S>& in) {
  RankingResult<S, M> res;
  res.grad_scores.resize(in.scores.rows(), in.scores.cols());
  res.per_query.resize(in.scores.rows());
  const auto v = loss.compute(in, TokenView<S>(res.grad_scores), SeqView<double>(res.per_query));
  res.value = v.value;
  res.metrics = v.metrics;
  return res;
}

}  // namespace detail
}  // namespace polo

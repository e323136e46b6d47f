#pragma once
// PL-Rank (Oosterhuis, SIGIR 2021; PL-Rank-3, SIGIR 2022): the gradient of a Plackett-Luce
// policy's expected additive utility E[sum_k theta_k rho_{y_k}], estimated from K sampled
// rankings with the PL structure folded in. ALGORITHMS ranking_flow_offline_meta.md §1(b).
//
// With RTG_k = sum_{i >= k} theta_i rho_{y_i} (RTG_m = 0), per sample and item d:
//   PL-Rank-1: g_d += sum_k [y_k = d] RTG_k - sum_k p_k(d) RTG_k
//   PL-Rank-2: g_d += sum_k [y_k = d] RTG_{k+1} + sum_k p_k(d) (theta_k rho_d - RTG_k)
// averaged over the K samples; both are unbiased for d E[U] / ds, PL-Rank-2 with lower variance.
// PL-Rank-2 is computed exactly in O(n + k) per sample by PL-Rank-3's running sums
//   CW_p = sum_{k<=p} theta_k / D_k,  CR_p = sum_{k<=p} RTG_k / D_k:
//   g_d += [d at p] RTG_{p+1} + e_d (rho_d CW_p - CR_p), p = position of d (m - 1 if unplaced).
// The loss is the surrogate L_q = -sum_d s_d sg(g_d) averaged over queries, so grad_scores = -g/Q.

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/ranking/detail/pl_query.hpp"
#include "polo/ranking/detail/utility.hpp"
#include "polo/ranking/metrics.hpp"
#include "polo/ranking/result.hpp"

namespace polo {

enum class PLRankEstimator {
  pl_rank_1,  ///< placement REINFORCE with reward-to-go and no baseline
  pl_rank_2,  ///< adds the expected own reward; computed by the PL-Rank-3 algorithm
};

struct PLRankMetrics {
  double mean_utility = 0.0;  ///< mean U over every sample of the batch
  double queries = 0.0;       ///< Q
};

struct PLRank {
  RankingMetric metric = RankingMetric::ndcg;  ///< the utility U; additive only
  Index cutoff = 0;  ///< U counts positions < cutoff (nDCG@cutoff); 0 = the ranking length k
  Gain gain = Gain::exponential;
  PLRankEstimator estimator = PLRankEstimator::pl_rank_2;
  double relevant_at = 1.0;  ///< precision: relevance >= this counts

  /// Zero-allocation form: writes d value / d scores into `grad_scores [Q, n]` (overwritten) and,
  /// when given, each query's surrogate into `per_query [Q]`.
  template <class S>
  LossValue<PLRankMetrics> compute(const RankingInputs<S>& in, TokenView<S> grad_scores,
                                   SeqView<double> per_query = {}) const {
    constexpr std::string_view where = "polo::PLRank";
    detail::require_ranking_inputs(where, in.scores, in.relevance, true, in.rankings, in.mask);
    const Index nq = in.scores.rows();
    const Index n = in.scores.cols();
    const Index per = detail::pl_samples_per_query(where, in.rankings, nq);
    const Index k = in.rankings.cols();
    detail::require_shape(where, "grad_scores", grad_scores, nq, n);
    if (!per_query.is_null()) detail::require_shape(where, "per_query", per_query, nq);
    if (!is_additive(metric)) {
      detail::fail_argument(where, "metric", "an additive metric (ndcg, dcg or precision)",
                            "reciprocal_rank");
    }
    detail::require_nonnegative(where, "relevant_at", relevant_at);

    detail::PLQuery w;
    w.reserve(n, k);
    const Index at = detail::resolve_cutoff(where, cutoff, k);
    detail::QueryUtility util(metric, gain, relevant_at, at, k, n);
    std::vector<double> rtg(static_cast<std::size_t>(k) + 1);
    std::vector<double> ascent(static_cast<std::size_t>(n));
    const double inv_q = 1.0 / static_cast<double>(nq);
    const double inv_k = 1.0 / static_cast<double>(per);

    LossValue<PLRankMetrics> out;
    double utility_sum = 0.0;
    for (Index q = 0; q < nq; ++q) {
      detail::pl_load_query(where, in.scores, in.mask, q, w);
      util.load(where, in.relevance, q, w);
      const std::vector<double>& rho = util.gains();
      std::fill(ascent.begin(), ascent.end(), 0.0);
      for (Index s = 0; s < per; ++s) {
        const Index r = q * per + s;
        const std::int32_t* y = in.rankings.row(r);
        const Index m = detail::pl_load_ranking(where, in.scores.row(q), y, k, r, q, w);
        util.reward_to_go(y, m, rtg.data());
        utility_sum += rtg[0];
        if (estimator == PLRankEstimator::pl_rank_1) {
          detail::pl_accumulate_grad(y, m, rtg.data(), inv_k, w, ascent.data());
          detail::pl_unload_ranking(y, m, w);
          continue;
        }
        if (w.exact) {  // rare underflow: PL-Rank-2 by its definition, O(n k)
          for (Index p = 0; p < m; ++p) {
            ascent[static_cast<std::size_t>(y[p])] += inv_k * rtg[static_cast<std::size_t>(p) + 1];
            const double* prob = w.probs.data() + p * n;
            for (const std::int32_t j : w.items) {
              const auto jj = static_cast<std::size_t>(j);
              ascent[jj] +=
                  inv_k * prob[j] * (util.theta(p) * rho[jj] - rtg[static_cast<std::size_t>(p)]);
            }
          }
          detail::pl_unload_ranking(y, m, w);
          continue;
        }
        // PL-Rank-3: CW_p and CR_p run forward; a placed item takes them at its own position, the
        // unplaced ones at the last (no total-minus-suffix, which cancels huge terms).
        double cw = 0.0;
        double cr = 0.0;
        for (Index p = 0; p < m; ++p) {
          const auto j = static_cast<std::size_t>(y[p]);
          const double d = w.denom[static_cast<std::size_t>(p)];
          cw += util.theta(p) / d;
          cr += rtg[static_cast<std::size_t>(p)] / d;
          ascent[j] += inv_k * (rtg[static_cast<std::size_t>(p) + 1] + w.e[j] * (rho[j] * cw - cr));
        }
        // Over every slot with a select, so that it vectorizes: padding has e = 0 and gains 0.
        const double* e = w.e.data();
        const std::int32_t* placed = w.placed.data();
        const double* gain = rho.data();
        double* asc = ascent.data();
        for (Index j = 0; j < n; ++j)
          asc[j] += placed[j] == 0 ? inv_k * e[j] * (gain[j] * cw - cr) : 0.0;
        detail::pl_unload_ranking(y, m, w);
      }
      S* g = grad_scores.row(q);
      double loss = 0.0;
      for (Index j = 0; j < n; ++j) {
        const double a = ascent[static_cast<std::size_t>(j)];
        g[j] = static_cast<S>(-a * inv_q);
        if (a != 0.0) loss -= a * static_cast<double>(in.scores(q, j));  // padding: a = 0, unread
      }
      if (!per_query.is_null()) per_query[q] = loss;
      out.value += loss * inv_q;
    }
    out.metrics.mean_utility = utility_sum / static_cast<double>(nq * per);
    out.metrics.queries = static_cast<double>(nq);
    return out;
  }

  /// Owning form.
  template <class S>
  RankingResult<S, PLRankMetrics> operator()(const RankingInputs<S>& in) const {
    return detail::owning_ranking_call<PLRankMetrics>(*this, in);
  }
};

}  // namespace polo

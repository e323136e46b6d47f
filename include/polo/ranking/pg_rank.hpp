#pragma once
// PG-Rank: REINFORCE for Plackett-Luce ranking policies (Singh & Joachims 2019; Neural PG-Rank,
// Gao et al. 2023). ALGORITHMS ranking_flow_offline_meta.md §1(b).
//
// For K rankings y^(i) sampled from pi(. | s) per query, with utilities U_i = U(y^(i)):
//   full utility:  g = (1/K) sum_i (U_i - b_i) d log pi(y^(i)) / ds,
//   reward-to-go:  g = (1/K) sum_i sum_k (RTG_k(y^(i)) - b_ik) d log p_k(y^(i)_k) / ds,
// an unbiased estimate of d E[U] / ds. The loss is the surrogate
//   L_q = -(1/K) sum_i sum_k A_ik log p_k(y^(i)_k)   (A held constant),
// averaged over queries, so grad_scores = -g / Q (ALGORITHMS rule 1: the reference's ascent
// gradient, negated).

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/ranking/detail/pl_query.hpp"
#include "polo/ranking/detail/utility.hpp"
#include "polo/ranking/metrics.hpp"
#include "polo/ranking/result.hpp"

namespace polo {

/// The baseline b_i subtracted from each sample's utility.
enum class PGRankBaseline {
  none,           ///< b = 0 (plain REINFORCE)
  leave_one_out,  ///< b_i = mean of the other K - 1 samples (Kool et al. 2019); needs K >= 2
  mean,           ///< b = mean of all K samples, self included (Fair-PGRank's "value"): biased
                  ///< by the factor (K - 1) / K, so it differs from leave_one_out only in scale
};

struct PGRankMetrics {
  double mean_utility = 0.0;   ///< mean U over every sample of the batch
  double mean_log_prob = 0.0;  ///< mean log pi of the samples
  double queries = 0.0;        ///< Q
};

struct PGRank {
  RankingMetric metric = RankingMetric::ndcg;  ///< the utility U
  Index cutoff = 0;  ///< U counts positions < cutoff (nDCG@cutoff); 0 = the ranking length k
  Gain gain = Gain::exponential;  ///< 2^rel - 1 (Fair-PGRank) or rel
  PGRankBaseline baseline = PGRankBaseline::leave_one_out;
  /// Per-position credit: position k is credited only with the utility from k on (its choice
  /// cannot change the earlier rewards). Additive metrics only (not reciprocal rank).
  bool reward_to_go = false;
  double relevant_at = 1.0;  ///< precision and reciprocal rank: relevance >= this counts

  /// Zero-allocation form (scratch of O(n + K k) per call): writes d value / d scores into
  /// `grad_scores [Q, n]` (overwritten) and, when given, each query's loss into `per_query [Q]`.
  template <class S>
  LossValue<PGRankMetrics> compute(const RankingInputs<S>& in, TokenView<S> grad_scores,
                                   SeqView<double> per_query = {}) const {
    constexpr std::string_view where = "polo::PGRank";
    detail::require_ranking_inputs(where, in.scores, in.relevance, true, in.rankings, in.mask);
    const Index nq = in.scores.rows();
    const Index n = in.scores.cols();
    const Index per = detail::pl_samples_per_query(where, in.rankings, nq);
    const Index k = in.rankings.cols();
    detail::require_shape(where, "grad_scores", grad_scores, nq, n);
    if (!per_query.is_null()) detail::require_shape(where, "per_query", per_query, nq);
    if (baseline == PGRankBaseline::leave_one_out && per < 2) {
      detail::fail_argument(where, "samples per query K",
                            ">= 2 (the leave-one-out baseline averages the other samples)", per);
    }
    if (reward_to_go && !is_additive(metric)) {
      detail::fail_argument(where, "reward_to_go",
                            "false for reciprocal rank (a per-position credit needs an additive "
                            "metric)",
                            "true");
    }
    detail::require_nonnegative(where, "relevant_at", relevant_at);

    detail::PLQuery w;
    w.reserve(n, k);
    const Index at = detail::resolve_cutoff(where, cutoff, k);
    detail::QueryUtility util(metric, gain, relevant_at, at, k, n);
    const auto ks = static_cast<std::size_t>(k);
    std::vector<double> denoms(static_cast<std::size_t>(per) * ks);
    std::vector<double> logps(static_cast<std::size_t>(per) * ks);         // log p_k per sample
    std::vector<double> credit(static_cast<std::size_t>(per) * (ks + 1));  // U_i or RTG_ik
    std::vector<double> total(ks + 1);
    std::vector<Index> lengths(static_cast<std::size_t>(per));
    std::vector<unsigned char> exact(static_cast<std::size_t>(per));
    std::vector<double> adv(ks);
    const std::size_t width = reward_to_go ? ks + 1 : 1;
    const double inv_q = 1.0 / static_cast<double>(nq);
    const double inv_k = 1.0 / static_cast<double>(per);

    LossValue<PGRankMetrics> out;
    double utility_sum = 0.0;
    double logp_sum = 0.0;
    for (Index q = 0; q < nq; ++q) {
      detail::pl_load_query(where, in.scores, in.mask, q, w);
      util.load(where, in.relevance, q, w);
      const S* z = in.scores.row(q);
      std::fill(total.begin(), total.end(), 0.0);
      // Pass 1: denominators, per-position log-probs and the credit of every sample.
      for (Index s = 0; s < per; ++s) {
        const Index r = q * per + s;
        const std::int32_t* y = in.rankings.row(r);
        const Index m = detail::pl_load_ranking(where, z, y, k, r, q, w);
        const auto off = static_cast<std::size_t>(s) * ks;
        lengths[static_cast<std::size_t>(s)] = m;
        exact[static_cast<std::size_t>(s)] = w.exact ? 1 : 0;
        for (Index p = 0; p < m; ++p) {
          denoms[off + static_cast<std::size_t>(p)] = w.denom[static_cast<std::size_t>(p)];
          logps[off + static_cast<std::size_t>(p)] = detail::pl_log_p(z, y, p, w);
          logp_sum += logps[off + static_cast<std::size_t>(p)];
        }
        detail::pl_unload_ranking(y, m, w);
        double* c = credit.data() + static_cast<std::size_t>(s) * width;
        if (reward_to_go) {
          std::fill(c, c + width, 0.0);
          util.reward_to_go(y, m, c);
          utility_sum += c[0];
        } else {
          c[0] = util.utility(y, m);
          utility_sum += c[0];
        }
        for (std::size_t p = 0; p < width; ++p)
          total[p] += c[p];
      }
      // Pass 2: advantages against the baseline, the surrogate and its gradient.
      S* g = grad_scores.row(q);
      std::fill(g, g + n, S{0});
      double loss = 0.0;
      for (Index s = 0; s < per; ++s) {
        const Index m = lengths[static_cast<std::size_t>(s)];
        const double* c = credit.data() + static_cast<std::size_t>(s) * width;
        const auto off = static_cast<std::size_t>(s) * ks;
        for (Index p = 0; p < m; ++p) {
          const std::size_t slot = reward_to_go ? static_cast<std::size_t>(p) : 0;
          double b = 0.0;
          if (baseline == PGRankBaseline::leave_one_out) {
            b = (total[slot] - c[slot]) / static_cast<double>(per - 1);
          } else if (baseline == PGRankBaseline::mean) {
            b = total[slot] * inv_k;
          }
          adv[static_cast<std::size_t>(p)] = c[slot] - b;
          loss -= adv[static_cast<std::size_t>(p)] * logps[off + static_cast<std::size_t>(p)];
        }
        const std::int32_t* y = in.rankings.row(q * per + s);
        if (exact[static_cast<std::size_t>(s)] != 0) {  // rare: reload for the exact probabilities
          detail::pl_load_ranking(where, z, y, k, q * per + s, q, w);
          detail::pl_accumulate_grad(y, m, adv.data(), -inv_k * inv_q, w, g);
          detail::pl_unload_ranking(y, m, w);
        } else {
          detail::pl_accumulate_grad_fast(y, m, adv.data(), -inv_k * inv_q, w, denoms.data() + off,
                                          g);
        }
      }
      if (!per_query.is_null()) per_query[q] = loss * inv_k;
      out.value += loss * inv_k * inv_q;
    }
    const double samples = static_cast<double>(nq * per);
    out.metrics.mean_utility = utility_sum / samples;
    out.metrics.mean_log_prob = logp_sum / samples;
    out.metrics.queries = static_cast<double>(nq);
    return out;
  }

  /// Owning form.
  template <class S>
  RankingResult<S, PGRankMetrics> operator()(const RankingInputs<S>& in) const {
    return detail::owning_ranking_call<PGRankMetrics>(*this, in);
  }
};

}  // namespace polo

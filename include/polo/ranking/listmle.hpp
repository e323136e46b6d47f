#pragma once
// ListMLE (Xia et al., ICML 2008): the negative Plackett-Luce log-likelihood of the target
// ranking y* (items by decreasing relevance), L_q = -log pi(y*_{0:k} | s), averaged over the
// target rows; a top-k target keeps the first k factors. ALGORITHMS ranking_flow_offline_meta.md
// §1(b). Ties in the labels are broken at random by `listmle_targets`, redrawn at every call (a
// fixed index order would bias the model toward low indices).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/ranking/detail/pl_query.hpp"
#include "polo/ranking/detail/utility.hpp"
#include "polo/ranking/plackett_luce.hpp"
#include "polo/ranking/result.hpp"

namespace polo {

/// The target rankings [Q, top_k]: each query's valid items by decreasing relevance, ties in a
/// random order drawn from `gen`, -1 past the query's last item.
template <class S, std::uniform_random_bit_generator G>
Rankings listmle_targets(TokenView<const S> relevance, const MaskView& mask, Index top_k, G& gen) {
  constexpr std::string_view where = "polo::listmle_targets";
  if (relevance.is_null()) detail::fail_argument(where, "relevance", "given ([Q, n])", "none");
  if (top_k < 1) detail::fail_argument(where, "top_k", ">= 1", top_k);
  detail::require_mask_shape(where, mask, relevance.rows(), relevance.cols());
  // Order by (relevance, a uniform key per item): ties fall in a uniformly random order.
  Rankings out(relevance.rows(), top_k);
  std::vector<std::int32_t> order;
  std::vector<double> tie(static_cast<std::size_t>(relevance.cols()));
  for (Index q = 0; q < relevance.rows(); ++q) {
    order.clear();
    for (Index j = 0; j < relevance.cols(); ++j) {
      if (!mask.is_null() && !mask(q, j)) continue;
      const auto r = static_cast<double>(relevance(q, j));
      if (!std::isfinite(r)) throw nonfinite_error(std::string(where), "relevance", q, j, r);
      order.push_back(static_cast<std::int32_t>(j));
      tie[static_cast<std::size_t>(j)] = uniform(gen);
    }
    const auto better = [&](std::int32_t a, std::int32_t b) {
      const auto ra = static_cast<double>(relevance(q, a));
      const auto rb = static_cast<double>(relevance(q, b));
      if (ra != rb) return ra > rb;
      return tie[static_cast<std::size_t>(a)] < tie[static_cast<std::size_t>(b)];
    };
    const auto m =
        static_cast<std::ptrdiff_t>(std::min<Index>(top_k, static_cast<Index>(order.size())));
    std::partial_sort(order.begin(), order.begin() + m, order.end(), better);
    std::copy(order.begin(), order.begin() + m, out.row(q).data());
    std::fill(out.row(q).data() + m, out.row(q).data() + top_k, -1);
  }
  return out;
}

struct ListMLEMetrics {
  double mean_log_prob = 0.0;  ///< mean log pi(y*) over the target rows
  double queries = 0.0;        ///< Q
};

struct ListMLE {
  /// Zero-allocation form: writes d value / d scores into `grad_scores [Q, n]` (overwritten) and,
  /// when given, each query's loss into `per_query [Q]`. `relevance` is not read: the targets in
  /// `rankings` ([Q K, k], K targets per query, e.g. K tie-break draws) carry the labels.
  template <class S>
  LossValue<ListMLEMetrics> compute(const RankingInputs<S>& in, TokenView<S> grad_scores,
                                    SeqView<double> per_query = {}) const {
    constexpr std::string_view where = "polo::ListMLE";
    detail::require_ranking_inputs(where, in.scores, in.relevance, false, in.rankings, in.mask);
    const Index nq = in.scores.rows();
    const Index n = in.scores.cols();
    const Index per = detail::pl_samples_per_query(where, in.rankings, nq);
    const Index k = in.rankings.cols();
    detail::require_shape(where, "grad_scores", grad_scores, nq, n);
    if (!per_query.is_null()) detail::require_shape(where, "per_query", per_query, nq);
    detail::PLQuery w;
    w.reserve(n, k);
    const std::vector<double> ones(static_cast<std::size_t>(k), 1.0);
    const double inv_q = 1.0 / static_cast<double>(nq);
    const double inv_k = 1.0 / static_cast<double>(per);
    LossValue<ListMLEMetrics> out;
    double logp_sum = 0.0;
    for (Index q = 0; q < nq; ++q) {
      detail::pl_load_query(where, in.scores, in.mask, q, w);
      S* g = grad_scores.row(q);
      std::fill(g, g + n, S{0});
      double loss = 0.0;
      for (Index s = 0; s < per; ++s) {
        const Index r = q * per + s;
        const std::int32_t* y = in.rankings.row(r);
        const Index m = detail::pl_load_ranking(where, in.scores.row(q), y, k, r, q, w);
        const double lp = detail::pl_log_prob(in.scores.row(q), y, m, w);
        detail::pl_accumulate_grad(y, m, ones.data(), -inv_k * inv_q, w, g);
        detail::pl_unload_ranking(y, m, w);
        loss -= lp * inv_k;
        logp_sum += lp;
      }
      if (!per_query.is_null()) per_query[q] = loss;
      out.value += loss * inv_q;
    }
    out.metrics.mean_log_prob = logp_sum / static_cast<double>(nq * per);
    out.metrics.queries = static_cast<double>(nq);
    return out;
  }

  /// Owning form.
  template <class S>
  RankingResult<S, ListMLEMetrics> operator()(const RankingInputs<S>& in) const {
    return detail::owning_ranking_call<ListMLEMetrics>(*this, in);
  }
};

}  // namespace polo

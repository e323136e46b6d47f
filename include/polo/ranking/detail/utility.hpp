#pragma once
// The utility of a sampled ranking prefix for one query, shared by the ranking estimators. An
// additive metric is U(y) = sum_{k<m} theta_k rho_{y_k}: rank weights theta (DCG 1/log2(k+2),
// precision 1/cutoff) times per-item gains rho (G(rel) / IDCG@cutoff for nDCG; 1[rel >= t] for
// precision). Reciprocal rank is computed directly.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/ranking/detail/pl_query.hpp"
#include "polo/ranking/metrics.hpp"

namespace polo::detail {

class QueryUtility {
 public:
  /// `cutoff`: the utility counts positions < cutoff; `positions`: the ranking length.
  QueryUtility(RankingMetric metric, Gain gain, double relevant_at, Index cutoff, Index positions,
               Index items)
      : metric_(metric),
        gain_(gain),
        relevant_at_(relevant_at),
        cutoff_(cutoff),
        theta_(static_cast<std::size_t>(positions), 0.0),
        rho_(static_cast<std::size_t>(items), 0.0) {
    for (Index k = 0; k < std::min(cutoff, positions); ++k) {
      theta_[static_cast<std::size_t>(k)] =
          metric == RankingMetric::precision ? 1.0 / static_cast<double>(cutoff) : dcg_weight(k);
    }
    sorted_.reserve(static_cast<std::size_t>(items));
  }

  /// Loads row q of `relevance` for the valid items of `w`. Relevance must be finite and >= 0
  /// there; padded entries are never read.
  template <class S>
  void load(std::string_view where, TokenView<const S> relevance, Index q, const PLQuery& w) {
    std::fill(rho_.begin(), rho_.end(), 0.0);
    sorted_.clear();
    for (const std::int32_t j : w.items) {
      const auto r = static_cast<double>(relevance(q, j));
      if (!std::isfinite(r)) throw nonfinite_error(std::string(where), "relevance", q, j, r);
      if (r < 0.0) {
        fail_argument(where, fmt::format("relevance[{}, {}]", q, j), ">= 0 (a graded label)", r);
      }
      double g = 0.0;
      if (metric_ == RankingMetric::precision || metric_ == RankingMetric::reciprocal_rank) {
        g = r >= relevant_at_ ? 1.0 : 0.0;
      } else {
        g = gain_of(r, gain_);
      }
      rho_[static_cast<std::size_t>(j)] = g;
      sorted_.push_back(g);
    }
    ideal_ = 1.0;
    if (metric_ == RankingMetric::ndcg) {
      const auto m =
          static_cast<std::ptrdiff_t>(std::min(static_cast<std::size_t>(cutoff_), sorted_.size()));
      std::partial_sort(sorted_.begin(), sorted_.begin() + m, sorted_.end(), std::greater<>());
      double ideal = 0.0;
      for (std::ptrdiff_t k = 0; k < m; ++k)
        ideal += dcg_weight(k) * sorted_[static_cast<std::size_t>(k)];
      ideal_ = ideal;
      const double scale = ideal > 0.0 ? 1.0 / ideal : 0.0;  // no relevant item: U = 0
      for (double& g : rho_)
        g *= scale;
    }
  }

  /// U(y_{0:m}).
  [[nodiscard]] double utility(const std::int32_t* y, Index m) const {
    if (metric_ == RankingMetric::reciprocal_rank) {
      for (Index k = 0; k < std::min(m, cutoff_); ++k)
        if (rho_[static_cast<std::size_t>(y[k])] > 0.0) return 1.0 / static_cast<double>(k + 1);
      return 0.0;
    }
    double u = 0.0;
    for (Index k = 0; k < m; ++k)
      u += theta_[static_cast<std::size_t>(k)] * rho_[static_cast<std::size_t>(y[k])];
    return u;
  }

  /// rtg[k] = sum_{k <= i < m} theta_i rho_{y_i} for k <= m (rtg[m] = 0). Additive metrics only.
  void reward_to_go(const std::int32_t* y, Index m, double* rtg) const {
    rtg[m] = 0.0;
    for (Index k = m - 1; k >= 0; --k) {
      rtg[k] =
          rtg[k + 1] + theta_[static_cast<std::size_t>(k)] * rho_[static_cast<std::size_t>(y[k])];
    }
  }

  [[nodiscard]] double theta(Index k) const { return theta_[static_cast<std::size_t>(k)]; }
  [[nodiscard]] const std::vector<double>& gains() const noexcept { return rho_; }
  /// IDCG@cutoff of the loaded query for nDCG (1 for the other metrics).
  [[nodiscard]] double ideal() const noexcept { return ideal_; }

 private:
  RankingMetric metric_;
  Gain gain_;
  double relevant_at_;
  Index cutoff_;
  std::vector<double> theta_;
  std::vector<double> rho_;
  std::vector<double> sorted_;
  double ideal_ = 1.0;
};

/// The utility's cutoff: `cutoff`, or the ranking length when it is 0.
inline Index resolve_cutoff(std::string_view where, Index cutoff, Index positions) {
  if (cutoff < 0) fail_argument(where, "cutoff", ">= 0 (0: the ranking length)", cutoff);
  return cutoff == 0 ? positions : cutoff;
}

/// Checks the ranking-loss inputs every estimator shares.
template <class S>
void require_ranking_inputs(std::string_view where, TokenView<const S> scores,
                            TokenView<const S> relevance, bool need_relevance,
                            TokenView<const std::int32_t> rankings, const MaskView& mask) {
  if (scores.is_null()) fail_argument(where, "scores", "given ([Q, n])", "none");
  if (scores.rows() < 1) fail_argument(where, "scores rows (queries)", ">= 1", scores.rows());
  if (need_relevance) {
    require_present(where, "relevance", relevance, "[Q, n] graded labels");
    require_shape(where, "relevance", relevance, scores.rows(), scores.cols());
  }
  require_present(where, "rankings", rankings, "[Q K, k] item indices");
  require_mask_shape(where, mask, scores.rows(), scores.cols());
}

}  // namespace polo::detail

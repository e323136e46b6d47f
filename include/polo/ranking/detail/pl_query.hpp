#pragma once
// Internals of the Plackett-Luce computations, one query at a time: the shifted exponentials of
// the scores, the denominators of a given ranking prefix, its log-probability and the weighted
// sum of its per-position score gradients. Every routine is O(n + k) per ranking.
//
// With e_j = exp(s_j - max s) and D_k = sum of e over the items still unplaced at position k,
//   log pi(y_{0:m}) = sum_{k<m} (s_{y_k} - max - log D_k),
//   d log p_k(y_k) / d s_j = [y_k = j] - e_j / D_k [j unplaced at k].
// The D_k are summed from the back (the items left after the prefix, then the prefix in reverse),
// never as total minus the placed ones, which cancels catastrophically once the placed items
// carry almost all the mass. When a D_k underflows (the items left late in the prefix sit more
// than ~650 below the best score, as a nearly deterministic policy makes them), the ranking
// switches to exact log-space denominators and per-position probabilities, O(n k) instead of
// O(n + k): rare, and never NaN.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo::detail {

/// Scratch for one query, reused for every query of a call (allocated once per call).
struct PLQuery {
  std::vector<double> e;                ///< exp(s_j - max) for valid items, exactly 0 for padding
  std::vector<std::int32_t> items;      ///< the valid items, in index order
  std::vector<unsigned char> valid;     ///< 1 for a valid item
  std::vector<std::int32_t> placed;     ///< 1 + position for an item of the current prefix, else 0
  std::vector<double> denom;            ///< D_k of the current ranking prefix
  std::vector<double> log_denom;        ///< log D_k (unshifted), only when `exact`
  std::vector<double> probs;            ///< p_k(j) at [k n + j], only when `exact`
  mutable std::vector<float> saved_f;   ///< scratch of the gradient loop: grad at the placed items
  mutable std::vector<double> saved_d;  ///< the same for double gradients
  bool exact = false;                   ///< the current ranking needed log-space denominators
  double max = 0.0;
  Index n = 0;

  void reserve(Index items_per_query, Index positions) {
    const auto size = static_cast<std::size_t>(items_per_query);
    e.assign(size, 0.0);
    items.reserve(size);
    valid.assign(size, 0);
    placed.assign(size, 0);
    saved_f.assign(static_cast<std::size_t>(positions), 0.0F);
    saved_d.assign(static_cast<std::size_t>(positions), 0.0);
    denom.assign(static_cast<std::size_t>(positions) + 1, 0.0);
    log_denom.assign(static_cast<std::size_t>(positions) + 1, 0.0);
    probs.clear();
    n = items_per_query;
  }
  [[nodiscard]] Index valid_count() const noexcept { return static_cast<Index>(items.size()); }
};

/// Loads row `q` of `scores`: validity from `mask`, the maximum, the shifted exponentials. A
/// non-finite score at a valid position throws `nonfinite_error`.
template <class S>
void pl_load_query(std::string_view where, TokenView<const S> scores, const MaskView& mask, Index q,
                   PLQuery& w) {
  const S* z = scores.row(q);
  w.items.clear();
  double hi = -std::numeric_limits<double>::infinity();
  for (Index j = 0; j < w.n; ++j) {
    const bool ok = mask.is_null() || mask(q, j);
    w.valid[static_cast<std::size_t>(j)] = ok ? 1 : 0;
    if (!ok) continue;
    const auto v = static_cast<double>(z[j]);
    if (!std::isfinite(v)) throw nonfinite_error(std::string(where), "scores", q, j, v);
    w.items.push_back(static_cast<std::int32_t>(j));
    hi = v > hi ? v : hi;
  }
  w.max = w.items.empty() ? 0.0 : hi;
  for (Index j = 0; j < w.n; ++j) {
    const auto k = static_cast<std::size_t>(j);
    w.e[k] = w.valid[k] != 0 ? std::exp(static_cast<double>(z[j]) - w.max) : 0.0;
  }
}

/// log D_k by a running log-sum-exp from the back, and every p_k(j).
template <class S>
void pl_exact_denominators(const S* z, const std::int32_t* y, Index m, PLQuery& w) {
  double hi = -std::numeric_limits<double>::infinity();
  double sum = 0.0;
  auto add = [&](double v) {
    if (v > hi) {
      sum = sum * std::exp(hi - v) + 1.0;
      hi = v;
    } else {
      sum += std::exp(v - hi);
    }
  };
  for (const std::int32_t j : w.items)
    if (w.placed[static_cast<std::size_t>(j)] == 0) add(static_cast<double>(z[j]));
  for (Index p = m - 1; p >= 0; --p) {
    add(static_cast<double>(z[y[p]]));
    w.log_denom[static_cast<std::size_t>(p)] = hi + std::log(sum);
  }
  w.probs.assign(static_cast<std::size_t>(m * w.n), 0.0);
  for (const std::int32_t j : w.items) {
    const auto jj = static_cast<std::size_t>(j);
    const Index last = w.placed[jj] == 0 ? m - 1 : w.placed[jj] - 1;  // still unplaced up to here
    for (Index p = 0; p <= last; ++p) {
      w.probs[static_cast<std::size_t>(p * w.n) + jj] =
          std::exp(static_cast<double>(z[j]) - w.log_denom[static_cast<std::size_t>(p)]);
    }
  }
}

/// sum of e over the items not placed, in index order: a select over every slot, not a walk over
/// the item list (padding has e = 0 and adds exactly nothing, so the sum is the same). Kept a
/// single ordered sum: an eight-lane version returned wrong sums under GCC 12 -O3 -march=native
/// (AVX-512; right at -O1, cause not pinned down), and this keeps the item-list loop's roundings.
inline double pl_unplaced_mass(const PLQuery& w) {
  const double* e = w.e.data();
  const std::int32_t* placed = w.placed.data();
  double rest = 0.0;
  for (Index j = 0; j < w.n; ++j)
    rest += placed[j] == 0 ? e[j] : 0.0;
  return rest;
}

/// Checks ranking row `r` (of query `q`) against the loaded query, marks its items placed and
/// fills D_k (after a throw the marks are left: the scratch dies with the call). Returns the prefix
/// length m: the entries before the first -1.
template <class S>
Index pl_load_ranking(std::string_view where, const S* z, const std::int32_t* y, Index k, Index r,
                      Index q, PLQuery& w) {
  Index m = k;
  for (Index c = 0; c < k; ++c) {
    const std::int32_t v = y[c];
    if (v == -1) {
      if (m == k) m = c;
      continue;
    }
    const auto field = [&] { return fmt::format("rankings[{}, {}]", r, c); };
    if (v < 0 || v >= w.n) {
      fail_argument(where, field(), fmt::format("an item index in [0, {}) or -1 (empty slot)", w.n),
                    v);
    }
    if (m != k) {
      fail_argument(where, field(), "-1 (only empty slots follow an empty slot)", v);
    }
    const auto item = static_cast<std::size_t>(v);
    if (w.valid[item] == 0) {
      fail_argument(where, field(), fmt::format("a valid item of query {} (not padding)", q), v);
    }
    if (w.placed[item] != 0) {
      fail_argument(where, field(), fmt::format("an item not already ranked in row {}", r), v);
    }
    w.placed[item] = static_cast<std::int32_t>(c) + 1;
  }
  double rest = pl_unplaced_mass(w);
  double smallest = 1.0;
  for (Index p = m - 1; p >= 0; --p) {
    rest += w.e[static_cast<std::size_t>(y[p])];
    w.denom[static_cast<std::size_t>(p)] = rest;
    smallest = std::min(smallest, rest);
  }
  w.exact = !(smallest > 1e-280);
  if (w.exact) pl_exact_denominators(z, y, m, w);
  return m;
}

/// Clears the marks of `pl_load_ranking`.
inline void pl_unload_ranking(const std::int32_t* y, Index m, PLQuery& w) {
  for (Index p = 0; p < m; ++p)
    w.placed[static_cast<std::size_t>(y[p])] = 0;
}

/// log p_p(y_p) of the loaded ranking.
template <class S>
double pl_log_p(const S* z, const std::int32_t* y, Index p, const PLQuery& w) {
  const auto k = static_cast<std::size_t>(p);
  if (w.exact) return static_cast<double>(z[y[p]]) - w.log_denom[k];
  return static_cast<double>(z[y[p]]) - w.max - std::log(w.denom[k]);
}

/// log pi(y_{0:m}) = sum_{k<m} log p_k(y_k) of the loaded ranking.
template <class S>
double pl_log_prob(const S* z, const std::int32_t* y, Index m, const PLQuery& w) {
  double lp = 0.0;
  for (Index p = 0; p < m; ++p)
    lp += pl_log_p(z, y, p, w);
  return lp;
}

/// grad_j += scale * sum_{k<m} a_k d log p_k(y_k) / d s_j for a ranking with (non-underflowing)
/// denominators `denom`. For an item placed at p that is a_p - e_j sum_{k<=p} a_k / D_k; for an
/// unplaced valid item -e_j sum_{k<m} a_k / D_k; padding gets nothing (e_j = 0 there). A placed
/// item takes its prefix sum directly: written as the total minus the later terms it would cancel
/// two numbers that grow like e_j / D_k (huge once later denominators are tiny).
template <class T>
void pl_accumulate_grad_fast(const std::int32_t* y, Index m, const double* a, double scale,
                             const PLQuery& w, const double* denom, T* grad) {
  // Every item first takes the unplaced term (a plain loop over n that vectorizes); the placed
  // ones then get their value from before it back, plus their own term: the same roundings as
  // updating the two disjoint sets separately.
  double before = 0.0;  // sum_{k<=p} a_k / D_k
  for (Index p = 0; p < m; ++p)
    before += a[p] / denom[p];
  const double all = scale * before;
  T* saved = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    saved = w.saved_f.data();
  } else {
    saved = w.saved_d.data();
  }
  for (Index p = 0; p < m; ++p)
    saved[p] = grad[y[p]];
  const double* e = w.e.data();
  for (Index j = 0; j < w.n; ++j)
    grad[j] -= static_cast<T>(e[j] * all);
  before = 0.0;
  for (Index p = 0; p < m; ++p) {
    const auto j = static_cast<std::size_t>(y[p]);
    before += a[p] / denom[p];
    grad[j] = saved[p] + static_cast<T>(scale * (a[p] - e[j] * before));
  }
}

/// The same for the loaded ranking, through the exact probabilities when it needed them.
template <class T>
void pl_accumulate_grad(const std::int32_t* y, Index m, const double* a, double scale,
                        const PLQuery& w, T* grad) {
  if (!w.exact) {
    pl_accumulate_grad_fast(y, m, a, scale, w, w.denom.data(), grad);
    return;
  }
  for (Index p = 0; p < m; ++p) {
    grad[y[p]] += static_cast<T>(scale * a[p]);
    const double* prob = w.probs.data() + p * w.n;
    for (Index j = 0; j < w.n; ++j)
      grad[j] -= static_cast<T>(scale * a[p] * prob[j]);
  }
}

/// Requires `rankings` to have a multiple of `queries` rows; returns samples per query.
template <class I>
Index pl_samples_per_query(std::string_view where, TokenView<I> rankings, Index queries) {
  if (queries == 0 || rankings.rows() % queries != 0 || rankings.rows() == 0) {
    fail_argument(where, "rankings rows",
                  fmt::format("a positive multiple of the number of queries ({}): K samples of "
                              "query q in rows q K ... q K + K - 1",
                              queries),
                  rankings.rows());
  }
  if (rankings.cols() < 1) fail_argument(where, "rankings cols (ranking length)", ">= 1", 0);
  return rankings.rows() / queries;
}

}  // namespace polo::detail

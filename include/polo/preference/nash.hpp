#pragma once
// The von Neumann winner (Nash policy) of a general preference matrix, and the quantities that
// measure how far a policy is from it (preference.md §3, §4).
//
//   P[y, y'] = P(y beats y'),  P + P^T = 1,  diagonal 1/2
//   win rate         P(pi1 > pi2) = pi1^T P pi2
//   exploitability   max_y P(y > pi) - 1/2  (>= 0, and 0 exactly at a Nash policy)
//
// The Nash policy is computed exactly, by the simplex method on the game's linear program, so
// that it can check the iterative learners (DNO, INPO) instead of sharing their mistakes.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// The exact Nash policy of a preference matrix and how it was found.
struct NashSolution {
  Eigen::VectorXd policy;     ///< a von Neumann winner: P(y > policy) <= 1/2 for every y
  double exploitability = 0;  ///< of `policy` (0 up to rounding)
  Index pivots = 0;           ///< simplex pivots taken
};

namespace detail {

// Plain loops instead of Eigen's vectorized reductions: GCC 12 with -march=native (AVX-512)
// reports a false maybe-uninitialized inside Eigen's packet reductions, and K is tiny.
inline double sum_of(const Eigen::VectorXd& v) {
  double s = 0.0;
  for (Index i = 0; i < v.size(); ++i)
    s += v[i];
  return s;
}

/// max_y (P pi)_y: the best response's win rate against pi.
inline double best_response_win_rate(const Eigen::MatrixXd& p, const Eigen::VectorXd& pi) {
  double best = -std::numeric_limits<double>::infinity();
  for (Index y = 0; y < p.rows(); ++y) {
    double r = 0.0;
    for (Index j = 0; j < p.cols(); ++j)
      r += p(y, j) * pi[j];
    best = std::max(best, r);
  }
  return best;
}

inline constexpr std::string_view kNashName = "polo::nash";

/// Square, entries in [0, 1], P + P^T = 1 and a diagonal of 1/2 (within `tol`).
inline void require_preference_matrix(std::string_view where, const Eigen::MatrixXd& p,
                                      double tol = 1e-9) {
  if (p.rows() != p.cols() || p.rows() == 0) {
    fail_argument(where, "preference matrix shape", "square and non-empty [K, K]",
                  fmt::format("[{}, {}]", p.rows(), p.cols()));
  }
  for (Index i = 0; i < p.rows(); ++i) {
    for (Index j = 0; j < p.cols(); ++j) {
      const double v = p(i, j);
      if (!(v >= 0.0 && v <= 1.0)) {
        fail_argument(where, fmt::format("preference P({}, {})", i, j), "in [0, 1]", v);
      }
      if (std::abs(v + p(j, i) - 1.0) > tol) {
        fail_argument(where, fmt::format("P({0}, {1}) + P({1}, {0})", i, j),
                      "1 (a preference "
                      "is a probability: exactly one of the two wins)",
                      v + p(j, i));
      }
    }
  }
}

/// A probability vector of size `k` (non-negative, summing to 1 within `tol`).
inline void require_policy(std::string_view where, std::string_view field,
                           const Eigen::VectorXd& pi, Index k, double tol = 1e-9) {
  if (pi.size() != k) {
    fail_argument(where, fmt::format("{} size", field), fmt::format("{} (the matrix size)", k),
                  pi.size());
  }
  for (Index i = 0; i < k; ++i) {
    if (!(pi[i] >= 0.0) || !std::isfinite(pi[i])) {
      fail_argument(where, fmt::format("{}[{}]", field, i), "finite and >= 0", pi[i]);
    }
  }
  if (std::abs(sum_of(pi) - 1.0) > tol) {
    fail_argument(where, fmt::format("sum of {}", field), "1", sum_of(pi));
  }
}

}  // namespace detail

/// r(y) = P(y > pi) for every response y: the expected win rate against a policy (DNO's r_t).
inline Eigen::VectorXd win_rates(const Eigen::MatrixXd& p, const Eigen::VectorXd& pi) {
  detail::require_preference_matrix("polo::win_rates", p);
  detail::require_policy("polo::win_rates", "policy", pi, p.rows());
  return p * pi;
}

/// P(pi1 > pi2) = pi1^T P pi2.
inline double win_rate(const Eigen::MatrixXd& p, const Eigen::VectorXd& pi1,
                       const Eigen::VectorXd& pi2) {
  detail::require_preference_matrix("polo::win_rate", p);
  detail::require_policy("polo::win_rate", "pi1", pi1, p.rows());
  detail::require_policy("polo::win_rate", "pi2", pi2, p.rows());
  double total = 0.0;
  for (Index i = 0; i < p.rows(); ++i) {
    for (Index j = 0; j < p.cols(); ++j)
      total += pi1[i] * p(i, j) * pi2[j];
  }
  return total;
}

/// The best response's win rate against `pi` minus 1/2: 0 at a Nash policy, up to 1/2.
inline double exploitability(const Eigen::MatrixXd& p, const Eigen::VectorXd& pi) {
  detail::require_preference_matrix("polo::exploitability", p);
  detail::require_policy("polo::exploitability", "policy", pi, p.rows());
  return detail::best_response_win_rate(p, pi) - 0.5;
}

/// The exact von Neumann winner of `p`, by the simplex method with Bland's rule (which cannot
/// cycle) on the symmetric zero-sum game with payoff A = P - 1/2.
///
/// Shifting the payoff to M = A + 1 > 0, the column player's optimal strategy is w / sum(w) for
/// the LP  max 1^T w  s.t.  M w <= 1, w >= 0;  it satisfies A y <= 0, i.e. no response beats it
/// more than half the time, which is the definition of a von Neumann winner. When the winner is
/// not unique, one of them (a vertex of the optimal set) is returned.
inline NashSolution nash_policy(const Eigen::MatrixXd& p) {
  detail::require_preference_matrix(detail::kNashName, p);
  const Index k = p.rows();
  const Index cols = 2 * k + 1;  // w, slacks, right-hand side
  const double eps = 1e-12;
  // Tableau rows 0..k-1 are the constraints, row k the objective (reduced costs).
  Eigen::MatrixXd t = Eigen::MatrixXd::Zero(k + 1, cols);
  for (Index i = 0; i < k; ++i) {
    for (Index j = 0; j < k; ++j)
      t(i, j) = p(i, j) - 0.5 + 1.0;
    t(i, k + i) = 1.0;
    t(i, cols - 1) = 1.0;
  }
  for (Index j = 0; j < k; ++j)
    t(k, j) = -1.0;
  std::vector<Index> basis(static_cast<std::size_t>(k));
  for (Index i = 0; i < k; ++i)
    basis[static_cast<std::size_t>(i)] = k + i;

  NashSolution out;
  // Bland's rule terminates in finitely many pivots; the bound only guards against a bug.
  const Index max_pivots = 1000 * (k + 1);
  for (; out.pivots < max_pivots; ++out.pivots) {
    Index enter = -1;
    for (Index j = 0; j < cols - 1; ++j) {
      if (t(k, j) < -eps) {
        enter = j;
        break;
      }
    }
    if (enter < 0) break;  // optimal
    Index leave = -1;
    double best = std::numeric_limits<double>::infinity();
    for (Index i = 0; i < k; ++i) {
      if (t(i, enter) <= eps) continue;
      const double ratio = t(i, cols - 1) / t(i, enter);
      const double tol = eps * std::max(1.0, std::abs(best));
      if (leave < 0 || ratio < best - tol) {
        leave = i;
        best = ratio;
      } else if (ratio <= best + tol &&
                 basis[static_cast<std::size_t>(i)] < basis[static_cast<std::size_t>(leave)]) {
        leave = i;  // Bland: among tied rows, the smallest basic variable leaves
      }
    }
    // M > 0 bounds the feasible set, so an entering column always has a positive entry.
    if (leave < 0)
      detail::fail_argument(detail::kNashName, "linear program", "bounded", "unbounded");
    t.row(leave) /= t(leave, enter);
    for (Index i = 0; i <= k; ++i) {
      if (i != leave && t(i, enter) != 0.0) t.row(i) -= t(i, enter) * t.row(leave);
    }
    basis[static_cast<std::size_t>(leave)] = enter;
  }
  Eigen::VectorXd w = Eigen::VectorXd::Zero(k);
  for (Index i = 0; i < k; ++i) {
    const Index b = basis[static_cast<std::size_t>(i)];
    if (b < k) w[b] = std::max(0.0, t(i, cols - 1));
  }
  out.policy = w / detail::sum_of(w);
  out.exploitability = detail::best_response_win_rate(p, out.policy) - 0.5;
  return out;
}

}  // namespace polo

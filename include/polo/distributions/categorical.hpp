#pragma once
// Categorical distributions over a batch of logits: row i of a [N, K] view is one distribution over
// K actions. Log-probabilities, entropies, sampling, the greedy action and one fused backward pass.
//
// Every row is shifted by its maximum before exponentiating, and every sum runs in double whatever
// the logits' scalar. Nothing allocates. An MLP whose output is a column-major [K, N] Eigen matrix
// (one column per observation) is already [N, K] row-major in memory:
// `TokenView<const float>(out.data(), N, K)`.

#include <cmath>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

namespace detail {

/// Calls `f(k)` with the row length; for the common K = 2 (CartPole, binary choices) `k` is a
/// compile-time constant, so every per-row loop unrolls.
template <class F>
void with_categories(Index k, F&& f) {
  if (k == 2) {
    f(std::integral_constant<Index, 2>{});
  } else {
    f(k);
  }
}

/// Largest entry of z[0, k). NaN compares false, so a NaN never becomes the maximum unless it is
/// z[0]; callers detect non-finite rows through z - max anyway.
template <class S, class K>
double row_max(const S* z, K k) noexcept {
  double m = static_cast<double>(z[0]);
  for (Index v = 1; v < k; ++v) {
    const double x = static_cast<double>(z[v]);
    m = x > m ? x : m;
  }
  return m;
}

/// Two categories: relative to the larger logit the other one sits at d = −|z_0 − z_1| <= 0, so
/// Σ e^{z − max} = 1 + e^d and one exp plus one log1p serve the whole row. `lo` is the index of
/// the smaller logit. NaN in either logit makes d NaN.
template <class S>
double binary_gap(const S* z, double& max, Index& lo) noexcept {
  const double x0 = static_cast<double>(z[0]);
  const double x1 = static_cast<double>(z[1]);
  const bool first_wins = x0 >= x1;
  max = first_wins ? x0 : x1;
  lo = first_wins ? 1 : 0;
  return (first_wins ? x1 : x0) - max;
}

template <class K>
inline constexpr bool is_binary = !std::is_same_v<K, Index>;

template <class S>
void require_logits(std::string_view where, TokenView<S> logits) {
  if (logits.cols() < 1) {
    fail_argument(where, "logits cols (number of categories K)", ">= 1", logits.cols());
  }
}

/// An output written row by row needs distinct rows: a broadcast (stride 0) view would keep only
/// the last one.
template <class S>
void require_distinct_rows(std::string_view where, std::string_view field, TokenView<S> v) {
  if (v.rows() > 1 && v.stride() < v.cols()) {
    fail_argument(where, fmt::format("{} row stride", field),
                  fmt::format(">= cols ({}) (an output cannot broadcast)", v.cols()), v.stride());
  }
}

[[noreturn]] inline void fail_action(std::string_view where, Index i, Index action, Index k) {
  fail_argument(where, fmt::format("actions[{}]", i), fmt::format("in [0, {})", k), action);
}

}  // namespace detail

/// Softmax distributions, one per row of `logits [N, K]`: p_iv = exp(z_iv) / Σ_u exp(z_iu).
///
/// Outputs are written for every row; inputs are read only. `logits` may broadcast one row to all
/// N (row stride 0). Outputs must not overlap `logits`.
struct Categorical {
  /// out[i] = log p_i(a_i) = z_{i,a_i} − logsumexp(z_i).
  template <class S>
  static void log_prob(TokenView<S> logits, std::span<const Index> actions,
                       SeqView<std::remove_const_t<S>> out) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::Categorical::log_prob";
    detail::require_shape(where, "out", out, logits.rows());
    forward<true, false>(where, TokenView<const T>(logits), actions, out, SeqView<T>{});
  }

  /// out[i] = H_i = −Σ_v p_iv log p_iv.
  template <class S>
  static void entropy(TokenView<S> logits, SeqView<std::remove_const_t<S>> out) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::Categorical::entropy";
    detail::require_shape(where, "out", out, logits.rows());
    forward<false, true>(where, TokenView<const T>(logits), {}, SeqView<T>{}, out);
  }

  /// Both in one pass (one logsumexp per row): logp[i] = log p_i(a_i), entropy[i] = H_i.
  template <class S>
  static void log_prob_and_entropy(TokenView<S> logits, std::span<const Index> actions,
                                   SeqView<std::remove_const_t<S>> logp,
                                   SeqView<std::remove_const_t<S>> entropy) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::Categorical::log_prob_and_entropy";
    detail::require_shape(where, "logp", logp, logits.rows());
    detail::require_shape(where, "entropy", entropy, logits.rows());
    forward<true, true>(where, TokenView<const T>(logits), actions, logp, entropy);
  }

  /// Owning forms.
  template <class S>
  static SeqArray<std::remove_const_t<S>> log_prob(TokenView<S> logits,
                                                   std::span<const Index> actions) {
    SeqArray<std::remove_const_t<S>> out(logits.rows());
    log_prob(logits, actions, out);
    return out;
  }
  template <class S>
  static SeqArray<std::remove_const_t<S>> entropy(TokenView<S> logits) {
    SeqArray<std::remove_const_t<S>> out(logits.rows());
    entropy(logits, out);
    return out;
  }

  /// Writes ∂value/∂z given ∂value/∂logp_i (`grad_logp`) and ∂value/∂H_i (`grad_entropy`), either
  /// of which may be null (taken as 0):
  ///   ∂logp_i/∂z_iv = [v = a_i] − p_iv,   ∂H_i/∂z_iv = −p_iv (log p_iv + H_i).
  /// `actions` is read only when `grad_logp` is given. Every entry of `grad_logits` is written
  /// (overwritten, not accumulated).
  template <class S>
  static void backward(TokenView<S> logits, std::span<const Index> actions,
                       SeqView<const std::remove_const_t<S>> grad_logp,
                       SeqView<const std::remove_const_t<S>> grad_entropy,
                       TokenView<std::remove_const_t<S>> grad_logits) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::Categorical::backward";
    const TokenView<const T> z(logits);
    detail::require_logits(where, z);
    const Index n = z.rows();
    const Index k = z.cols();
    detail::require_shape(where, "grad_logits", grad_logits, n, k);
    detail::require_distinct_rows(where, "grad_logits", grad_logits);
    const bool has_logp = !grad_logp.is_null();
    const bool has_entropy = !grad_entropy.is_null();
    if (has_logp) {
      detail::require_shape(where, "grad_logp", grad_logp, n);
      require_actions(where, actions, n);
    }
    if (has_entropy) detail::require_shape(where, "grad_entropy", grad_entropy, n);

    double guard = 0.0;  // stays 0 unless something is not finite
    detail::with_categories(k, [&](auto kk) {
      for (Index i = 0; i < n; ++i) {
        const T* zi = z.row(i);
        T* gi = grad_logits.row(i);
        const double gl = has_logp ? static_cast<double>(grad_logp[i]) : 0.0;
        const double gh = has_entropy ? static_cast<double>(grad_entropy[i]) : 0.0;
        // grad_v = gl ([v = a] − p_v) − gh p_v (log p_v + H). With log p_v = d_v − log Σ e and
        // H = log Σ e − Σ p_u d_u the logs cancel: −p_v (gh d_v + c) + gl [v = a] with
        // c = gl − gh Σ p_u d_u. No log at all, one exp per entry (one per row when K = 2).
        if constexpr (detail::is_binary<decltype(kk)>) {
          double m = 0.0;
          Index lo = 0;
          const double d = detail::binary_gap(zi, m, lo);
          const double e = std::exp(d);
          const double p_hi = 1.0 / (1.0 + e);
          const double p_lo = e * p_hi;
          const double c = gl - gh * (p_lo * d);
          guard += 0.0 * (d + c);
          gi[1 - lo] = static_cast<T>(-p_hi * c);
          gi[lo] = static_cast<T>(-p_lo * (gh * d + c));
        } else {
          const double m = detail::row_max(zi, kk);
          // The shifted exponentials go into the output row: scratch until overwritten below.
          double sum = 0.0;
          double weighted = 0.0;  // Σ e_v d_v, for the entropy
          for (Index v = 0; v < kk; ++v) {
            const double d = static_cast<double>(zi[v]) - m;
            const double e = std::exp(d);
            sum += e;
            weighted += e * d;
            guard += 0.0 * d;
            gi[v] = static_cast<T>(e);
          }
          const double inv_sum = 1.0 / sum;
          const double c = gl - gh * (weighted * inv_sum);
          guard += 0.0 * c;
          for (Index v = 0; v < kk; ++v) {
            const double p = static_cast<double>(gi[v]) * inv_sum;
            const double d = static_cast<double>(zi[v]) - m;
            gi[v] = static_cast<T>(-p * (gh * d + c));
          }
        }
        if (has_logp) {
          const Index a = actions[static_cast<std::size_t>(i)];
          if (a < 0 || a >= k) {
            [[unlikely]] detail::fail_action(where, i, a, k);
          }
          gi[a] = static_cast<T>(static_cast<double>(gi[a]) + gl);
        }
      }
    });
    if (!std::isfinite(guard)) {
      detail::check_finite(where, "logits", z, MaskView{});
      if (has_logp) detail::check_finite(where, "grad_logp", grad_logp);
      if (has_entropy) detail::check_finite(where, "grad_entropy", grad_entropy);
    }
  }

  /// Draws a_i ~ p_i by inverse CDF: exactly one `polo::uniform` per row, in row order, so a seed
  /// gives the same actions on every platform.
  template <class S, std::uniform_random_bit_generator G>
  static void sample(TokenView<S> logits, G& gen, std::span<Index> out) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::Categorical::sample";
    const TokenView<const T> z(logits);
    detail::require_logits(where, z);
    require_size(where, "out", out.size(), z.rows());
    double guard = 0.0;
    detail::with_categories(z.cols(), [&](auto kk) {
      for (Index i = 0; i < z.rows(); ++i) {
        const T* zi = z.row(i);
        if constexpr (detail::is_binary<decltype(kk)>) {
          // The same inverse CDF with one exp: pick 0 iff u (1 + e^d) < e_0.
          double m = 0.0;
          Index lo = 0;
          const double d = detail::binary_gap(zi, m, lo);
          guard += 0.0 * d;
          const double e = std::exp(d);
          const double first = lo == 0 ? e : 1.0;
          out[static_cast<std::size_t>(i)] = uniform(gen) * (1.0 + e) < first ? 0 : 1;
          continue;
        }
        Index best = 0;
        double m = static_cast<double>(zi[0]);
        for (Index v = 1; v < kk; ++v) {
          if (static_cast<double>(zi[v]) > m) {
            m = static_cast<double>(zi[v]);
            best = v;
          }
        }
        double sum = 0.0;
        for (Index v = 0; v < kk; ++v) {
          const double d = static_cast<double>(zi[v]) - m;
          guard += 0.0 * d;
          sum += std::exp(d);
        }
        const double target = uniform(gen) * sum;
        // Rounding can leave the target at the very top; the argmax always has weight 1.
        Index pick = best;
        double cumulative = 0.0;
        for (Index v = 0; v < kk; ++v) {
          cumulative += std::exp(static_cast<double>(zi[v]) - m);
          if (target < cumulative) {
            pick = v;
            break;
          }
        }
        out[static_cast<std::size_t>(i)] = pick;
      }
    });
    if (!std::isfinite(guard)) detail::check_finite(where, "logits", z, MaskView{});
  }

  template <class S, std::uniform_random_bit_generator G>
  static std::vector<Index> sample(TokenView<S> logits, G& gen) {
    std::vector<Index> out(static_cast<std::size_t>(logits.rows()));
    sample(logits, gen, std::span<Index>(out));
    return out;
  }

  /// out[i] = argmax_v z_iv (the first on ties): the greedy action for evaluation.
  template <class S>
  static void mode(TokenView<S> logits, std::span<Index> out) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::Categorical::mode";
    const TokenView<const T> z(logits);
    detail::require_logits(where, z);
    require_size(where, "out", out.size(), z.rows());
    double guard = 0.0;
    detail::with_categories(z.cols(), [&](auto kk) {
      for (Index i = 0; i < z.rows(); ++i) {
        const T* zi = z.row(i);
        Index best = 0;
        for (Index v = 0; v < kk; ++v) {
          guard += 0.0 * static_cast<double>(zi[v]);
          if (zi[v] > zi[best]) best = v;
        }
        out[static_cast<std::size_t>(i)] = best;
      }
    });
    if (!std::isfinite(guard)) detail::check_finite(where, "logits", z, MaskView{});
  }

 private:
  static void require_size(std::string_view where, std::string_view field, std::size_t size,
                           Index n) {
    if (static_cast<Index>(size) != n) {
      detail::fail_argument(where, fmt::format("{} size", field), fmt::format("[{}]", n),
                            fmt::format("[{}]", size));
    }
  }

  static void require_actions(std::string_view where, std::span<const Index> actions, Index n) {
    require_size(where, "actions", actions.size(), n);
  }

  /// The shared forward pass: per row one max, one exp per category and one log (K = 2: one exp
  /// and one log1p).
  template <bool WantLogp, bool WantEntropy, class T>
  static void forward(std::string_view where, TokenView<const T> z, std::span<const Index> actions,
                      SeqView<T> logp, SeqView<T> entropy) {
    detail::require_logits(where, z);
    const Index n = z.rows();
    const Index k = z.cols();
    if constexpr (WantLogp) require_actions(where, actions, n);
    double guard = 0.0;
    detail::with_categories(k, [&](auto kk) {
      for (Index i = 0; i < n; ++i) {
        const T* zi = z.row(i);
        double m = 0.0;
        double sum = 0.0;
        double weighted = 0.0;  // Σ e_v d_v
        double log_sum = 0.0;
        if constexpr (detail::is_binary<decltype(kk)>) {
          Index lo = 0;
          const double d = detail::binary_gap(zi, m, lo);
          const double e = std::exp(d);
          guard += 0.0 * d;
          sum = 1.0 + e;
          weighted = e * d;
          log_sum = std::log1p(e);
        } else {
          m = detail::row_max(zi, kk);
          for (Index v = 0; v < kk; ++v) {
            const double d = static_cast<double>(zi[v]) - m;
            const double e = std::exp(d);
            sum += e;
            if constexpr (WantEntropy) weighted += e * d;
            guard += 0.0 * d;
          }
          log_sum = std::log(sum);
        }
        if constexpr (WantLogp) {
          const Index a = actions[static_cast<std::size_t>(i)];
          if (a < 0 || a >= k) {
            [[unlikely]] detail::fail_action(where, i, a, k);
          }
          logp[i] = static_cast<T>(static_cast<double>(zi[a]) - m - log_sum);
        }
        // H = log Σ e^{d} − Σ p_v d_v; both terms are >= 0, so no cancellation.
        if constexpr (WantEntropy) entropy[i] = static_cast<T>(log_sum - weighted / sum);
      }
    });
    if (!std::isfinite(guard)) detail::check_finite(where, "logits", z, MaskView{});
  }
};

}  // namespace polo

#pragma once
// Diagonal Gaussian policies for continuous actions: row i of `mean [N, D]` and `log_std [N, D]`
// is one distribution over a D-dimensional action. A state-independent log-std (CleanRL's
// `actor_logstd`, a [D] parameter) is a `log_std` view with row stride 0:
// `TokenView<const double>(log_std.data(), N, D, 0)`.
//
// σ never appears in a denominator: z = (a − μ)·e^{−log σ}, so a very small or large σ stays finite
// as long as the result is representable. Sums run in double; nothing allocates.

#include <cmath>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// N(μ_i, diag σ_i²), σ_i = exp(log_std_i), one per row. Outputs must not overlap the inputs.
struct DiagonalGaussian {
  /// ½ log 2π.
  static constexpr double half_log_two_pi = 0.91893853320467274178;

  /// out[i] = Σ_d [ −½ z_id² − log σ_id − ½ log 2π ],  z = (a − μ) / σ.
  template <class S>
  static void log_prob(TokenView<S> mean, TokenView<const std::remove_const_t<S>> log_std,
                       TokenView<const std::remove_const_t<S>> actions,
                       SeqView<std::remove_const_t<S>> out) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::DiagonalGaussian::log_prob";
    const TokenView<const T> mu(mean);
    require_inputs(where, mu, log_std, actions);
    detail::require_shape(where, "out", out, mu.rows());
    double guard = 0.0;
    for (Index i = 0; i < mu.rows(); ++i) {
      const double lp = row_log_prob(mu.row(i), log_std.row(i), actions.row(i), mu.cols());
      guard += 0.0 * lp;
      out[i] = static_cast<T>(lp);
    }
    if (!std::isfinite(guard)) report_nonfinite(where, mu, log_std, actions);
  }

  /// out[i] = H_i = Σ_d (½ + ½ log 2π + log σ_id). Independent of the mean.
  template <class S>
  static void entropy(TokenView<S> log_std, SeqView<std::remove_const_t<S>> out) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::DiagonalGaussian::entropy";
    const TokenView<const T> ls(log_std);
    detail::require_shape(where, "out", out, ls.rows());
    double guard = 0.0;
    for (Index i = 0; i < ls.rows(); ++i) {
      const double h = row_entropy(ls.row(i), ls.cols());
      guard += 0.0 * h;
      out[i] = static_cast<T>(h);
    }
    if (!std::isfinite(guard)) detail::check_finite(where, "log_std", ls, MaskView{});
  }

  /// Both in one call.
  template <class S>
  static void log_prob_and_entropy(TokenView<S> mean,
                                   TokenView<const std::remove_const_t<S>> log_std,
                                   TokenView<const std::remove_const_t<S>> actions,
                                   SeqView<std::remove_const_t<S>> logp,
                                   SeqView<std::remove_const_t<S>> entropy_out) {
    log_prob(mean, log_std, actions, logp);
    entropy(log_std, entropy_out);
  }

  /// Owning forms.
  template <class S>
  static SeqArray<std::remove_const_t<S>> log_prob(
      TokenView<S> mean, TokenView<const std::remove_const_t<S>> log_std,
      TokenView<const std::remove_const_t<S>> actions) {
    SeqArray<std::remove_const_t<S>> out(mean.rows());
    log_prob(mean, log_std, actions, out);
    return out;
  }
  template <class S>
  static SeqArray<std::remove_const_t<S>> entropy(TokenView<S> log_std) {
    SeqArray<std::remove_const_t<S>> out(log_std.rows());
    entropy(log_std, out);
    return out;
  }

  /// actions = μ + σ ε, ε ~ N(0, 1) from `polo::normal`, drawn in row-major order (row by row,
  /// then along the row): the same seed gives the same actions on every platform.
  template <class S, std::uniform_random_bit_generator G>
  static void sample(TokenView<S> mean, TokenView<const std::remove_const_t<S>> log_std, G& gen,
                     TokenView<std::remove_const_t<S>> actions) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::DiagonalGaussian::sample";
    const TokenView<const T> mu(mean);
    detail::require_shape(where, "log_std", log_std, mu.rows(), mu.cols());
    detail::require_shape(where, "actions", actions, mu.rows(), mu.cols());
    require_distinct_rows(where, "actions", actions);
    double guard = 0.0;
    for (Index i = 0; i < mu.rows(); ++i) {
      const T* m = mu.row(i);
      const T* ls = log_std.row(i);
      T* a = actions.row(i);
      for (Index d = 0; d < mu.cols(); ++d) {
        const double x =
            static_cast<double>(m[d]) + std::exp(static_cast<double>(ls[d])) * normal(gen);
        guard += 0.0 * x;
        a[d] = static_cast<T>(x);
      }
    }
    if (!std::isfinite(guard)) {
      detail::check_finite(where, "mean", mu, MaskView{});
      detail::check_finite(where, "log_std", log_std, MaskView{});
    }
  }

  /// The most likely action, μ (deterministic evaluation).
  template <class S>
  static void mode(TokenView<S> mean, TokenView<std::remove_const_t<S>> actions) {
    constexpr std::string_view where = "polo::DiagonalGaussian::mode";
    detail::require_shape(where, "actions", actions, mean.rows(), mean.cols());
    require_distinct_rows(where, "actions", actions);
    for (Index i = 0; i < mean.rows(); ++i) {
      for (Index d = 0; d < mean.cols(); ++d) {
        actions(i, d) = mean(i, d);
      }
    }
  }

  /// Writes ∂value/∂μ and ∂value/∂log σ ([N, D] each) given ∂value/∂logp_i (`grad_logp`) and
  /// ∂value/∂H_i (`grad_entropy`), either of which may be null (taken as 0):
  ///   ∂logp/∂μ_d = z_d / σ_d,   ∂logp/∂log σ_d = z_d² − 1,   ∂H/∂log σ_d = 1,   ∂H/∂μ = 0.
  /// For a broadcast (row stride 0) `log_std`, the parameter's gradient is the sum of
  /// `grad_log_std` over rows; `backward_shared` writes that sum directly.
  template <class S>
  static void backward(TokenView<S> mean, TokenView<const std::remove_const_t<S>> log_std,
                       TokenView<const std::remove_const_t<S>> actions,
                       SeqView<const std::remove_const_t<S>> grad_logp,
                       SeqView<const std::remove_const_t<S>> grad_entropy,
                       TokenView<std::remove_const_t<S>> grad_mean,
                       TokenView<std::remove_const_t<S>> grad_log_std) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::DiagonalGaussian::backward";
    const TokenView<const T> mu(mean);
    require_inputs(where, mu, log_std, actions);
    require_grads(where, grad_logp, grad_entropy, mu.rows());
    detail::require_shape(where, "grad_mean", grad_mean, mu.rows(), mu.cols());
    detail::require_shape(where, "grad_log_std", grad_log_std, mu.rows(), mu.cols());
    require_distinct_rows(where, "grad_mean", grad_mean);
    if (grad_log_std.rows() > 1 && grad_log_std.stride() < grad_log_std.cols()) {
      detail::fail_argument(where, "grad_log_std row stride",
                            fmt::format(">= cols ({}) (for a shared log_std use backward_shared, "
                                        "which writes the [D] gradient)",
                                        grad_log_std.cols()),
                            grad_log_std.stride());
    }
    double guard = 0.0;
    for (Index i = 0; i < mu.rows(); ++i) {
      const double gl = grad_logp.is_null() ? 0.0 : static_cast<double>(grad_logp[i]);
      const double gh = grad_entropy.is_null() ? 0.0 : static_cast<double>(grad_entropy[i]);
      const T* m = mu.row(i);
      const T* ls = log_std.row(i);
      const T* a = actions.row(i);
      T* gm = grad_mean.row(i);
      T* gs = grad_log_std.row(i);
      for (Index d = 0; d < mu.cols(); ++d) {
        const double inv_std = std::exp(-static_cast<double>(ls[d]));
        const double z = (static_cast<double>(a[d]) - static_cast<double>(m[d])) * inv_std;
        const double dm = gl * z * inv_std;
        const double ds = gl * (z * z - 1.0) + gh;
        guard += 0.0 * (dm + ds);
        gm[d] = static_cast<T>(dm);
        gs[d] = static_cast<T>(ds);
      }
    }
    if (!std::isfinite(guard)) {
      report_nonfinite(where, mu, log_std, actions);
      detail::check_finite(where, "grad_logp", grad_logp);
      detail::check_finite(where, "grad_entropy", grad_entropy);
    }
  }

  /// As `backward`, for a log-std shared by all rows: `grad_log_std [D]` = Σ_i ∂value/∂log σ_id
  /// (accumulated in double, then written).
  template <class S>
  static void backward_shared(TokenView<S> mean, TokenView<const std::remove_const_t<S>> log_std,
                              TokenView<const std::remove_const_t<S>> actions,
                              SeqView<const std::remove_const_t<S>> grad_logp,
                              SeqView<const std::remove_const_t<S>> grad_entropy,
                              TokenView<std::remove_const_t<S>> grad_mean,
                              SeqView<std::remove_const_t<S>> grad_log_std) {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::DiagonalGaussian::backward_shared";
    const TokenView<const T> mu(mean);
    require_inputs(where, mu, log_std, actions);
    require_grads(where, grad_logp, grad_entropy, mu.rows());
    detail::require_shape(where, "grad_mean", grad_mean, mu.rows(), mu.cols());
    require_distinct_rows(where, "grad_mean", grad_mean);
    detail::require_shape(where, "grad_log_std", grad_log_std, mu.cols());
    // Column by column, so that each of the D sums accumulates in one double.
    double guard = 0.0;
    for (Index d = 0; d < mu.cols(); ++d) {
      double sum = 0.0;
      for (Index i = 0; i < mu.rows(); ++i) {
        const double gl = grad_logp.is_null() ? 0.0 : static_cast<double>(grad_logp[i]);
        const double gh = grad_entropy.is_null() ? 0.0 : static_cast<double>(grad_entropy[i]);
        const double inv_std = std::exp(-static_cast<double>(log_std(i, d)));
        const double z =
            (static_cast<double>(actions(i, d)) - static_cast<double>(mu(i, d))) * inv_std;
        const double dm = gl * z * inv_std;
        sum += gl * (z * z - 1.0) + gh;
        guard += 0.0 * dm;
        grad_mean(i, d) = static_cast<T>(dm);
      }
      guard += 0.0 * sum;
      grad_log_std[d] = static_cast<T>(sum);
    }
    if (!std::isfinite(guard)) {
      report_nonfinite(where, mu, log_std, actions);
      detail::check_finite(where, "grad_logp", grad_logp);
      detail::check_finite(where, "grad_entropy", grad_entropy);
    }
  }

 private:
  template <class T>
  static double row_log_prob(const T* m, const T* ls, const T* a, Index dims) noexcept {
    double sum = 0.0;
    for (Index d = 0; d < dims; ++d) {
      const double log_std = static_cast<double>(ls[d]);
      const double z = (static_cast<double>(a[d]) - static_cast<double>(m[d])) * std::exp(-log_std);
      sum += -0.5 * z * z - log_std;
    }
    return sum - static_cast<double>(dims) * half_log_two_pi;
  }

  template <class T>
  static double row_entropy(const T* ls, Index dims) noexcept {
    double sum = 0.0;
    for (Index d = 0; d < dims; ++d) {
      sum += static_cast<double>(ls[d]);
    }
    return sum + static_cast<double>(dims) * (0.5 + half_log_two_pi);
  }

  template <class T>
  static void require_inputs(std::string_view where, TokenView<const T> mean,
                             TokenView<const T> log_std, TokenView<const T> actions) {
    detail::require_shape(where, "log_std", log_std, mean.rows(), mean.cols());
    detail::require_shape(where, "actions", actions, mean.rows(), mean.cols());
  }

  template <class T>
  static void require_grads(std::string_view where, SeqView<const T> grad_logp,
                            SeqView<const T> grad_entropy, Index n) {
    if (!grad_logp.is_null()) detail::require_shape(where, "grad_logp", grad_logp, n);
    if (!grad_entropy.is_null()) detail::require_shape(where, "grad_entropy", grad_entropy, n);
  }

  template <class T>
  static void require_distinct_rows(std::string_view where, std::string_view field,
                                    TokenView<T> v) {
    if (v.rows() > 1 && v.stride() < v.cols()) {
      detail::fail_argument(where, fmt::format("{} row stride", field),
                            fmt::format(">= cols ({}) (an output cannot broadcast)", v.cols()),
                            v.stride());
    }
  }

  template <class T>
  static void report_nonfinite(std::string_view where, TokenView<const T> mean,
                               TokenView<const T> log_std, TokenView<const T> actions) {
    detail::check_finite(where, "mean", mean, MaskView{});
    detail::check_finite(where, "log_std", log_std, MaskView{});
    detail::check_finite(where, "actions", actions, MaskView{});
  }
};

}  // namespace polo

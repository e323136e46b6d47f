#pragma once
// Whitening (advantage normalization): subtract the mean over the valid positions and divide by
// their standard deviation. The references differ only in where the epsilon goes:
//   CleanRL          (x − μ) / (σ + ε)          EpsPlacement::std       (σ unbiased, ε = 1e-8)
//   TRL / verl       (x − μ) / sqrt(σ² + ε)     EpsPlacement::variance  (masked_whiten)
// and `shift_mean = false` (TRL's reward whitening) adds μ back afterwards.

#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

struct WhitenOptions {
  enum class EpsPlacement : std::uint8_t {
    std,       ///< (x − μ) / (σ + eps)        CleanRL
    variance,  ///< (x − μ) / sqrt(σ² + eps)   TRL / verl masked_whiten
  };

  double eps = 1e-8;       ///< >= 0
  bool unbiased = true;    ///< σ² with Bessel's correction (n − 1), as torch.var / std default
  bool shift_mean = true;  ///< false: add μ back, scaling only (TRL's whiten(shift_mean=False))
  EpsPlacement eps_placement = EpsPlacement::std;
};

/// The statistics a whitening used (worth logging: a std near 0 flags a degenerate batch).
struct WhitenStats {
  double mean = 0.0;
  double stddev = 0.0;  ///< sqrt of the (biased or unbiased) variance, before eps
  double count = 0.0;   ///< number of valid positions
};

namespace detail {

/// out = (x − μ)·scale + shift over the valid positions of a batch, given the moments.
inline void whiten_coefficients(const WhitenOptions& o, double mean, double var, double& scale,
                                double& shift) {
  const double denom = o.eps_placement == WhitenOptions::EpsPlacement::std ? std::sqrt(var) + o.eps
                                                                           : std::sqrt(var + o.eps);
  // A constant batch with eps = 0 has nothing to scale: its whitened values are all 0.
  scale = denom > 0.0 ? 1.0 / denom : 0.0;
  shift = o.shift_mean ? 0.0 : mean;
}

/// Variance with n − ddof in the denominator; 0 when n <= ddof (one sample, unbiased) so that a
/// single valid value whitens to 0 instead of NaN.
inline double whiten_variance(double ss, double n, bool unbiased) {
  const double ddof = unbiased ? 1.0 : 0.0;
  return n > ddof ? ss / (n - ddof) : 0.0;
}

}  // namespace detail

/// Whitens `x [N, T]` over the positions where `mask` is nonzero (all when null) into `out`.
/// Masked inputs are never read; masked positions of `out` are set to 0. `out` may be `x` itself.
/// Statistics are two-pass, in double.
template <class S>
WhitenStats whiten(TokenView<S> x, const MaskView& mask, TokenView<std::remove_const_t<S>> out,
                   const WhitenOptions& options = {}) {
  using T = std::remove_const_t<S>;
  constexpr std::string_view where = "polo::whiten";
  detail::require_nonnegative(where, "options.eps", options.eps);
  const TokenView<const T> in(x);
  detail::require_mask_shape(where, mask, in.rows(), in.cols());
  detail::require_shape(where, "out", out, in.rows(), in.cols());
  if (out.rows() > 1 && out.stride() < out.cols()) {
    detail::fail_argument(where, "out row stride",
                          fmt::format(">= cols ({}) (an output cannot broadcast)", out.cols()),
                          out.stride());
  }
  WhitenStats stats;
  mask.visit([&](auto valid) {
    double n = 0.0;
    double sum = 0.0;
    for (Index i = 0; i < in.rows(); ++i) {
      const T* row = in.row(i);
      for (Index t = 0; t < in.cols(); ++t) {
        if (valid(i, t)) {
          sum += static_cast<double>(row[t]);
          n += 1.0;
        }
      }
    }
    const double mean = n > 0.0 ? sum / n : 0.0;
    double ss = 0.0;
    for (Index i = 0; i < in.rows(); ++i) {
      const T* row = in.row(i);
      for (Index t = 0; t < in.cols(); ++t) {
        if (valid(i, t)) {
          const double d = static_cast<double>(row[t]) - mean;
          ss += d * d;
        }
      }
    }
    const double var = detail::whiten_variance(ss, n, options.unbiased);
    if (!std::isfinite(mean) || !std::isfinite(var)) detail::check_finite(where, "x", in, mask);
    double scale = 0.0;
    double shift = 0.0;
    detail::whiten_coefficients(options, mean, var, scale, shift);
    for (Index i = 0; i < in.rows(); ++i) {
      const T* row = in.row(i);
      T* dst = out.row(i);
      for (Index t = 0; t < in.cols(); ++t) {
        dst[t] = valid(i, t) ? static_cast<T>((static_cast<double>(row[t]) - mean) * scale + shift)
                             : T{0};
      }
    }
    stats = {mean, std::sqrt(var), n};
  });
  return stats;
}

/// In place: `x` is overwritten (masked positions become 0).
template <class S>
requires(!std::is_const_v<S>) WhitenStats
    whiten_inplace(TokenView<S> x, const MaskView& mask = {}, const WhitenOptions& options = {}) {
  return whiten(TokenView<const S>(x), mask, x, options);
}

/// Owning form.
template <class S>
TokenArray<std::remove_const_t<S>> whitened(TokenView<S> x, const MaskView& mask = {},
                                            const WhitenOptions& options = {}) {
  TokenArray<std::remove_const_t<S>> out(x.rows(), x.cols());
  whiten(x, mask, out, options);
  return out;
}

/// Per-sequence `[N]` data (e.g. one advantage per response), every entry valid.
template <class S>
WhitenStats whiten(SeqView<S> x, SeqView<std::remove_const_t<S>> out,
                   const WhitenOptions& options = {}) {
  using T = std::remove_const_t<S>;
  constexpr std::string_view where = "polo::whiten";
  detail::require_nonnegative(where, "options.eps", options.eps);
  const SeqView<const T> in(x);
  detail::require_shape(where, "out", out, in.size());
  const Index n = in.size();
  double sum = 0.0;
  for (Index i = 0; i < n; ++i) {
    sum += static_cast<double>(in[i]);
  }
  const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double ss = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double d = static_cast<double>(in[i]) - mean;
    ss += d * d;
  }
  const double var = detail::whiten_variance(ss, static_cast<double>(n), options.unbiased);
  if (!std::isfinite(mean) || !std::isfinite(var)) detail::check_finite(where, "x", in);
  double scale = 0.0;
  double shift = 0.0;
  detail::whiten_coefficients(options, mean, var, scale, shift);
  for (Index i = 0; i < n; ++i) {
    out[i] = static_cast<T>((static_cast<double>(in[i]) - mean) * scale + shift);
  }
  return {mean, std::sqrt(var), static_cast<double>(n)};
}

}  // namespace polo

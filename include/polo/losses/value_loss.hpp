#pragma once
// PPO's value-function loss with optional clipping around the rollout-time values, and the
// explained-variance diagnostic that goes with it.
//
//   Vc_it = V0_it + clip(V_it - V0_it, -eps_v, eps_v)
//   value = 1/2 Agg(max((V - R)^2, (Vc - R)^2))     (eps_v = 0: 1/2 Agg((V - R)^2))

#include <algorithm>
#include <cmath>
#include <string_view>

#include "polo/core/aggregation.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/detail/token_loss.hpp"
#include "polo/losses/result.hpp"

namespace polo {

namespace detail {

/// Population variance from sums shifted by the first value seen: one pass, and no cancellation
/// for data far from zero (the mean is only subtracted from the shifted sums).
struct ShiftedVariance {
  double shift = 0.0;
  double sum = 0.0;
  double sum_sq = 0.0;
  double count = 0.0;

  void add(double x) noexcept {
    if (count == 0.0) shift = x;
    const double d = x - shift;
    sum += d;
    sum_sq += d * d;
    count += 1.0;
  }
  [[nodiscard]] double variance() const noexcept {
    if (count == 0.0) return 0.0;
    const double m = sum / count;
    return std::max(0.0, sum_sq / count - m * m);
  }
};

/// 1 - Var[y - yhat] / Var[y]; 0 when Var[y] = 0 (see polo::explained_variance).
inline double explained_variance_from(const ShiftedVariance& targets,
                                      const ShiftedVariance& residuals) noexcept {
  const double var_y = targets.variance();
  if (!(var_y > 0.0)) return 0.0;
  return 1.0 - residuals.variance() / var_y;
}

}  // namespace detail

/// Explained variance of `predictions` for `targets` over valid positions (CleanRL's
/// `explained_var`): \f$ 1 - \mathrm{Var}[y - \hat y] / \mathrm{Var}[y] \f$, population variances.
/// 1 is a perfect fit, 0 is no better than the mean, negative is worse. When Var[y] = 0 (constant
/// targets, or no valid position) it returns 0 where CleanRL returns NaN: a log of NaNs breaks
/// plots and averages, and "explains nothing beyond the mean" is the honest reading.
template <class S>
double explained_variance(TokenView<const S> predictions, TokenView<const S> targets,
                          const MaskView& mask = {}) {
  constexpr std::string_view where = "polo::explained_variance";
  detail::require_shape(where, "targets", targets, predictions.rows(), predictions.cols());
  detail::require_mask_shape(where, mask, predictions.rows(), predictions.cols());
  return mask.visit([&](auto valid) {
    detail::ShiftedVariance y;
    detail::ShiftedVariance e;
    for (Index i = 0; i < predictions.rows(); ++i) {
      for (Index t = 0; t < predictions.cols(); ++t) {
        if (!valid(i, t)) continue;
        const double target = static_cast<double>(targets(i, t));
        y.add(target);
        e.add(target - static_cast<double>(predictions(i, t)));
      }
    }
    return detail::explained_variance_from(y, e);
  });
}

/// The `[B, T]` inputs of the value loss. `old_values` is needed only when clipping.
template <class S>
struct ValueInputs {
  TokenView<const S> values{};      ///< V_it, the differentiable input
  TokenView<const S> old_values{};  ///< V0_it at rollout time (required when clip > 0)
  TokenView<const S> returns{};     ///< R_it, the regression target (GAE returns)
  MaskView mask{};
};

struct ValueLossMetrics {
  /// Share of valid tokens whose clipped error is the larger one (TRL vf_clipfrac): the tokens
  /// that get no gradient.
  double value_clip_fraction = 0.0;
  double explained_variance = 0.0;  ///< of values for returns (see polo::explained_variance)
  double values_mean = 0.0;
  double returns_mean = 0.0;
  double valid_tokens = 0.0;
};

template <class S>
struct ValueLossResult {
  double value = 0.0;
  TokenArray<S> grad_values;  ///< d value / d values, [B, T], 0 at masked positions
  TokenArray<S> per_token;    ///< 1/2 max((V-R)^2, (Vc-R)^2) before aggregation
  ValueLossMetrics metrics;
};

/// PPO value loss, to minimize:
/// \f$ L = \tfrac12 \mathrm{Agg}\big(\max((V-R)^2, (V_c-R)^2)\big) \f$,
/// \f$ V_c = V^0 + \mathrm{clip}(V - V^0, -\epsilon_v, \epsilon_v) \f$. Gradient \f$ w (V - R) \f$,
/// except 0 where the clip is active (|V - V0| > eps_v) and the clipped error is strictly larger.
/// Multiply by the value coefficient (CleanRL 0.5, TRL 0.1) when adding it to the policy loss.
struct ValueLoss {
  double clip = 0.0;  ///< 0 = no clipping; else eps_v, in value units (CleanRL/TRL 0.2, verl 0.5)
  Aggregation aggregation{};

  static constexpr std::string_view name = "polo::ValueLoss";

  void validate() const {
    detail::require_nonnegative(name, "clip", clip);
    aggregation.validate(name);
  }

  template <class S>
  LossValue<ValueLossMetrics> compute(const ValueInputs<S>& in, TokenView<S> grad_values) const {
    return run(in, grad_values, TokenView<S>{});
  }

  template <class S>
  ValueLossResult<S> operator()(const ValueInputs<S>& in) const {
    return call<S>(in);
  }

  /// Braced inputs (`loss({a, b, c, mask})`) deduce no template argument; these pick the scalar.
  ValueLossResult<double> operator()(const ValueInputs<double>& in) const {
    return call<double>(in);
  }
  ValueLossResult<float> operator()(const ValueInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  ValueLossResult<S> call(const ValueInputs<S>& in) const {
    return detail::owning_call<ValueLossResult<S>>(
        in.values.rows(), in.values.cols(), &ValueLossResult<S>::grad_values,
        [&](TokenView<S> grad, TokenView<S> per_token) { return run(in, grad, per_token); });
  }

  template <class S>
  LossValue<ValueLossMetrics> run(const ValueInputs<S>& in, TokenView<S> grad,
                                  TokenView<S> per_token) const {
    validate();
    const Index rows = in.values.rows();
    const Index cols = in.values.cols();
    const bool clipped = clip > 0.0;
    if (clipped) {
      detail::require_present(name, "old_values", in.old_values, "clip > 0");
      detail::require_input(name, "old_values", in.old_values, rows, cols);
    }
    detail::require_input(name, "returns", in.returns, rows, cols);
    detail::require_mask_shape(name, in.mask, rows, cols);
    detail::require_output(name, "grad_values", grad, rows, cols);
    const bool keep_per_token = !per_token.is_null();
    if (keep_per_token) detail::require_output(name, "per_token", per_token, rows, cols);

    // Sums local to the loop (see PPOClip): captured by reference they would be stored per token.
    struct Sums {
      double value = 0.0, grad = 0.0, clipped = 0.0, values = 0.0, returns = 0.0;
      detail::ShiftedVariance var_returns, var_residual;
    };
    const Sums sums = in.mask.visit([&](auto valid) {
      Sums acc;
      const detail::RowWeights weights(aggregation, valid, rows, cols);
      for (Index i = 0; i < rows; ++i) {
        const double w = weights(i);
        const S* v = in.values.row(i);
        const S* v0 = clipped ? in.old_values.row(i) : nullptr;
        const S* ret = in.returns.row(i);
        S* g = grad.row(i);
        S* pt = keep_per_token ? per_token.row(i) : nullptr;
        double row_value = 0.0;
        for (Index t = 0; t < cols; ++t) {
          if (!valid(i, t)) {
            g[t] = S{0};
            if (keep_per_token) pt[t] = S{0};
            continue;
          }
          const double vi = static_cast<double>(v[t]);
          const double ri = static_cast<double>(ret[t]);
          const double err = vi - ri;
          double sq = err * err;
          double d = err;
          if (clipped) {
            // Inside the band Vc = V exactly (no rounding through V0 + (V - V0)), so only a
            // strictly active clip can select the clipped branch.
            const double v0i = static_cast<double>(v0[t]);
            const double delta = vi - v0i;
            if (std::abs(delta) > clip) {
              const double err_c = v0i + std::copysign(clip, delta) - ri;
              if (err_c * err_c > sq) {
                sq = err_c * err_c;
                d = 0.0;
                acc.clipped += 1.0;
              }
            }
          }
          const double loss = 0.5 * sq;
          row_value += loss;
          const double gi = w * d;
          g[t] = static_cast<S>(gi);
          acc.grad += gi;
          if (keep_per_token) pt[t] = static_cast<S>(loss);
          acc.values += vi;
          acc.returns += ri;
          acc.var_returns.add(ri);
          acc.var_residual.add(-err);
        }
        acc.value += w * row_value;
      }
      return acc;
    });
    const double value = sums.value;
    const double grad_sum = sums.grad;

    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      detail::fail_nonfinite<S>(
          name, {{"values", in.values}, {"old_values", in.old_values}, {"returns", in.returns}},
          in.mask, std::isfinite(value) ? grad_sum : value, "the squared error overflowed");
    }

    LossValue<ValueLossMetrics> out;
    out.value = value;
    const double n = sums.var_returns.count;
    out.metrics.valid_tokens = n;
    if (n > 0.0) {
      out.metrics.value_clip_fraction = sums.clipped / n;
      out.metrics.values_mean = sums.values / n;
      out.metrics.returns_mean = sums.returns / n;
    }
    out.metrics.explained_variance =
        detail::explained_variance_from(sums.var_returns, sums.var_residual);
    return out;
  }
};

}  // namespace polo

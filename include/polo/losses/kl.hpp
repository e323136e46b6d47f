#pragma once
// Per-token estimators of KL(pi_theta || pi_ref) from sampled tokens (Schulman's k1, k2, k3), the
// KL penalty loss built on them, and the KL-coefficient controllers.
//
// With x = ref_logp - logp at a sampled token:
//   k1 = logp - ref_logp = -x        d/dlogp = 1
//   k2 = (logp - ref_logp)^2 / 2     d/dlogp = logp - ref_logp
//   k3 = e^x - x - 1  (>= 0)         d/dlogp = 1 - e^x
// Importance-corrected (DeepSeek-V3.2, TRL use_bias_correction_kl): r k with r = e^(logp -
// old_logp) differentiable, d/dlogp = r (k + dk/dlogp); for k3 that is r (logp - ref_logp).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string_view>

#include <fmt/format.h>

#include "polo/core/aggregation.hpp"
#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/detail/token_loss.hpp"
#include "polo/losses/result.hpp"

namespace polo {

enum class KLEstimator {
  k1,  ///< logp - ref_logp: unbiased, can be negative (TRL PPO, OpenRLHF, verl "kl")
  k2,  ///< (logp - ref_logp)^2 / 2: biased value, its gradient is the reverse-KL gradient
  k3,  ///< e^x - x - 1, x = ref_logp - logp: unbiased, >= 0, low variance (GRPO, verl low_var_kl)
};

/// One token's estimate and its derivative with respect to logp.
struct KLToken {
  double value = 0.0;
  double grad = 0.0;
};

/// The estimate `estimator` at one sampled token and d/dlogp.
inline KLToken kl_token(KLEstimator estimator, double logp, double ref_logp) noexcept {
  const double d = logp - ref_logp;  // = -x
  switch (estimator) {
    case KLEstimator::k1:
      return {d, 1.0};
    case KLEstimator::k2:
      return {0.5 * d * d, d};
    case KLEstimator::k3: {
      // expm1 keeps e^x - 1 - x accurate when the policies are close (x -> 0).
      const double em1 = std::expm1(-d);
      return {em1 + d, -em1};
    }
  }
  return {};
}

/// The importance-corrected estimate r k, r = exp(logp - old_logp) differentiable, and d/dlogp
/// = r (k + dk/dlogp). For samples drawn from pi_old it is unbiased for KL(pi_theta || pi_ref) in
/// value, and for k3 its gradient is the reverse-KL gradient (policy_gradient.md §2(c)).
inline KLToken kl_token_importance_corrected(KLEstimator estimator, double logp, double ref_logp,
                                             double old_logp) noexcept {
  const double r = std::exp(logp - old_logp);
  const KLToken k = kl_token(estimator, logp, ref_logp);
  return {r * k.value, r * (k.value + k.grad)};
}

/// The `[B, T]` inputs of the KL penalty. `old_logp` is needed only for importance correction.
template <class S>
struct KLInputs {
  TokenView<const S> logp{};      ///< log pi_theta at the sampled tokens, differentiable
  TokenView<const S> ref_logp{};  ///< log pi_ref at the same tokens (constant)
  TokenView<const S> old_logp{};  ///< log pi_old, the sampling policy (importance_correction)
  MaskView mask{};
};

struct KLPenaltyMetrics {
  double kl_mean = 0.0;  ///< token mean of the estimate (r k when importance-corrected), unscaled
  double kl_max = 0.0;   ///< largest per-token estimate
  double valid_tokens = 0.0;
};

template <class S>
struct KLPenaltyResult {
  double value = 0.0;
  TokenArray<S> grad_logp;  ///< d value / d logp, [B, T], 0 at masked positions
  TokenArray<S> per_token;  ///< coefficient * k_it before aggregation, 0 at masked positions
  KLPenaltyMetrics metrics;
};

/// KL penalty in the loss (GRPO's beta term, verl use_kl_loss):
/// \f$ L = \beta\,\mathrm{Agg}(k_{it}) \f$, or \f$ \beta\,\mathrm{Agg}(r_{it} k_{it}) \f$ with
/// importance correction. Gradient \f$ \beta w_{it} \partial k / \partial \ell \f$.
struct KLPenalty {
  KLEstimator estimator = KLEstimator::k3;  ///< GRPO / DeepSeekMath, verl low_var_kl
  double coefficient = 0.04;                ///< beta (DeepSeekMath GRPO; verl uses 0.001)
  bool importance_correction = false;       ///< r k instead of k (TRL use_bias_correction_kl)
  Aggregation aggregation{};

  static constexpr std::string_view name = "polo::KLPenalty";

  void validate() const {
    detail::require_nonnegative(name, "coefficient", coefficient);
    if (!std::isfinite(coefficient)) {
      detail::fail_argument(name, "coefficient", "finite", coefficient);
    }
    aggregation.validate(name);
  }

  template <class S>
  LossValue<KLPenaltyMetrics> compute(const KLInputs<S>& in, TokenView<S> grad_logp) const {
    return run(in, grad_logp, TokenView<S>{});
  }

  template <class S>
  KLPenaltyResult<S> operator()(const KLInputs<S>& in) const {
    return call<S>(in);
  }
  KLPenaltyResult<double> operator()(const KLInputs<double>& in) const { return call<double>(in); }
  KLPenaltyResult<float> operator()(const KLInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  KLPenaltyResult<S> call(const KLInputs<S>& in) const {
    return detail::owning_call<KLPenaltyResult<S>>(
        in.logp.rows(), in.logp.cols(), &KLPenaltyResult<S>::grad_logp,
        [&](TokenView<S> grad, TokenView<S> per_token) { return run(in, grad, per_token); });
  }

  template <class S>
  LossValue<KLPenaltyMetrics> run(const KLInputs<S>& in, TokenView<S> grad,
                                  TokenView<S> per_token) const {
    validate();
    const Index rows = in.logp.rows();
    const Index cols = in.logp.cols();
    detail::require_input(name, "ref_logp", in.ref_logp, rows, cols);
    if (importance_correction) {
      detail::require_present(name, "old_logp", in.old_logp, "importance_correction");
      detail::require_input(name, "old_logp", in.old_logp, rows, cols);
    }
    detail::require_mask_shape(name, in.mask, rows, cols);
    detail::require_output(name, "grad_logp", grad, rows, cols);
    const bool keep_per_token = !per_token.is_null();
    if (keep_per_token) detail::require_output(name, "per_token", per_token, rows, cols);

    const double beta = coefficient;
    // Sums local to the loop (see PPOClip): captured by reference they would be stored per token.
    struct Sums {
      double value = 0.0, grad = 0.0, n = 0.0, k = 0.0, k_max = 0.0;
    };
    const Sums sums = in.mask.visit([&](auto valid) {
      Sums acc;
      const detail::RowWeights weights(aggregation, valid, rows, cols);
      for (Index i = 0; i < rows; ++i) {
        const double w = weights(i);
        const S* lp = in.logp.row(i);
        const S* ref = in.ref_logp.row(i);
        const S* old = importance_correction ? in.old_logp.row(i) : nullptr;
        S* g = grad.row(i);
        S* pt = keep_per_token ? per_token.row(i) : nullptr;
        double row_sum = 0.0;
        for (Index t = 0; t < cols; ++t) {
          if (!valid(i, t)) {
            g[t] = S{0};
            if (keep_per_token) pt[t] = S{0};
            continue;
          }
          const double l = static_cast<double>(lp[t]);
          const KLToken k =
              importance_correction
                  ? kl_token_importance_corrected(estimator, l, static_cast<double>(ref[t]),
                                                  static_cast<double>(old[t]))
                  : kl_token(estimator, l, static_cast<double>(ref[t]));
          row_sum += k.value;
          const double gi = beta * w * k.grad;
          g[t] = static_cast<S>(gi);
          acc.grad += gi;
          if (keep_per_token) pt[t] = static_cast<S>(beta * k.value);
          acc.k_max = acc.n == 0.0 ? k.value : std::max(acc.k_max, k.value);
          acc.n += 1.0;
          acc.k += k.value;
        }
        acc.value += w * row_sum;
      }
      return acc;
    });
    const double value = beta * sums.value;
    const double grad_sum = sums.grad;
    const double n = sums.n;

    if (!std::isfinite(value) || !std::isfinite(grad_sum) || !std::isfinite(sums.k)) {
      detail::fail_nonfinite<S>(
          name,
          {{"logp", in.logp},
           {"ref_logp", in.ref_logp},
           {"old_logp", importance_correction ? in.old_logp : TokenView<const S>{}}},
          in.mask, std::isfinite(value) ? grad_sum : value,
          "exp(ref_logp - logp) or the ratio overflowed");
    }
    LossValue<KLPenaltyMetrics> out;
    out.value = value;
    out.metrics.valid_tokens = n;
    out.metrics.kl_mean = n > 0.0 ? sums.k / n : 0.0;
    out.metrics.kl_max = sums.k_max;
    return out;
  }
};

static_assert(TokenLoss<KLPenalty, KLInputs<double>>);

/// The KL coefficient beta that a controller adapts; the caller owns it (DESIGN: state is
/// explicit) and reads `coefficient` into `KLPenalty::coefficient` or the reward shaping.
struct KLControllerState {
  double coefficient = 0.0;
};

/// Adapts beta toward a target KL (Ziegler et al. 2019; TRL, verl, OpenRLHF):
/// \f$ \beta \leftarrow \beta\,(1 + \mathrm{clip}(KL/KL_{target} - 1, -0.2, 0.2)\,n/H) \f$,
/// n = samples (or steps) behind the observed KL, H = horizon.
struct AdaptiveKLController {
  double target = 6.0;       ///< KL_target (Ziegler et al., TRL; verl's default is 0.1)
  double horizon = 10000.0;  ///< H (all references)

  static constexpr std::string_view name = "polo::AdaptiveKLController";

  void update(KLControllerState& state, double observed_kl, double n_steps) const {
    detail::require_positive(name, "target", target);
    detail::require_positive(name, "horizon", horizon);
    if (!std::isfinite(target) || !std::isfinite(horizon)) {
      detail::fail_argument(name, "target and horizon", "finite",
                            fmt::format("{} and {}", target, horizon));
    }
    if (!std::isfinite(observed_kl)) {
      detail::fail_argument(name, "observed_kl", "finite", observed_kl);
    }
    detail::require_nonnegative(name, "n_steps", n_steps);
    if (!(state.coefficient >= 0.0 && std::isfinite(state.coefficient))) {
      detail::fail_argument(name, "state.coefficient", "finite and >= 0", state.coefficient);
    }
    const double error = std::clamp(observed_kl / target - 1.0, -0.2, 0.2);
    state.coefficient *= 1.0 + error * n_steps / horizon;
  }
};

/// A constant beta with the controller interface (verl kl_ctrl.type = fixed, OpenRLHF's default).
struct FixedKLController {
  static constexpr std::string_view name = "polo::FixedKLController";

  void update(KLControllerState& state, double observed_kl, double n_steps) const {
    if (!std::isfinite(observed_kl)) {
      detail::fail_argument(name, "observed_kl", "finite", observed_kl);
    }
    detail::require_nonnegative(name, "n_steps", n_steps);
    if (!(state.coefficient >= 0.0 && std::isfinite(state.coefficient))) {
      detail::fail_argument(name, "state.coefficient", "finite and >= 0", state.coefficient);
    }
  }
};

/// Updates a caller-owned `KLControllerState` from the KL observed over `n_steps` samples.
template <class C>
concept KLController = requires(const C& c, KLControllerState& s, double kl, double n) {
  c.update(s, kl, n);
};

static_assert(KLController<AdaptiveKLController>);
static_assert(KLController<FixedKLController>);

}  // namespace polo

#pragma once
// PPO's clipped surrogate policy loss (Schulman et al. 2017) with clip-higher and dual clip, and
// the rest of the PPO loss set: ValueLoss (value_loss.hpp) and EntropyBonus (entropy_bonus.hpp).
//
//   r_it = exp(logp_it - old_logp_it)
//   s_it = min(r_it A_it, clip(r_it, 1 - eps_low, 1 + eps_high) A_it)
//   l_it = -s_it                      (dual clip c > 1, A_it < 0: l_it = min(-s_it, -c A_it))
//   value = Agg(l)                    (ALGORITHMS policy_gradient.md §1(b), gradient §1(c))

#include <algorithm>
#include <cmath>
#include <string_view>

#include "polo/core/aggregation.hpp"
#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/detail/token_loss.hpp"
#include "polo/losses/entropy_bonus.hpp"
#include "polo/losses/result.hpp"
#include "polo/losses/value_loss.hpp"

namespace polo {

/// The `[B, T]` inputs of a policy-gradient token loss. `old_logp` and `advantages` are constants
/// (no gradient flows to them); a null `mask` makes every token count.
template <class S>
struct PolicyInputs {
  TokenView<const S> logp{};        ///< log pi_theta(a_t | s_t), the differentiable input
  TokenView<const S> old_logp{};    ///< log-probs at rollout time (behaviour policy)
  TokenView<const S> advantages{};  ///< A_it (broadcast a per-sequence advantage over its row)
  MaskView mask{};                  ///< nonzero where a token counts
};

/// What PPO implementations log with the policy loss. Means are over the valid tokens of this
/// call (local, whatever the aggregation's normalizer).
struct PPOClipMetrics {
  double clip_fraction = 0.0;       ///< CleanRL clipfrac: r > 1 + eps_high or r < 1 - eps_low
  double clip_ratio_low = 0.0;      ///< TRL clip_ratio/low_mean: A < 0 and r < 1 - eps_low
  double clip_ratio_high = 0.0;     ///< TRL clip_ratio/high_mean: A > 0 and r > 1 + eps_high
  double clip_ratio_region = 0.0;   ///< low or high: the tokens whose gradient the clip zeroes
  double dual_clip_fraction = 0.0;  ///< A < 0 and r > dual_clip (verl pg_clipfrac_lower)
  double approx_kl = 0.0;           ///< mean((r - 1) - log r), k3 (CleanRL approx_kl)
  double old_approx_kl = 0.0;       ///< mean(-log r), k1 (CleanRL old_approx_kl)
  double ratio_mean = 0.0;          ///< mean(r)
  double valid_tokens = 0.0;        ///< number of valid tokens in this call
};

/// The owning result: value, gradient, per-token losses (0 at masked positions), metrics.
template <class S>
struct PPOClipResult {
  double value = 0.0;
  TokenArray<S> grad_logp;  ///< d value / d logp, [B, T], exactly 0 at masked positions
  TokenArray<S> per_token;  ///< l_it before aggregation, [B, T], 0 at masked positions
  PPOClipMetrics metrics;
};

/// PPO's clipped surrogate, to minimize:
/// \f$ L = \mathrm{Agg}_{it}\big(-\min(r A, \mathrm{clip}(r, 1-\epsilon_l, 1+\epsilon_h)
/// A)\big)\f$, \f$ r = e^{\ell - \ell^{old}} \f$. Gradient \f$ -w_{it} A r \f$ where the unclipped
/// branch is selected, 0 where the ratio is strictly outside the clip interval in the pessimistic
/// direction (A > 0, r > 1 + eps_high or A < 0, r < 1 - eps_low) or the dual-clip cap is taken (A <
/// 0, r > c). On a boundary both branches agree in value, and the unclipped gradient is used.
struct PPOClip {
  double epsilon_low = 0.2;   ///< lower clip width: ratio floor 1 - epsilon_low (> 0)
  double epsilon_high = 0.2;  ///< upper clip width: ratio ceiling 1 + epsilon_high (> 0)
  /// 0 = off; else c > 1: for A < 0 the per-token loss is capped at -c A (verl clip_ratio_c = 3).
  double dual_clip = 0.0;
  /// 0 = off (TRL, CleanRL); else the log-ratio is clamped to [-c, c] before exp (OpenRLHF and
  /// verl use 20). The clamp is part of the function: its gradient is 0 where it is active.
  double clamp_log_ratio = 0.0;
  Aggregation aggregation{};  ///< token_mean by default (CleanRL, TRL PPO, verl, OpenRLHF)

  static constexpr std::string_view name = "polo::PPOClip";

  /// Throws `polo::invalid_argument` naming the first out-of-range hyper-parameter.
  void validate() const {
    detail::require_positive(name, "epsilon_low", epsilon_low);
    detail::require_positive(name, "epsilon_high", epsilon_high);
    if (!(dual_clip == 0.0 || dual_clip > 1.0)) {
      detail::fail_argument(name, "dual_clip", "0 (off) or > 1", dual_clip);
    }
    detail::require_nonnegative(name, "clamp_log_ratio", clamp_log_ratio);
    aggregation.validate(name);
  }

  /// Zero-allocation call: writes d value / d logp into `grad_logp` ([B, T]).
  template <class S>
  LossValue<PPOClipMetrics> compute(const PolicyInputs<S>& in, TokenView<S> grad_logp) const {
    return run(in, grad_logp, TokenView<S>{});
  }

  /// Owning call.
  template <class S>
  PPOClipResult<S> operator()(const PolicyInputs<S>& in) const {
    return call<S>(in);
  }

  /// Braced inputs (`loss({a, b, c, mask})`) deduce no template argument; these pick the scalar.
  PPOClipResult<double> operator()(const PolicyInputs<double>& in) const {
    return call<double>(in);
  }
  PPOClipResult<float> operator()(const PolicyInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  PPOClipResult<S> call(const PolicyInputs<S>& in) const {
    return detail::owning_call<PPOClipResult<S>>(
        in.logp.rows(), in.logp.cols(), &PPOClipResult<S>::grad_logp,
        [&](TokenView<S> grad, TokenView<S> per_token) { return run(in, grad, per_token); });
  }

  template <class S>
  LossValue<PPOClipMetrics> run(const PolicyInputs<S>& in, TokenView<S> grad,
                                TokenView<S> per_token) const {
    validate();
    const Index rows = in.logp.rows();
    const Index cols = in.logp.cols();
    detail::require_input(name, "old_logp", in.old_logp, rows, cols);
    detail::require_input(name, "advantages", in.advantages, rows, cols);
    detail::require_mask_shape(name, in.mask, rows, cols);
    detail::require_output(name, "grad_logp", grad, rows, cols);
    const bool keep_per_token = !per_token.is_null();
    if (keep_per_token) detail::require_output(name, "per_token", per_token, rows, cols);

    const double lo = 1.0 - epsilon_low;
    const double hi = 1.0 + epsilon_high;
    const double cap = dual_clip;  // 0 = off
    const double clamp = clamp_log_ratio;

    // The fused pass on the vector blocks of token_loss.hpp: lane-wise selects, partial sums per
    // lane and the inline exp, so that it vectorizes.
    struct Sums {
      double value = 0.0;
      double grad = 0.0;  // finite iff every gradient entry is (the cheap check)
      double n = 0.0, clip = 0.0, low = 0.0, high = 0.0, dual = 0.0;
      double k3 = 0.0, k1 = 0.0, ratio = 0.0;
    };
    // The mask kind is a predicted branch per block: the loop is compiled once, not per kind.
    const detail::MaskLanes valid(in.mask);
    const Sums sums = [&] {
      using detail::kBlock;
      using detail::select;
      using detail::splat;
      using detail::VecD;
      using detail::VecI;
      const VecD zero{};
      const VecD lo_v = splat<VecD>(lo);
      const VecD hi_v = splat<VecD>(hi);
      const VecD cap_v = splat<VecD>(cap);
      const VecD clamp_v = splat<VecD>(clamp);
      const bool use_cap = cap > 0.0;
      const bool use_clamp = clamp > 0.0;
      const detail::RowWeights weights(aggregation, valid, rows, cols);
      Sums acc;
      VecI n{}, clip{}, low{}, high{}, dual_n{};
      VecD k3{}, k1{}, ratio{};
      for (Index i = 0; i < rows; ++i) {
        const double w = weights(i);
        const S* lp = in.logp.row(i);
        const S* olp = in.old_logp.row(i);
        const S* adv = in.advantages.row(i);
        S* g = grad.row(i);
        S* pt = keep_per_token ? per_token.row(i) : nullptr;
        VecD value{};
        VecD grad_sum{};
        for (Index t0 = 0; t0 < cols; t0 += kBlock) {
          const Index m = std::min(kBlock, cols - t0);
          // Select, never multiply: padding may hold NaN or -inf.
          const VecI v = detail::valid_lanes(valid, i, t0, m);
          // The difference in double before exp: float inputs lose nothing to cancellation.
          VecD log_ratio = detail::load(lp + t0, m) - detail::load(olp + t0, m);
          VecI clamped{};
          if (use_clamp) {
            clamped = detail::abs_of(log_ratio) > clamp_v;
            log_ratio = select(clamped, detail::copysign_of(clamp_v, log_ratio), log_ratio);
          }
          const VecD r = detail::exp_pair(log_ratio).exp;
          const VecD a = detail::load(adv + t0, m);
          const VecI clip_low = r < lo_v;
          const VecI clip_high = r > hi_v;
          const VecI zero_low = (a < 0.0) & clip_low;
          const VecI zero_high = (a > 0.0) & clip_high;
          const VecI dual = use_cap ? VecI((a < 0.0) & (r > cap_v)) : VecI{};
          // -min(r A, clip(r) A): the clipped branch is the minimum only when it is strictly
          // outside the interval on the pessimistic side.
          const VecD unclipped = -r * a;
          VecD loss = select(zero_low, -lo_v * a, select(zero_high, -hi_v * a, unclipped));
          VecD dloss = select(zero_low | zero_high, zero, unclipped);
          loss = select(dual, -cap_v * a, loss);
          dloss = select(dual | clamped, zero, dloss);
          const VecD gi = w * dloss;
          if (keep_per_token) detail::store(pt + t0, select(v, loss, zero), m);
          detail::store(g + t0, select(v, gi, zero), m);
          value += select(v, loss, zero);
          grad_sum += select(v, gi, zero);
          n += v;
          clip += v & (clip_low | clip_high);
          low += v & zero_low;
          high += v & zero_high;
          dual_n += v & dual;
          k3 += select(v, (r - 1.0) - log_ratio, zero);
          k1 -= select(v, log_ratio, zero);
          ratio += select(v, r, zero);
        }
        acc.value += w * detail::lane_sum(value);
        acc.grad += detail::lane_sum(grad_sum);
      }
      acc.n = static_cast<double>(detail::lane_count(n));
      acc.clip = static_cast<double>(detail::lane_count(clip));
      acc.low = static_cast<double>(detail::lane_count(low));
      acc.high = static_cast<double>(detail::lane_count(high));
      acc.dual = static_cast<double>(detail::lane_count(dual_n));
      acc.k3 = detail::lane_sum(k3);
      acc.k1 = detail::lane_sum(k1);
      acc.ratio = detail::lane_sum(ratio);
      return acc;
    }();
    const double value = sums.value;
    const double grad_sum = sums.grad;

    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      detail::fail_nonfinite<S>(
          name, {{"logp", in.logp}, {"old_logp", in.old_logp}, {"advantages", in.advantages}},
          in.mask, std::isfinite(value) ? grad_sum : value,
          "exp(logp - old_logp) overflowed; set clamp_log_ratio");
    }

    LossValue<PPOClipMetrics> out;
    out.value = value;
    auto& m = out.metrics;
    const double n = sums.n;
    m.valid_tokens = n;
    if (n > 0.0) {
      m.clip_fraction = sums.clip / n;
      m.clip_ratio_low = sums.low / n;
      m.clip_ratio_high = sums.high / n;
      m.clip_ratio_region = (sums.low + sums.high) / n;
      m.dual_clip_fraction = sums.dual / n;
      m.approx_kl = sums.k3 / n;
      m.old_approx_kl = sums.k1 / n;
      m.ratio_mean = sums.ratio / n;
    }
    return out;
  }
};

static_assert(TokenLoss<PPOClip, PolicyInputs<double>>);
static_assert(TokenLoss<PPOClip, PolicyInputs<float>>);

/// Classic PPO: symmetric clip of width `epsilon` (0.2 in the paper, CleanRL, TRL).
inline PPOClip ppo_clip(double epsilon = 0.2) {
  return PPOClip{.epsilon_low = epsilon, .epsilon_high = epsilon};
}

/// DAPO's clip-higher: a wider upper clip lets low-probability tokens grow (0.2 / 0.28).
inline PPOClip clip_higher(double epsilon_low = 0.2, double epsilon_high = 0.28) {
  return PPOClip{.epsilon_low = epsilon_low, .epsilon_high = epsilon_high};
}

/// verl's default policy loss: clip 0.2 with dual clip c = 3 for negative advantages.
inline PPOClip dual_clip_ppo(double epsilon = 0.2, double c = 3.0) {
  return PPOClip{.epsilon_low = epsilon, .epsilon_high = epsilon, .dual_clip = c};
}

}  // namespace polo

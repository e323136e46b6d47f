#pragma once
// GRPO (Shao et al. 2024, DeepSeekMath) and the variants TRL names by `loss_type`: BNPO, Dr. GRPO
// (Liu et al. 2025), DAPO (Yu et al. 2025), CISPO (MiniMax-M1), SAPO; GSPO's sequence-level
// importance ratio (Zheng et al. 2025); INTELLECT-2's two-sided `delta`; and the k3 KL term with
// optional importance correction (DeepSeek-V3.2). ALGORITHMS policy_gradient.md §2(b)-(d).
//
//   r_it = exp(logp_it - old_logp_it)          (token level; old_logp absent: r = 1, gradient 1)
//   s_i  = exp(mean_{t valid} (logp_it - old_logp_it))            (sequence level, GSPO)
//   l_it = -min(min(r, delta) A, clip(r, 1 - eps_low, 1 + eps_high) A) + beta k3_it
//          cispo: -sg[min(r, eps_high)] A logp_it     sapo: -(4 / tau) sigmoid(tau (r - 1)) A
//   value = sum_i w_i sum_{t valid} l_it, with TRL's per-loss_type weights w_i:
//     grpo, sapo   1 / (B max(1, |o_i|) S)         bnpo   1 / (max(1, N_local) S)
//     dr_grpo      1 / (B L_max S)                 dapo, cispo   1 / N_global

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

#include "polo/core/aggregation.hpp"
#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/detail/token_loss.hpp"
#include "polo/losses/kl.hpp"
#include "polo/losses/result.hpp"

namespace polo {

/// The inputs of a GRPO-family loss. Everything but `logp` is a constant (no gradient flows to it).
/// Give exactly one of `advantages` ([B], broadcast over each row) and `token_advantages` ([B, T]).
template <class S>
struct GRPOInputs {
  TokenView<const S> logp{};  ///< log pi_theta at the sampled tokens, [B, T], differentiable
  /// Log-probs at rollout time. Absent: the single-update case (TRL, num_iterations = 1), where
  /// old = logp.detach(): the ratio is 1 and the gradient flows through it as d r / d logp = 1.
  TokenView<const S> old_logp{};
  TokenView<const S> ref_logp{};          ///< reference policy log-probs; required iff beta > 0
  SeqView<const S> advantages{};          ///< A_i, one per sequence [B]
  TokenView<const S> token_advantages{};  ///< or A_it, [B, T]
  MaskView mask{};                        ///< nonzero where a token counts; null = all count
};

/// TRL's `loss_type`: the per-token loss and how it is normalized (see the header comment).
enum class GrpoLossType {
  grpo,     ///< mean over sequences of each sequence's token mean, / S (DeepSeekMath Eq. 3)
  bnpo,     ///< / max(1, valid tokens of this micro-batch), / S
  dr_grpo,  ///< / (B * max_completion_length), / S (Dr. GRPO: no length bias)
  dapo,     ///< / global valid-token count (num_items_in_batch), not / S (TRL default)
  cispo,    ///< -sg[min(r, eps_high)] A logp (MiniMax-M1), dapo normalization
  sapo,     ///< soft gate -(4 / tau) sigmoid(tau (r - 1)) A, grpo normalization
};

/// Whether the importance ratio is per token (GRPO) or per sequence (GSPO).
enum class ImportanceSamplingLevel {
  token,     ///< r_it = exp(logp_it - old_logp_it)
  sequence,  ///< s_i = exp(mean_t (logp_it - old_logp_it)), shared by the row's tokens
};

/// What TRL's GRPOTrainer logs with the loss. Token means over this call's valid tokens; at
/// sequence level the clip ratios and `ratio_mean` are means over the sequences with a valid token.
struct GRPOMetrics {
  double clip_ratio_low = 0.0;     ///< A < 0 and ratio < 1 - eps_low (clip_ratio/low_mean)
  double clip_ratio_high = 0.0;    ///< A > 0 and ratio > 1 + eps_high (cispo: ratio > eps_high)
  double clip_ratio_region = 0.0;  ///< low or high (clip_ratio/region_mean)
  double kl_mean = 0.0;            ///< token mean of k3 (r k3 when IS-corrected); 0 when beta = 0
  double ratio_mean = 0.0;         ///< mean of the importance ratio r (or s)
  double valid_tokens = 0.0;       ///< number of valid tokens in this call
};

/// The owning result: value, gradient, per-token losses (0 at masked positions), metrics.
template <class S>
struct GRPOResult {
  double value = 0.0;
  TokenArray<S> grad_logp;  ///< d value / d logp, [B, T], exactly 0 at masked positions
  TokenArray<S> per_token;  ///< l_it (surrogate + beta KL) before normalization, 0 where masked
  GRPOMetrics metrics;
};

/// The GRPO family, to minimize (ALGORITHMS policy_gradient.md §2(b)). Gradient per valid token:
/// \f$ w_i (-A r) \f$ where the unclipped branch is selected and r < delta (else 0), plus
/// \f$ \beta w_i (1 - e^{\ell^{ref} - \ell}) \f$ (IS-corrected: \f$ \beta w_i r (\ell -
/// \ell^{ref}) \f$); cispo \f$ -w_i \min(r, \epsilon_h) A \f$; sapo \f$ -4 w_i A r \sigma(x)(1 -
/// \sigma(x)) \f$, x = tau (r - 1). At sequence level the token gradient is w_i times the
/// derivative with respect to log s_i (the 1/|o_i| of the mean cancels the |o_i| identical tokens).
struct GRPO {
  double epsilon_low = 0.2;   ///< ratio floor 1 - epsilon_low (TRL epsilon, > 0)
  double epsilon_high = 0.2;  ///< ratio ceiling 1 + epsilon_high (TRL: = epsilon; DAPO 0.28)
  /// 0 = off; else > 1: the unclipped branch uses min(r, delta) (INTELLECT-2's two-sided clip).
  /// Applies to the clipped surrogate (grpo, bnpo, dr_grpo, dapo), not to cispo or sapo.
  double delta = 0.0;
  double beta = 0.0;  ///< KL coefficient (TRL 0: no reference model; DeepSeekMath 0.04)
  /// r k3 instead of k3, with the token ratio r differentiable (TRL use_bias_correction_kl,
  /// DeepSeek-V3.2); at sequence level the correction still uses each token's own ratio.
  bool kl_importance_correction = false;
  GrpoLossType loss_type = GrpoLossType::dapo;  ///< TRL default
  ImportanceSamplingLevel importance_sampling_level = ImportanceSamplingLevel::token;
  double max_completion_length = 0.0;  ///< L_max; required (> 0) for dr_grpo
  /// dapo and cispo: the valid-token count of the whole generation batch (TRL num_items_in_batch,
  /// divided by the number of processes under DDP); 0 = this call's own count.
  double num_items_in_batch = 0.0;
  double gradient_accumulation_steps = 1.0;  ///< S: grpo, bnpo, dr_grpo and sapo divide by it
  double sapo_temperature_pos = 1.0;         ///< SAPO tau for A > 0
  double sapo_temperature_neg = 1.05;        ///< SAPO tau for A <= 0

  static constexpr std::string_view name = "polo::GRPO";

  /// Throws `polo::invalid_argument` naming the first out-of-range hyper-parameter.
  void validate() const {
    detail::require_positive(name, "epsilon_low", epsilon_low);
    detail::require_positive(name, "epsilon_high", epsilon_high);
    if (!(delta == 0.0 || delta > 1.0)) {
      detail::fail_argument(name, "delta", "0 (off) or > 1", delta);
    }
    if (delta != 0.0 && (loss_type == GrpoLossType::cispo || loss_type == GrpoLossType::sapo)) {
      detail::fail_argument(
          name, "delta", "0 with loss_type cispo or sapo (it bounds the clipped surrogate)", delta);
    }
    if (!(beta >= 0.0 && std::isfinite(beta))) {
      detail::fail_argument(name, "beta", "finite and >= 0", beta);
    }
    detail::require_nonnegative(name, "max_completion_length", max_completion_length);
    if (loss_type == GrpoLossType::dr_grpo && !(max_completion_length > 0.0)) {
      detail::fail_argument(name, "max_completion_length", "> 0 for loss_type dr_grpo",
                            max_completion_length);
    }
    detail::require_nonnegative(name, "num_items_in_batch", num_items_in_batch);
    detail::require_positive(name, "gradient_accumulation_steps", gradient_accumulation_steps);
    detail::require_positive(name, "sapo_temperature_pos", sapo_temperature_pos);
    detail::require_positive(name, "sapo_temperature_neg", sapo_temperature_neg);
  }

  /// Zero-allocation call: writes d value / d logp into `grad_logp` ([B, T]).
  template <class S>
  LossValue<GRPOMetrics> compute(const GRPOInputs<S>& in, TokenView<S> grad_logp) const {
    return run(in, grad_logp, TokenView<S>{});
  }

  /// Owning call.
  template <class S>
  GRPOResult<S> operator()(const GRPOInputs<S>& in) const {
    return call<S>(in);
  }

  /// Braced inputs (`loss({logp, old, ref, adv})`) deduce no template argument; these pick it.
  GRPOResult<double> operator()(const GRPOInputs<double>& in) const { return call<double>(in); }
  GRPOResult<float> operator()(const GRPOInputs<float>& in) const { return call<float>(in); }

 private:
  /// The surrogate (without KL) of one token, or of a block of tokens (V = detail::VecD), and
  /// its derivative with respect to the log-ratio (for cispo: with respect to logp, the ratio
  /// being a constant there).
  template <class V>
  struct Surrogate {
    V loss{};
    V grad{};
    detail::MaskOf<V> low{};   ///< counted in clip_ratio_low
    detail::MaskOf<V> high{};  ///< counted in clip_ratio_high
  };

  /// The three per-token forms; the kernel is compiled once per form so that the token loop
  /// holds no switch.
  enum class Form { clipped, cispo, sapo };

  [[nodiscard]] Form form() const noexcept {
    if (loss_type == GrpoLossType::cispo) return Form::cispo;
    if (loss_type == GrpoLossType::sapo) return Form::sapo;
    return Form::clipped;
  }

  /// The hyper-parameters the token loop reads, derived once per call: a local copy the stores
  /// into the gradient cannot alias (else the compiler reloads them per block), and no division
  /// left in the loop (4 / tau was redone for every block).
  struct Constants {
    double lo = 0.0;   // 1 - epsilon_low
    double hi = 0.0;   // 1 + epsilon_high
    double cap = 0.0;  // delta, 0 = off
    double eps_high = 0.0;
    double beta = 0.0;
    double tau_pos = 0.0, tau_neg = 0.0;
    double four_over_tau_pos = 0.0, four_over_tau_neg = 0.0;
  };

  [[nodiscard]] Constants constants() const noexcept {
    return {.lo = 1.0 - epsilon_low,
            .hi = 1.0 + epsilon_high,
            .cap = delta,
            .eps_high = epsilon_high,
            .beta = beta,
            .tau_pos = sapo_temperature_pos,
            .tau_neg = sapo_temperature_neg,
            .four_over_tau_pos = 4.0 / sapo_temperature_pos,
            .four_over_tau_neg = 4.0 / sapo_temperature_neg};
  }

  /// Selects only, no branch. NaN in r, a or logp makes the loss or its gradient NaN, which the
  /// finite check after the loop catches.
  template <Form F, class V>
  [[nodiscard]] POLO_VEC_INLINE static Surrogate<V> surrogate(const Constants& c, const V& r,
                                                              const V& a, const V& logp) noexcept {
    using detail::select;
    using detail::splat;
    using M = detail::MaskOf<V>;
    Surrogate<V> s;
    if constexpr (F == Form::cispo) {
      const V eps = splat<V>(c.eps_high);
      const V clipped = select(eps < r, eps, r);  // std::min(r, eps), NaN kept
      s.loss = -clipped * a * logp;
      s.grad = -clipped * a;
      s.high = M((a > 0.0) & (r > eps));
    } else if constexpr (F == Form::sapo) {
      const M pos = a > 0.0;
      const V tau = select(pos, splat<V>(c.tau_pos), splat<V>(c.tau_neg));
      const V four_over_tau =
          select(pos, splat<V>(c.four_over_tau_pos), splat<V>(c.four_over_tau_neg));
      const detail::SigmoidPair<V> gate = detail::sigmoid_pair<V>(tau * (r - 1.0));
      s.loss = -four_over_tau * gate.value * a;
      s.grad = -4.0 * a * r * gate.slope;
    } else {
      const V lo = splat<V>(c.lo);
      const V hi = splat<V>(c.hi);
      const V cap = splat<V>(c.cap);
      const M capped = c.cap > 0.0 ? M(r > cap) : M{};
      const V unclipped = select(capped, cap, r) * a;
      const M below = r < lo;
      const M above = r > hi;
      const V clipped = select(below, lo, select(above, hi, r)) * a;  // std::clamp, NaN kept
      s.low = M((a < 0.0) & below);
      s.high = M((a > 0.0) & above);
      // -min(unclipped, clipped); on a tie the unclipped branch (and its gradient) is taken.
      const M take_unclipped = unclipped <= clipped;
      const M zero = detail::select_mask(take_unclipped, capped, M(below | above));
      s.loss = -select(take_unclipped, unclipped, clipped);
      s.grad = select(zero, splat<V>(0.0), -r * a);
    }
    return s;
  }

  /// The normalizer of `loss_type` as a core aggregation (before the / S).
  [[nodiscard]] Aggregation aggregation(Index rows) const {
    switch (loss_type) {
      case GrpoLossType::grpo:
      case GrpoLossType::sapo:
        return Aggregation::seq_mean_token_mean();
      case GrpoLossType::bnpo:
        return Aggregation::token_mean();
      case GrpoLossType::dr_grpo:  // no rows: nothing to sum, any normalizer gives 0
        return rows > 0
                   ? Aggregation::token_sum_over(static_cast<double>(rows) * max_completion_length)
                   : Aggregation::token_mean();
      case GrpoLossType::dapo:
      case GrpoLossType::cispo:
        break;
    }
    return Aggregation::token_mean(num_items_in_batch);
  }

  [[nodiscard]] double accumulation_scale() const {
    const bool global = loss_type == GrpoLossType::dapo || loss_type == GrpoLossType::cispo;
    return global ? 1.0 : 1.0 / gradient_accumulation_steps;
  }

  template <class S>
  GRPOResult<S> call(const GRPOInputs<S>& in) const {
    return detail::owning_call<GRPOResult<S>>(
        in.logp.rows(), in.logp.cols(), &GRPOResult<S>::grad_logp,
        [&](TokenView<S> grad, TokenView<S> per_token) { return run(in, grad, per_token); });
  }

  template <class S>
  void check_inputs(const GRPOInputs<S>& in, Index rows, Index cols) const {
    const bool has_old = !in.old_logp.is_null();
    if (has_old) detail::require_input(name, "old_logp", in.old_logp, rows, cols);
    if (beta > 0.0) detail::require_present(name, "ref_logp", in.ref_logp, "beta > 0");
    if (!in.ref_logp.is_null()) detail::require_input(name, "ref_logp", in.ref_logp, rows, cols);
    const bool per_seq = !in.advantages.is_null();
    const bool per_token = !in.token_advantages.is_null();
    if (per_seq == per_token) {
      detail::fail_argument(name, "advantages and token_advantages",
                            "exactly one of them given ([B] per sequence or [B, T] per token)",
                            per_seq ? "both" : "neither");
    }
    if (per_seq) detail::require_shape(name, "advantages", in.advantages, rows);
    if (per_token) {
      detail::require_input(name, "token_advantages", in.token_advantages, rows, cols);
      if (importance_sampling_level == ImportanceSamplingLevel::sequence &&
          loss_type != GrpoLossType::cispo) {
        detail::fail_argument(name, "token_advantages",
                              "absent at importance_sampling_level sequence (GSPO clips a "
                              "sequence with one advantage; pass advantages [B])",
                              "[B, T]");
      }
    }
    detail::require_mask_shape(name, in.mask, rows, cols);
  }

  /// What the fused pass sums over the batch.
  struct Sums {
    double value = 0.0;
    double grad = 0.0;  // finite iff every gradient entry is (the cheap check)
    double n = 0.0, seqs = 0.0, low = 0.0, high = 0.0, kl = 0.0, ratio = 0.0;
  };

  template <class S>
  LossValue<GRPOMetrics> run(const GRPOInputs<S>& in, TokenView<S> grad,
                             TokenView<S> per_token) const {
    validate();
    const Index rows = in.logp.rows();
    const Index cols = in.logp.cols();
    check_inputs(in, rows, cols);
    detail::require_output(name, "grad_logp", grad, rows, cols);
    if (!per_token.is_null()) detail::require_output(name, "per_token", per_token, rows, cols);

    // One kernel per per-token form, so that the token loop holds no switch on it; the mask
    // kind and KL on / off are predicted branches per block (compiled once, not 10 times).
    const detail::MaskLanes valid(in.mask);
    Sums sums;
    switch (form()) {
      case Form::cispo:
        sums = kernel<Form::cispo>(in, grad, per_token, valid);
        break;
      case Form::sapo:
        sums = kernel<Form::sapo>(in, grad, per_token, valid);
        break;
      case Form::clipped:
        sums = kernel<Form::clipped>(in, grad, per_token, valid);
        break;
    }
    const double value = sums.value;
    const double grad_sum = sums.grad;

    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      fail_nonfinite(in, std::isfinite(value) ? grad_sum : value);
    }

    LossValue<GRPOMetrics> out;
    out.value = value;
    auto& m = out.metrics;
    m.valid_tokens = sums.n;
    const bool sequence = importance_sampling_level == ImportanceSamplingLevel::sequence;
    const double count = sequence ? sums.seqs : sums.n;
    if (count > 0.0) {
      m.clip_ratio_low = sums.low / count;
      m.clip_ratio_high = sums.high / count;
      m.clip_ratio_region = (sums.low + sums.high) / count;
      m.ratio_mean = sums.ratio / count;
    }
    if (sums.n > 0.0) m.kl_mean = sums.kl / sums.n;
    return out;
  }

  /// The fused pass: per row, (GSPO) the sequence ratio, then per block of eight tokens the
  /// loss, its gradient and the metrics, on the vector blocks of token_loss.hpp (lane-wise
  /// selects, partial sums per lane, the inline exp). Absent inputs point at `logp` instead of
  /// being tested per token.
  template <Form F, class S>
  Sums kernel(const GRPOInputs<S>& in, TokenView<S> grad, TokenView<S> per_token,
              const detail::MaskLanes& valid) const {
    using detail::kBlock;
    using detail::select;
    using detail::splat;
    using detail::VecD;
    using detail::VecI;
    const Index rows = in.logp.rows();
    const Index cols = in.logp.cols();
    const bool keep_per_token = !per_token.is_null();
    const bool has_old = !in.old_logp.is_null();
    const bool per_seq = !in.advantages.is_null();
    const bool sequence = importance_sampling_level == ImportanceSamplingLevel::sequence;
    const bool kl = beta > 0.0;
    const bool is_kl = kl_importance_correction;
    const VecD zero{};
    const Constants k = constants();
    const double scale = accumulation_scale();
    const detail::RowWeights weights(aggregation(rows), valid, rows, cols);

    Sums acc;
    VecI n{};
    VecI low{};
    VecI high{};
    VecD kl_sum{};
    VecD ratio_sum{};
    for (Index i = 0; i < rows; ++i) {
      const double w = scale * weights(i);
      const S* lp = in.logp.row(i);
      // No old log-probs: old = logp, so r = exp(0) = 1 exactly (NaN stays NaN).
      const S* olp = has_old ? in.old_logp.row(i) : lp;
      const S* ref = kl ? in.ref_logp.row(i) : lp;
      const S* tadv = per_seq ? lp : in.token_advantages.row(i);
      const double seq_adv = per_seq ? static_cast<double>(in.advantages[i]) : 0.0;
      S* g = grad.row(i);
      S* pt = keep_per_token ? per_token.row(i) : nullptr;

      // GSPO: the first pass over the row gives the sequence ratio s_i.
      double seq_ratio = 1.0;
      if (sequence) {
        VecD log_sum{};
        VecI count{};
        for (Index t0 = 0; t0 < cols; t0 += kBlock) {
          const Index m = std::min(kBlock, cols - t0);
          const VecI v = detail::valid_lanes(valid, i, t0, m);
          // The difference in double: float inputs lose nothing to cancellation.
          log_sum += select(v, detail::load(lp + t0, m) - detail::load(olp + t0, m), zero);
          count += v;
        }
        const Index c = detail::lane_count(count);
        if (c > 0) {
          seq_ratio = std::exp(detail::lane_sum(log_sum) / static_cast<double>(c));
          const Surrogate<double> s = surrogate<F>(k, seq_ratio, seq_adv, 0.0);
          acc.seqs += 1.0;
          acc.low += s.low ? 1.0 : 0.0;
          acc.high += s.high ? 1.0 : 0.0;
          acc.ratio += seq_ratio;
        }
      }

      VecD value{};
      VecD grad_sum{};
      for (Index t0 = 0; t0 < cols; t0 += kBlock) {
        const Index m = std::min(kBlock, cols - t0);
        // Select, never multiply: padding may hold NaN or -inf.
        const VecI v = detail::valid_lanes(valid, i, t0, m);
        const VecD l = detail::load(lp + t0, m);
        const VecD a = per_seq ? splat<VecD>(seq_adv) : detail::load(tadv + t0, m);
        // The token ratio: the surrogate's at token level, the KL correction's at both levels.
        const VecD r_token = !sequence || (kl && is_kl)
                                 ? detail::exp_pair(l - detail::load(olp + t0, m)).exp
                                 : splat<VecD>(1.0);
        const VecD r = sequence ? splat<VecD>(seq_ratio) : r_token;
        const Surrogate<VecD> s = surrogate<F>(k, r, a, l);
        VecD loss = s.loss;
        VecD dloss = s.grad;
        if (kl) {  // the same for every block: predicted
          // k3 as kl_token / kl_token_importance_corrected (kl.hpp) compute it, lane-wise.
          const VecD d = l - detail::load(ref + t0, m);
          const VecD em1 = detail::exp_pair(-d).expm1;
          const VecD k3 = em1 + d;
          VecD kl = k3;
          VecD dkl = -em1;
          if (is_kl) {  // the same for every block: predicted
            kl = r_token * k3;
            dkl = r_token * (k3 - em1);
          }
          loss += k.beta * kl;
          dloss += k.beta * dkl;
          kl_sum += select(v, kl, zero);
        }
        const VecD gi = w * dloss;
        if (keep_per_token) detail::store(pt + t0, select(v, loss, zero), m);
        detail::store(g + t0, select(v, gi, zero), m);
        value += select(v, loss, zero);
        grad_sum += select(v, gi, zero);
        n += v;
        // Sequence level counted its metrics per row above.
        if (!sequence) {
          ratio_sum += select(v, r, zero);
          low += v & s.low;
          high += v & s.high;
        }
      }
      acc.value += w * detail::lane_sum(value);
      acc.grad += detail::lane_sum(grad_sum);
    }
    acc.n = static_cast<double>(detail::lane_count(n));
    acc.low += static_cast<double>(detail::lane_count(low));
    acc.high += static_cast<double>(detail::lane_count(high));
    acc.kl = detail::lane_sum(kl_sum);
    acc.ratio += detail::lane_sum(ratio_sum);
    return acc;
  }

  /// The slow path: names the input holding NaN/inf at a valid position (advantages [B] only in
  /// rows with a valid token), else reports an overflow of finite inputs.
  template <class S>
  [[noreturn]] void fail_nonfinite(const GRPOInputs<S>& in, double bad) const {
    if (!in.advantages.is_null()) {
      for (Index i = 0; i < in.advantages.size(); ++i) {
        const double a = static_cast<double>(in.advantages[i]);
        bool counts = false;
        for (Index t = 0; t < in.logp.cols() && !counts; ++t) {
          counts = in.mask(i, t);
        }
        if (counts && !std::isfinite(a)) {
          throw nonfinite_error(std::string(name), "advantages", i, 0, a);
        }
      }
    }
    detail::fail_nonfinite<S>(name,
                              {{"logp", in.logp},
                               {"old_logp", in.old_logp},
                               {"ref_logp", beta > 0.0 ? in.ref_logp : TokenView<const S>{}},
                               {"token_advantages", in.token_advantages}},
                              in.mask, bad, "exp(logp - old_logp) overflowed");
  }
};

static_assert(TokenLoss<GRPO, GRPOInputs<double>>);
static_assert(TokenLoss<GRPO, GRPOInputs<float>>);

/// DAPO (Yu et al. 2025): clip-higher 0.2 / 0.28, token-level loss over the global token count,
/// no KL term. (The paper also uses dynamic sampling and overlong shaping, which live outside the
/// loss; TRL's recipe adds mask_truncated_completions.)
inline GRPO dapo(double num_items_in_batch = 0.0) {
  return GRPO{.epsilon_low = 0.2,
              .epsilon_high = 0.28,
              .beta = 0.0,
              .loss_type = GrpoLossType::dapo,
              .num_items_in_batch = num_items_in_batch};
}

/// Dr. GRPO (Liu et al. 2025): token sums over the constant B * L_max (no per-sequence length
/// normalization, hence no length bias), no KL; pair it with unscaled advantages (scale "none").
inline GRPO dr_grpo(double max_completion_length) {
  return GRPO{.beta = 0.0,
              .loss_type = GrpoLossType::dr_grpo,
              .max_completion_length = max_completion_length};
}

/// GSPO (Zheng et al. 2025): the sequence-level (length-normalized) ratio clipped to
/// [1 - 3e-4, 1 + 4e-4], mean over sequences (loss_type grpo), no KL.
inline GRPO gspo() {
  return GRPO{.epsilon_low = 3e-4,
              .epsilon_high = 4e-4,
              .beta = 0.0,
              .loss_type = GrpoLossType::grpo,
              .importance_sampling_level = ImportanceSamplingLevel::sequence};
}

}  // namespace polo

#pragma once
// DPO (Rafailov et al. 2023) and every loss type TRL's DPOTrainer offers, with TRL's loss_weights
// combination and f-divergence scores. ALGORITHMS preference.md §1 and its loss_type catalogue.
//
//   rho_w = c_w - r_w,  rho_l = c_l - r_l      (policy minus reference, summed log-probs)
//   Delta = f(rho_w) - f(rho_l),  z = beta Delta  (f = identity for reverse KL, the default)
//   value = sum_k weight_k mean_i l_k(i)         (one term unless loss_types lists several)
//
// Gradients are with respect to the policy's c_w and c_l; the reference is a constant.

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string_view>
#include <vector>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/preference/detail/pair_loss.hpp"
#include "polo/preference/inputs.hpp"

namespace polo {

/// TRL's `loss_type` (per-sample loss l as a function of z = beta Delta unless noted).
enum class DpoLossType {
  sigmoid,       ///< -log sigma(z): DPO (cDPO with sigmoid_label_smoothing)
  hinge,         ///< max(0, 1 - z): SLiC / RSO
  ipo,           ///< (Delta - 1/(2 beta))^2: IPO, beta = tau; summed or per-token Delta
  exo_pair,      ///< reverse KL to the label distribution [1 - eps, eps] (EXO), eps > 0
  nca_pair,      ///< -log sigma(a) - log sigma(-a)/2 - log sigma(-b)/2, a, b = beta f(rho)
  robust,        ///< rDPO: [-(1 - eps) log sigma(z) + eps log sigma(-z)] / (1 - 2 eps)
  bco_pair,      ///< -log sigma(a - delta) - log sigma(-(b - delta)); delta from a BCOState
  sppo_hard,     ///< (f(rho_w) - 1/(2 beta))^2 + (f(rho_l) + 1/(2 beta))^2
  aot,           ///< l_eps(beta (sort(c_w - c_l) - sort(r_w - r_l))_k), batch-coupled
  aot_unpaired,  ///< l_eps(beta (sort(rho_w) - sort(rho_l))_k) (TRL <= 0.28: aot_pair)
  apo_zero,      ///< 1 - sigma(beta rho_w) + sigma(beta rho_l)
  apo_down,      ///< sigma(beta rho_w) + 1 - sigma(z)
  discopop,      ///< (1 - m)(-log sigma(z)) + m e^{-z}, m = sigma(z / discopop_tau)
  sft,           ///< token-mean NLL of the chosen completions over the batch (one scalar)
  sigmoid_norm,  ///< -log sigma(beta (f(rho_w)/|y_w| - f(rho_l)/|y_l|)): Tulu 3 length-norm DPO
};

/// TRL's `f_divergence_type`: the score f(rho) the margin is built from (TRL >= 0.29).
enum class FDivergence {
  reverse_kl,        ///< f = rho (DPO)
  forward_kl,        ///< f = -e^{-rho}
  js_divergence,     ///< f = log sigma(rho)
  alpha_divergence,  ///< f = e^{(alpha - 1) rho} / (alpha - 1), exponent clamped at 80
};

/// One term of a combined loss (TRL `loss_type=[...]` with `loss_weights=[...]`).
struct DpoLossTerm {
  DpoLossType type = DpoLossType::sigmoid;
  double weight = 1.0;
};

/// The running reward mean of TRL <= 0.28's `bco_pair`, owned by the caller across calls: each
/// call adds the batch mean of the rewards beta rho over chosen and rejected as one sample.
struct BCOState {
  double mean = 0.0;   ///< delta, subtracted from both rewards
  double count = 0.0;  ///< batches seen
};

/// The DPO family, to minimize. Per-sample gradients (before the 1/B of the mean), with l'(z):
/// d l / d c_w = beta l'(z) f'(rho_w), d l / d c_l = -beta l'(z) f'(rho_l); the types that are not
/// functions of z alone are differentiated term by term (see docs/algorithms/dpo.md).
struct DPO {
  double beta = 0.1;                             ///< > 0 (TRL and the paper: 0.1)
  DpoLossType loss_type = DpoLossType::sigmoid;  ///< TRL default
  /// Several loss types with weights; when non-empty it replaces `loss_type`. MPO:
  /// {{sigmoid, 0.8}, {bco_pair, 0.2}, {sft, 1.0}}.
  std::vector<DpoLossTerm> loss_types{};
  /// eps of exo_pair (in (0, 1), EXO recommends 1e-3), robust (in [0, 0.5)), aot / aot_unpaired,
  /// and of sigmoid when `sigmoid_label_smoothing`.
  double label_smoothing = 0.0;
  /// TRL <= 0.28 and the official DPO code: `sigmoid` is cDPO,
  /// -(1 - eps) log sigma(z) - eps log sigma(-z). TRL >= 0.29 ignores eps for sigmoid (false).
  bool sigmoid_label_smoothing = false;
  /// ipo: false = the paper's summed Delta (Eq. 17, the official DPO code); true = TRL's
  /// per-token Delta = f(rho_w)/|y_w| - f(rho_l)/|y_l| (needs the lengths).
  bool ipo_length_normalized = false;
  FDivergence f_divergence_type = FDivergence::reverse_kl;
  double f_alpha_divergence_coef = 0.5;  ///< alpha of alpha_divergence (TRL >= 0.29), != 1
  double discopop_tau = 0.05;            ///< DiscoPOP's tau, > 0
  /// TRL <= 0.28 `reference_free`: the reference log-probs are 0 (and need not be given).
  bool reference_free = false;

  static constexpr std::string_view name = "polo::DPO";

  /// Throws `polo::invalid_argument` naming the first out-of-range hyper-parameter.
  void validate() const {
    if (!(beta > 0.0 && std::isfinite(beta))) {
      detail::fail_argument(name, "beta", "finite and > 0", beta);
    }
    detail::require_in(name, "label_smoothing", label_smoothing, 0.0, 1.0);
    if (!std::isfinite(f_alpha_divergence_coef) || f_alpha_divergence_coef == 1.0) {
      detail::fail_argument(name, "f_alpha_divergence_coef", "finite and != 1",
                            f_alpha_divergence_coef);
    }
    detail::require_positive(name, "discopop_tau", discopop_tau);
    for_each_term([&](const DpoLossTerm& t) {
      if (!std::isfinite(t.weight)) {
        detail::fail_argument(name, "loss_types weight", "finite", t.weight);
      }
      if (t.type == DpoLossType::exo_pair && !(label_smoothing > 0.0 && label_smoothing < 1.0)) {
        detail::fail_argument(name, "label_smoothing", "in (0, 1) for loss_type exo_pair",
                              label_smoothing);
      }
      if (t.type == DpoLossType::robust) {
        detail::require_in_half_open(name, "label_smoothing (robust)", label_smoothing, 0.0, 0.5);
      }
    });
  }

  /// Zero-allocation call (aot and aot_unpaired allocate their sort order): writes d value /
  /// d chosen_logp and d value / d rejected_logp, and each pair's loss into `per_pair` if given.
  template <class S>
  LossValue<PreferenceMetrics> compute(const PreferenceInputs<S>& in, SeqView<S> grad_chosen,
                                       SeqView<S> grad_rejected, SeqView<S> per_pair = {}) const {
    return run(in, grad_chosen, grad_rejected, per_pair, nullptr);
  }

  /// As above, with TRL <= 0.28's running reward mean for bco_pair (updated by the call).
  template <class S>
  LossValue<PreferenceMetrics> compute(const PreferenceInputs<S>& in, SeqView<S> grad_chosen,
                                       SeqView<S> grad_rejected, BCOState& state,
                                       SeqView<S> per_pair = {}) const {
    return run(in, grad_chosen, grad_rejected, per_pair, &state);
  }

  /// Owning call (bco_pair without a running mean: TRL >= 0.29).
  template <class S>
  PreferenceResult<S> operator()(const PreferenceInputs<S>& in) const {
    return call<S>(in, nullptr);
  }
  PreferenceResult<double> operator()(const PreferenceInputs<double>& in) const {
    return call<double>(in, nullptr);
  }
  PreferenceResult<float> operator()(const PreferenceInputs<float>& in) const {
    return call<float>(in, nullptr);
  }

  /// Owning call with the bco_pair running mean (TRL <= 0.28).
  template <class S>
  PreferenceResult<S> operator()(const PreferenceInputs<S>& in, BCOState& state) const {
    return call<S>(in, &state);
  }
  PreferenceResult<double> operator()(const PreferenceInputs<double>& in, BCOState& state) const {
    return call<double>(in, &state);
  }
  PreferenceResult<float> operator()(const PreferenceInputs<float>& in, BCOState& state) const {
    return call<float>(in, &state);
  }

  /// Calls `f(term)` for each term this loss sums: `loss_types`, or `loss_type` with weight 1.
  template <class F>
  void for_each_term(F&& f) const {
    if (loss_types.empty()) {
      f(DpoLossTerm{loss_type, 1.0});
      return;
    }
    for (const DpoLossTerm& t : loss_types)
      f(t);
  }

  /// Whether any term is of `type`.
  [[nodiscard]] bool has(DpoLossType type) const {
    bool found = false;
    for_each_term([&](const DpoLossTerm& t) { found = found || t.type == type; });
    return found;
  }

 private:
  /// The f-divergence score and its derivative.
  struct Score {
    double f = 0.0;
    double df = 0.0;
  };

  [[nodiscard]] Score score(double rho) const {
    switch (f_divergence_type) {
      case FDivergence::reverse_kl:
        break;
      case FDivergence::forward_kl: {
        const double e = std::exp(-rho);
        return {-e, e};
      }
      case FDivergence::js_divergence:
        return {log_sigmoid(rho), sigmoid(-rho)};
      case FDivergence::alpha_divergence: {
        // TRL clamps the exponent (at 80 in fp32): beyond it the score is flat.
        constexpr double kMaxExponent = 80.0;
        const double am1 = f_alpha_divergence_coef - 1.0;
        const double x = am1 * rho;
        if (x > kMaxExponent) return {std::exp(kMaxExponent) / am1, 0.0};
        const double e = std::exp(x);
        return {e / am1, e};
      }
    }
    return {rho, 1.0};
  }

  /// One pair as the per-sample losses see it.
  struct Pair {
    double rho_w = 0.0, rho_l = 0.0;  // plain log-ratios
    Score w, l;                       // f-divergence scores of rho_w, rho_l
    double n_w = 1.0, n_l = 1.0;      // lengths (>= 1), where needed
    double delta = 0.0;               // bco_pair running mean
  };

  /// A per-sample loss and its derivatives with respect to c_w and c_l.
  struct Term {
    double loss = 0.0;
    double d_w = 0.0;
    double d_l = 0.0;
  };

  /// (l(z), l'(z)) of the z-only types; the caller chains through z.
  struct Link {
    double loss = 0.0;
    double slope = 0.0;
  };

  /// l_eps(u) = -(1 - eps) log sigma(u) - eps log sigma(-u) (cDPO, AOT).
  static Link smoothed_sigmoid(double u, double eps) {
    return {(1.0 - eps) * softplus(-u) + eps * softplus(u),
            -(1.0 - eps) * sigmoid(-u) + eps * sigmoid(u)};
  }

  [[nodiscard]] Link link(DpoLossType type, double z) const {
    const double eps = label_smoothing;
    switch (type) {
      case DpoLossType::sigmoid:
      case DpoLossType::sigmoid_norm:
        if (type == DpoLossType::sigmoid && sigmoid_label_smoothing) {
          return smoothed_sigmoid(z, eps);
        }
        return {softplus(-z), -sigmoid(-z)};
      case DpoLossType::hinge:  // relu: slope 0 at z = 1, as torch's
        return {std::max(0.0, 1.0 - z), z < 1.0 ? -1.0 : 0.0};
      case DpoLossType::exo_pair: {
        const double p = sigmoid(z);
        const double q = sigmoid(-z);
        const double loss =
            p * (log_sigmoid(z) - std::log1p(-eps)) + q * (log_sigmoid(-z) - std::log(eps));
        return {loss, p * q * (z - (std::log1p(-eps) - std::log(eps)))};
      }
      case DpoLossType::robust: {
        const double k = 1.0 / (1.0 - 2.0 * eps);
        return {k * ((1.0 - eps) * softplus(-z) - eps * softplus(z)),
                k * (-(1.0 - eps) * sigmoid(-z) - eps * sigmoid(z))};
      }
      case DpoLossType::discopop: {
        // m e^{-z} and m (1 - m) e^{-z} through logs: e^{-z} alone overflows for z << 0.
        const double tau = discopop_tau;
        const double m = sigmoid(z / tau);
        const double log_m = log_sigmoid(z / tau);
        const double log_1m = log_sigmoid(-z / tau);
        const double m_exp = std::exp(log_m - z);
        const double mm_exp = std::exp(log_m + log_1m - z);
        const double ls = log_sigmoid(z);
        const double loss = (1.0 - m) * -ls + m_exp;
        const double slope = (mm_exp + m * (1.0 - m) * ls) / tau - (1.0 - m) * sigmoid(-z) - m_exp;
        return {loss, slope};
      }
      default:
        break;
    }
    return {};
  }

  [[nodiscard]] Term pair_term(DpoLossType type, const Pair& p) const {
    const double b = beta;
    const double half_inv = 0.5 / b;
    switch (type) {
      case DpoLossType::sigmoid:
      case DpoLossType::hinge:
      case DpoLossType::exo_pair:
      case DpoLossType::robust:
      case DpoLossType::discopop: {
        const Link k = link(type, b * (p.w.f - p.l.f));
        return {k.loss, b * k.slope * p.w.df, -b * k.slope * p.l.df};
      }
      case DpoLossType::sigmoid_norm: {
        const Link k = link(type, b * (p.w.f / p.n_w - p.l.f / p.n_l));
        return {k.loss, b * k.slope * p.w.df / p.n_w, -b * k.slope * p.l.df / p.n_l};
      }
      case DpoLossType::ipo: {
        const double nw = ipo_length_normalized ? p.n_w : 1.0;
        const double nl = ipo_length_normalized ? p.n_l : 1.0;
        const double r = p.w.f / nw - p.l.f / nl - half_inv;
        return {r * r, 2.0 * r * p.w.df / nw, -2.0 * r * p.l.df / nl};
      }
      case DpoLossType::nca_pair: {
        const double a = b * p.w.f;
        const double c = b * p.l.f;
        return {softplus(-a) + 0.5 * softplus(a) + 0.5 * softplus(c),
                b * p.w.df * (-sigmoid(-a) + 0.5 * sigmoid(a)), b * p.l.df * 0.5 * sigmoid(c)};
      }
      case DpoLossType::bco_pair: {
        const double a = b * p.w.f - p.delta;
        const double c = b * p.l.f - p.delta;
        return {softplus(-a) + softplus(c), -b * p.w.df * sigmoid(-a), b * p.l.df * sigmoid(c)};
      }
      case DpoLossType::sppo_hard: {
        const double u = p.w.f - half_inv;
        const double v = p.l.f + half_inv;
        return {u * u + v * v, 2.0 * u * p.w.df, 2.0 * v * p.l.df};
      }
      case DpoLossType::apo_zero: {
        const double sw = sigmoid(b * p.rho_w);
        const double sl = sigmoid(b * p.rho_l);
        return {1.0 - sw + sl, -b * sw * (1.0 - sw), b * sl * (1.0 - sl)};
      }
      case DpoLossType::apo_down: {
        const double sw = sigmoid(b * p.rho_w);
        const double sz = sigmoid(b * (p.w.f - p.l.f));
        const double dw = sw * (1.0 - sw);
        const double dz = sz * (1.0 - sz);
        return {sw + 1.0 - sz, b * (dw - dz * p.w.df), b * dz * p.l.df};
      }
      case DpoLossType::aot:
      case DpoLossType::aot_unpaired:
      case DpoLossType::sft:
        break;  // batch-level: see run()
    }
    return {};
  }

  template <class S>
  void check_inputs(const PreferenceInputs<S>& in, Index b) const {
    const bool ipo_norm = ipo_length_normalized && has(DpoLossType::ipo);
    const bool norm = has(DpoLossType::sigmoid_norm) || ipo_norm;
    const char* why = ipo_norm ? "ipo with ipo_length_normalized averages per token"
                               : "loss_type sigmoid_norm averages per token";
    if (norm) {
      detail::require_length(name, "chosen_length", in.chosen_length, b, why);
      detail::require_length(name, "rejected_length", in.rejected_length, b, why);
    }
    if (has(DpoLossType::sft)) {
      detail::require_length(name, "chosen_length", in.chosen_length, b,
                             "loss_type sft is a token mean over the chosen completions");
    }
    if (!in.weights.is_null() && (has(DpoLossType::aot) || has(DpoLossType::aot_unpaired))) {
      detail::fail_argument(name, "weights",
                            "absent with loss_type aot or aot_unpaired (a sorted loss has no "
                            "per-pair weight; TRL calls them incompatible)",
                            "given");
    }
  }

  template <class S>
  PreferenceResult<S> call(const PreferenceInputs<S>& in, BCOState* state) const {
    return detail::owning_pair_call<PreferenceResult<S>, S>(
        in.chosen_logp.size(),
        [&](SeqView<S> gc, SeqView<S> gr, SeqView<S> pp) { return run(in, gc, gr, pp, state); });
  }

  template <class S>
  LossValue<PreferenceMetrics> run(const PreferenceInputs<S>& in, SeqView<S> grad_c,
                                   SeqView<S> grad_r, SeqView<S> per_pair, BCOState* state) const {
    validate();
    const bool use_ref = !reference_free;
    const Index b = detail::require_pairs(name, in, use_ref);
    check_inputs(in, b);
    detail::require_grad_output(name, "grad_chosen_logp", grad_c, b);
    detail::require_grad_output(name, "grad_rejected_logp", grad_r, b);
    const bool keep = !per_pair.is_null();
    if (keep) detail::require_grad_output(name, "per_pair", per_pair, b);

    const auto c_w = [&](Index i) { return static_cast<double>(in.chosen_logp[i]); };
    const auto c_l = [&](Index i) { return static_cast<double>(in.rejected_logp[i]); };
    const auto r_w = [&](Index i) {
      return use_ref ? static_cast<double>(in.ref_chosen_logp[i]) : 0.0;
    };
    const auto r_l = [&](Index i) {
      return use_ref ? static_cast<double>(in.ref_rejected_logp[i]) : 0.0;
    };
    const bool has_len = !in.chosen_length.is_null() && !in.rejected_length.is_null();
    const bool weighted = !in.weights.is_null();
    const double inv_b = b > 0 ? 1.0 / static_cast<double>(b) : 0.0;

    // TRL <= 0.28 bco_pair: the state absorbs this batch's mean reward, then shifts by its mean.
    double delta = 0.0;
    if (state != nullptr && has(DpoLossType::bco_pair) && b > 0) {
      double sum = 0.0;
      for (Index i = 0; i < b; ++i)
        sum += beta * (c_w(i) - r_w(i)) + beta * (c_l(i) - r_l(i));
      const double batch_mean = sum / (2.0 * static_cast<double>(b));
      if (!std::isfinite(batch_mean)) {
        detail::fail_nonfinite(name, in, use_ref, batch_mean, "bco_pair reward mean");
      }
      state->count += 1.0;
      state->mean += (batch_mean - state->mean) / state->count;
      delta = state->mean;
    }

    double value = 0.0;
    double probe = 0.0;  // NaN iff an input is: a saturated loss would hide an inf input
    detail::MetricSums sums;
    for (Index i = 0; i < b; ++i) {
      Pair p;
      p.rho_w = c_w(i) - r_w(i);
      p.rho_l = c_l(i) - r_l(i);
      p.w = score(p.rho_w);
      p.l = score(p.rho_l);
      if (has_len) {
        p.n_w = detail::length_at(in.chosen_length, i);
        p.n_l = detail::length_at(in.rejected_length, i);
      }
      p.delta = delta;
      sums.add(beta, c_w(i), c_l(i), r_w(i), r_l(i));
      const double w_i = weighted ? static_cast<double>(in.weights[i]) : 1.0;
      probe += (c_w(i) + c_l(i) + r_w(i) + r_l(i) + w_i) * 0.0;
      double loss = 0.0;
      double d_w = 0.0;
      double d_l = 0.0;
      for_each_term([&](const DpoLossTerm& t) {
        const Term term = pair_term(t.type, p);
        loss += t.weight * term.loss;
        d_w += t.weight * term.d_w;
        d_l += t.weight * term.d_l;
      });
      loss *= w_i;
      value += loss * inv_b;
      grad_c[i] = static_cast<S>(w_i * d_w * inv_b);
      grad_r[i] = static_cast<S>(w_i * d_l * inv_b);
      if (keep) per_pair[i] = static_cast<S>(loss);
    }

    // The batch-level terms add to what the per-pair loop wrote.
    if (b > 0) {
      for_each_term([&](const DpoLossTerm& t) {
        if (t.type == DpoLossType::sft) {
          value += t.weight * add_sft(in, grad_c, per_pair, t.weight);
        }
        if (t.type == DpoLossType::aot || t.type == DpoLossType::aot_unpaired) {
          value +=
              add_aot(t.type == DpoLossType::aot, in, use_ref, grad_c, grad_r, per_pair, t.weight);
        }
      });
    }

    if (!detail::all_finite(value + probe, grad_c, grad_r)) {
      detail::fail_nonfinite(name, in, use_ref, value, "a score or a squared margin overflowed");
    }
    return {value, sums.finish(b)};
  }

  /// sft: -sum_i c_w(i) / sum_i |y_w(i)|, one scalar every pair carries (TRL broadcasts it).
  /// Returns the scalar; adds weight times its gradient and per-pair share.
  template <class S>
  static double add_sft(const PreferenceInputs<S>& in, SeqView<S> grad_c, SeqView<S> per_pair,
                        double weight) {
    double sum = 0.0;
    double tokens = 0.0;
    for (Index i = 0; i < in.chosen_logp.size(); ++i) {
      sum += static_cast<double>(in.chosen_logp[i]);
      tokens += std::max(0.0, static_cast<double>(in.chosen_length[i]));
    }
    const double n = std::max(1.0, tokens);
    const double nll = -sum / n;
    for (Index i = 0; i < in.chosen_logp.size(); ++i) {
      grad_c[i] = static_cast<S>(static_cast<double>(grad_c[i]) - weight / n);
      if (!per_pair.is_null()) {
        per_pair[i] = static_cast<S>(static_cast<double>(per_pair[i]) + weight * nll);
      }
    }
    return nll;
  }

  /// aot (paired: sorts c_w - c_l and r_w - r_l) or aot_unpaired (sorts rho_w and rho_l). The
  /// loss of rank k goes to the pair whose policy (chosen) log-ratio holds rank k. Returns the
  /// weighted batch mean.
  template <class S>
  double add_aot(bool paired, const PreferenceInputs<S>& in, bool use_ref, SeqView<S> grad_c,
                 SeqView<S> grad_r, SeqView<S> per_pair, double weight) const {
    const Index b = in.chosen_logp.size();
    const auto ref = [&](SeqView<const S> v, Index i) {
      return use_ref ? static_cast<double>(v[i]) : 0.0;
    };
    std::vector<double> x(static_cast<std::size_t>(b));  // sorted with its own order
    std::vector<double> y(static_cast<std::size_t>(b));  // sorted by value
    for (Index i = 0; i < b; ++i) {
      const double cw = static_cast<double>(in.chosen_logp[i]);
      const double cl = static_cast<double>(in.rejected_logp[i]);
      const double rw = ref(in.ref_chosen_logp, i);
      const double rl = ref(in.ref_rejected_logp, i);
      const auto k = static_cast<std::size_t>(i);
      x[k] = paired ? cw - cl : cw - rw;
      y[k] = paired ? rw - rl : cl - rl;
    }
    std::vector<Index> order_x(static_cast<std::size_t>(b));
    std::iota(order_x.begin(), order_x.end(), Index{0});
    std::vector<Index> order_y = order_x;
    const auto by = [](const std::vector<double>& v) {
      return [&v](Index a, Index c) {
        return v[static_cast<std::size_t>(a)] < v[static_cast<std::size_t>(c)];
      };
    };
    std::stable_sort(order_x.begin(), order_x.end(), by(x));
    std::stable_sort(order_y.begin(), order_y.end(), by(y));
    const double inv_b = 1.0 / static_cast<double>(b);
    double value = 0.0;
    for (std::size_t k = 0; k < order_x.size(); ++k) {
      const Index i = order_x[k];
      const Index j = order_y[k];
      const double d = x[static_cast<std::size_t>(i)] - y[static_cast<std::size_t>(j)];
      const Link l = smoothed_sigmoid(beta * d, label_smoothing);
      const double g = weight * beta * l.slope * inv_b;
      value += weight * l.loss * inv_b;
      grad_c[i] = static_cast<S>(static_cast<double>(grad_c[i]) + g);
      // paired: d depends on -c_l of the same pair; unpaired: on -rho_l of rank k's pair
      const Index l_pair = paired ? i : j;
      grad_r[l_pair] = static_cast<S>(static_cast<double>(grad_r[l_pair]) - g);
      if (!per_pair.is_null()) {
        per_pair[i] = static_cast<S>(static_cast<double>(per_pair[i]) + weight * l.loss);
      }
    }
    return value;
  }
};

static_assert(PreferenceLoss<DPO, PreferenceInputs<double>>);
static_assert(PreferenceLoss<DPO, PreferenceInputs<float>>);

}  // namespace polo

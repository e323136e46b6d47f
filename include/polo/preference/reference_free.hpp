#pragma once
// The reference-free relatives of DPO: SimPO (Meng et al. 2024), CPO (Xu et al. 2024, TRL
// CPOTrainer) and ORPO (Hong et al. 2024, TRL ORPOTrainer). ALGORITHMS preference.md §1
// "Reference-free relatives". No reference model: the reference inputs are ignored.
//
//   SimPO  l = l_eps(beta (a_w - a_l) - gamma)                    a = c / |y| (per-token mean)
//   CPO    l = l_eps(beta (c_w - c_l)) + cpo_alpha NLL            (ipo / simpo use a)
//   ORPO   l = NLL - lambda log sigma(log_odds),  log_odds = (a_w - a_l) - (log(1 - e^a_w) -
//          log(1 - e^a_l))
//   NLL = -sum_i c_w(i) / sum_i |y_w(i)|  (token mean over the batch's chosen completions)
//
// Inputs are summed log-probs with the completion lengths; gradients are with respect to the
// summed log-probs (the per-token means are chained through 1/|y|).

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string_view>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/preference/detail/pair_loss.hpp"
#include "polo/preference/inputs.hpp"

namespace polo {

/// What TRL's CPO / SimPO trainers log: rewards are beta times the log-probs the loss uses (the
/// per-token means for SimPO, CPO-ipo and CPO-simpo), plus the NLL term.
struct ReferenceFreeMetrics : PreferenceMetrics {
  double nll_loss = 0.0;  ///< the token-mean NLL of the chosen completions (logged even when
                          ///< its weight is 0)
};

/// ORPO's logs: the above plus the odds-ratio statistics.
struct ORPOMetrics : ReferenceFreeMetrics {
  double log_odds_ratio = 0.0;   ///< mean log sigma(log_odds)
  double log_odds_chosen = 0.0;  ///< mean log_odds
};

namespace detail {

/// One pair's preference term with respect to the summed log-probs, and ORPO's statistics.
struct FreeTerm {
  double loss = 0.0;
  double d_w = 0.0;
  double d_l = 0.0;
  double log_odds = 0.0;
  double log_sigmoid_odds = 0.0;
};

/// l_eps(u) = -(1 - eps) log sigma(u) - eps log sigma(-u) and its slope.
inline FreeTerm smoothed_sigmoid_term(double u, double eps) {
  FreeTerm t;
  t.loss = (1.0 - eps) * softplus(-u) + eps * softplus(u);
  t.d_w = -(1.0 - eps) * sigmoid(-u) + eps * sigmoid(u);  // slope; the caller chains it
  return t;
}

/// log(1 - e^x) for x < 0, accurate at both ends (TRL's log1mexp).
inline double log1mexp(double x) {
  return x < -std::numbers::ln2 ? std::log1p(-std::exp(x)) : std::log(-std::expm1(x));
}

/// The shared kernel: `term(c_w, c_l, n_w, n_l)` gives each pair's preference term; the NLL of
/// the chosen completions is added with `nll_weight`. `average`: the metrics use per-token means.
template <class M, class S, class Term>
LossValue<M> run_reference_free(std::string_view where, const PreferenceInputs<S>& in,
                                SeqView<S> grad_c, SeqView<S> grad_r, SeqView<S> per_pair,
                                double beta, bool average, bool need_lengths, double nll_weight,
                                Term&& term) {
  const Index b = require_pairs(where, in, false);
  const bool need_chosen = need_lengths || nll_weight != 0.0;
  if (need_chosen) {
    require_length(where, "chosen_length", in.chosen_length, b,
                   need_lengths ? "the loss averages per token" : "the NLL is a token mean");
  }
  if (need_lengths) {
    require_length(where, "rejected_length", in.rejected_length, b, "the loss averages per token");
  }
  require_grad_output(where, "grad_chosen_logp", grad_c, b);
  require_grad_output(where, "grad_rejected_logp", grad_r, b);
  const bool keep = !per_pair.is_null();
  if (keep) require_grad_output(where, "per_pair", per_pair, b);
  const bool has_w_len = !in.chosen_length.is_null();
  const bool has_l_len = !in.rejected_length.is_null();

  // The NLL first: one scalar every pair carries, as TRL broadcasts it.
  double logp_sum = 0.0;
  double tokens = 0.0;
  for (Index i = 0; i < b; ++i) {
    logp_sum += static_cast<double>(in.chosen_logp[i]);
    if (has_w_len) tokens += std::max(0.0, static_cast<double>(in.chosen_length[i]));
  }
  const double n_tokens = std::max(1.0, tokens);
  const double nll = has_w_len ? -logp_sum / n_tokens : 0.0;
  const double d_nll = has_w_len ? -nll_weight / n_tokens : 0.0;

  const double inv_b = b > 0 ? 1.0 / static_cast<double>(b) : 0.0;
  double value = b > 0 ? nll_weight * nll : 0.0;
  double odds = 0.0;
  double log_sig_odds = 0.0;
  double probe = 0.0;  // NaN iff an input is: a clamp or a saturated loss would hide an inf input
  MetricSums sums;
  for (Index i = 0; i < b; ++i) {
    const double cw = static_cast<double>(in.chosen_logp[i]);
    const double cl = static_cast<double>(in.rejected_logp[i]);
    const double nw = has_w_len ? length_at(in.chosen_length, i) : 1.0;
    const double nl = has_l_len ? length_at(in.rejected_length, i) : 1.0;
    const FreeTerm t = term(cw, cl, nw, nl);
    const double w_i = in.weights.is_null() ? 1.0 : static_cast<double>(in.weights[i]);
    probe += (cw + cl + w_i) * 0.0;
    value += w_i * t.loss * inv_b;
    grad_c[i] = static_cast<S>(w_i * t.d_w * inv_b + d_nll);
    grad_r[i] = static_cast<S>(w_i * t.d_l * inv_b);
    if (keep) per_pair[i] = static_cast<S>(w_i * t.loss + nll_weight * nll);
    sums.add(beta, average ? cw / nw : cw, average ? cl / nl : cl, 0.0, 0.0);
    odds += t.log_odds;
    log_sig_odds += t.log_sigmoid_odds;
  }
  if (!all_finite(value + probe, grad_c, grad_r)) {
    fail_nonfinite(where, in, false, value, "the margin overflowed");
  }
  LossValue<M> out;
  out.value = value;
  static_cast<PreferenceMetrics&>(out.metrics) = sums.finish(b);
  out.metrics.nll_loss = nll;
  if constexpr (requires { out.metrics.log_odds_ratio; }) {
    out.metrics.log_odds_ratio = log_sig_odds * inv_b;
    out.metrics.log_odds_chosen = odds * inv_b;
  }
  return out;
}

}  // namespace detail

enum class SimPOLossType {
  sigmoid,  ///< l_eps(beta (a_w - a_l) - gamma) (the paper)
  hinge,    ///< max(0, 1 - (beta (a_w - a_l) - gamma)) (the official code's option)
};

/// SimPO, to minimize (official code princeton-nlp/SimPO `simpo_loss`). Needs both lengths.
/// Gradient (sigmoid, eps = 0): d l / d c_w = -beta sigma(-z) / |y_w|, d l / d c_l = +beta
/// sigma(-z) / |y_l|.
struct SimPO {
  double beta = 2.0;               ///< > 0 (official default 2.0; released configs 2.0-10)
  double gamma_beta_ratio = 0.25;  ///< gamma / beta (the code keeps the ratio; gamma = beta x it)
  double label_smoothing = 0.0;    ///< eps of l_eps, in [0, 1)
  SimPOLossType loss_type = SimPOLossType::sigmoid;
  double sft_weight = 0.0;  ///< weight of the chosen NLL (official `sft_weight`, 0)

  static constexpr std::string_view name = "polo::SimPO";

  void validate() const {
    if (!(beta > 0.0 && std::isfinite(beta))) {
      detail::fail_argument(name, "beta", "finite and > 0", beta);
    }
    if (!std::isfinite(gamma_beta_ratio)) {
      detail::fail_argument(name, "gamma_beta_ratio", "finite", gamma_beta_ratio);
    }
    detail::require_in_half_open(name, "label_smoothing", label_smoothing, 0.0, 1.0);
    if (!(sft_weight >= 0.0 && std::isfinite(sft_weight))) {
      detail::fail_argument(name, "sft_weight", "finite and >= 0", sft_weight);
    }
  }

  template <class S>
  LossValue<ReferenceFreeMetrics> compute(const PreferenceInputs<S>& in, SeqView<S> grad_chosen,
                                          SeqView<S> grad_rejected,
                                          SeqView<S> per_pair = {}) const {
    validate();
    return detail::run_reference_free<ReferenceFreeMetrics>(
        name, in, grad_chosen, grad_rejected, per_pair, beta, true, true, sft_weight,
        [&](double cw, double cl, double nw, double nl) {
          const double u = beta * (cw / nw - cl / nl - gamma_beta_ratio);
          detail::FreeTerm t;
          double slope = 0.0;
          if (loss_type == SimPOLossType::hinge) {
            t.loss = std::max(0.0, 1.0 - u);
            slope = u < 1.0 ? -1.0 : 0.0;
          } else {
            t = detail::smoothed_sigmoid_term(u, label_smoothing);
            slope = t.d_w;
          }
          t.d_w = beta * slope / nw;
          t.d_l = -beta * slope / nl;
          return t;
        });
  }

  template <class S>
  PreferenceResult<S, ReferenceFreeMetrics> operator()(const PreferenceInputs<S>& in) const {
    return call<S>(in);
  }
  PreferenceResult<double, ReferenceFreeMetrics> operator()(
      const PreferenceInputs<double>& in) const {
    return call<double>(in);
  }
  PreferenceResult<float, ReferenceFreeMetrics> operator()(
      const PreferenceInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  PreferenceResult<S, ReferenceFreeMetrics> call(const PreferenceInputs<S>& in) const {
    return detail::owning_pair_call<PreferenceResult<S, ReferenceFreeMetrics>, S>(
        in.chosen_logp.size(),
        [&](SeqView<S> gc, SeqView<S> gr, SeqView<S> pp) { return compute(in, gc, gr, pp); });
  }
};

enum class CPOLossType {
  sigmoid,  ///< l_eps(beta (c_w - c_l)), summed log-probs (TRL default)
  hinge,    ///< max(0, 1 - beta (c_w - c_l))
  ipo,      ///< (a_w - a_l - 1/(2 beta))^2, per-token means
  simpo,    ///< l_eps(beta (a_w - a_l) - simpo_gamma), per-token means ("CPO-SimPO" while
            ///< cpo_alpha > 0)
};

/// CPO, to minimize (TRL `CPOTrainer.cpo_loss`): a reference-free preference term plus
/// cpo_alpha times the chosen NLL. The preference gradient is DPO's with r_w = r_l = 0.
struct CPO {
  double beta = 0.1;             ///< > 0 (TRL 0.1)
  double label_smoothing = 0.0;  ///< eps of l_eps (sigmoid, simpo), in [0, 1)
  CPOLossType loss_type = CPOLossType::sigmoid;
  double cpo_alpha = 1.0;    ///< NLL weight (TRL 1.0; 0 with loss_type simpo gives SimPO)
  double simpo_gamma = 0.5;  ///< gamma of loss_type simpo (TRL 0.5), in reward units

  static constexpr std::string_view name = "polo::CPO";

  void validate() const {
    if (!(beta > 0.0 && std::isfinite(beta))) {
      detail::fail_argument(name, "beta", "finite and > 0", beta);
    }
    detail::require_in_half_open(name, "label_smoothing", label_smoothing, 0.0, 1.0);
    if (!(cpo_alpha >= 0.0 && std::isfinite(cpo_alpha))) {
      detail::fail_argument(name, "cpo_alpha", "finite and >= 0", cpo_alpha);
    }
    if (!std::isfinite(simpo_gamma))
      detail::fail_argument(name, "simpo_gamma", "finite", simpo_gamma);
  }

  template <class S>
  LossValue<ReferenceFreeMetrics> compute(const PreferenceInputs<S>& in, SeqView<S> grad_chosen,
                                          SeqView<S> grad_rejected,
                                          SeqView<S> per_pair = {}) const {
    validate();
    const bool average = loss_type == CPOLossType::ipo || loss_type == CPOLossType::simpo;
    return detail::run_reference_free<ReferenceFreeMetrics>(
        name, in, grad_chosen, grad_rejected, per_pair, beta, average, average, cpo_alpha,
        [&](double cw, double cl, double nw, double nl) {
          const double sw = average ? nw : 1.0;
          const double sl = average ? nl : 1.0;
          double logits = cw / sw - cl / sl;
          detail::FreeTerm t;
          double d = 0.0;  // d l / d logits
          switch (loss_type) {
            case CPOLossType::simpo:
              logits -= simpo_gamma / beta;
              [[fallthrough]];
            case CPOLossType::sigmoid:
              t = detail::smoothed_sigmoid_term(beta * logits, label_smoothing);
              d = beta * t.d_w;
              break;
            case CPOLossType::hinge:
              t.loss = std::max(0.0, 1.0 - beta * logits);
              d = beta * logits < 1.0 ? -beta : 0.0;
              break;
            case CPOLossType::ipo: {
              const double r = logits - 0.5 / beta;
              t.loss = r * r;
              d = 2.0 * r;
              break;
            }
          }
          t.d_w = d / sw;
          t.d_l = -d / sl;
          return t;
        });
  }

  template <class S>
  PreferenceResult<S, ReferenceFreeMetrics> operator()(const PreferenceInputs<S>& in) const {
    return call<S>(in);
  }
  PreferenceResult<double, ReferenceFreeMetrics> operator()(
      const PreferenceInputs<double>& in) const {
    return call<double>(in);
  }
  PreferenceResult<float, ReferenceFreeMetrics> operator()(
      const PreferenceInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  PreferenceResult<S, ReferenceFreeMetrics> call(const PreferenceInputs<S>& in) const {
    return detail::owning_pair_call<PreferenceResult<S, ReferenceFreeMetrics>, S>(
        in.chosen_logp.size(),
        [&](SeqView<S> gc, SeqView<S> gr, SeqView<S> pp) { return compute(in, gc, gr, pp); });
  }
};

/// ORPO, to minimize (TRL `ORPOTrainer.odds_ratio_loss`): the chosen NLL minus lambda times the
/// mean log-sigmoid of the log odds ratio of the per-token means a = c / |y|. Needs both lengths.
/// The odds-ratio gradient: d / d a_w = -lambda sigma(-lo) / (1 - e^{a_w}), d / d a_l =
/// +lambda sigma(-lo) / (1 - e^{a_l}), chained to the sums through 1 / |y|.
struct ORPO {
  double beta = 0.1;  ///< lambda, the odds-ratio weight (TRL `beta`, 0.1), >= 0
  /// log(1 - e^a) needs a < 0: means above this are clamped to it (and pass no gradient).
  static constexpr double kMaxMeanLogp = -1e-7;

  static constexpr std::string_view name = "polo::ORPO";

  void validate() const {
    if (!(beta >= 0.0 && std::isfinite(beta))) {
      detail::fail_argument(name, "beta", "finite and >= 0", beta);
    }
  }

  template <class S>
  LossValue<ORPOMetrics> compute(const PreferenceInputs<S>& in, SeqView<S> grad_chosen,
                                 SeqView<S> grad_rejected, SeqView<S> per_pair = {}) const {
    validate();
    return detail::run_reference_free<ORPOMetrics>(
        name, in, grad_chosen, grad_rejected, per_pair, beta, true, true, 1.0,
        [&](double cw, double cl, double nw, double nl) {
          const double raw_w = cw / nw;
          const double raw_l = cl / nl;
          const double aw = std::min(raw_w, kMaxMeanLogp);
          const double al = std::min(raw_l, kMaxMeanLogp);
          const double lo = (aw - al) - (detail::log1mexp(aw) - detail::log1mexp(al));
          detail::FreeTerm t;
          t.log_odds = lo;
          t.log_sigmoid_odds = log_sigmoid(lo);
          t.loss = -beta * t.log_sigmoid_odds;
          const double s = beta * sigmoid(-lo);
          // 1 / (1 - e^a) = -1 / expm1(a), exact near a = 0
          t.d_w = raw_w < kMaxMeanLogp ? s / std::expm1(aw) / nw : 0.0;
          t.d_l = raw_l < kMaxMeanLogp ? -s / std::expm1(al) / nl : 0.0;
          return t;
        });
  }

  template <class S>
  PreferenceResult<S, ORPOMetrics> operator()(const PreferenceInputs<S>& in) const {
    return call<S>(in);
  }
  PreferenceResult<double, ORPOMetrics> operator()(const PreferenceInputs<double>& in) const {
    return call<double>(in);
  }
  PreferenceResult<float, ORPOMetrics> operator()(const PreferenceInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  PreferenceResult<S, ORPOMetrics> call(const PreferenceInputs<S>& in) const {
    return detail::owning_pair_call<PreferenceResult<S, ORPOMetrics>, S>(
        in.chosen_logp.size(),
        [&](SeqView<S> gc, SeqView<S> gr, SeqView<S> pp) { return compute(in, gc, gr, pp); });
  }
};

static_assert(PreferenceLoss<SimPO, PreferenceInputs<double>>);
static_assert(PreferenceLoss<SimPO, PreferenceInputs<float>>);
static_assert(PreferenceLoss<CPO, PreferenceInputs<double>>);
static_assert(PreferenceLoss<CPO, PreferenceInputs<float>>);
static_assert(PreferenceLoss<ORPO, PreferenceInputs<double>>);
static_assert(PreferenceLoss<ORPO, PreferenceInputs<float>>);

}  // namespace polo

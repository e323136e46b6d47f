#pragma once
// INPO, Iterative Nash Policy Optimization (Zhang et al. 2024, arXiv 2407.00617): one online
// mirror-descent step of the KL-regularized preference game, written as an IPO-like regression
// on pairs sampled from the previous iterate pi_t (preference.md §4).
//
//   h_i = (cw - cl) - (tau/eta)(rw - rl) - (1 - tau/eta)(pw - pl)
//   l_i = (h_i - 1/(2 eta))^2,   value = mean_i w_i l_i
//
// cw, cl: policy log-probs of the chosen / rejected response; rw, rl: the reference's; pw, pl:
// the previous iterate's. Its minimizer over pairs from pi_t is the closed-form OMD step
// pi_{t+1} ∝ exp(P(y > pi_t)/eta) pi_ref^(tau/eta) pi_t^(1 - tau/eta).

#include <cmath>
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

/// Per-pair sequence log-probs `[B]` of INPO. Reference and previous-iterate log-probs are
/// constants. `ref_*` may be left null when `tau == 0` (INPO without KL); `weights` is optional
/// (a per-pair factor on the loss, as TRL's WPO weights).
template <class S>
struct INPOInputs {
  SeqView<const S> chosen_logp{};         ///< log pi(y_w | x), differentiable
  SeqView<const S> rejected_logp{};       ///< log pi(y_l | x), differentiable
  SeqView<const S> ref_chosen_logp{};     ///< log pi_ref(y_w | x)
  SeqView<const S> ref_rejected_logp{};   ///< log pi_ref(y_l | x)
  SeqView<const S> prev_chosen_logp{};    ///< log pi_t(y_w | x), the previous iterate
  SeqView<const S> prev_rejected_logp{};  ///< log pi_t(y_l | x)
  SeqView<const S> weights{};             ///< optional per-pair weights, >= 0
};

/// What INPO trainers log (means over the batch).
struct INPOMetrics {
  double pair_function = 0.0;       ///< mean h_i
  double target = 0.0;              ///< 1 / (2 eta), the regression target of h
  double accuracy = 0.0;            ///< mean 1[h_i > 0]: the chosen response is favoured
  double chosen_log_ratio = 0.0;    ///< mean (cw - pw): movement away from pi_t on y_w
  double rejected_log_ratio = 0.0;  ///< mean (cl - pl)
};

/// The owning result: value, d value / d chosen_logp and rejected_logp `[B]`, per-pair losses.
template <class S>
using INPOResult = PreferenceResult<S, INPOMetrics>;

/// INPO's loss, to minimize. `eta` is the inverse OMD step size (the paper's chosen 0.005) and
/// `tau` the KL strength towards pi_ref (the paper's eta / 3); 0 <= tau <= eta. tau = eta gives
/// IPO against pi_ref with target 1/(2 eta); tau = 0 is online IPO against pi_t.
struct INPO {
  double eta = 0.005;
  double tau = 0.005 / 3.0;

  static constexpr std::string_view name = "polo::INPO";

  void validate() const {
    detail::require_positive(name, "eta", eta);
    if (!(tau >= 0.0 && tau <= eta)) {
      detail::fail_argument(name, "tau", fmt::format("in [0, eta = {}]", eta), tau);
    }
  }

  /// Zero-allocation call: writes the gradients into the caller's `[B]` views.
  template <class S>
  LossValue<INPOMetrics> compute(const INPOInputs<S>& in, SeqView<S> grad_chosen,
                                 SeqView<S> grad_rejected) const {
    return run(in, grad_chosen, grad_rejected, SeqView<S>{});
  }

  template <class S>
  INPOResult<S> operator()(const INPOInputs<S>& in) const {
    return call<S>(in);
  }
  INPOResult<double> operator()(const INPOInputs<double>& in) const { return call<double>(in); }
  INPOResult<float> operator()(const INPOInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  INPOResult<S> call(const INPOInputs<S>& in) const {
    return detail::owning_pair_call<INPOResult<S>, S>(
        in.chosen_logp.size(), [&](SeqView<S> gc, SeqView<S> gr, SeqView<S> per_pair) {
          return run(in, gc, gr, per_pair);
        });
  }

  template <class S>
  LossValue<INPOMetrics> run(const INPOInputs<S>& in, SeqView<S> gc, SeqView<S> gr,
                             SeqView<S> per_pair) const {
    validate();
    const Index b = in.chosen_logp.size();
    const bool has_ref = tau > 0.0 || !in.ref_chosen_logp.is_null();
    detail::require_shape(name, "rejected_logp", in.rejected_logp, b);
    if (tau > 0.0 && b > 0) {  // an empty batch views as null
      detail::require_present(name, "ref_chosen_logp", in.ref_chosen_logp, "tau > 0");
      detail::require_present(name, "ref_rejected_logp", in.ref_rejected_logp, "tau > 0");
    }
    if (has_ref) {
      detail::require_shape(name, "ref_chosen_logp", in.ref_chosen_logp, b);
      detail::require_shape(name, "ref_rejected_logp", in.ref_rejected_logp, b);
    }
    detail::require_shape(name, "prev_chosen_logp", in.prev_chosen_logp, b);
    detail::require_shape(name, "prev_rejected_logp", in.prev_rejected_logp, b);
    const bool weighted = !in.weights.is_null();
    if (weighted) detail::require_shape(name, "weights", in.weights, b);
    detail::require_grad_output(name, "grad_chosen_logp", gc, b);
    detail::require_grad_output(name, "grad_rejected_logp", gr, b);
    const bool keep = !per_pair.is_null();

    const double ratio = tau / eta;
    const double target = 1.0 / (2.0 * eta);
    const double scale = b > 0 ? 1.0 / static_cast<double>(b) : 0.0;
    double value = 0.0;
    double grad_sum = 0.0;
    double h_sum = 0.0;
    double wins = 0.0;
    double lr_w = 0.0;
    double lr_l = 0.0;
    for (Index i = 0; i < b; ++i) {
      const double policy = static_cast<double>(in.chosen_logp[i]) - in.rejected_logp[i];
      const double prev = static_cast<double>(in.prev_chosen_logp[i]) - in.prev_rejected_logp[i];
      const double ref =
          has_ref ? static_cast<double>(in.ref_chosen_logp[i]) - in.ref_rejected_logp[i] : 0.0;
      const double h = policy - ratio * ref - (1.0 - ratio) * prev;
      const double e = h - target;
      const double w = weighted ? static_cast<double>(in.weights[i]) : 1.0;
      if (w < 0.0) detail::fail_argument(name, fmt::format("weights[{}]", i), ">= 0", w);
      const double loss = e * e;
      const double g = scale * w * 2.0 * e;
      value += scale * w * loss;
      gc[i] = static_cast<S>(g);
      gr[i] = static_cast<S>(-g);
      grad_sum += g;
      if (keep) per_pair[i] = static_cast<S>(loss);
      h_sum += h;
      wins += h > 0.0 ? 1.0 : 0.0;
      lr_w += static_cast<double>(in.chosen_logp[i]) - in.prev_chosen_logp[i];
      lr_l += static_cast<double>(in.rejected_logp[i]) - in.prev_rejected_logp[i];
    }
    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      detail::check_finite(name, "chosen_logp", in.chosen_logp);
      detail::check_finite(name, "rejected_logp", in.rejected_logp);
      if (has_ref) {
        detail::check_finite(name, "ref_chosen_logp", in.ref_chosen_logp);
        detail::check_finite(name, "ref_rejected_logp", in.ref_rejected_logp);
      }
      detail::check_finite(name, "prev_chosen_logp", in.prev_chosen_logp);
      detail::check_finite(name, "prev_rejected_logp", in.prev_rejected_logp);
      if (weighted) detail::check_finite(name, "weights", in.weights);
      detail::fail_argument(name, "the loss",
                            "finite for finite inputs (the squared error "
                            "overflowed)",
                            value);
    }
    LossValue<INPOMetrics> out;
    out.value = value;
    out.metrics.target = target;
    out.metrics.pair_function = scale * h_sum;
    out.metrics.accuracy = scale * wins;
    out.metrics.chosen_log_ratio = scale * lr_w;
    out.metrics.rejected_log_ratio = scale * lr_l;
    return out;
  }
};

static_assert(PreferenceLoss<INPO, INPOInputs<double>>);
static_assert(PreferenceLoss<INPO, INPOInputs<float>>);

}  // namespace polo

#pragma once
// SRPO, Self-Improving Robust Preference Optimization (Choi et al. 2024, arXiv 2406.01660),
// preference.md §2. Two policies trained jointly on offline pairs: a self-improvement policy
// pi+(y' | x, y) that revises a given response, and the generative policy pi(y | x). With
// log-ratios h = log pi / pi_ref and h+ = log pi+ / pi_ref (the reference evaluated in the same
// context):
//
//   e1 = 1/2 - beta (h+(yw | yl) - h+(yl | yl))       improve the rejected response
//   e2 = 1/2 - beta (h+(yw | yw) - h+(yl | yw))       keep the chosen one
//   e3 = beta (h+(yw | yl) + h(yw) - h+(yl | yw) - h(yl)) - 1
//   l_i = alpha (e1^2 + e2^2) + (1 - alpha) e3^2,    value = mean_i w_i l_i
//
// Their expectation over label noise is minimized exactly at the game's closed forms
// beta [h+(y1|y2) - h+(y2|y2)] = p(y1 > y2) - 1/2 and
// beta [h(y1) - h(y2) + h+(y1|y2) - h+(y2|y1)] = 2 p(y1 > y2) - 1.

#include <cmath>
#include <initializer_list>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/preference/detail/pair_loss.hpp"

namespace polo {

/// Per-pair summed log-probs `[B]` of SRPO: six from the policy (differentiable) and the same six
/// from the reference (constants). "given_chosen" means conditioned on x and y_w as the response
/// to improve, "given_rejected" on x and y_l.
template <class S>
struct SRPOInputs {
  SeqView<const S> chosen_logp{};                   ///< log pi(y_w | x)
  SeqView<const S> rejected_logp{};                 ///< log pi(y_l | x)
  SeqView<const S> chosen_given_rejected_logp{};    ///< log pi+(y_w | x, y_l)
  SeqView<const S> rejected_given_rejected_logp{};  ///< log pi+(y_l | x, y_l)
  SeqView<const S> chosen_given_chosen_logp{};      ///< log pi+(y_w | x, y_w)
  SeqView<const S> rejected_given_chosen_logp{};    ///< log pi+(y_l | x, y_w)
  SeqView<const S> ref_chosen_logp{};
  SeqView<const S> ref_rejected_logp{};
  SeqView<const S> ref_chosen_given_rejected_logp{};
  SeqView<const S> ref_rejected_given_rejected_logp{};
  SeqView<const S> ref_chosen_given_chosen_logp{};
  SeqView<const S> ref_rejected_given_chosen_logp{};
  SeqView<const S> weights{};  ///< optional per-pair weights, >= 0
};

/// Where `SRPO::compute` writes d value / d each policy input, `[B]` each.
template <class S>
struct SRPOGrads {
  SeqView<S> chosen_logp{};
  SeqView<S> rejected_logp{};
  SeqView<S> chosen_given_rejected_logp{};
  SeqView<S> rejected_given_rejected_logp{};
  SeqView<S> chosen_given_chosen_logp{};
  SeqView<S> rejected_given_chosen_logp{};
};

/// What SRPO logs (batch means). The hard-label regression targets of the three margins are 1/2,
/// 1/2 and 1; over noisy labels they settle at p - 1/2, p - 1/2 and 2 p - 1.
struct SRPOMetrics {
  double self_loss = 0.0;                ///< mean e1^2 + e2^2
  double generative_loss = 0.0;          ///< mean e3^2
  double improve_rejected_margin = 0.0;  ///< mean beta (h+(yw|yl) - h+(yl|yl)), target 1/2
  double keep_chosen_margin = 0.0;       ///< mean beta (h+(yw|yw) - h+(yl|yw)), target 1/2
  double robust_margin = 0.0;  ///< mean beta (h+(yw|yl) + h(yw) - h+(yl|yw) - h(yl)), target 1
};

template <class S>
struct SRPOResult {
  double value = 0.0;
  SeqArray<S> grad_chosen_logp;
  SeqArray<S> grad_rejected_logp;
  SeqArray<S> grad_chosen_given_rejected_logp;
  SeqArray<S> grad_rejected_given_rejected_logp;
  SeqArray<S> grad_chosen_given_chosen_logp;
  SeqArray<S> grad_rejected_given_chosen_logp;
  SeqArray<S> per_pair;  ///< l_i before the weighted mean
  SRPOMetrics metrics;
};

/// SRPO's offline loss, to minimize. `beta` is the KL strength of both policies (TRL PR #1772:
/// the config's beta, 0.1) and `alpha` the weight of the self-improvement term (the PR's 0.8).
struct SRPO {
  double beta = 0.1;
  double alpha = 0.8;

  static constexpr std::string_view name = "polo::SRPO";

  void validate() const {
    detail::require_positive(name, "beta", beta);
    detail::require_in(name, "alpha", alpha, 0.0, 1.0);
  }

  template <class S>
  LossValue<SRPOMetrics> compute(const SRPOInputs<S>& in, const SRPOGrads<S>& grads) const {
    return run(in, grads, SeqView<S>{});
  }

  template <class S>
  SRPOResult<S> operator()(const SRPOInputs<S>& in) const {
    return call<S>(in);
  }
  SRPOResult<double> operator()(const SRPOInputs<double>& in) const { return call<double>(in); }
  SRPOResult<float> operator()(const SRPOInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  SRPOResult<S> call(const SRPOInputs<S>& in) const {
    SRPOResult<S> out;
    const Index b = in.chosen_logp.size();
    for (auto* a :
         {&out.grad_chosen_logp, &out.grad_rejected_logp, &out.grad_chosen_given_rejected_logp,
          &out.grad_rejected_given_rejected_logp, &out.grad_chosen_given_chosen_logp,
          &out.grad_rejected_given_chosen_logp, &out.per_pair}) {
      a->resize(b);
    }
    const SRPOGrads<S> grads{out.grad_chosen_logp,
                             out.grad_rejected_logp,
                             out.grad_chosen_given_rejected_logp,
                             out.grad_rejected_given_rejected_logp,
                             out.grad_chosen_given_chosen_logp,
                             out.grad_rejected_given_chosen_logp};
    const auto v = run(in, grads, SeqView<S>(out.per_pair));
    out.value = v.value;
    out.metrics = v.metrics;
    return out;
  }

  template <class S>
  LossValue<SRPOMetrics> run(const SRPOInputs<S>& in, const SRPOGrads<S>& g,
                             SeqView<S> per_pair) const {
    validate();
    const Index b = in.chosen_logp.size();
    detail::require_shape(name, "rejected_logp", in.rejected_logp, b);
    detail::require_shape(name, "chosen_given_rejected_logp", in.chosen_given_rejected_logp, b);
    detail::require_shape(name, "rejected_given_rejected_logp", in.rejected_given_rejected_logp, b);
    detail::require_shape(name, "chosen_given_chosen_logp", in.chosen_given_chosen_logp, b);
    detail::require_shape(name, "rejected_given_chosen_logp", in.rejected_given_chosen_logp, b);
    detail::require_shape(name, "ref_chosen_logp", in.ref_chosen_logp, b);
    detail::require_shape(name, "ref_rejected_logp", in.ref_rejected_logp, b);
    detail::require_shape(name, "ref_chosen_given_rejected_logp", in.ref_chosen_given_rejected_logp,
                          b);
    detail::require_shape(name, "ref_rejected_given_rejected_logp",
                          in.ref_rejected_given_rejected_logp, b);
    detail::require_shape(name, "ref_chosen_given_chosen_logp", in.ref_chosen_given_chosen_logp, b);
    detail::require_shape(name, "ref_rejected_given_chosen_logp", in.ref_rejected_given_chosen_logp,
                          b);
    const bool weighted = !in.weights.is_null();
    if (weighted) detail::require_shape(name, "weights", in.weights, b);
    detail::require_grad_output(name, "grad chosen_logp", g.chosen_logp, b);
    detail::require_grad_output(name, "grad rejected_logp", g.rejected_logp, b);
    detail::require_grad_output(name, "grad chosen_given_rejected_logp",
                                g.chosen_given_rejected_logp, b);
    detail::require_grad_output(name, "grad rejected_given_rejected_logp",
                                g.rejected_given_rejected_logp, b);
    detail::require_grad_output(name, "grad chosen_given_chosen_logp", g.chosen_given_chosen_logp,
                                b);
    detail::require_grad_output(name, "grad rejected_given_chosen_logp",
                                g.rejected_given_chosen_logp, b);
    const bool keep = !per_pair.is_null();

    const auto ratio = [](SeqView<const S> p, SeqView<const S> r, Index i) {
      return static_cast<double>(p[i]) - static_cast<double>(r[i]);
    };
    const double scale = b > 0 ? 1.0 / static_cast<double>(b) : 0.0;
    double value = 0.0;
    double grad_sum = 0.0;
    double self_sum = 0.0;
    double gen_sum = 0.0;
    double m1 = 0.0;
    double m2 = 0.0;
    double m3 = 0.0;
    for (Index i = 0; i < b; ++i) {
      const double h_w = ratio(in.chosen_logp, in.ref_chosen_logp, i);
      const double h_l = ratio(in.rejected_logp, in.ref_rejected_logp, i);
      const double h_wl =
          ratio(in.chosen_given_rejected_logp, in.ref_chosen_given_rejected_logp, i);
      const double h_ll =
          ratio(in.rejected_given_rejected_logp, in.ref_rejected_given_rejected_logp, i);
      const double h_ww = ratio(in.chosen_given_chosen_logp, in.ref_chosen_given_chosen_logp, i);
      const double h_lw =
          ratio(in.rejected_given_chosen_logp, in.ref_rejected_given_chosen_logp, i);
      const double a1 = beta * (h_wl - h_ll);
      const double a2 = beta * (h_ww - h_lw);
      const double a3 = beta * (h_wl + h_w - h_lw - h_l);
      const double e1 = 0.5 - a1;
      const double e2 = 0.5 - a2;
      const double e3 = a3 - 1.0;
      const double self = e1 * e1 + e2 * e2;
      const double gen = e3 * e3;
      const double loss = alpha * self + (1.0 - alpha) * gen;
      const double w = weighted ? static_cast<double>(in.weights[i]) : 1.0;
      if (w < 0.0) detail::fail_argument(name, fmt::format("weights[{}]", i), ">= 0", w);
      const double c = scale * w * 2.0 * beta;
      const double d1 = c * alpha * e1;
      const double d2 = c * alpha * e2;
      const double d3 = c * (1.0 - alpha) * e3;
      g.chosen_logp[i] = static_cast<S>(d3);
      g.rejected_logp[i] = static_cast<S>(-d3);
      g.chosen_given_rejected_logp[i] = static_cast<S>(d3 - d1);
      g.rejected_given_rejected_logp[i] = static_cast<S>(d1);
      g.chosen_given_chosen_logp[i] = static_cast<S>(-d2);
      g.rejected_given_chosen_logp[i] = static_cast<S>(d2 - d3);
      grad_sum += d1 + d2 + d3;
      value += scale * w * loss;
      if (keep) per_pair[i] = static_cast<S>(loss);
      self_sum += self;
      gen_sum += gen;
      m1 += a1;
      m2 += a2;
      m3 += a3;
    }
    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      for (const auto& [field, v] :
           {std::pair{"chosen_logp", in.chosen_logp},
            {"rejected_logp", in.rejected_logp},
            {"chosen_given_rejected_logp", in.chosen_given_rejected_logp},
            {"rejected_given_rejected_logp", in.rejected_given_rejected_logp},
            {"chosen_given_chosen_logp", in.chosen_given_chosen_logp},
            {"rejected_given_chosen_logp", in.rejected_given_chosen_logp},
            {"ref_chosen_logp", in.ref_chosen_logp},
            {"ref_rejected_logp", in.ref_rejected_logp},
            {"ref_chosen_given_rejected_logp", in.ref_chosen_given_rejected_logp},
            {"ref_rejected_given_rejected_logp", in.ref_rejected_given_rejected_logp},
            {"ref_chosen_given_chosen_logp", in.ref_chosen_given_chosen_logp},
            {"ref_rejected_given_chosen_logp", in.ref_rejected_given_chosen_logp},
            {"weights", in.weights}}) {
        detail::check_finite(name, field, v);
      }
      detail::fail_argument(name, "the loss",
                            "finite for finite inputs (the squared errors overflowed)", value);
    }
    LossValue<SRPOMetrics> out;
    out.value = value;
    out.metrics.self_loss = scale * self_sum;
    out.metrics.generative_loss = scale * gen_sum;
    out.metrics.improve_rejected_margin = scale * m1;
    out.metrics.keep_chosen_margin = scale * m2;
    out.metrics.robust_margin = scale * m3;
    return out;
  }
};

static_assert(PreferenceLoss<SRPO, SRPOInputs<double>>);
static_assert(PreferenceLoss<SRPO, SRPOInputs<float>>);

}  // namespace polo

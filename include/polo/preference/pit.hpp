#pragma once
// PIT, imPlicit self-ImprovemenT (Wang et al. 2023, arXiv 2310.00898), preference.md §5: the
// reward-gap model r_gap(x, y, y_ref), the quality of y over a reference response y_ref, trained
// from ordinary preference pairs with the five pairwise logistic constraints of the paper's Eq. 2
// that encode r(w, l) >= r(w, w) ~ r(l, l) >= r(l, w):
//
//   g_ab = r_gap(x, y_a, y_b)
//   l_i = -[ls(g_wl - g_ww) + ls(g_wl - g_ll) + ls(g_wl - g_lw) + ls(g_ww - g_lw) + ls(g_ll -
//   g_lw)] value = mean_i w_i l_i        (ls = log sigmoid; `mean_terms` divides l_i by 5)
//
// The trained r_gap(x, y, y_ref) is then the reward of PIT's RL stages: maximize
// E[r_gap(x, y, y_ref)] - beta KL(M_PIT || M_SFT) with y ~ M_PIT(. | x, y_ref), y_ref from the
// data (stage 1) and then from the base policy (stage 2), with any policy-gradient loss.

#include <cmath>
#include <initializer_list>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/preference/detail/pair_loss.hpp"

namespace polo {

/// The four gap scores `[B]` of a preference pair (y_w, y_l), all differentiable.
template <class S>
struct PITInputs {
  SeqView<const S> chosen_over_rejected{};    ///< g_wl = r_gap(x, y_w, y_l)
  SeqView<const S> chosen_over_chosen{};      ///< g_ww = r_gap(x, y_w, y_w)
  SeqView<const S> rejected_over_rejected{};  ///< g_ll = r_gap(x, y_l, y_l)
  SeqView<const S> rejected_over_chosen{};    ///< g_lw = r_gap(x, y_l, y_w)
  SeqView<const S> weights{};                 ///< optional per-pair weights, >= 0
};

/// Where `PITRewardLoss::compute` writes d value / d each gap score, `[B]` each.
template <class S>
struct PITGrads {
  SeqView<S> chosen_over_rejected{};
  SeqView<S> chosen_over_chosen{};
  SeqView<S> rejected_over_rejected{};
  SeqView<S> rejected_over_chosen{};
};

/// What a gap reward model logs (batch means).
struct PITMetrics {
  double accuracy = 0.0;        ///< share of pairs with g_wl > g_lw (improving beats degrading)
  double order_accuracy = 0.0;  ///< share of pairs meeting all five constraints strictly
  double gap_chosen_over_rejected = 0.0;  ///< mean g_wl
  double gap_rejected_over_chosen = 0.0;  ///< mean g_lw
  double gap_self = 0.0;                  ///< mean (g_ww + g_ll) / 2, ideally near 0
};

template <class S>
struct PITResult {
  double value = 0.0;
  SeqArray<S> grad_chosen_over_rejected;
  SeqArray<S> grad_chosen_over_chosen;
  SeqArray<S> grad_rejected_over_rejected;
  SeqArray<S> grad_rejected_over_chosen;
  SeqArray<S> per_pair;  ///< l_i before the weighted mean
  PITMetrics metrics;
};

/// PIT's gap reward-model loss, to minimize.
struct PITRewardLoss {
  /// false: the five terms are summed (the paper's Eq. 2 as written); true: averaged.
  bool mean_terms = false;

  static constexpr std::string_view name = "polo::PITRewardLoss";

  void validate() const {}

  template <class S>
  LossValue<PITMetrics> compute(const PITInputs<S>& in, const PITGrads<S>& grads) const {
    return run(in, grads, SeqView<S>{});
  }

  template <class S>
  PITResult<S> operator()(const PITInputs<S>& in) const {
    return call<S>(in);
  }
  PITResult<double> operator()(const PITInputs<double>& in) const { return call<double>(in); }
  PITResult<float> operator()(const PITInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  PITResult<S> call(const PITInputs<S>& in) const {
    PITResult<S> out;
    const Index b = in.chosen_over_rejected.size();
    for (auto* a :
         {&out.grad_chosen_over_rejected, &out.grad_chosen_over_chosen,
          &out.grad_rejected_over_rejected, &out.grad_rejected_over_chosen, &out.per_pair}) {
      a->resize(b);
    }
    const PITGrads<S> grads{out.grad_chosen_over_rejected, out.grad_chosen_over_chosen,
                            out.grad_rejected_over_rejected, out.grad_rejected_over_chosen};
    const auto v = run(in, grads, SeqView<S>(out.per_pair));
    out.value = v.value;
    out.metrics = v.metrics;
    return out;
  }

  template <class S>
  LossValue<PITMetrics> run(const PITInputs<S>& in, const PITGrads<S>& g,
                            SeqView<S> per_pair) const {
    validate();
    const Index b = in.chosen_over_rejected.size();
    detail::require_shape(name, "chosen_over_chosen", in.chosen_over_chosen, b);
    detail::require_shape(name, "rejected_over_rejected", in.rejected_over_rejected, b);
    detail::require_shape(name, "rejected_over_chosen", in.rejected_over_chosen, b);
    const bool weighted = !in.weights.is_null();
    if (weighted) detail::require_shape(name, "weights", in.weights, b);
    detail::require_grad_output(name, "grad chosen_over_rejected", g.chosen_over_rejected, b);
    detail::require_grad_output(name, "grad chosen_over_chosen", g.chosen_over_chosen, b);
    detail::require_grad_output(name, "grad rejected_over_rejected", g.rejected_over_rejected, b);
    detail::require_grad_output(name, "grad rejected_over_chosen", g.rejected_over_chosen, b);
    const bool keep = !per_pair.is_null();

    const double term_scale = mean_terms ? 0.2 : 1.0;
    const double scale = b > 0 ? 1.0 / static_cast<double>(b) : 0.0;
    double value = 0.0;
    double grad_sum = 0.0;
    double acc = 0.0;
    double order = 0.0;
    double s_wl = 0.0;
    double s_lw = 0.0;
    double s_self = 0.0;
    for (Index i = 0; i < b; ++i) {
      const auto wl = static_cast<double>(in.chosen_over_rejected[i]);
      const auto ww = static_cast<double>(in.chosen_over_chosen[i]);
      const auto ll = static_cast<double>(in.rejected_over_rejected[i]);
      const auto lw = static_cast<double>(in.rejected_over_chosen[i]);
      // Each term -log sigmoid(a - b) has d/da = -sigmoid(b - a), d/db = +sigmoid(b - a).
      const double s1 = sigmoid(ww - wl);
      const double s2 = sigmoid(ll - wl);
      const double s3 = sigmoid(lw - wl);
      const double s4 = sigmoid(lw - ww);
      const double s5 = sigmoid(lw - ll);
      const double loss =
          term_scale * -(log_sigmoid(wl - ww) + log_sigmoid(wl - ll) + log_sigmoid(wl - lw) +
                         log_sigmoid(ww - lw) + log_sigmoid(ll - lw));
      const double w = weighted ? static_cast<double>(in.weights[i]) : 1.0;
      if (w < 0.0) detail::fail_argument(name, fmt::format("weights[{}]", i), ">= 0", w);
      const double c = scale * w * term_scale;
      const double d_wl = -c * (s1 + s2 + s3);
      const double d_ww = c * (s1 - s4);
      const double d_ll = c * (s2 - s5);
      const double d_lw = c * (s3 + s4 + s5);
      g.chosen_over_rejected[i] = static_cast<S>(d_wl);
      g.chosen_over_chosen[i] = static_cast<S>(d_ww);
      g.rejected_over_rejected[i] = static_cast<S>(d_ll);
      g.rejected_over_chosen[i] = static_cast<S>(d_lw);
      grad_sum += d_wl + d_ww + d_ll + d_lw;
      value += scale * w * loss;
      if (keep) per_pair[i] = static_cast<S>(loss);
      acc += wl > lw ? 1.0 : 0.0;
      order += (wl > ww && wl > ll && ww > lw && ll > lw) ? 1.0 : 0.0;
      s_wl += wl;
      s_lw += lw;
      s_self += 0.5 * (ww + ll);
    }
    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      for (const auto& [field, v] : {std::pair{"chosen_over_rejected", in.chosen_over_rejected},
                                     {"chosen_over_chosen", in.chosen_over_chosen},
                                     {"rejected_over_rejected", in.rejected_over_rejected},
                                     {"rejected_over_chosen", in.rejected_over_chosen},
                                     {"weights", in.weights}}) {
        detail::check_finite(name, field, v);
      }
      detail::fail_argument(name, "the loss", "finite for finite inputs", value);
    }
    LossValue<PITMetrics> out;
    out.value = value;
    out.metrics.accuracy = scale * acc;
    out.metrics.order_accuracy = scale * order;
    out.metrics.gap_chosen_over_rejected = scale * s_wl;
    out.metrics.gap_rejected_over_chosen = scale * s_lw;
    out.metrics.gap_self = scale * s_self;
    return out;
  }
};

}  // namespace polo

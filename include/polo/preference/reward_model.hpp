#pragma once
// Reward-model training losses: the Bradley-Terry pairwise loss of InstructGPT / TRL's
// RewardTrainer (with Llama 2's per-pair margin and the reward-centering term of Eisenstein et
// al. 2023), and a multi-aspect regression head (K scores per response, an MSE per aspect, and the
// weighted combination of the K scores into one reward) for multi-objective GRPO.
//
//   Bradley-Terry:  d_i = r_w,i - r_l,i - m_i
//                   value = mean_i -log sigmoid(d_i) + c mean_i (r_w,i + r_l,i)^2
//   aspects:        MSE_k = mean_{i labelled} (p_ik - y_ik)^2,  value = sum_k c_k MSE_k
//                   R_i = sum_k w_k p_ik
//
// The inputs are rewards (scalar model outputs), not log-probabilities, so the gradients are named
// grad_chosen_reward / grad_rejected_reward and the loss is not a polo::PreferenceLoss.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"

namespace polo {

// ---------------------------------------------------------------------------------------------
// Bradley-Terry reward-model loss

/// The inputs of the Bradley-Terry loss, one entry per preference pair.
template <class S>
struct BradleyTerryInputs {
  SeqView<const S> chosen_rewards{};    ///< r(x, y_w), [B], differentiable
  SeqView<const S> rejected_rewards{};  ///< r(x, y_l), [B], differentiable
  /// m_i, [B], a constant (TRL's `margin` column; Llama 2 uses the rating gap); null = 0.
  SeqView<const S> margins{};
};

/// What TRL's RewardTrainer logs. The accuracy and the margin use the raw rewards (not the
/// per-pair margins); the accuracy is strict, so a tie counts as wrong.
struct BradleyTerryMetrics {
  double accuracy = 0.0;       ///< mean 1[r_w > r_l]
  double margin = 0.0;         ///< mean (r_w - r_l)
  double chosen_mean = 0.0;    ///< mean r_w
  double rejected_mean = 0.0;  ///< mean r_l
  double min_reward = 0.0;     ///< over chosen and rejected
  double mean_reward = 0.0;    ///< over chosen and rejected
  double max_reward = 0.0;     ///< over chosen and rejected
  double pairs = 0.0;
};

template <class S>
struct BradleyTerryResult {
  double value = 0.0;
  SeqArray<S> grad_chosen_reward;    ///< d value / d r_w, [B]
  SeqArray<S> grad_rejected_reward;  ///< d value / d r_l, [B]
  SeqArray<S> per_pair;              ///< -log sigmoid(d_i) + c (r_w,i + r_l,i)^2, before the mean
  BradleyTerryMetrics metrics;
};

/// The Bradley-Terry (pairwise logistic) reward-model loss, to minimize:
/// \f$ L = \frac1B \sum_i -\log\sigma(r_{w,i} - r_{l,i} - m_i) + c\,\frac1B \sum_i (r_{w,i} +
/// r_{l,i})^2 \f$. Gradient \f$ \partial L/\partial r_{w,i} = (-\sigma(-d_i) + 2c(r_{w,i} +
/// r_{l,i}))/B \f$ and \f$ \partial L/\partial r_{l,i} = (\sigma(-d_i) + 2c(r_{w,i} + r_{l,i}))/B
/// \f$. An empty batch has value 0.
struct BradleyTerry {
  /// c: pulls the rewards towards zero mean (TRL `center_rewards_coefficient`, None = 0;
  /// Eisenstein et al. 2023 suggest 0.01).
  double center_rewards_coefficient = 0.0;

  static constexpr std::string_view name = "polo::BradleyTerry";

  void validate() const {
    if (!(center_rewards_coefficient >= 0.0 && std::isfinite(center_rewards_coefficient))) {
      detail::fail_argument(name, "center_rewards_coefficient", "finite and >= 0",
                            center_rewards_coefficient);
    }
  }

  /// Zero-allocation call: writes the two `[B]` gradients and, when given, the per-pair losses.
  template <class S>
  LossValue<BradleyTerryMetrics> compute(const BradleyTerryInputs<S>& in,
                                         SeqView<S> grad_chosen_reward,
                                         SeqView<S> grad_rejected_reward,
                                         SeqView<S> per_pair = {}) const {
    validate();
    const Index n = in.chosen_rewards.size();
    detail::require_shape(name, "rejected_rewards", in.rejected_rewards, n);
    if (!in.margins.is_null()) detail::require_shape(name, "margins", in.margins, n);
    detail::require_shape(name, "grad_chosen_reward", grad_chosen_reward, n);
    detail::require_shape(name, "grad_rejected_reward", grad_rejected_reward, n);
    const bool keep = !per_pair.is_null();
    if (keep) detail::require_shape(name, "per_pair", per_pair, n);

    const double inv_n = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
    const double c = center_rewards_coefficient;
    double value = 0.0;
    double grad_sum = 0.0;
    double correct = 0.0;
    double sum_w = 0.0;
    double sum_l = 0.0;
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for (Index i = 0; i < n; ++i) {
      const auto rw = static_cast<double>(in.chosen_rewards[i]);
      const auto rl = static_cast<double>(in.rejected_rewards[i]);
      const double m = in.margins.is_null() ? 0.0 : static_cast<double>(in.margins[i]);
      const double d = rw - rl - m;
      // Without centering the sum is never formed: it may overflow where the loss does not.
      const double total = c > 0.0 ? rw + rl : 0.0;
      const double loss = softplus(-d) + c * total * total;  // -log sigmoid(d) = softplus(-d)
      const double push = sigmoid(-d);
      const double center = 2.0 * c * total;
      const double gw = (center - push) * inv_n;
      const double gl = (center + push) * inv_n;
      grad_chosen_reward[i] = static_cast<S>(gw);
      grad_rejected_reward[i] = static_cast<S>(gl);
      if (keep) per_pair[i] = static_cast<S>(loss);
      value += loss;
      grad_sum += gw + gl;
      correct += rw > rl ? 1.0 : 0.0;
      sum_w += rw;
      sum_l += rl;
      lo = std::min({lo, rw, rl});
      hi = std::max({hi, rw, rl});
    }
    value *= inv_n;

    if (!std::isfinite(value) || !std::isfinite(grad_sum) || !std::isfinite(sum_w + sum_l)) {
      detail::check_finite(name, "chosen_rewards", in.chosen_rewards);
      detail::check_finite(name, "rejected_rewards", in.rejected_rewards);
      detail::check_finite(name, "margins", in.margins);
      detail::fail_argument(
          name, "the loss",
          "finite for finite inputs (the rewards or their differences overflowed)", value);
    }

    LossValue<BradleyTerryMetrics> out;
    out.value = value;
    auto& mt = out.metrics;
    mt.pairs = static_cast<double>(n);
    if (n > 0) {
      mt.accuracy = correct * inv_n;
      mt.chosen_mean = sum_w * inv_n;
      mt.rejected_mean = sum_l * inv_n;
      mt.margin = mt.chosen_mean - mt.rejected_mean;
      mt.mean_reward = 0.5 * (mt.chosen_mean + mt.rejected_mean);
      mt.min_reward = lo;
      mt.max_reward = hi;
    }
    return out;
  }

  /// Owning call.
  template <class S>
  BradleyTerryResult<S> operator()(const BradleyTerryInputs<S>& in) const {
    return call<S>(in);
  }

  /// Braced inputs (`loss({chosen, rejected})`) deduce no template argument; these pick it.
  BradleyTerryResult<double> operator()(const BradleyTerryInputs<double>& in) const {
    return call<double>(in);
  }
  BradleyTerryResult<float> operator()(const BradleyTerryInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  BradleyTerryResult<S> call(const BradleyTerryInputs<S>& in) const {
    BradleyTerryResult<S> out;
    const Index n = in.chosen_rewards.size();
    out.grad_chosen_reward.resize(n);
    out.grad_rejected_reward.resize(n);
    out.per_pair.resize(n);
    const auto v = compute(in, SeqView<S>(out.grad_chosen_reward),
                           SeqView<S>(out.grad_rejected_reward), SeqView<S>(out.per_pair));
    out.value = v.value;
    out.metrics = v.metrics;
    return out;
  }
};

static_assert(std::is_aggregate_v<BradleyTerry>, "configured with designated initializers");

// ---------------------------------------------------------------------------------------------
// Multi-aspect regression head

/// The inputs of the multi-aspect regression loss: a row per response, a column per aspect.
template <class S>
struct AspectRegressionInputs {
  TokenView<const S> predictions{};  ///< p_ik, the head's K scores, [B, K], differentiable
  TokenView<const S> targets{};      ///< y_ik, the labelled scores, [B, K]
  /// [B, K], nonzero where aspect k of response i is labelled (ratings are often missing for some
  /// aspects); null = all labelled. Unlabelled targets are never read and may be NaN.
  MaskView mask{};
};

struct AspectRegressionMetrics {
  double mse = 0.0;           ///< mean squared error over every labelled entry
  double valid_labels = 0.0;  ///< number of labelled entries
};

template <class S>
struct AspectRegressionResult {
  double value = 0.0;
  TokenArray<S> grad_predictions;  ///< d value / d p, [B, K], 0 where unlabelled
  SeqArrayd aspect_mse;            ///< MSE_k, [K] (0 for an aspect with no label)
  AspectRegressionMetrics metrics;
};

/// The multi-aspect regression loss, to minimize: \f$ L = \sum_k c_k\,\mathrm{MSE}_k \f$ with
/// \f$ \mathrm{MSE}_k = \frac1{n_k}\sum_{i\,\mathrm{labelled}} (p_{ik} - y_{ik})^2 \f$. Gradient
/// \f$ 2 c_k (p_{ik} - y_{ik}) / n_k \f$ at labelled entries, 0 elsewhere. With every entry
/// labelled and the default weights this is `torch.nn.MSELoss()` on the `[B, K]` scores.
struct AspectRegression {
  /// c_k, [K], finite and >= 0; empty = 1/K each (the mean of the per-aspect MSEs). An aspect
  /// with no label in the batch contributes 0; its weight is not handed to the others.
  std::vector<double> aspect_weights{};

  static constexpr std::string_view name = "polo::AspectRegression";

  /// Checks the weights against K aspects.
  void validate(Index aspects) const {
    if (aspects < 1) detail::fail_argument(name, "predictions columns", ">= 1 aspect", aspects);
    if (aspect_weights.empty()) return;
    if (static_cast<Index>(aspect_weights.size()) != aspects) {
      detail::fail_argument(name, "aspect_weights size",
                            fmt::format("{} (one per aspect) or empty", aspects),
                            aspect_weights.size());
    }
    for (std::size_t k = 0; k < aspect_weights.size(); ++k) {
      const double c = aspect_weights[k];
      if (!(c >= 0.0 && std::isfinite(c))) {
        detail::fail_argument(name, fmt::format("aspect_weights[{}]", k), "finite and >= 0", c);
      }
    }
  }

  /// Zero-allocation call: writes `grad_predictions` ([B, K]) and, when given, `aspect_mse`
  /// ([K]).
  template <class S>
  LossValue<AspectRegressionMetrics> compute(const AspectRegressionInputs<S>& in,
                                             TokenView<S> grad_predictions,
                                             SeqView<double> aspect_mse = {}) const {
    const Index rows = in.predictions.rows();
    const Index cols = in.predictions.cols();
    validate(cols);
    detail::require_shape(name, "targets", in.targets, rows, cols);
    detail::require_mask_shape(name, in.mask, rows, cols);
    detail::require_shape(name, "grad_predictions", grad_predictions, rows, cols);
    if (rows > 1 && grad_predictions.stride() == 0) {
      detail::fail_argument(name, "grad_predictions row stride", "> 0 (an output cannot broadcast)",
                            0);
    }
    if (!aspect_mse.is_null()) detail::require_shape(name, "aspect_mse", aspect_mse, cols);

    const double uniform = 1.0 / static_cast<double>(cols);
    const auto weight = [&](Index k) {
      return aspect_weights.empty() ? uniform : aspect_weights[static_cast<std::size_t>(k)];
    };
    // Two passes: the label count n_k of each aspect scales its gradient. The first only counts.
    LossValue<AspectRegressionMetrics> out;
    double value = 0.0;
    double grad_sum = 0.0;
    double total_sq = 0.0;
    double total_n = 0.0;
    in.mask.visit([&](auto valid) {
      for (Index k = 0; k < cols; ++k) {
        double n = 0.0;
        for (Index i = 0; i < rows; ++i)
          n += valid(i, k) ? 1.0 : 0.0;
        const double scale = n > 0.0 ? 2.0 * weight(k) / n : 0.0;
        double sq = 0.0;
        for (Index i = 0; i < rows; ++i) {
          if (!valid(i, k)) {
            grad_predictions(i, k) = S{0};
            continue;
          }
          const double e =
              static_cast<double>(in.predictions(i, k)) - static_cast<double>(in.targets(i, k));
          sq += e * e;
          const double g = scale * e;
          grad_predictions(i, k) = static_cast<S>(g);
          grad_sum += g;
        }
        const double mse = n > 0.0 ? sq / n : 0.0;
        if (!aspect_mse.is_null()) aspect_mse[k] = mse;
        value += weight(k) * mse;
        total_sq += sq;
        total_n += n;
      }
    });

    if (!std::isfinite(value) || !std::isfinite(grad_sum) || !std::isfinite(total_sq)) {
      detail::check_finite(name, "predictions", in.predictions, in.mask);
      detail::check_finite(name, "targets", in.targets, in.mask);
      detail::fail_argument(name, "the loss",
                            "finite for finite inputs (the squared errors overflowed)", value);
    }
    out.value = value;
    out.metrics.valid_labels = total_n;
    out.metrics.mse = total_n > 0.0 ? total_sq / total_n : 0.0;
    return out;
  }

  /// Owning call.
  template <class S>
  AspectRegressionResult<S> operator()(const AspectRegressionInputs<S>& in) const {
    return call<S>(in);
  }

  AspectRegressionResult<double> operator()(const AspectRegressionInputs<double>& in) const {
    return call<double>(in);
  }
  AspectRegressionResult<float> operator()(const AspectRegressionInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  AspectRegressionResult<S> call(const AspectRegressionInputs<S>& in) const {
    AspectRegressionResult<S> out;
    out.grad_predictions.resize(in.predictions.rows(), in.predictions.cols());
    out.aspect_mse.resize(in.predictions.cols());
    const auto v = compute(in, TokenView<S>(out.grad_predictions), SeqView<double>(out.aspect_mse));
    out.value = v.value;
    out.metrics = v.metrics;
    return out;
  }
};

namespace detail {

inline void require_aspect_weights(std::string_view where, SeqView<const double> weights,
                                   Index aspects) {
  if (aspects < 1) fail_argument(where, "scores columns", ">= 1 aspect", aspects);
  if (weights.is_null()) return;
  require_shape(where, "weights", weights, aspects);
  for (Index k = 0; k < aspects; ++k) {
    if (!std::isfinite(weights[k])) {
      fail_argument(where, fmt::format("weights[{}]", k), "finite", weights[k]);
    }
  }
}

}  // namespace detail

/// One reward per response from its K aspect scores: \f$ R_i = \sum_k w_k s_{ik} \f$ (weights
/// `[K]`, null = all 1, as TRL's `reward_weights`), accumulated in double. `scores` is `[B, K]`.
template <class S, class O>
void combine_aspects(TokenView<const S> scores, SeqView<const double> weights, SeqView<O> reward) {
  constexpr std::string_view where = "polo::combine_aspects";
  detail::require_aspect_weights(where, weights, scores.cols());
  detail::require_shape(where, "reward", reward, scores.rows());
  for (Index i = 0; i < scores.rows(); ++i) {
    const S* row = scores.row(i);
    double r = 0.0;
    for (Index k = 0; k < scores.cols(); ++k)
      r += (weights.is_null() ? 1.0 : weights[k]) * static_cast<double>(row[k]);
    reward[i] = static_cast<O>(r);
  }
}

/// Owning form.
template <class S>
SeqArray<std::remove_const_t<S>> combine_aspects(TokenView<S> scores,
                                                 SeqView<const double> weights = {}) {
  using T = std::remove_const_t<S>;
  SeqArray<T> out(scores.rows());
  combine_aspects<T, T>(TokenView<const T>(scores), weights, SeqView<T>(out));
  return out;
}

/// Owning form from an Eigen `[B, K]` row-major array.
template <class D>
requires detail::EigenDense<D>
auto combine_aspects(const D& scores, SeqView<const double> weights = {}) {
  return combine_aspects(TokenView(scores), weights);
}

/// Backward of `combine_aspects`: grad_scores(i, k) = w_k grad_reward[i], given grad_reward =
/// d value / d R.
template <class S, class O>
void combine_aspects_backward(SeqView<const S> grad_reward, SeqView<const double> weights,
                              TokenView<O> grad_scores) {
  constexpr std::string_view where = "polo::combine_aspects_backward";
  detail::require_aspect_weights(where, weights, grad_scores.cols());
  detail::require_shape(where, "grad_reward", grad_reward, grad_scores.rows());
  for (Index i = 0; i < grad_scores.rows(); ++i) {
    const auto g = static_cast<double>(grad_reward[i]);
    O* row = grad_scores.row(i);
    for (Index k = 0; k < grad_scores.cols(); ++k)
      row[k] = static_cast<O>((weights.is_null() ? 1.0 : weights[k]) * g);
  }
}

}  // namespace polo

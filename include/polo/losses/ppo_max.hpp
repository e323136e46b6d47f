#pragma once
// PPO-max (Zheng et al. 2023, "Secrets of RLHF in Large Language Models Part I"): the reward-side
// pieces it adds to PPO, and the recipe's settings as one preset.
//
// - RunningMoments: running mean / variance of reward-model scores over the history (MOSS-RLHF
//   utils.RunningMoments), combined per batch with Chan et al.'s parallel formula.
// - RewardNormalization: r~ = clip((r - mu) / sigma, -delta, delta), or r / sigma ("scaling").
// - KLShapedRewards: reward_t = -beta k_t + [t = last valid] score (a real token-level KL
//   penalty in the reward, which GAE then turns into advantages).
//
// These shape constants (no gradient) and sit in losses/ beside the KL estimators they use; the
// advantage estimators (polo/advantage/) consume their output.

#include <algorithm>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/kl.hpp"
#include "polo/losses/ppo.hpp"
#include "polo/losses/value_loss.hpp"

namespace polo {

/// Running moments of a stream of scores; caller-owned state (DESIGN: state is explicit).
/// Starts as MOSS does: mean 0, variance 1, count 1e-24 (so the first batch replaces both).
struct RunningMoments {
  double mean = 0.0;
  double variance = 1.0;  ///< population variance of everything seen
  double count = 1e-24;

  static constexpr std::string_view name = "polo::RunningMoments";

  /// Folds in a batch with mean m, population variance v and size n (Chan et al.):
  /// delta = m - mu, c' = c + n, mu <- mu + delta n / c',
  /// var <- (var c + delta^2 c n / c' + v n) / c', c <- c'.
  /// An empty batch changes nothing; a non-finite score throws `nonfinite_error`.
  template <class S>
  void update(SeqView<const S> batch) {
    detail::check_finite(name, "batch", batch);
    const Index n = batch.size();
    if (n == 0) return;
    // Two passes over the batch, in double: its own mean and population variance.
    double sum = 0.0;
    for (Index i = 0; i < n; ++i) {
      sum += static_cast<double>(batch[i]);
    }
    const double nb = static_cast<double>(n);
    const double batch_mean = sum / nb;
    double ss = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double d = static_cast<double>(batch[i]) - batch_mean;
      ss += d * d;
    }
    const double batch_var = ss / nb;
    const double delta = batch_mean - mean;
    const double total = count + nb;
    mean += delta * nb / total;
    variance = (variance * count + delta * delta * count * nb / total + batch_var * nb) / total;
    count = total;
  }

  /// The standard deviation MOSS reports, with Bessel's factor: sqrt(variance c / (c - 1)); just
  /// sqrt(variance) while c <= 1 (the factor is undefined there).
  [[nodiscard]] double std() const noexcept {
    if (count <= 1.0) return std::sqrt(variance);
    return std::sqrt(variance * count / (count - 1.0));
  }
};

enum class RewardNormMode {
  normalize,  ///< (r - mu) / sigma  (PPO-max's "reward normalization and clipping")
  scale,      ///< r / sigma, no centering (MOSS --use_reward_scaling, what its scripts run)
};

/// Updates the running moments with a batch of scores, then normalizes the batch with the updated
/// statistics and clips to [-clip, clip] when clip > 0 (in either mode). That order is MOSS's and
/// gives V20. `out` may be `scores` itself.
struct RewardNormalization {
  RewardNormMode mode = RewardNormMode::normalize;
  double clip = 0.8;  ///< delta; the paper uses 0.8 and 0.3 (Fig. 6); 0 = no clipping
  /// Floor of sigma (> 0): guards the division while the history has no spread.
  double eps = 1e-8;

  static constexpr std::string_view name = "polo::RewardNormalization";

  void validate() const {
    detail::require_nonnegative(name, "clip", clip);
    detail::require_positive(name, "eps", eps);
  }

  template <class S, class O>
  void operator()(RunningMoments& moments, SeqView<const S> scores, SeqView<O> out) const {
    validate();
    detail::require_shape(name, "out", out, scores.size());
    moments.update(scores);
    apply(moments, scores, out);
  }

  /// Normalizes with `moments` as they are (evaluation: no update).
  template <class S, class O>
  void apply(const RunningMoments& moments, SeqView<const S> scores, SeqView<O> out) const {
    validate();
    detail::require_shape(name, "out", out, scores.size());
    detail::check_finite(name, "scores", scores);
    const double sigma = std::max(moments.std(), eps);
    const double center = mode == RewardNormMode::normalize ? moments.mean : 0.0;
    for (Index i = 0; i < scores.size(); ++i) {
      double r = (static_cast<double>(scores[i]) - center) / sigma;
      if (clip > 0.0) r = std::clamp(r, -clip, clip);
      out[i] = static_cast<O>(r);
    }
  }
};

/// The inputs of KL reward shaping: one score per sequence and the rollout's token log-probs.
template <class S>
struct ShapedRewardInputs {
  SeqView<const S> scores{};      ///< reward-model score per sequence, [B]
  TokenView<const S> logp{};      ///< log-probs of the sampled tokens at rollout time, [B, T]
  TokenView<const S> ref_logp{};  ///< reference-model log-probs of the same tokens, [B, T]
  MaskView mask{};                ///< the response tokens
};

struct ShapedRewardMetrics {
  double kl_mean = 0.0;     ///< mean over sequences of sum_t k_t (MOSS / TRL log this as ref_kl)
  double score_mean = 0.0;  ///< mean score after clipping, over sequences with a valid token
  double valid_sequences = 0.0;
};

/// Token rewards with a KL penalty (Ziegler et al.; PPO-max trick 1; TRL PPO, OpenRLHF):
/// \f$ u_{it} = -\beta k_{it} + [t = \text{last valid}_i]\,\mathrm{clip}(s_i) \f$, k from
/// `estimator` on (logp, ref_logp). Masked positions get 0; a row without a valid token gets no
/// score. The score goes on the last valid token (TRL PPO puts it one later; polo does not).
struct KLShapedRewards {
  double coefficient = 0.05;                ///< beta (paper Fig. 7: 0.05; MOSS code: 0.02)
  KLEstimator estimator = KLEstimator::k1;  ///< TRL PPO / OpenRLHF / verl in-reward default
  double score_clip = 0.0;                  ///< 0 = off; else scores clipped to +-c (OpenRLHF 10)

  static constexpr std::string_view name = "polo::KLShapedRewards";

  void validate() const {
    detail::require_nonnegative(name, "coefficient", coefficient);
    detail::require_nonnegative(name, "score_clip", score_clip);
  }

  template <class S, class O>
  ShapedRewardMetrics compute(const ShapedRewardInputs<S>& in, TokenView<O> rewards) const {
    validate();
    const Index rows = in.logp.rows();
    const Index cols = in.logp.cols();
    detail::require_shape(name, "scores", in.scores, rows);
    detail::require_input(name, "ref_logp", in.ref_logp, rows, cols);
    detail::require_mask_shape(name, in.mask, rows, cols);
    detail::require_output(name, "rewards", rewards, rows, cols);
    ShapedRewardMetrics m;
    double kl_total = 0.0;
    double score_total = 0.0;
    in.mask.visit([&](auto valid) {
      for (Index i = 0; i < rows; ++i) {
        const S* lp = in.logp.row(i);
        const S* ref = in.ref_logp.row(i);
        O* u = rewards.row(i);
        Index last = -1;
        double row_kl = 0.0;
        for (Index t = 0; t < cols; ++t) {
          if (!valid(i, t)) {
            u[t] = O{0};
            continue;
          }
          const double k =
              kl_token(estimator, static_cast<double>(lp[t]), static_cast<double>(ref[t])).value;
          row_kl += k;
          u[t] = static_cast<O>(-coefficient * k);
          last = t;
        }
        if (last < 0) continue;
        double score = static_cast<double>(in.scores[i]);
        if (score_clip > 0.0) score = std::clamp(score, -score_clip, score_clip);
        u[last] = static_cast<O>(static_cast<double>(u[last]) + score);
        kl_total += row_kl;
        score_total += score;
        m.valid_sequences += 1.0;
      }
    });
    if (!std::isfinite(kl_total) || !std::isfinite(score_total)) {
      detail::check_finite(name, "scores", in.scores);
      detail::fail_nonfinite<S>(name, {{"logp", in.logp}, {"ref_logp", in.ref_logp}}, in.mask,
                                std::isfinite(kl_total) ? score_total : kl_total,
                                "the KL estimate overflowed");
    }
    if (m.valid_sequences > 0.0) {
      m.kl_mean = kl_total / m.valid_sequences;
      m.score_mean = score_total / m.valid_sequences;
    }
    return m;
  }

  /// Owning call: the `[B, T]` token rewards.
  template <class S>
  TokenArray<S> operator()(const ShapedRewardInputs<S>& in) const {
    return call(in);
  }
  TokenArrayd operator()(const ShapedRewardInputs<double>& in) const { return call(in); }
  TokenArrayf operator()(const ShapedRewardInputs<float>& in) const { return call(in); }

 private:
  template <class S>
  TokenArray<S> call(const ShapedRewardInputs<S>& in) const {
    TokenArray<S> out(in.logp.rows(), in.logp.cols());
    compute(in, TokenView<S>(out));
    return out;
  }
};

/// The PPO-max recipe as polo settings (paper §5.4 with the MOSS code's values where the paper is
/// silent). Assemble a trainer from it: shape rewards with `reward` then `kl`, run GAE with
/// gamma / lambda, and minimize policy + value_coefficient * value (+ ptx_coefficient * LM loss),
/// clipping the global gradient norm to max_grad_norm. The critic is initialized from the reward
/// model and pre-trained before PPO; the policy starts from the SFT model.
struct PPOMax {
  PPOClip policy = ppo_clip(0.2);           ///< pg_clip 0.2
  ValueLoss value{.clip = 0.2};             ///< value_clip 0.2 (trick 7)
  RewardNormalization reward{};             ///< normalize + clip at 0.8 (trick 5)
  KLShapedRewards kl{.coefficient = 0.05};  ///< token-level KL penalty (trick 1)
  double value_coefficient = 1.0;           ///< MOSS trains the critic on its own loss
  double gamma = 1.0;                       ///< MOSS config
  double lambda = 0.95;                     ///< MOSS config (paper App. C.3: 0.9)
  double max_grad_norm = 1.0;               ///< DeepSpeed gradient_clipping (trick 12)
  double ptx_coefficient = 0.0;             ///< PPO-ptx weight (MOSS scripts: 0)
};

/// PPO-max's defaults (see PPOMax).
inline PPOMax ppo_max() {
  return {};
}

}  // namespace polo

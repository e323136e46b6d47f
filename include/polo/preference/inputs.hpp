#pragma once
// The inputs, metrics and results every pairwise preference loss shares (DPO and its loss types,
// SimPO, CPO, ORPO, and the Nash / self-improvement losses built on them). ALGORITHMS
// preference.md §0.

#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// One batch of B preference pairs as per-sequence log-probs `[B]`. Only the policy's
/// `chosen_logp` and `rejected_logp` are differentiable; everything else is a constant.
/// Log-probs are summed over completion tokens (polo::reduce_preferences makes them from `[B, T]`
/// token log-probs); the losses that average per token divide by the lengths themselves.
template <class S>
struct PreferenceInputs {
  SeqView<const S> chosen_logp{};        ///< log pi_theta(y_w | x), summed, [B]
  SeqView<const S> rejected_logp{};      ///< log pi_theta(y_l | x), summed, [B]
  SeqView<const S> ref_chosen_logp{};    ///< log pi_ref(y_w | x), [B]; absent for reference-free
  SeqView<const S> ref_rejected_logp{};  ///< log pi_ref(y_l | x), [B]
  /// Completion token counts |y_w|, |y_l| [B]: needed by the losses that average per token (ipo
  /// length-normalized, sigmoid_norm, sft, SimPO, CPO's NLL, ORPO). A length below 1 counts as 1
  /// (TRL clamps the same way), so an empty completion divides by 1, never by 0.
  SeqView<const S> chosen_length{};
  SeqView<const S> rejected_length{};
  SeqView<const S> weights{};  ///< optional per-pair weights [B] (WPO); constants
};

/// What TRL's DPOTrainer logs (preference.md §0 "Logged metrics"), from the plain log-ratios
/// whatever the loss type. Batch means; all 0 for an empty batch.
struct PreferenceMetrics {
  double rewards_chosen = 0.0;      ///< rewards/chosen: mean beta (c_w - r_w)
  double rewards_rejected = 0.0;    ///< rewards/rejected: mean beta (c_l - r_l)
  double rewards_accuracies = 0.0;  ///< rewards/accuracies: share of strict wins (ties count 0)
  double rewards_margins = 0.0;     ///< rewards/margins: mean of chosen minus rejected reward
  double logps_chosen = 0.0;        ///< logps/chosen: mean c_w
  double logps_rejected = 0.0;      ///< logps/rejected: mean c_l
};

/// The owning result of a preference loss.
template <class S, class M = PreferenceMetrics>
struct PreferenceResult {
  double value = 0.0;              ///< the batch mean of `per_pair` (what is minimized)
  SeqArray<S> grad_chosen_logp;    ///< d value / d chosen_logp, [B]
  SeqArray<S> grad_rejected_logp;  ///< d value / d rejected_logp, [B]
  SeqArray<S> per_pair;            ///< each pair's loss before the batch mean, [B]
  M metrics{};
};

}  // namespace polo

#pragma once
// The DDPO / Flow-GRPO baseline (Black et al. 2024; Liu et al. 2025): PPO-clip on the per-step
// transition log-probabilities of an SDE sampler, with group-relative advantages. It is polo::GRPO
// on a [B, K] "token" array whose K tokens are a trajectory's K denoising steps:
//
//   logp_ik = log N(x_{k+1}; mu_theta(x_k, t_k), sigma_k^2 h I)   (polo::EulerMaruyamaSDE)
//   value   = mean_i mean_k -min(r_ik A_i, clip(r_ik, 1 - eps, 1 + eps) A_i) + beta k3_ik
//
// with A from polo::flow_grpo_advantage() (or polo::awm_advantage(), to compare like with like).
// The gradient reaches the velocity model through EulerMaruyamaSDE::log_prob's d logp / d v:
//   d value / d v_ik = grad_logp(i, k) * d logp_ik / d v_ik.

#include "polo/flow/advantage.hpp"
#include "polo/flow/samplers.hpp"
#include "polo/losses/grpo.hpp"

namespace polo {

/// Flow-GRPO's loss settings: the GRPO mean over trajectories of the mean over steps, a
/// symmetric clip `clip_range` (Flow-GRPO 1e-4) and the k3 KL to the reference policy's
/// transition log-probabilities with weight `beta` (Flow-GRPO 0.04; its code uses the closed-form
/// Gaussian KL of the two means, k3 is its single-sample estimate).
inline GRPO flow_grpo(double clip_range = 1e-4, double beta = 0.04) {
  return GRPO{.epsilon_low = clip_range,
              .epsilon_high = clip_range,
              .beta = beta,
              .loss_type = GrpoLossType::grpo};
}

}  // namespace polo

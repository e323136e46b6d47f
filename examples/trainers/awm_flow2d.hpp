#pragma once
// Fine-tuning a 2-D flow model towards preferred modes: AWM against a DDPO / Flow-GRPO-style
// baseline, built from polo's pieces. Shared by examples/awm_flow2d.cpp and its smoke test.
//
// 1. Pretrain: an MLP velocity model v(x, t) (input [x, y, t, sin 2 pi t, cos 2 pi t], SiLU) by
//    rectified flow matching on polo::Flow2D's 8-Gaussian ring (Adam); freeze a copy as v_ref.
// 2. Fine-tune, per iteration: draw `groups x group_size` samples, evaluate their rewards (the
//    budget counts these evaluations), compute the same clipped group advantages for both
//    methods, then take `updates` Adam steps of
//      awm   polo::AWM on the Euler-ODE samples, renoised at M stratified timesteps, anchored
//            to v_ref;
//      ddpo  polo::GRPO (flow_grpo preset) on the Euler-Maruyama SDE's per-step transition
//            log-probabilities, k3 KL to v_ref's transitions.
//    After each iteration a fixed batch of evaluation noise is integrated with the Euler ODE
//    (both methods measured with the same sampler); the target is met when `target_fraction`
//    of those samples lie within `target_radius` of a preferred mode's centre.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/envs/flow2d.hpp"
#include "polo/flow/advantage.hpp"
#include "polo/flow/awm.hpp"
#include "polo/flow/flow_grpo.hpp"
#include "polo/flow/flow_matching.hpp"
#include "polo/flow/samplers.hpp"
#include "polo/nn/clip.hpp"
#include "polo/nn/mlp.hpp"
#include "polo/nn/optim.hpp"
#include "polo/nn/schedule.hpp"

namespace polo::examples {

enum class FlowMethod { awm, ddpo };

inline std::string_view flow_method_name(FlowMethod m) {
  return m == FlowMethod::awm ? "awm" : "ddpo";
}

struct AWMFlow2DConfig {
  FlowMethod method = FlowMethod::awm;
  std::uint64_t seed = 1;
  Index hidden = 64;
  // Pretraining.
  Index pretrain_steps = 6000;
  Index pretrain_batch = 256;
  double pretrain_learning_rate = 1e-2;  ///< cosine decay to 1%
  // Fine-tuning.
  Index group_size = 32;
  Index groups = 2;
  Index budget = 12'800;       ///< reward evaluations (200 iterations of 64)
  Index updates = 1;           ///< optimizer steps per iteration
  double learning_rate = 0.0;  ///< 0: the method's default (its best of the grid)
  double max_grad_norm = 1.0;
  Index sample_steps = 10;
  // AWM.
  Index awm_timesteps = 4;
  double awm_beta = 0.01;
  AWMWeighting awm_weighting = AWMWeighting::ghuber;
  // DDPO.
  double noise_level = 0.7;
  double clip_range = 1e-4;
  double ddpo_beta = 0.01;
  // Evaluation.
  Index eval_samples = 512;
  double target_fraction = 0.8;
  double target_radius = 0.5;

  /// The default learning rate of each method: its best of the grid {1e-2, 3e-2, 1e-1} over
  /// seeds 1-3 (docs/algorithms/awm.md); both happen to be 3e-2.
  [[nodiscard]] static double default_learning_rate(FlowMethod /*method*/) { return 3e-2; }
  [[nodiscard]] double lr() const {
    return learning_rate > 0.0 ? learning_rate : default_learning_rate(method);
  }
  [[nodiscard]] Index batch() const { return group_size * groups; }
  [[nodiscard]] Index iterations() const { return budget / batch(); }

  void validate() const {
    constexpr std::string_view where = "polo::examples::AWMFlow2DConfig";
    auto at_least = [&](std::string_view field, Index v, Index lo) {
      polo::detail::require(v >= lo, where, field, fmt::format(">= {}", lo),
                            static_cast<double>(v));
    };
    at_least("hidden", hidden, 1);
    at_least("pretrain_steps", pretrain_steps, 0);
    at_least("pretrain_batch", pretrain_batch, 1);
    at_least("group_size", group_size, 2);
    at_least("groups", groups, 1);
    at_least("budget", budget, group_size * groups);
    at_least("updates", updates, 1);
    at_least("sample_steps", sample_steps, 1);
    at_least("awm_timesteps", awm_timesteps, 1);
    at_least("eval_samples", eval_samples, 1);
    polo::detail::require_positive(where, "pretrain_learning_rate", pretrain_learning_rate);
    polo::detail::require_nonnegative(where, "learning_rate", learning_rate);
    polo::detail::require_positive(where, "max_grad_norm", max_grad_norm);
  }
};

/// One fine-tuning iteration's numbers.
struct AWMFlow2DLog {
  Index iteration = 0;
  Index evaluations = 0;            ///< reward evaluations spent so far
  double train_reward = 0.0;        ///< mean reward of this iteration's samples
  double eval_reward = 0.0;         ///< mean reward of the evaluation samples (ODE)
  double preferred_fraction = 0.0;  ///< share of evaluation samples within target_radius
  double on_support_fraction = 0.0;
  double loss = 0.0;
  double regularizer = 0.0;  ///< awm: mean (v - v_ref)^2; ddpo: mean k3 to v_ref
  double grad_norm = 0.0;
};

struct AWMFlow2DSummary {
  double pretrain_fm_loss = 0.0;  ///< mean flow-matching loss of the last 100 pretraining steps
  double initial_reward = 0.0;    ///< evaluation reward of the pretrained model
  double initial_preferred_fraction = 0.0;
  double initial_on_support_fraction = 0.0;
  double final_reward = 0.0;
  double final_preferred_fraction = 0.0;
  double on_support_fraction = 0.0;  ///< of the final evaluation samples
  /// Share of the final samples on each preferred mode (Flow2D::preferred order): both near
  /// half when fine-tuning kept both modes, one near 1 when it collapsed onto one.
  std::vector<double> final_preferred_mode_fractions;
  std::optional<Index> samples_to_target;
  Index evaluations = 0;
  Index iterations = 0;
};

class AWMFlow2DTrainer {
 public:
  using Net = MLP<float>;
  using Matrix = Net::Matrix;

  explicit AWMFlow2DTrainer(AWMFlow2DConfig config)
      : config_(config),
        gen_(config.seed),
        policy_({5, config.hidden, config.hidden, 2}, Activation::silu),
        ref_(policy_),
        adam_(policy_.num_parameters(),
              AdamOptions{.learning_rate = config.pretrain_learning_rate}) {
    config_.validate();
    policy_.init_torch_default(gen_);
  }

  [[nodiscard]] const AWMFlow2DConfig& config() const { return config_; }
  [[nodiscard]] const Flow2D& task() const { return task_; }
  /// Evaluation samples of the pretrained model and of the fine-tuned one [eval_samples, 2].
  [[nodiscard]] const TokenArrayf& initial_samples() const { return initial_samples_; }
  [[nodiscard]] const TokenArrayf& final_samples() const { return final_samples_; }

  /// Pretrains, then fine-tunes for the budget, calling `on_iteration` after each iteration.
  AWMFlow2DSummary run(const std::function<void(const AWMFlow2DLog&)>& on_iteration = {}) {
    AWMFlow2DSummary summary;
    summary.pretrain_fm_loss = pretrain();
    ref_ = policy_;
    adam_ = Adam<float>(policy_.num_parameters(), AdamOptions{.learning_rate = config_.lr()});

    eval_noise_.resize(config_.eval_samples, 2);
    fill_normal(eval_noise_);
    Evaluation e = evaluate();
    initial_samples_ = eval_samples_;
    summary.initial_reward = e.reward;
    summary.initial_preferred_fraction = e.preferred;
    summary.initial_on_support_fraction = e.on_support;

    const Groups groups = Groups::uniform(config_.batch(), config_.group_size);
    Index evaluations = 0;
    for (Index it = 0; it < config_.iterations(); ++it) {
      AWMFlow2DLog log =
          config_.method == FlowMethod::awm ? awm_iteration(groups) : ddpo_iteration(groups);
      evaluations += config_.batch();
      e = evaluate();
      log.iteration = it + 1;
      log.evaluations = evaluations;
      log.eval_reward = e.reward;
      log.preferred_fraction = e.preferred;
      log.on_support_fraction = e.on_support;
      if (!summary.samples_to_target && e.preferred >= config_.target_fraction) {
        summary.samples_to_target = evaluations;
      }
      if (on_iteration) on_iteration(log);
    }
    final_samples_ = eval_samples_;
    summary.final_reward = e.reward;
    summary.final_preferred_fraction = e.preferred;
    summary.on_support_fraction = e.on_support;
    for (const Index k : task_.preferred) {
      summary.final_preferred_mode_fractions.push_back(
          task_.mode_fraction(TokenView<const float>(final_samples_), k, config_.target_radius));
    }
    summary.evaluations = evaluations;
    summary.iterations = config_.iterations();
    return summary;
  }

 private:
  struct Evaluation {
    double reward = 0.0;
    double preferred = 0.0;
    double on_support = 0.0;
  };

  // ---- the velocity model ------------------------------------------------------------------

  /// The network's input for point (x, y) at time t.
  static void set_features(Matrix& in, Index col, float x, float y, double t) {
    const double angle = 2.0 * std::numbers::pi * t;
    in(0, col) = x;
    in(1, col) = y;
    in(2, col) = static_cast<float>(t);
    in(3, col) = static_cast<float>(std::sin(angle));
    in(4, col) = static_cast<float>(std::cos(angle));
  }

  /// v(x, t) of `net` as a polo::VelocityField (one time for the whole batch).
  auto field(const Net& net) {
    return [this, &net](TokenView<const float> x, double t, TokenView<float> v) {
      features_.resize(5, x.rows());
      for (Index n = 0; n < x.rows(); ++n)
        set_features(features_, n, x(n, 0), x(n, 1), t);
      const Matrix& out = net.forward(features_, sample_ws_);
      for (Index n = 0; n < x.rows(); ++n) {
        v(n, 0) = out(0, n);
        v(n, 1) = out(1, n);
      }
    };
  }

  /// Gradient step on the policy from d loss / d output `[2, N]` of the last training forward.
  double step(const Matrix& grad_out) {
    policy_.zero_grad();
    policy_.backward(grad_out, train_ws_, skip_input_grad);
    const double norm = clip_grad_norm(policy_.gradients(), config_.max_grad_norm);
    adam_.step(policy_.parameters(), policy_.gradients());
    return norm;
  }

  void fill_normal(TokenArrayf& x) {
    for (Index k = 0; k < x.size(); ++k)
      x.data()[k] = static_cast<float>(normal(gen_));
  }

  // ---- pretraining -------------------------------------------------------------------------

  double pretrain() {
    const Index n = config_.pretrain_batch;
    TokenArrayf x0(n, 2);
    TokenArrayf eps(n, 2);
    TokenArrayf xt(n, 2);
    SeqArrayf t(n);
    const TimestepSampler times{};
    const FlowMatching fm{};
    Matrix grad(2, n);
    double tail = 0.0;
    Index tail_count = 0;
    // Cosine decay to 1% of the rate: the modes come out much sharper than at a constant rate.
    const CosineSchedule lr{config_.pretrain_learning_rate, 0.01 * config_.pretrain_learning_rate,
                            std::max<Index>(config_.pretrain_steps, 1)};
    for (Index s = 0; s < config_.pretrain_steps; ++s) {
      adam_.set_learning_rate(lr(s));
      task_.sample(gen_, TokenView<float>(x0));
      fill_normal(eps);
      times.sample(gen_, SeqView<float>(t));
      flow_interpolate<float>(x0, eps, t, xt, {});
      features_.resize(5, n);
      for (Index k = 0; k < n; ++k)
        set_features(features_, k, xt(k, 0), xt(k, 1), t[k]);
      const Matrix& v = policy_.forward(features_, train_ws_);
      const auto out = fm.compute(
          FlowMatchingInputs<float>{.velocity = {v.data(), n, 2}, .x0 = x0, .noise = eps},
          TokenView<float>(grad.data(), n, 2));
      step(grad);
      if (s >= config_.pretrain_steps - 100) {
        tail += out.value;
        ++tail_count;
      }
    }
    return tail_count > 0 ? tail / static_cast<double>(tail_count) : 0.0;
  }

  // ---- evaluation --------------------------------------------------------------------------

  Evaluation evaluate() {
    eval_samples_ = eval_noise_;
    EulerODE{.steps = config_.sample_steps}.sample(field(policy_), TokenView<float>(eval_samples_));
    SeqArrayf r(eval_samples_.rows());
    const TokenView<const float> x(eval_samples_);
    task_.rewards(x, SeqView<float>(r));
    return {r.cast<double>().mean(), task_.preferred_fraction(x, config_.target_radius),
            task_.on_support_fraction(x)};
  }

  // ---- AWM ---------------------------------------------------------------------------------

  AWMFlow2DLog awm_iteration(const Groups& groups) {
    const Index b = config_.batch();
    const Index m = config_.awm_timesteps;
    const Index rows = b * m;
    TokenArrayf x0(b, 2);
    fill_normal(x0);
    EulerODE{.steps = config_.sample_steps}.sample(field(policy_), TokenView<float>(x0));
    SeqArrayf rewards(b);
    task_.rewards(TokenView<const float>(x0), SeqView<float>(rewards));
    SeqArrayf adv(b);
    advantage_.compute(SeqView<const float>(rewards), groups, SeqView<float>(adv));

    const AWM awm{.weighting = config_.awm_weighting, .beta = config_.awm_beta};
    const TimestepSampler times{.t_min = 0.05, .t_max = 0.95, .stratified = true};
    TokenArrayf eps(rows, 2);
    TokenArrayf xt(rows, 2);
    SeqArrayf t(rows);
    Matrix grad(2, rows);
    AWMFlow2DLog log;
    log.train_reward = rewards.cast<double>().mean();
    for (Index u = 0; u < config_.updates; ++u) {
      fill_normal(eps);  // fresh noise and timesteps for every update
      for (Index i = 0; i < b; ++i)
        times.sample(gen_, SeqView<float>(t).segment(i * m, m));
      flow_interpolate<float>(x0, eps, t, xt, {});
      features_.resize(5, rows);
      for (Index k = 0; k < rows; ++k)
        set_features(features_, k, xt(k, 0), xt(k, 1), t[k]);
      const Matrix& v_ref = ref_.forward(features_, ref_ws_);
      const Matrix& v = policy_.forward(features_, train_ws_);
      const auto out = awm.compute(AWMInputs<float>{.velocity = {v.data(), rows, 2},
                                                    .x0 = x0,
                                                    .noise = eps,
                                                    .t = t,
                                                    .advantages = adv,
                                                    .ref_velocity = {v_ref.data(), rows, 2}},
                                   TokenView<float>(grad.data(), rows, 2));
      log.loss = out.value;
      log.regularizer = out.metrics.kl_ref;
      log.grad_norm = step(grad);
    }
    return log;
  }

  // ---- DDPO / Flow-GRPO --------------------------------------------------------------------

  AWMFlow2DLog ddpo_iteration(const Groups& groups) {
    const Index b = config_.batch();
    const Index steps = config_.sample_steps;
    const Index rows = b * steps;  // row n = i * steps + k: trajectory i, step k
    const EulerMaruyamaSDE sde{.steps = steps, .noise_level = config_.noise_level};
    TokenArrayf x(b, 2);
    fill_normal(x);
    SdeTrajectory<float> traj;
    sde.sample(field(policy_), gen_, TokenView<float>(x), &traj);
    SeqArrayf rewards(b);
    task_.rewards(TokenView<const float>(x), SeqView<float>(rewards));
    SeqArrayf adv(b);
    advantage_.compute(SeqView<const float>(rewards), groups, SeqView<float>(adv));

    // The states and next states in trajectory-major order, and the network inputs.
    TokenArrayf states(rows, 2);
    TokenArrayf next(rows, 2);
    features_.resize(5, rows);
    for (Index i = 0; i < b; ++i) {
      for (Index k = 0; k < steps; ++k) {
        const Index n = i * steps + k;
        const auto& s = traj.states[static_cast<std::size_t>(k)];
        const auto& s1 = traj.states[static_cast<std::size_t>(k) + 1];
        states(n, 0) = s(i, 0);
        states(n, 1) = s(i, 1);
        next(n, 0) = s1(i, 0);
        next(n, 1) = s1(i, 1);
        set_features(features_, n, s(i, 0), s(i, 1), traj.times[static_cast<std::size_t>(k)]);
      }
    }
    const GRPO loss = flow_grpo(config_.clip_range, config_.ddpo_beta);
    TokenArrayf logp(b, steps);
    TokenArrayf ref_logp(b, steps);
    TokenArrayf dlogp_dv(rows, 2);
    TokenArrayf grad_logp(b, steps);
    Matrix grad(2, rows);
    if (config_.ddpo_beta > 0.0) {
      const Matrix& v_ref = ref_.forward(features_, ref_ws_);
      transition_log_probs(sde, states, next, v_ref, ref_logp, nullptr);
    }
    AWMFlow2DLog log;
    log.train_reward = rewards.cast<double>().mean();
    for (Index u = 0; u < config_.updates; ++u) {
      const Matrix& v = policy_.forward(features_, train_ws_);
      transition_log_probs(sde, states, next, v, logp, &dlogp_dv);
      GRPOInputs<float> in{.logp = logp, .old_logp = traj.log_prob, .advantages = adv};
      if (config_.ddpo_beta > 0.0) in.ref_logp = ref_logp;
      const auto out = loss.compute(in, TokenView<float>(grad_logp));
      for (Index n = 0; n < rows; ++n) {
        const float g = grad_logp(n / steps, n % steps);
        grad(0, n) = g * dlogp_dv(n, 0);
        grad(1, n) = g * dlogp_dv(n, 1);
      }
      log.loss = out.value;
      log.regularizer = out.metrics.kl_mean;
      log.grad_norm = step(grad);
    }
    return log;
  }

  /// logp(i, k) of each transition under the velocities `v` [2, rows], and d logp / d v.
  void transition_log_probs(const EulerMaruyamaSDE& sde, const TokenArrayf& states,
                            const TokenArrayf& next, const Matrix& v, TokenArrayf& logp,
                            TokenArrayf* dlogp_dv) const {
    const Index steps = sde.steps;
    const Index b = logp.rows();
    const Index stride = steps * 2;  // the rows of step k are every steps-th row
    for (Index k = 0; k < steps; ++k) {
      const TokenView<const float> xs(states.data() + k * 2, b, 2, stride);
      const TokenView<const float> xn(next.data() + k * 2, b, 2, stride);
      const TokenView<const float> vk(v.data() + k * 2, b, 2, stride);
      TokenView<float> g;
      if (dlogp_dv != nullptr) g = TokenView<float>(dlogp_dv->data() + k * 2, b, 2, stride);
      sde.log_prob(xs, vk, xn, sde.time(k), SeqView<float>(logp.data() + k, b, steps), g);
    }
  }

  AWMFlow2DConfig config_;
  Rng gen_;
  Flow2D task_{};
  Net policy_;
  Net ref_;
  Adam<float> adam_;
  ClippedGroupAdvantage advantage_ = awm_advantage();
  Matrix features_;
  Net::Workspace sample_ws_;
  Net::Workspace train_ws_;
  Net::Workspace ref_ws_;
  TokenArrayf eval_noise_;
  TokenArrayf eval_samples_;
  TokenArrayf initial_samples_;
  TokenArrayf final_samples_;
};

}  // namespace polo::examples

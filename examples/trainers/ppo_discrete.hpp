#pragma once
// PPO for a vector of discrete-action environments with small float observations: CleanRL's
// ppo.py recipe wired from polo's pieces. Shared by examples/ppo_cartpole.cpp, its smoke test and
// benchmarks/ppo_cartpole.cpp, so the three measure the same trainer.
//
// One update: collect num_steps x num_envs transitions, compute GAE (termination: no bootstrap;
// truncation: bootstrap from V(final observation)), then update_epochs passes over shuffled
// minibatches of the clipped surrogate + value loss + entropy bonus, with global gradient-norm
// clipping and Adam. The actor and critic are separate tanh MLPs with orthogonal init.

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <vector>

#include "polo/advantage/gae.hpp"
#include "polo/advantage/whiten.hpp"
#include "polo/core/random.hpp"
#include "polo/distributions/categorical.hpp"
#include "polo/envs/vector_env.hpp"
#include "polo/losses/entropy_bonus.hpp"
#include "polo/losses/ppo.hpp"
#include "polo/losses/value_loss.hpp"
#include "polo/nn/clip.hpp"
#include "polo/nn/mlp.hpp"
#include "polo/nn/optim.hpp"

namespace polo::examples {

/// CleanRL ppo.py defaults (discrete actions).
struct PPOConfig {
  Index num_envs = 4;
  Index num_steps = 128;  ///< rollout length per environment
  Index total_steps = 500'000;
  double learning_rate = 2.5e-4;
  bool anneal_lr = true;
  double adam_eps = 1e-5;
  double gamma = 0.99;
  double gae_lambda = 0.95;
  Index num_minibatches = 4;
  Index update_epochs = 4;
  bool norm_adv = true;
  double clip_coef = 0.2;
  bool clip_vloss = true;
  double ent_coef = 0.01;
  double vf_coef = 0.5;
  double max_grad_norm = 0.5;
  double target_kl = 0.0;  ///< 0 = no early stop; else stop the epochs once approx_kl exceeds it
  Index hidden = 64;
  std::uint64_t seed = 1;
  double solve_threshold = 475.0;  ///< "solved" when the mean of the last solve_window episodes
  Index solve_window = 20;         ///< finished episodes reaches solve_threshold

  [[nodiscard]] Index batch_size() const { return num_envs * num_steps; }
  [[nodiscard]] Index minibatch_size() const { return batch_size() / num_minibatches; }
  [[nodiscard]] Index num_updates() const { return total_steps / batch_size(); }

  void validate() const {
    constexpr std::string_view where = "polo::examples::PPOConfig";
    detail::require(num_envs >= 1, where, "num_envs", ">= 1", static_cast<double>(num_envs));
    detail::require(num_steps >= 1, where, "num_steps", ">= 1", static_cast<double>(num_steps));
    detail::require(num_minibatches >= 1 && batch_size() % num_minibatches == 0, where,
                    "num_minibatches", "a divisor of num_envs * num_steps",
                    static_cast<double>(num_minibatches));
    detail::require(total_steps >= batch_size(), where, "total_steps",
                    ">= num_envs * num_steps (one update)", static_cast<double>(total_steps));
    detail::require(update_epochs >= 1, where, "update_epochs", ">= 1",
                    static_cast<double>(update_epochs));
    detail::require(hidden >= 1, where, "hidden", ">= 1", static_cast<double>(hidden));
    detail::require_positive(where, "learning_rate", learning_rate);
    detail::require_positive(where, "clip_coef", clip_coef);
    detail::require_nonnegative(where, "ent_coef", ent_coef);
    detail::require_nonnegative(where, "vf_coef", vf_coef);
    detail::require_positive(where, "max_grad_norm", max_grad_norm);
    detail::require_nonnegative(where, "target_kl", target_kl);
  }
};

/// What one update logs (CleanRL's charts/ and losses/ scalars).
struct PPOUpdateLog {
  Index update = 0;
  Index env_steps = 0;
  double mean_return = std::numeric_limits<double>::quiet_NaN();  ///< last solve_window episodes
  Index episodes = 0;                                             ///< finished so far
  double learning_rate = 0.0;
  double policy_loss = 0.0;
  double value_loss = 0.0;
  double entropy = 0.0;
  double approx_kl = 0.0;
  double old_approx_kl = 0.0;
  double clip_fraction = 0.0;  ///< mean over every minibatch of the update
  double explained_variance = 0.0;
  double grad_norm = 0.0;  ///< before clipping, last minibatch
};

struct PPOSummary {
  Index env_steps = 0;
  Index episodes = 0;
  double final_mean_return = std::numeric_limits<double>::quiet_NaN();
  std::optional<Index> steps_to_solve;
  double wall_seconds = 0.0;
};

/// PPO over `VectorEnv<Env>` where `Env::Observation` is `std::array<float, D>` and
/// `Env::Action` an integer in [0, num_actions).
template <Environment Env>
class PPOTrainer {
 public:
  using Observation = typename Env::Observation;
  static constexpr Index obs_dim = static_cast<Index>(std::tuple_size_v<Observation>);
  using Net = MLP<float>;
  using Matrix = Net::Matrix;

  PPOTrainer(const PPOConfig& config, Index num_actions, const Env& prototype = Env{})
      : config_((config.validate(), config)),
        num_actions_(num_actions),
        gen_(config.seed),
        envs_(config.num_envs, prototype),
        actor_({obs_dim, config.hidden, config.hidden, num_actions}),
        critic_({obs_dim, config.hidden, config.hidden, 1}),
        actor_opt_(actor_.num_parameters(), adam_options()),
        critic_opt_(critic_.num_parameters(), adam_options()),
        recent_(config.solve_window) {
    actor_.init_orthogonal(gen_, std::sqrt(2.0), 0.01);
    critic_.init_orthogonal(gen_, std::sqrt(2.0), 1.0);
    allocate();
  }

  /// Trains for config.num_updates() updates, calling `on_update` after each.
  PPOSummary run(const std::function<void(const PPOUpdateLog&)>& on_update = {}) {
    const auto start = std::chrono::steady_clock::now();
    const auto& first = envs_.reset(gen_);
    for (Index i = 0; i < config_.num_envs; ++i)
      set_obs_column(next_obs_, i, first[index(i)]);
    const Index updates = config_.num_updates();
    for (Index update = 1; update <= updates; ++update) {
      PPOUpdateLog log;
      log.update = update;
      const double frac = config_.anneal_lr
                              ? 1.0 - static_cast<double>(update - 1) / static_cast<double>(updates)
                              : 1.0;
      log.learning_rate = frac * config_.learning_rate;
      actor_opt_.set_learning_rate(log.learning_rate);
      critic_opt_.set_learning_rate(log.learning_rate);
      collect_rollout();
      compute_advantages();
      optimize(log);
      log.env_steps = env_steps_;
      log.mean_return = recent_mean();
      log.episodes = episodes_;
      if (on_update) on_update(log);
    }
    PPOSummary summary;
    summary.env_steps = env_steps_;
    summary.episodes = episodes_;
    summary.final_mean_return = recent_mean();
    summary.steps_to_solve = steps_to_solve_;
    summary.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
  }

  [[nodiscard]] const PPOConfig& config() const { return config_; }
  [[nodiscard]] const Net& actor() const { return actor_; }
  [[nodiscard]] const Net& critic() const { return critic_; }

 private:
  static std::size_t index(Index i) { return static_cast<std::size_t>(i); }

  [[nodiscard]] AdamOptions adam_options() const {
    AdamOptions o;
    o.learning_rate = config_.learning_rate;
    o.eps = config_.adam_eps;
    return o;
  }

  void allocate() {
    const Index n = config_.num_envs;
    const Index t = config_.num_steps;
    const Index b = config_.batch_size();
    const Index mb = config_.minibatch_size();
    next_obs_.resize(obs_dim, n);
    obs_.resize(obs_dim, b);
    actions_.assign(index(b), 0);
    step_actions_.assign(index(n), 0);
    env_actions_.assign(index(n), typename Env::Action{});
    logp_.resize(n, t);
    values_.resize(n, t);
    rewards_.resize(n, t);
    final_values_ = TokenArrayf::Zero(n, t);
    terminated_ = MaskArray::Zero(n, t);
    truncated_ = MaskArray::Zero(n, t);
    advantages_.resize(n, t);
    returns_.resize(n, t);
    bootstrap_.resize(n);
    step_logp_.resize(n);
    order_.resize(index(b));
    mb_obs_.resize(obs_dim, mb);
    mb_actions_.assign(index(mb), 0);
    mb_old_logp_.resize(1, mb);
    mb_adv_.resize(1, mb);
    mb_returns_.resize(1, mb);
    mb_old_values_.resize(1, mb);
    mb_logp_.resize(1, mb);
    mb_entropy_.resize(1, mb);
    grad_logp_.resize(1, mb);
    grad_entropy_.resize(1, mb);
    grad_values_.resize(1, mb);
    grad_logits_.resize(num_actions_, mb);
  }

  static void set_obs_column(Matrix& m, Index col, const Observation& o) {
    for (Index d = 0; d < obs_dim; ++d)
      m(d, col) = o[index(d)];
  }

  /// num_steps steps of every environment with the current policy (no gradients kept).
  void collect_rollout() {
    const Index n = config_.num_envs;
    const Index t_len = config_.num_steps;
    for (Index t = 0; t < t_len; ++t) {
      const Matrix& logits = actor_.forward(next_obs_, act_actor_ws_);
      const Matrix& value = critic_.forward(next_obs_, act_critic_ws_);
      const TokenView<const float> logits_view(logits.data(), n, num_actions_);
      Categorical::sample(logits_view, gen_, std::span<Index>(step_actions_));
      Categorical::log_prob(logits_view, std::span<const Index>(step_actions_),
                            SeqView<float>(step_logp_));
      for (Index i = 0; i < n; ++i) {
        const Index k = i * t_len + t;  // [N, T] row-major position of (env i, step t)
        obs_.col(k) = next_obs_.col(i);
        actions_[index(k)] = step_actions_[index(i)];
        logp_(i, t) = step_logp_[i];
        values_(i, t) = value(0, i);
        env_actions_[index(i)] = static_cast<typename Env::Action>(step_actions_[index(i)]);
      }
      const auto& step = envs_.step(std::span<const typename Env::Action>(env_actions_), gen_);
      env_steps_ += n;
      for (Index i = 0; i < n; ++i) {
        rewards_(i, t) = static_cast<float>(step.rewards[index(i)]);
        terminated_(i, t) = step.terminated[index(i)];
        truncated_(i, t) = step.truncated[index(i)] != 0 && step.terminated[index(i)] == 0;
        if (truncated_(i, t) != 0) {
          // Bootstrap a time-limit cut from the value of the observation it reached.
          Matrix final_obs(obs_dim, 1);
          set_obs_column(final_obs, 0, step.final_observations[index(i)]);
          final_values_(i, t) = critic_.predict(final_obs)(0, 0);
        }
        set_obs_column(next_obs_, i, step.observations[index(i)]);
      }
      for (const EpisodeRecord& episode : step.finished)
        record_episode(episode);
    }
  }

  void record_episode(const EpisodeRecord& episode) {
    ++episodes_;
    recent_.add(episode);
    if (!steps_to_solve_ && recent_.size() == config_.solve_window &&
        recent_.mean_return() >= config_.solve_threshold) {
      steps_to_solve_ = env_steps_;
    }
  }

  /// Mean return of the last solve_window finished episodes (NaN before the first).
  [[nodiscard]] double recent_mean() const { return recent_.mean_return(); }

  void compute_advantages() {
    const Matrix& value = critic_.forward(next_obs_, act_critic_ws_);
    for (Index i = 0; i < config_.num_envs; ++i)
      bootstrap_[i] = value(0, i);
    GAE gae{.gamma = config_.gamma, .lambda = config_.gae_lambda};
    GAEInputs<float> in;
    in.rewards = rewards_;
    in.values = values_;
    in.terminated = terminated_;
    in.truncated = truncated_;
    in.final_values = final_values_;
    in.bootstrap = bootstrap_;
    gae.compute(in, TokenView<float>(advantages_), TokenView<float>(returns_));
  }

  /// update_epochs passes of shuffled minibatches.
  void optimize(PPOUpdateLog& log) {
    const Index b = config_.batch_size();
    const Index mb = config_.minibatch_size();
    const PPOClip policy_loss{.epsilon_low = config_.clip_coef, .epsilon_high = config_.clip_coef};
    const ValueLoss value_loss{.clip = config_.clip_vloss ? config_.clip_coef : 0.0};
    const EntropyBonus entropy_bonus{};
    const float* adv = advantages_.data();
    const float* ret = returns_.data();
    const float* old_logp = logp_.data();
    const float* old_values = values_.data();
    double clip_sum = 0.0;
    Index minibatches = 0;
    std::iota(order_.begin(), order_.end(), Index{0});
    for (Index epoch = 0; epoch < config_.update_epochs; ++epoch) {
      shuffle(order_);
      for (Index start = 0; start < b; start += mb) {
        for (Index j = 0; j < mb; ++j) {
          const Index k = order_[index(start + j)];
          mb_obs_.col(j) = obs_.col(k);
          mb_actions_[index(j)] = actions_[index(k)];
          mb_old_logp_(0, j) = old_logp[k];
          mb_adv_(0, j) = adv[k];
          mb_returns_(0, j) = ret[k];
          mb_old_values_(0, j) = old_values[k];
        }
        if (config_.norm_adv) {
          whiten(TokenView<const float>(mb_adv_), MaskView{}, TokenView<float>(mb_adv_),
                 WhitenOptions{.eps = 1e-8,
                               .unbiased = true,
                               .shift_mean = true,
                               .eps_placement = WhitenOptions::EpsPlacement::std});
        }
        const Matrix& logits = actor_.forward(mb_obs_, actor_ws_);
        const Matrix& values = critic_.forward(mb_obs_, critic_ws_);
        const TokenView<const float> logits_view(logits.data(), mb, num_actions_);
        Categorical::log_prob_and_entropy(logits_view, std::span<const Index>(mb_actions_),
                                          SeqView<float>(mb_logp_.data(), mb),
                                          SeqView<float>(mb_entropy_.data(), mb));

        const auto pg = policy_loss.compute(
            PolicyInputs<float>{.logp = mb_logp_, .old_logp = mb_old_logp_, .advantages = mb_adv_},
            TokenView<float>(grad_logp_));
        const TokenView<const float> values_view(values.data(), 1, mb);
        const auto v = value_loss.compute(
            ValueInputs<float>{
                .values = values_view, .old_values = mb_old_values_, .returns = mb_returns_},
            TokenView<float>(grad_values_));
        const auto ent = entropy_bonus.compute(EntropyInputs<float>{.entropy = mb_entropy_},
                                               TokenView<float>(grad_entropy_));

        // total = pg + ent_coef * (-H) + vf_coef * v: scale each part's gradient by its weight.
        grad_entropy_ *= static_cast<float>(config_.ent_coef);
        grad_values_ *= static_cast<float>(config_.vf_coef);
        Categorical::backward(logits_view, std::span<const Index>(mb_actions_),
                              SeqView<const float>(grad_logp_.data(), mb),
                              SeqView<const float>(grad_entropy_.data(), mb),
                              TokenView<float>(grad_logits_.data(), mb, num_actions_));
        actor_.zero_grad();
        critic_.zero_grad();
        actor_.backward(grad_logits_, actor_ws_, SkipInputGrad{});
        critic_.backward(Eigen::Map<const Matrix>(grad_values_.data(), 1, mb), critic_ws_,
                         SkipInputGrad{});
        log.grad_norm =
            clip_grad_norm({&actor_.gradients(), &critic_.gradients()}, config_.max_grad_norm);
        actor_opt_.step(actor_.parameters(), actor_.gradients());
        critic_opt_.step(critic_.parameters(), critic_.gradients());

        log.policy_loss = pg.value;
        log.value_loss = v.value;
        log.entropy = ent.metrics.entropy_mean;
        log.approx_kl = pg.metrics.approx_kl;
        log.old_approx_kl = pg.metrics.old_approx_kl;
        clip_sum += pg.metrics.clip_fraction;
        ++minibatches;
      }
      if (config_.target_kl > 0.0 && log.approx_kl > config_.target_kl) break;
    }
    log.clip_fraction = clip_sum / static_cast<double>(minibatches);
    log.explained_variance = explained_variance(TokenView<const float>(values_),
                                                TokenView<const float>(returns_), MaskView{});
  }

  /// Fisher-Yates with polo's portable integer sampler (std::shuffle differs across libraries).
  void shuffle(std::vector<Index>& v) {
    for (Index i = static_cast<Index>(v.size()) - 1; i > 0; --i) {
      std::swap(v[index(i)], v[index(uniform_int(gen_, i + 1))]);
    }
  }

  PPOConfig config_;
  Index num_actions_;
  Rng gen_;
  VectorEnv<Env> envs_;
  Net actor_;
  Net critic_;
  Adam<float> actor_opt_;
  Adam<float> critic_opt_;
  // Acting (batch num_envs) and learning (batch minibatch) keep their own workspaces, so neither
  // reallocates when the other runs.
  Net::Workspace act_actor_ws_;
  Net::Workspace act_critic_ws_;
  Net::Workspace actor_ws_;
  Net::Workspace critic_ws_;

  // Rollout storage, [N, T] row-major (one environment per row); observations one per column.
  Matrix next_obs_;
  Matrix obs_;
  std::vector<Index> actions_;
  std::vector<Index> step_actions_;
  std::vector<typename Env::Action> env_actions_;
  TokenArrayf logp_, values_, rewards_, final_values_, advantages_, returns_;
  MaskArray terminated_, truncated_;
  SeqArrayf bootstrap_, step_logp_;

  // Minibatch scratch, [1, M].
  std::vector<Index> order_;
  Matrix mb_obs_;
  std::vector<Index> mb_actions_;
  TokenArrayf mb_old_logp_, mb_adv_, mb_returns_, mb_old_values_, mb_logp_, mb_entropy_;
  TokenArrayf grad_logp_, grad_entropy_, grad_values_;
  Matrix grad_logits_;

  Index env_steps_ = 0;
  Index episodes_ = 0;
  RecentEpisodes recent_;
  std::optional<Index> steps_to_solve_;
};

}  // namespace polo::examples

#pragma once
// What the arithmetic trainers (grpo_arithmetic.hpp, dpo_arithmetic.hpp) share: the token policy
// they build for polo/envs/arithmetic.hpp, its held-out greedy accuracy, and the supervised
// warm-up on noisy demonstrations that gives it a little skill and a lot of entropy.

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/envs/arithmetic.hpp"
#include "polo/nn/clip.hpp"
#include "polo/nn/optim.hpp"
#include "polo/nn/token_policy.hpp"

namespace polo::examples {

/// The options of the trainers' policy: tanh MLP of `hidden` widths over the task's vocabulary.
inline TokenPolicyOptions arithmetic_policy_options(const ArithmeticTask& task,
                                                    std::vector<Index> hidden) {
  return {.prompt_features = task.prompt_features(),
          .vocab_size = ArithmeticTask::vocab_size,
          .max_length = task.max_length(),
          .end_token = ArithmeticTask::end_token,
          .hidden = std::move(hidden),
          .activation = Activation::tanh};
}

/// Greedy exact-match accuracy of `policy` over the task's held-out prompts, whose encoding is
/// `held_out` (task.encode(task.held_out_prompts(), ...)); `eval` and `ws` are scratch.
inline double arithmetic_held_out_accuracy(const TokenPolicy<float>& policy,
                                           const ArithmeticTask& task,
                                           const TokenPolicy<float>::Matrix& held_out,
                                           Completions<float>& eval,
                                           TokenPolicy<float>::Workspace& ws) {
  policy.greedy(held_out, eval, ws);
  const auto ids = task.held_out_prompts();
  Index right = 0;
  for (Index i = 0; i < eval.rows(); ++i) {
    right += task.correct(ids[static_cast<std::size_t>(i)], eval.completion(i)) ? 1 : 0;
  }
  return static_cast<double>(right) / static_cast<double>(ids.size());
}

/// The supervised warm-up's settings.
struct ArithmeticWarmup {
  Index steps = 300;            ///< Adam steps (0: none)
  Index batch = 128;            ///< demonstrations per step, training prompts drawn uniformly
  double noise = 0.3;           ///< probability that a digit of a demonstration is uniform random
  double learning_rate = 1e-2;  ///< Adam
  double max_grad_norm = 1.0;   ///< clip before each step
};

/// The settings of a trainer config with members warmup_steps, warmup_batch, warmup_noise,
/// warmup_learning_rate and max_grad_norm.
template <class Config>
ArithmeticWarmup arithmetic_warmup_settings(const Config& c) {
  return {.steps = c.warmup_steps,
          .batch = c.warmup_batch,
          .noise = c.warmup_noise,
          .learning_rate = c.warmup_learning_rate,
          .max_grad_norm = c.max_grad_norm};
}

/// Checks the warm-up members of such a config; errors name the config (`where`) and the member.
template <class Config>
void validate_arithmetic_warmup(const Config& c, std::string_view where) {
  detail::require(c.warmup_steps >= 0, where, "warmup_steps", ">= 0",
                  static_cast<double>(c.warmup_steps));
  detail::require(c.warmup_batch >= 1, where, "warmup_batch", ">= 1",
                  static_cast<double>(c.warmup_batch));
  detail::require_in(where, "warmup_noise", c.warmup_noise, 0.0, 1.0);
  detail::require_positive(where, "warmup_learning_rate", c.warmup_learning_rate);
}

/// Supervised cross-entropy on noisy demonstrations (the correct answer with each digit replaced
/// by a uniform random digit with probability `noise`): value = -mean over tokens of log p.
/// `ws` is the policy's training workspace (scratch).
inline void arithmetic_warmup(TokenPolicy<float>& policy, const ArithmeticTask& task, Rng& gen,
                              const ArithmeticWarmup& w, TokenPolicy<float>::Workspace& ws) {
  if (w.steps == 0) return;
  const auto at = [](Index i) { return static_cast<std::size_t>(i); };
  Adam<float> adam(policy.num_parameters(), AdamOptions{.learning_rate = w.learning_rate});
  const Index n = w.batch;
  const Index len = task.max_length();
  const auto train = task.train_prompts();
  std::vector<Index> ids(at(n));
  TokenArray<Index> tokens(n, len);
  MaskArray mask(n, len);
  TokenArrayf logp(n, len);
  TokenArrayf grad(n, len);
  TokenPolicy<float>::Matrix prompts;
  const Groups groups = Groups::uniform(n, 1);
  for (Index step = 0; step < w.steps; ++step) {
    tokens.setZero();
    mask.setZero();
    Index count = 0;
    for (Index i = 0; i < n; ++i) {
      ids[at(i)] = train[at(uniform_int(gen, static_cast<Index>(train.size())))];
      const std::vector<Index> answer = task.answer(ids[at(i)]);
      for (std::size_t t = 0; t < answer.size(); ++t) {
        Index token = answer[t];
        if (token != ArithmeticTask::end_token && uniform(gen) < w.noise) {
          token = uniform_int(gen, ArithmeticTask::base);
        }
        tokens(i, static_cast<Index>(t)) = token;
        mask(i, static_cast<Index>(t)) = 1;
        ++count;
      }
    }
    task.encode(std::span<const Index>(ids), prompts);
    policy.evaluate(prompts, groups, tokens, mask, logp, TokenView<float>{}, ws);
    grad.setConstant(-1.0F / static_cast<float>(count));
    policy.zero_grad();
    policy.backward(grad, TokenView<const float>{}, ws);
    clip_grad_norm(policy.gradients(), w.max_grad_norm);
    adam.step(policy.parameters(), policy.gradients());
  }
}

}  // namespace polo::examples

#pragma once
// GRPO on the arithmetic task (polo/envs/arithmetic.hpp) with the autoregressive token policy
// (polo/nn/token_policy.hpp). Shared by examples/grpo_arithmetic.cpp and its smoke tests.
//
// 1. Warm-up: `warmup_steps` Adam steps of supervised cross-entropy on noisy demonstrations
//    (the correct answer with each digit replaced by a uniform random digit with probability
//    `warmup_noise`), so that the policy starts with a little skill and a lot of entropy.
// 2. GRPO: each step takes the next `prompts_per_step` training prompts of a shuffled pass over
//    the 8,000 (reshuffled every epoch, so every prompt is revisited once per epoch), samples
//    their completions (group_size each, or the knapsack allocation of the same total), rewards
//    them, computes group-relative advantages (polo::GroupAdvantage) and takes `minibatches`
//    Adam steps of polo::GRPO on consecutive slices of the groups (old log-probs from sampling,
//    so from the second slice on the ratio differs from 1 and the clip matters). beta > 0 adds
//    k3 to the frozen warm-up policy.
//
// Held-out accuracy is greedy exact match over the 2,000 held-out prompts.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "polo/advantage/group.hpp"
#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/envs/arithmetic.hpp"
#include "polo/losses/grpo.hpp"
#include "polo/nn/clip.hpp"
#include "polo/nn/optim.hpp"
#include "polo/nn/token_policy.hpp"
#include "polo/sampling/knapsack.hpp"
#include "polo/sampling/success_rate.hpp"
#include "trainers/arithmetic_warmup.hpp"

namespace polo::examples {

/// How the rollouts of a step are spread over its prompts.
enum class BudgetMode {
  uniform,   ///< group_size each
  knapsack,  ///< Knapsack RL: the same total, allocated from each prompt's last success rates
};

struct GRPOArithmeticConfig {
  std::uint64_t seed = 1;
  // GRPO
  Index steps = 600;
  Index prompts_per_step = 64;
  Index group_size = 8;   ///< rollouts per prompt (uniform), the mean under knapsack
  Index minibatches = 2;  ///< Adam steps per generation batch
  double learning_rate = 3e-3;
  double max_grad_norm = 1.0;
  GrpoLossType loss_type = GrpoLossType::dapo;
  double beta = 0.0;
  double epsilon_low = 0.2;
  /// NaN: 0.2, or 5 for cispo (there it is the truncation of the ratio weight, ScaleRL's value).
  double epsilon_high = std::numeric_limits<double>::quiet_NaN();
  ImportanceSamplingLevel importance_level = ImportanceSamplingLevel::token;
  BudgetMode budget = BudgetMode::uniform;
  Index knapsack_min = 2;       ///< knapsack: initial rollouts of an effective prompt (0 < p < 1)
  Index knapsack_positive = 2;  ///< knapsack: rollouts of a prompt solved on every recent rollout
  Index knapsack_max = 32;      ///< knapsack: most rollouts of a prompt
  /// knapsack: rollouts of a prompt never solved so far (p = 0); the official 2 starves prompts
  /// that a fast-learning policy is about to solve (see docs/algorithms/grpo.md), 0 = group_size.
  Index knapsack_negative = 0;
  /// Success-rate memory in rewards (official 16); a visit of at least this many rollouts sets the
  /// estimate alone, a shorter one averages the most recent rewards across visits.
  Index knapsack_buffer = 16;
  /// knapsack: what the allocation maximizes. posterior_mixed_groups (the expected number of
  /// prompts with a gradient, what nonzero_gradient_fraction counts, under each estimate's Beta
  /// posterior) and mixed_groups (the same at the point estimates) are solved exactly;
  /// paper_value keeps the official DP with its "0 extra" quirk (docs/algorithms/knapsack.md).
  KnapsackObjective knapsack_objective = KnapsackObjective::posterior_mixed_groups;
  /// knapsack: Beta(a, a) pseudo-counts of the success-rate estimate (0: the official plain rate;
  /// 1: Laplace's rule, so that 8 of 8 solved is 0.9, not 1)
  double knapsack_prior = 1.0;
  Index chunk_steps = 5;   ///< prompts are served in chunks of chunk_steps * prompts_per_step
  Index chunk_visits = 2;  ///< times each chunk is served in a row (revisits for knapsack)
  // warm-up
  Index warmup_steps = 300;
  Index warmup_batch = 128;
  double warmup_noise = 0.3;
  double warmup_learning_rate = 1e-2;
  // model
  std::vector<Index> hidden{128, 128};
  Index eval_every = 10;  ///< held-out accuracy every this many steps (and after the last)

  [[nodiscard]] double effective_epsilon_high() const {
    if (!std::isnan(epsilon_high)) return epsilon_high;
    return loss_type == GrpoLossType::cispo ? 5.0 : 0.2;
  }

  /// The advantage scaling that goes with the loss type: Dr. GRPO drops the std division.
  [[nodiscard]] GroupAdvantage::Scale advantage_scale() const {
    return loss_type == GrpoLossType::dr_grpo ? GroupAdvantage::Scale::none
                                              : GroupAdvantage::Scale::group;
  }

  void validate() const {
    constexpr std::string_view where = "polo::examples::GRPOArithmeticConfig";
    detail::require(steps >= 1, where, "steps", ">= 1", static_cast<double>(steps));
    detail::require(prompts_per_step >= 1, where, "prompts_per_step", ">= 1",
                    static_cast<double>(prompts_per_step));
    detail::require(group_size >= 2, where, "group_size", ">= 2", static_cast<double>(group_size));
    detail::require(minibatches >= 1 && minibatches <= prompts_per_step, where, "minibatches",
                    "in [1, prompts_per_step]", static_cast<double>(minibatches));
    validate_arithmetic_warmup(*this, where);
    detail::require_positive(where, "learning_rate", learning_rate);
    detail::require_positive(where, "max_grad_norm", max_grad_norm);
    detail::require(chunk_steps >= 1, where, "chunk_steps", ">= 1",
                    static_cast<double>(chunk_steps));
    detail::require(chunk_visits >= 1, where, "chunk_visits", ">= 1",
                    static_cast<double>(chunk_visits));
    detail::require(eval_every >= 1, where, "eval_every", ">= 1", static_cast<double>(eval_every));
    detail::require(knapsack_min >= 1 && knapsack_min <= group_size, where, "knapsack_min",
                    "in [1, group_size]", static_cast<double>(knapsack_min));
    detail::require(knapsack_positive >= 1 && knapsack_positive <= group_size, where,
                    "knapsack_positive", "in [1, group_size]",
                    static_cast<double>(knapsack_positive));
    detail::require(knapsack_negative >= 0, where, "knapsack_negative", ">= 0",
                    static_cast<double>(knapsack_negative));
    detail::require(knapsack_max >= group_size, where, "knapsack_max", ">= group_size",
                    static_cast<double>(knapsack_max));
    detail::require(knapsack_prior >= 0.0 && std::isfinite(knapsack_prior), where, "knapsack_prior",
                    "finite and >= 0", knapsack_prior);
    loss().validate();
  }

  [[nodiscard]] GRPO loss() const {
    GRPO l;
    l.epsilon_low = epsilon_low;
    l.epsilon_high = effective_epsilon_high();
    l.beta = beta;
    l.loss_type = loss_type;
    l.importance_sampling_level = importance_level;
    l.max_completion_length = static_cast<double>(ArithmeticTask{}.max_length());
    return l;
  }
};

/// What one GRPO step logs.
struct GRPOStepLog {
  Index step = 0;
  Index rollouts = 0;                   ///< cumulative
  double reward_mean = 0.0;             ///< this step's rollouts
  double nonzero_fraction = 0.0;        ///< this step: prompts with a non-zero advantage / prompts
  double nonzero_fraction_total = 0.0;  ///< the same over the whole run so far
  double loss = 0.0;                    ///< mean over the minibatches
  double clip_ratio = 0.0;              ///< clip_ratio_region, mean over the minibatches
  double kl = 0.0;                      ///< kl_mean, mean over the minibatches
  double entropy = 0.0;                 ///< mean token entropy of the sampled completions
  double grad_norm = 0.0;               ///< before clipping, last minibatch
  double accuracy = std::numeric_limits<double>::quiet_NaN();  ///< held-out, when evaluated
  Index max_group = 0;                                         ///< largest group of this step
};

struct GRPOArithmeticSummary {
  double initial_accuracy = 0.0;  ///< held-out greedy exact match after the warm-up
  double final_accuracy = 0.0;    ///< after the last step
  Index total_rollouts = 0;
  Index generated_tokens = 0;  ///< valid tokens of all GRPO rollouts
  Index prompts_sampled = 0;
  Index nonzero_prompts = 0;               ///< prompts whose group had a non-zero advantage
  Index nonzero_rollouts = 0;              ///< rollouts of those groups
  double nonzero_gradient_fraction = 0.0;  ///< nonzero_prompts / prompts_sampled
  double nonzero_rollout_fraction = 0.0;   ///< nonzero_rollouts / total_rollouts
  double warmup_seconds = 0.0;
  double grpo_seconds = 0.0;
};

/// A step's rollouts as sampled and rewarded, before the update (for diagnostics).
struct GRPOSampledBatch {
  Index step = 0;
  std::span<const Index> prompts;  ///< task prompt ids, one per group
  const Groups* groups = nullptr;
  std::span<const float> rewards;  ///< one per rollout, in group order
};

class GRPOArithmeticTrainer {
 public:
  using Policy = TokenPolicy<float>;
  using Matrix = Policy::Matrix;
  using SampleObserver = std::function<void(const GRPOSampledBatch&)>;

  explicit GRPOArithmeticTrainer(const GRPOArithmeticConfig& config)
      : config_((config.validate(), config)),
        gen_(config.seed),
        policy_(arithmetic_policy_options(task_, config.hidden)),
        reference_(arithmetic_policy_options(task_, config.hidden)),
        loss_(config.loss()),
        knapsack_(knapsack_options()),
        tracker_(task_.num_prompts(), config.knapsack_buffer, 8, config.knapsack_prior,
                 config.knapsack_prior) {
    policy_.init(gen_);
    task_.encode(task_.held_out_prompts(), held_out_encoding_);
    order_.assign(task_.train_prompts().begin(), task_.train_prompts().end());
    cursor_ = chunk_begin_ = chunk_end_ = order_.size();  // the first call shuffles
    visit_ = config_.chunk_visits;
  }

  /// Warm-up, then config.steps GRPO steps, calling `on_step` after each.
  GRPOArithmeticSummary run(const std::function<void(const GRPOStepLog&)>& on_step = {}) {
    GRPOArithmeticSummary summary;
    auto start = Clock::now();
    arithmetic_warmup(policy_, task_, gen_, arithmetic_warmup_settings(config_), train_ws_);
    reference_.parameters() = policy_.parameters();
    summary.initial_accuracy = held_out_accuracy();
    summary.warmup_seconds = seconds_since(start);
    start = Clock::now();

    Adam<float> adam(policy_.num_parameters(), AdamOptions{.learning_rate = config_.learning_rate});
    for (Index step = 1; step <= config_.steps; ++step) {
      GRPOStepLog log;
      log.step = step;
      grpo_step(adam, log, summary);
      log.rollouts = summary.total_rollouts;
      log.nonzero_fraction_total = static_cast<double>(summary.nonzero_prompts) /
                                   static_cast<double>(summary.prompts_sampled);
      if (step % config_.eval_every == 0 || step == config_.steps) {
        log.accuracy = held_out_accuracy();
      }
      if (step == config_.steps) summary.final_accuracy = log.accuracy;
      if (on_step) on_step(log);
    }
    summary.nonzero_gradient_fraction =
        static_cast<double>(summary.nonzero_prompts) / static_cast<double>(summary.prompts_sampled);
    summary.nonzero_rollout_fraction =
        static_cast<double>(summary.nonzero_rollouts) / static_cast<double>(summary.total_rollouts);
    summary.grpo_seconds = seconds_since(start);
    return summary;
  }

  /// Called after each step's sampling, with the policy that sampled (the update comes after).
  void set_sample_observer(SampleObserver observer) { observer_ = std::move(observer); }

  /// The exact probability that the current policy samples the correct response of each prompt:
  /// the task has one correct response, so it is the product of the teacher-forced probabilities
  /// of the answer's tokens and the end token.
  void success_probabilities(std::span<const Index> ids, std::vector<double>& out) {
    const auto n = static_cast<Index>(ids.size());
    task_.encode(ids, probe_prompts_);
    probe_tokens_.resize(n, task_.max_length());
    probe_tokens_.setConstant(ArithmeticTask::end_token);
    probe_mask_.resize(n, task_.max_length());
    probe_mask_.setZero();
    for (Index i = 0; i < n; ++i) {
      const std::vector<Index> answer = task_.answer(ids[at(i)]);
      for (std::size_t t = 0; t < answer.size(); ++t) {
        probe_tokens_(i, static_cast<Index>(t)) = answer[t];
        probe_mask_(i, static_cast<Index>(t)) = 1;
      }
    }
    probe_logp_.resize(n, task_.max_length());
    policy_.evaluate(probe_prompts_, Groups::uniform(n, 1), TokenView<const Index>(probe_tokens_),
                     TokenView<const unsigned char>(probe_mask_), TokenView<float>(probe_logp_),
                     TokenView<float>{}, probe_ws_);
    out.assign(ids.size(), 0.0);
    for (Index i = 0; i < n; ++i) {
      double logp = 0.0;
      for (Index t = 0; t < task_.max_length(); ++t)
        logp += static_cast<double>(probe_logp_(i, t));
      out[at(i)] = std::exp(logp);
    }
  }

  /// Greedy exact-match accuracy of the current policy over the held-out prompts.
  double held_out_accuracy() {
    return arithmetic_held_out_accuracy(policy_, task_, held_out_encoding_, eval_, gen_ws_);
  }

  [[nodiscard]] const GRPOArithmeticConfig& config() const noexcept { return config_; }
  [[nodiscard]] const ArithmeticTask& task() const noexcept { return task_; }
  [[nodiscard]] const Policy& policy() const noexcept { return policy_; }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  static std::size_t at(Index i) { return static_cast<std::size_t>(i); }

  /// Shuffles order_[begin, end) with polo's portable sampler.
  void shuffle(std::size_t begin, std::size_t end) {
    for (std::size_t i = end - 1; i > begin; --i) {
      const auto j =
          begin + static_cast<std::size_t>(uniform_int(gen_, static_cast<Index>(i - begin) + 1));
      std::swap(order_[i], order_[j]);
    }
  }

  /// The next prompts: each epoch shuffles the training prompts and serves them in chunks of
  /// chunk_steps * prompts_per_step, each chunk `chunk_visits` times in a row (reshuffled within
  /// the chunk each time), so that a revisited prompt's success rate is recent.
  void next_prompts() {
    step_ids_.clear();
    const std::size_t chunk =
        static_cast<std::size_t>(config_.chunk_steps * config_.prompts_per_step);
    while (static_cast<Index>(step_ids_.size()) < config_.prompts_per_step) {
      if (cursor_ == chunk_end_) {
        if (++visit_ < config_.chunk_visits) {
          shuffle(chunk_begin_, chunk_end_);
        } else {
          visit_ = 0;
          chunk_begin_ = chunk_end_;
          if (chunk_begin_ == order_.size()) {
            shuffle(0, order_.size());
            chunk_begin_ = 0;
          }
          chunk_end_ = std::min(chunk_begin_ + chunk, order_.size());
        }
        cursor_ = chunk_begin_;
      }
      step_ids_.push_back(order_[cursor_++]);
    }
  }

  /// The step's groups: uniform, or Knapsack RL's allocation of the same total from the success
  /// rates of earlier visits (a prompt's estimate is valid after its first visit of >= 8 rollouts,
  /// so the first epoch over the training prompts is uniform).
  [[nodiscard]] Groups allocate() const {
    const Index total = config_.prompts_per_step * config_.group_size;
    if (config_.budget == BudgetMode::uniform) return Groups::uniform(total, config_.group_size);
    return knapsack_.allocate(tracker_, std::span<const Index>(step_ids_), total).groups;
  }

  [[nodiscard]] KnapsackBudget knapsack_options() const {
    KnapsackBudget k;
    k.uniform_n = config_.group_size;
    k.min_n = config_.knapsack_min;
    k.max_n = config_.knapsack_max;
    k.negative_n = config_.knapsack_negative > 0 ? config_.knapsack_negative : config_.group_size;
    k.positive_n = config_.knapsack_positive;
    k.objective = config_.knapsack_objective;
    k.official_zero_extra = config_.knapsack_objective == KnapsackObjective::paper_value;
    k.validate();
    return k;
  }

  void grpo_step(Adam<float>& adam, GRPOStepLog& log, GRPOArithmeticSummary& summary) {
    next_prompts();
    const Groups groups = allocate();
    task_.encode(std::span<const Index>(step_ids_), prompts_);
    policy_.sample(prompts_, groups, gen_, rollouts_, gen_ws_);
    const Index rows = rollouts_.rows();
    const Index len = rollouts_.tokens.cols();

    rewards_.resize(rows);
    for (Index g = 0; g < groups.count(); ++g) {
      for (Index i = groups.begin(g); i < groups.end(g); ++i) {
        rewards_[i] = static_cast<float>(task_.reward(step_ids_[at(g)], rollouts_.completion(i)));
      }
    }
    if (observer_) {
      observer_(GRPOSampledBatch{.step = log.step,
                                 .prompts = std::span<const Index>(step_ids_),
                                 .groups = &groups,
                                 .rewards = std::span<const float>(rewards_.data(), rows)});
    }
    if (config_.budget == BudgetMode::knapsack) {
      for (Index g = 0; g < groups.count(); ++g) {
        tracker_.record(step_ids_[at(g)],
                        std::span<const float>(rewards_.data() + groups.begin(g), groups.size(g)));
      }
    }
    advantages_.resize(rows);
    const GroupAdvantage estimator{.scale = config_.advantage_scale()};
    estimator.compute(SeqView<const float>(rewards_), groups, SeqView<float>(advantages_));
    Index nonzero = 0;
    for (Index g = 0; g < groups.count(); ++g) {
      bool any = false;
      for (Index i = groups.begin(g); i < groups.end(g); ++i)
        any = any || advantages_[i] != 0.0F;
      nonzero += any ? 1 : 0;
      summary.nonzero_rollouts += any ? groups.size(g) : 0;
    }
    log.reward_mean = static_cast<double>(rewards_.mean());
    log.nonzero_fraction = static_cast<double>(nonzero) / static_cast<double>(groups.count());
    log.max_group = groups.max_size();
    summary.total_rollouts += rows;
    summary.generated_tokens += rollouts_.num_tokens();
    summary.prompts_sampled += groups.count();
    summary.nonzero_prompts += nonzero;

    const bool use_ref = config_.beta > 0.0;
    if (use_ref) {
      ref_logp_.resize(rows, len);
      reference_.evaluate(prompts_, groups, rollouts_.tokens, rollouts_.mask, ref_logp_,
                          TokenView<float>{}, ref_ws_);
    }

    // Minibatches: consecutive slices of whole groups.
    const Index m = config_.minibatches;
    double entropy_sum = 0.0;
    for (Index k = 0; k < m; ++k) {
      const Index g0 = groups.count() * k / m;
      const Index g1 = groups.count() * (k + 1) / m;
      const Index r0 = groups.begin(g0);
      const Index r1 = groups.begin(g1 - 1) + groups.size(g1 - 1);
      const Index n = r1 - r0;
      std::vector<Index> offsets;
      offsets.reserve(at(g1 - g0 + 1));
      for (Index g = g0; g <= g1; ++g)
        offsets.push_back(g < g1 ? groups.begin(g) - r0 : n);
      const Groups slice = Groups::from_offsets(std::move(offsets));
      slice_prompts_ = prompts_.middleCols(g0, g1 - g0);

      const TokenView<const Index> tokens(rollouts_.tokens.data() + r0 * len, n, len);
      const TokenView<const unsigned char> mask(rollouts_.mask.data() + r0 * len, n, len);
      logp_.resize(n, len);
      entropy_.resize(n, len);
      grad_.resize(n, len);
      policy_.evaluate(slice_prompts_, slice, tokens, mask, logp_, entropy_, train_ws_);
      GRPOInputs<float> in;
      in.logp = logp_;
      in.old_logp = TokenView<const float>(rollouts_.logp.data() + r0 * len, n, len);
      if (use_ref) in.ref_logp = TokenView<const float>(ref_logp_.data() + r0 * len, n, len);
      in.advantages = SeqView<const float>(advantages_.data() + r0, n);
      in.mask = mask;
      const auto out = loss_.compute(in, TokenView<float>(grad_));
      policy_.zero_grad();
      policy_.backward(grad_, TokenView<const float>{}, train_ws_);
      log.grad_norm = clip_grad_norm(policy_.gradients(), config_.max_grad_norm);
      adam.step(policy_.parameters(), policy_.gradients());
      log.loss += out.value / static_cast<double>(m);
      log.clip_ratio += out.metrics.clip_ratio_region / static_cast<double>(m);
      log.kl += out.metrics.kl_mean / static_cast<double>(m);
      for (Index i = 0; i < n; ++i) {
        for (Index t = 0; t < len; ++t) {
          if (mask(i, t)) entropy_sum += static_cast<double>(entropy_(i, t));
        }
      }
    }
    log.entropy = entropy_sum / static_cast<double>(rollouts_.num_tokens());
  }

  GRPOArithmeticConfig config_;
  ArithmeticTask task_;
  Rng gen_;
  Policy policy_;
  Policy reference_;  ///< frozen after the warm-up (the KL anchor)
  GRPO loss_;
  KnapsackBudget knapsack_;
  SuccessRateTracker tracker_;  ///< per prompt id, fed by every visit (knapsack budget)
  Matrix held_out_encoding_;
  Matrix prompts_;
  Matrix slice_prompts_;
  std::vector<Index> order_;
  std::size_t cursor_ = 0;  ///< next position in order_
  std::size_t chunk_begin_ = 0;
  std::size_t chunk_end_ = 0;
  Index visit_ = 0;  ///< visits of the current chunk so far, minus one
  std::vector<Index> step_ids_;
  Completions<float> rollouts_;
  Completions<float> eval_;
  Policy::Workspace gen_ws_;
  Policy::Workspace train_ws_;
  Policy::Workspace ref_ws_;
  SeqArrayf rewards_;
  SeqArrayf advantages_;
  TokenArrayf ref_logp_;
  TokenArrayf logp_;
  TokenArrayf entropy_;
  TokenArrayf grad_;
  SampleObserver observer_;
  Matrix probe_prompts_;  ///< success_probabilities' buffers
  TokenArray<Index> probe_tokens_;
  MaskArray probe_mask_;
  TokenArrayf probe_logp_;
  Policy::Workspace probe_ws_;
};

}  // namespace polo::examples

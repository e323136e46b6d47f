// GRPO on two-digit addition: a short supervised warm-up on noisy demonstrations, then GRPO with
// a verifiable reward (1 for the exact sum followed by the end token), from polo's pieces.
//
//   build/examples/grpo_arithmetic [--seed N] [--steps N] [--out DIR] [--quiet]
//       [--loss-type grpo|bnpo|dr_grpo|dapo|cispo|sapo] [--group-size G] [--beta B]
//       [--epsilon-high E] [--importance-level token|sequence] [--budget uniform|knapsack] ...
//
// Prints a progress line per step; with --out writes DIR/log.csv (one row per GRPO step) and
// DIR/summary.json (seed, initial_accuracy, final_accuracy, wall_seconds, tokens_per_second,
// total_rollouts, nonzero_gradient_fraction, the options).

#include <cstdio>
#include <map>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "trainers/grpo_arithmetic.hpp"

namespace {

using polo::GrpoLossType;
using polo::ImportanceSamplingLevel;
using polo::examples::BudgetMode;

const std::map<std::string, GrpoLossType> kLossTypes{
    {"grpo", GrpoLossType::grpo},       {"bnpo", GrpoLossType::bnpo},
    {"dr_grpo", GrpoLossType::dr_grpo}, {"dapo", GrpoLossType::dapo},
    {"cispo", GrpoLossType::cispo},     {"sapo", GrpoLossType::sapo}};
const std::map<std::string, ImportanceSamplingLevel> kLevels{
    {"token", ImportanceSamplingLevel::token}, {"sequence", ImportanceSamplingLevel::sequence}};
const std::map<std::string, BudgetMode> kBudgets{{"uniform", BudgetMode::uniform},
                                                 {"knapsack", BudgetMode::knapsack}};
const std::map<std::string, polo::KnapsackObjective> kObjectives{
    {"paper_value", polo::KnapsackObjective::paper_value},
    {"mixed_groups", polo::KnapsackObjective::mixed_groups},
    {"posterior_mixed_groups", polo::KnapsackObjective::posterior_mixed_groups}};

template <class E>
std::string name_of(const std::map<std::string, E>& names, E value) {
  for (const auto& [name, v] : names) {
    if (v == value) return name;
  }
  return "?";
}

nlohmann::json config_json(const polo::examples::GRPOArithmeticConfig& c) {
  return {{"steps", c.steps},
          {"prompts_per_step", c.prompts_per_step},
          {"group_size", c.group_size},
          {"minibatches", c.minibatches},
          {"learning_rate", c.learning_rate},
          {"max_grad_norm", c.max_grad_norm},
          {"loss_type", name_of(kLossTypes, c.loss_type)},
          {"beta", c.beta},
          {"epsilon_low", c.epsilon_low},
          {"epsilon_high", c.effective_epsilon_high()},
          {"importance_level", name_of(kLevels, c.importance_level)},
          {"budget", name_of(kBudgets, c.budget)},
          {"knapsack_min", c.knapsack_min},
          {"knapsack_max", c.knapsack_max},
          {"knapsack_negative", c.knapsack_negative},
          {"knapsack_positive", c.knapsack_positive},
          {"knapsack_buffer", c.knapsack_buffer},
          {"knapsack_objective", name_of(kObjectives, c.knapsack_objective)},
          {"knapsack_prior", c.knapsack_prior},
          {"chunk_steps", c.chunk_steps},
          {"chunk_visits", c.chunk_visits},
          {"warmup_steps", c.warmup_steps},
          {"warmup_batch", c.warmup_batch},
          {"warmup_noise", c.warmup_noise},
          {"warmup_learning_rate", c.warmup_learning_rate},
          {"hidden", c.hidden},
          {"eval_every", c.eval_every}};
}

}  // namespace

int main(int argc, char** argv) {
  polo::examples::GRPOArithmeticConfig config;
  polo::examples::CommonOptions common(config.steps);

  CLI::App app{"GRPO on two-digit addition with a verifiable reward", "grpo_arithmetic"};
  polo::examples::add_common_options(app, common, "GRPO steps");
  std::string loss_type = "dapo";
  std::string importance_level = "token";
  std::string budget = "uniform";
  std::string objective = name_of(kObjectives, config.knapsack_objective);
  app.add_option("--loss-type", loss_type, "GRPO loss type")
      ->check(CLI::IsMember(kLossTypes))
      ->capture_default_str();
  app.add_option("--group-size", config.group_size, "rollouts per prompt (mean under knapsack)")
      ->capture_default_str();
  app.add_option("--prompts-per-step", config.prompts_per_step, "prompts per GRPO step")
      ->capture_default_str();
  app.add_option("--minibatches", config.minibatches, "Adam steps per generation batch")
      ->capture_default_str();
  app.add_option("--beta", config.beta, "k3 KL coefficient to the warm-up policy")
      ->capture_default_str();
  app.add_option("--epsilon-low", config.epsilon_low, "ratio floor 1 - epsilon_low")
      ->capture_default_str();
  app.add_option("--epsilon-high", config.epsilon_high,
                 "ratio ceiling 1 + epsilon_high (cispo: the weight's cap) [0.2; cispo 5]");
  app.add_option("--importance-level", importance_level, "importance ratio: token or sequence")
      ->check(CLI::IsMember(kLevels))
      ->capture_default_str();
  app.add_option("--budget", budget, "rollouts per prompt: uniform or knapsack")
      ->check(CLI::IsMember(kBudgets))
      ->capture_default_str();
  app.add_option("--knapsack-min", config.knapsack_min,
                 "knapsack: initial rollouts of a prompt with 0 < p < 1")
      ->capture_default_str();
  app.add_option("--knapsack-max", config.knapsack_max, "knapsack: most rollouts of a prompt")
      ->capture_default_str();
  app.add_option("--knapsack-positive", config.knapsack_positive,
                 "knapsack: rollouts of a prompt solved on every recent rollout")
      ->capture_default_str();
  app.add_option("--knapsack-negative", config.knapsack_negative,
                 "knapsack: rollouts of a prompt never solved so far (0: group size)")
      ->capture_default_str();
  app.add_option("--knapsack-buffer", config.knapsack_buffer,
                 "knapsack: rewards remembered per prompt for its success rate")
      ->capture_default_str();
  app.add_option("--knapsack-objective", objective,
                 "knapsack: paper_value (P(mixed) p (1-p)^2), mixed_groups (P(mixed)) or "
                 "posterior_mixed_groups (P(mixed) averaged over each estimate's Beta posterior)")
      ->check(CLI::IsMember(kObjectives))
      ->capture_default_str();
  app.add_option("--knapsack-prior", config.knapsack_prior,
                 "knapsack: Beta(a, a) pseudo-counts of the success rates (0: plain rate)")
      ->capture_default_str();
  app.add_option("--chunk-steps", config.chunk_steps,
                 "prompts are served in chunks of this many steps' prompts")
      ->capture_default_str();
  app.add_option("--chunk-visits", config.chunk_visits, "times each chunk is served in a row")
      ->capture_default_str();
  app.add_option("--learning-rate", config.learning_rate, "Adam learning rate (GRPO)")
      ->capture_default_str();
  app.add_option("--warmup-steps", config.warmup_steps, "supervised warm-up steps")
      ->capture_default_str();
  app.add_option("--warmup-learning-rate", config.warmup_learning_rate,
                 "Adam learning rate (warm-up)")
      ->capture_default_str();
  app.add_option("--warmup-noise", config.warmup_noise, "digit corruption of the demonstrations")
      ->capture_default_str();
  app.add_option("--eval-every", config.eval_every, "held-out evaluation every N steps")
      ->capture_default_str();
  polo::examples::parse_or_exit(app, argc, argv);
  config.steps = common.steps;
  config.seed = common.seed;
  config.loss_type = kLossTypes.at(loss_type);
  config.importance_level = kLevels.at(importance_level);
  config.budget = kBudgets.at(budget);
  config.knapsack_objective = kObjectives.at(objective);

  try {
    polo::examples::RunOutput output(common.out);
    auto& log = output.log({"step", "rollouts", "accuracy", "reward_mean", "nonzero_fraction",
                            "nonzero_fraction_total", "loss", "clip_ratio", "kl", "entropy",
                            "grad_norm", "max_group"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::Stopwatch clock;
    polo::examples::GRPOArithmeticTrainer trainer(config);
    double last_accuracy = std::nan("");
    const auto summary = trainer.run([&](const polo::examples::GRPOStepLog& s) {
      if (!std::isnan(s.accuracy)) last_accuracy = s.accuracy;
      log.row({static_cast<double>(s.step), static_cast<double>(s.rollouts), s.accuracy,
               s.reward_mean, s.nonzero_fraction, s.nonzero_fraction_total, s.loss, s.clip_ratio,
               s.kl, s.entropy, s.grad_norm, static_cast<double>(s.max_group)});
      progress.update(fmt::format(
          "grpo_arithmetic  step {:>4}/{}  reward {:.3f}  held-out {:.3f}  nonzero {:.3f}  "
          "entropy {:.3f}  {:.1f} s",
          s.step, config.steps, s.reward_mean, last_accuracy, s.nonzero_fraction, s.entropy,
          clock.seconds()));
    });
    const double wall = clock.seconds();
    const double tps = static_cast<double>(summary.generated_tokens) / wall;
    progress.finish(fmt::format(
        "grpo_arithmetic  seed {}  held-out accuracy {:.3f} -> {:.3f}  {} rollouts in {:.2f} s "
        "({:.0f} tokens/s)  nonzero-gradient fraction {:.3f}",
        config.seed, summary.initial_accuracy, summary.final_accuracy, summary.total_rollouts, wall,
        tps, summary.nonzero_gradient_fraction));
    log.flush();
    output.write_summary(
        nlohmann::json{{"seed", config.seed},
                       {"initial_accuracy", summary.initial_accuracy},
                       {"final_accuracy", summary.final_accuracy},
                       {"wall_seconds", wall},
                       {"warmup_seconds", summary.warmup_seconds},
                       {"tokens_per_second", tps},
                       {"generated_tokens", summary.generated_tokens},
                       {"total_rollouts", summary.total_rollouts},
                       {"prompts_sampled", summary.prompts_sampled},
                       {"nonzero_gradient_fraction", summary.nonzero_gradient_fraction},
                       {"nonzero_rollout_fraction", summary.nonzero_rollout_fraction},
                       {"options", config_json(config)}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo_arithmetic: %s\n", e.what());
    return 1;
  }
  return 0;
}

// DPO on two-digit addition: a noisy supervised warm-up gives the reference policy, preference
// pairs (a right versus a wrong answer, both sampled from the reference) train the policy with
// any DPO loss type, and the run reports what Chen et al. 2024 measure: the ranking accuracy of
// the policy on held-out pairs before and after, against the idealized ranking accuracy of the
// optimal DPO policy (the alignment gap), and how few of the mis-ranked pairs get flipped.
//
//   build/examples/dpo_arithmetic [--seed N] [--steps N] [--out DIR] [--quiet]
//       [--loss-type sigmoid|hinge|ipo|...] [--beta B] [--batch-pairs M] [--pair-prompts P] ...
//
// --beta, --learning-rate, --label-smoothing and --steps default to the loss type's scale
// (dpo_arithmetic_loss_scale in trainers/dpo_arithmetic.hpp; --help lists them); given, they win.
//
// With --out writes DIR/log.csv (one row per DPO step; held-out columns every --eval-every steps)
// and DIR/summary.json (seed, loss_type, initial_accuracy, final_accuracy, reward_accuracy,
// ranking_accuracy, idealized_ranking_accuracy, wall_seconds, the before/after pair diagnostics
// and the options).

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "trainers/dpo_arithmetic.hpp"

namespace {

using polo::DpoLossType;

const std::map<std::string, DpoLossType> kLossTypes{{"sigmoid", DpoLossType::sigmoid},
                                                    {"hinge", DpoLossType::hinge},
                                                    {"ipo", DpoLossType::ipo},
                                                    {"exo_pair", DpoLossType::exo_pair},
                                                    {"nca_pair", DpoLossType::nca_pair},
                                                    {"robust", DpoLossType::robust},
                                                    {"bco_pair", DpoLossType::bco_pair},
                                                    {"sppo_hard", DpoLossType::sppo_hard},
                                                    {"aot", DpoLossType::aot},
                                                    {"aot_unpaired", DpoLossType::aot_unpaired},
                                                    {"apo_zero", DpoLossType::apo_zero},
                                                    {"apo_down", DpoLossType::apo_down},
                                                    {"discopop", DpoLossType::discopop},
                                                    {"sft", DpoLossType::sft},
                                                    {"sigmoid_norm", DpoLossType::sigmoid_norm}};

std::string loss_name(DpoLossType t) {
  for (const auto& [name, v] : kLossTypes) {
    if (v == t) return name;
  }
  return "?";
}

/// "2; ipo 0.25, ..." : the sigmoid default of a DPOLossScale field and the types that differ.
template <class Field>
std::string loss_scale_help(Field field) {
  const auto base = field(polo::examples::dpo_arithmetic_loss_scale(DpoLossType::sigmoid));
  std::string out = fmt::format("{}", base);
  for (const auto& [name, type] : kLossTypes) {
    const auto v = field(polo::examples::dpo_arithmetic_loss_scale(type));
    if (v != base) out += fmt::format("; {} {}", name, v);
  }
  return out;
}

nlohmann::json pairs_json(const polo::examples::DPOPairEval& e) {
  return {{"reward_accuracy", e.reward_accuracy},
          {"reward_margin", e.reward_margin},
          {"loss", e.loss},
          {"ranking_accuracy", e.ranking_accuracy},
          {"length_normalized_ranking_accuracy", e.length_normalized_ranking_accuracy},
          {"flipped_fraction", e.flipped_fraction}};
}

nlohmann::json config_json(const polo::examples::DPOArithmeticConfig& c) {
  return {{"steps", c.steps},
          {"batch_pairs", c.batch_pairs},
          {"learning_rate", c.learning_rate},
          {"max_grad_norm", c.max_grad_norm},
          {"loss_type", loss_name(c.loss_type)},
          {"beta", c.beta},
          {"label_smoothing", c.label_smoothing},
          {"sigmoid_label_smoothing", c.sigmoid_label_smoothing},
          {"pair_prompts", c.pair_prompts},
          {"samples_per_prompt", c.samples_per_prompt},
          {"alpha_epsilon", c.alpha_epsilon},
          {"warmup_steps", c.warmup_steps},
          {"warmup_batch", c.warmup_batch},
          {"warmup_noise", c.warmup_noise},
          {"warmup_learning_rate", c.warmup_learning_rate},
          {"hidden", c.hidden},
          {"eval_every", c.eval_every}};
}

}  // namespace

int main(int argc, char** argv) {
  using polo::examples::DPOLossScale;
  polo::examples::DPOArithmeticConfig config;
  polo::examples::CommonOptions common(
      polo::examples::dpo_arithmetic_loss_scale(DpoLossType::sigmoid).steps);

  CLI::App app{"DPO on two-digit addition, with Chen et al.'s ranking-accuracy diagnostics",
               "dpo_arithmetic"};
  polo::examples::add_common_options(
      app, common, "DPO steps, one Adam step each [" + loss_scale_help([](const DPOLossScale& s) {
                     return s.steps;
                   }) + "]");
  app.add_option("--loss-type", config.loss_type, "DPO loss type (TRL's names)")
      ->transform(CLI::CheckedTransformer(kLossTypes, CLI::ignore_case))
      ->default_str("sigmoid");
  app.add_option("--beta", config.beta, "DPO beta [" + loss_scale_help([](const DPOLossScale& s) {
                                          return s.beta;
                                        }) + "]");
  app.add_option("--label-smoothing", config.label_smoothing,
                 "eps of exo_pair, robust, aot, aot_unpaired, cDPO [" +
                     loss_scale_help([](const DPOLossScale& s) { return s.label_smoothing; }) +
                     "]");
  app.add_flag("--cdpo", config.sigmoid_label_smoothing,
               "sigmoid is cDPO with eps = --label-smoothing (TRL <= 0.28's sigmoid)");
  app.add_option("--batch-pairs", config.batch_pairs, "preference pairs per step")
      ->capture_default_str();
  app.add_option("--learning-rate", config.learning_rate,
                 "Adam learning rate (DPO) [" +
                     loss_scale_help([](const DPOLossScale& s) { return s.learning_rate; }) + "]");
  app.add_option("--pair-prompts", config.pair_prompts,
                 "training prompts sampled from the reference for pairs")
      ->capture_default_str();
  app.add_option("--samples-per-prompt", config.samples_per_prompt,
                 "reference samples per prompt (a pair needs a right and a wrong one)")
      ->capture_default_str();
  app.add_option("--warmup-steps", config.warmup_steps, "supervised warm-up steps (reference)")
      ->capture_default_str();
  app.add_option("--warmup-noise", config.warmup_noise, "digit corruption of the demonstrations")
      ->capture_default_str();
  app.add_option("--warmup-learning-rate", config.warmup_learning_rate,
                 "Adam learning rate of the warm-up")
      ->capture_default_str();
  app.add_option("--warmup-batch", config.warmup_batch, "demonstrations per warm-up step")
      ->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden layer widths of the token policy")
      ->capture_default_str();
  app.add_option("--eval-every", config.eval_every, "held-out evaluation every N steps")
      ->capture_default_str();
  polo::examples::parse_or_exit(app, argc, argv);
  if (app.count("--steps") > 0) config.steps = common.steps;  // else the loss type's default
  config.seed = common.seed;

  try {
    polo::examples::RunOutput output(common.out);
    auto& log =
        output.log({"step", "loss", "reward_accuracy", "reward_margin", "chosen_logp",
                    "rejected_logp", "grad_norm", "accuracy", "held_out_reward_accuracy",
                    "ranking_accuracy", "length_normalized_ranking_accuracy", "flipped_fraction"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::Stopwatch clock;
    polo::examples::DPOArithmeticTrainer trainer(config);
    const auto& used = trainer.config();  // with the loss type's defaults filled in
    double last_accuracy = std::nan("");
    double last_ranking = std::nan("");
    const auto summary = trainer.run([&](const polo::examples::DPOStepLog& s) {
      const bool evaluated = !std::isnan(s.accuracy);
      const double nan = std::nan("");
      if (evaluated) {
        last_accuracy = s.accuracy;
        last_ranking = s.held_out.ranking_accuracy;
      }
      log.row({static_cast<double>(s.step), s.loss, s.reward_accuracy, s.reward_margin,
               s.chosen_logp, s.rejected_logp, s.grad_norm, s.accuracy,
               evaluated ? s.held_out.reward_accuracy : nan,
               evaluated ? s.held_out.ranking_accuracy : nan,
               evaluated ? s.held_out.length_normalized_ranking_accuracy : nan,
               evaluated ? s.held_out.flipped_fraction : nan});
      progress.update(fmt::format(
          "dpo_arithmetic  step {:>4}/{}  loss {:.4f}  reward acc {:.3f}  held-out {:.3f}  "
          "ranking acc {:.3f}  {:.1f} s",
          s.step, used.steps, s.loss, s.reward_accuracy, last_accuracy, last_ranking,
          clock.seconds()));
    });
    const double wall = clock.seconds();
    progress.finish(fmt::format(
        "dpo_arithmetic  seed {}  {} (beta {})  held-out accuracy {:.3f} -> {:.3f}  reward "
        "accuracy {:.3f} "
        "-> {:.3f}  ranking accuracy {:.3f} -> {:.3f} vs idealized {:.3f} (betas 0.01..10: "
        "{:.3f}/{:.3f}/{:.3f})  flipped {:.3f} of the {:.3f} mis-ranked  {} / {} pairs  {:.2f} s",
        config.seed, loss_name(config.loss_type), used.beta, summary.initial_accuracy,
        summary.final_accuracy, summary.before.reward_accuracy, summary.after.reward_accuracy,
        summary.before.ranking_accuracy, summary.after.ranking_accuracy,
        summary.idealized_ranking_accuracy, summary.idealized_range.min,
        summary.idealized_range.median, summary.idealized_range.max, summary.after.flipped_fraction,
        summary.reference_misranked, summary.train_pairs, summary.held_out_pairs, wall));
    log.flush();
    output.write_summary(
        nlohmann::json{{"seed", config.seed},
                       {"loss_type", loss_name(config.loss_type)},
                       {"initial_accuracy", summary.initial_accuracy},
                       {"final_accuracy", summary.final_accuracy},
                       {"reward_accuracy", summary.after.reward_accuracy},
                       {"ranking_accuracy", summary.after.ranking_accuracy},
                       {"idealized_ranking_accuracy", summary.idealized_ranking_accuracy},
                       {"wall_seconds", wall},
                       {"initial_reward_accuracy", summary.before.reward_accuracy},
                       {"initial_ranking_accuracy", summary.before.ranking_accuracy},
                       {"idealized_ranking_accuracy_range",
                        {{"min", summary.idealized_range.min},
                         {"median", summary.idealized_range.median},
                         {"max", summary.idealized_range.max}}},
                       {"reference_misranked_fraction", summary.reference_misranked},
                       {"mean_flip_threshold_misranked", summary.mean_flip_threshold_misranked},
                       {"reference_sample_accuracy", summary.reference_sample_accuracy},
                       {"train_pairs", summary.train_pairs},
                       {"held_out_pairs", summary.held_out_pairs},
                       {"warmup_seconds", summary.warmup_seconds},
                       {"dpo_seconds", summary.dpo_seconds},
                       {"held_out_pairs_before", pairs_json(summary.before)},
                       {"held_out_pairs_after", pairs_json(summary.after)},
                       {"options", config_json(used)}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dpo_arithmetic: %s\n", e.what());
    return 1;
  }
  return 0;
}

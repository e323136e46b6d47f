// AWM vs a DDPO / Flow-GRPO-style baseline on a 2-D flow model: pretrain by flow matching on an
// 8-Gaussian ring, then fine-tune towards a reward that prefers two of the modes.
//
//   build/examples/awm_flow2d [--method awm|ddpo] [--seed N] [--steps N] [--budget N]
//                             [--learning-rate LR] [--out DIR] [--quiet] [options]
//
// --steps is the number of pretraining steps, --budget the reward evaluations of fine-tuning.
// With --out writes DIR/log.csv (one row per iteration), DIR/summary.json (seed, method,
// learning_rate, initial_reward, final_reward, samples_to_target, budget, on_support_fraction,
// wall_seconds, the hyper-parameters) and DIR/samples_initial.csv, DIR/samples_final.csv (the
// evaluation samples before and after fine-tuning, for tools/scatter.py).

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "trainers/awm_flow2d.hpp"

namespace {

using polo::examples::AWMFlow2DConfig;
using polo::examples::FlowMethod;

nlohmann::json config_json(const AWMFlow2DConfig& c) {
  return {{"hidden", c.hidden},
          {"pretrain_steps", c.pretrain_steps},
          {"pretrain_batch", c.pretrain_batch},
          {"pretrain_learning_rate", c.pretrain_learning_rate},
          {"group_size", c.group_size},
          {"groups", c.groups},
          {"updates", c.updates},
          {"max_grad_norm", c.max_grad_norm},
          {"sample_steps", c.sample_steps},
          {"awm_timesteps", c.awm_timesteps},
          {"awm_beta", c.awm_beta},
          {"awm_weighting", c.awm_weighting == polo::AWMWeighting::ghuber ? "ghuber" : "uniform"},
          {"noise_level", c.noise_level},
          {"clip_range", c.clip_range},
          {"ddpo_beta", c.ddpo_beta},
          {"eval_samples", c.eval_samples},
          {"target_fraction", c.target_fraction},
          {"target_radius", c.target_radius}};
}

void write_samples(const polo::examples::RunOutput& output, const std::string& file,
                   const polo::TokenArrayf& x) {
  if (!output.enabled()) return;
  polo::examples::CsvLog csv(output.dir() / file, {"x", "y"});
  for (polo::Index n = 0; n < x.rows(); ++n)
    csv.row({static_cast<double>(x(n, 0)), static_cast<double>(x(n, 1))});
  csv.flush();
}

}  // namespace

int main(int argc, char** argv) {
  AWMFlow2DConfig config;
  polo::examples::CommonOptions common(config.pretrain_steps);

  CLI::App app{"AWM vs DDPO fine-tuning of a 2-D flow model (8-Gaussian ring)", "awm_flow2d"};
  polo::examples::add_common_options(app, common, "flow-matching pretraining steps");
  std::string method_flag = "awm";
  app.add_option("--method", method_flag, "fine-tuning method")
      ->check(CLI::IsMember({"awm", "ddpo"}))
      ->capture_default_str();
  app.add_option("--budget", config.budget, "reward evaluations for fine-tuning")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--learning-rate", config.learning_rate,
                 fmt::format("Adam learning rate (default: awm {}, ddpo {})",
                             AWMFlow2DConfig::default_learning_rate(FlowMethod::awm),
                             AWMFlow2DConfig::default_learning_rate(FlowMethod::ddpo)));
  app.add_option("--group-size", config.group_size, "samples per group")->capture_default_str();
  app.add_option("--groups", config.groups, "groups per iteration")->capture_default_str();
  app.add_option("--updates", config.updates, "optimizer steps per iteration")
      ->capture_default_str();
  app.add_option("--sample-steps", config.sample_steps, "Euler (ODE and SDE) steps")
      ->capture_default_str();
  app.add_option("--awm-timesteps", config.awm_timesteps, "AWM: timesteps per sample")
      ->capture_default_str();
  app.add_option("--awm-beta", config.awm_beta, "AWM: weight of (v - v_ref)^2")
      ->capture_default_str();
  std::string weighting_flag = "ghuber";
  app.add_option("--awm-weighting", weighting_flag, "AWM: how a row's error is weighted")
      ->check(CLI::IsMember({"ghuber", "uniform"}))
      ->capture_default_str();
  app.add_option("--pretrain-learning-rate", config.pretrain_learning_rate,
                 "Adam learning rate of pretraining (cosine decay to 1%)")
      ->capture_default_str();
  app.add_option("--noise-level", config.noise_level, "DDPO: SDE noise level a")
      ->capture_default_str();
  app.add_option("--clip-range", config.clip_range, "DDPO: PPO clip range")->capture_default_str();
  app.add_option("--ddpo-beta", config.ddpo_beta, "DDPO: weight of the k3 KL to v_ref")
      ->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden width of the velocity MLP")
      ->capture_default_str();
  app.add_option("--eval-samples", config.eval_samples, "ODE samples per evaluation")
      ->capture_default_str();
  polo::examples::parse_or_exit(app, argc, argv);
  config.method = method_flag == "ddpo" ? FlowMethod::ddpo : FlowMethod::awm;
  config.awm_weighting =
      weighting_flag == "uniform" ? polo::AWMWeighting::uniform : polo::AWMWeighting::ghuber;
  config.pretrain_steps = common.steps;
  config.seed = common.seed;
  const std::string method(polo::examples::flow_method_name(config.method));

  try {
    polo::examples::RunOutput output(common.out);
    auto& log =
        output.log({"evaluations", "iteration", "train_reward", "eval_reward", "preferred_fraction",
                    "on_support_fraction", "loss", "regularizer", "grad_norm"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::Stopwatch clock;
    polo::examples::AWMFlow2DTrainer trainer(config);
    const auto summary = trainer.run([&](const polo::examples::AWMFlow2DLog& u) {
      log.row({static_cast<double>(u.evaluations), static_cast<double>(u.iteration), u.train_reward,
               u.eval_reward, u.preferred_fraction, u.on_support_fraction, u.loss, u.regularizer,
               u.grad_norm});
      progress.update(fmt::format(
          "awm_flow2d {}  evals {:>6}/{}  reward {:.3f}  preferred {:.3f}  on-support {:.3f}",
          method, u.evaluations, config.iterations() * config.batch(), u.eval_reward,
          u.preferred_fraction, u.on_support_fraction));
    });
    const double wall = clock.seconds();
    progress.finish(fmt::format(
        "awm_flow2d {}  seed {}  lr {}  reward {:.3f} -> {:.3f}  preferred {:.3f} -> {:.3f}  "
        "on-support {:.3f}  target at {}  ({:.2f} s)",
        method, config.seed, config.lr(), summary.initial_reward, summary.final_reward,
        summary.initial_preferred_fraction, summary.final_preferred_fraction,
        summary.on_support_fraction,
        summary.samples_to_target ? fmt::format("{} evaluations", *summary.samples_to_target)
                                  : std::string("(not met)"),
        wall));
    log.flush();
    write_samples(output, "samples_initial.csv", trainer.initial_samples());
    write_samples(output, "samples_final.csv", trainer.final_samples());
    nlohmann::json j = {{"seed", config.seed},
                        {"method", method},
                        {"learning_rate", config.lr()},
                        {"initial_reward", summary.initial_reward},
                        {"final_reward", summary.final_reward},
                        {"samples_to_target", nullptr},
                        {"budget", config.budget},
                        {"on_support_fraction", summary.on_support_fraction},
                        {"wall_seconds", wall},
                        {"initial_preferred_fraction", summary.initial_preferred_fraction},
                        {"final_preferred_fraction", summary.final_preferred_fraction},
                        {"initial_on_support_fraction", summary.initial_on_support_fraction},
                        {"final_preferred_mode_fractions", summary.final_preferred_mode_fractions},
                        {"pretrain_fm_loss", summary.pretrain_fm_loss},
                        {"evaluations", summary.evaluations},
                        {"hyperparameters", config_json(config)}};
    if (summary.samples_to_target) j["samples_to_target"] = *summary.samples_to_target;
    output.write_summary(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "awm_flow2d: %s\n", e.what());
    return 1;
  }
  return 0;
}

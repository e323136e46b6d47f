// PPO on CartPole-v1 with CleanRL's ppo.py recipe, built from polo's pieces.
//
//   build/examples/ppo_cartpole [--seed N] [--steps N] [--out DIR] [--quiet] [PPO options]
//
// Prints a progress line per update; with --out writes DIR/log.csv (one row per update) and
// DIR/summary.json (seed, env_steps, wall_seconds, steps_per_second, final_mean_return,
// steps_to_solve, the hyper-parameters).

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "polo/envs/cartpole.hpp"
#include "trainers/ppo_discrete.hpp"

namespace {

nlohmann::json config_json(const polo::examples::PPOConfig& c) {
  return {{"num_envs", c.num_envs},
          {"num_steps", c.num_steps},
          {"total_steps", c.total_steps},
          {"learning_rate", c.learning_rate},
          {"anneal_lr", c.anneal_lr},
          {"adam_eps", c.adam_eps},
          {"gamma", c.gamma},
          {"gae_lambda", c.gae_lambda},
          {"num_minibatches", c.num_minibatches},
          {"update_epochs", c.update_epochs},
          {"norm_adv", c.norm_adv},
          {"clip_coef", c.clip_coef},
          {"clip_vloss", c.clip_vloss},
          {"ent_coef", c.ent_coef},
          {"vf_coef", c.vf_coef},
          {"max_grad_norm", c.max_grad_norm},
          {"target_kl", c.target_kl},
          {"hidden", c.hidden}};
}

}  // namespace

int main(int argc, char** argv) {
  using polo::examples::PPOConfig;
  PPOConfig config;
  polo::examples::CommonOptions common(config.total_steps);

  CLI::App app{"PPO on CartPole-v1 (CleanRL ppo.py defaults)", "ppo_cartpole"};
  polo::examples::add_common_options(app, common, "environment steps");
  app.add_option("--num-envs", config.num_envs, "parallel environments")->capture_default_str();
  app.add_option("--num-steps", config.num_steps, "rollout steps per environment")
      ->capture_default_str();
  app.add_option("--learning-rate", config.learning_rate, "Adam learning rate")
      ->capture_default_str();
  app.add_flag("!--no-anneal-lr", config.anneal_lr, "keep the learning rate constant");
  app.add_option("--gamma", config.gamma, "discount")->capture_default_str();
  app.add_option("--gae-lambda", config.gae_lambda, "GAE lambda")->capture_default_str();
  app.add_option("--num-minibatches", config.num_minibatches, "minibatches per epoch")
      ->capture_default_str();
  app.add_option("--update-epochs", config.update_epochs, "epochs per update")
      ->capture_default_str();
  app.add_flag("!--no-norm-adv", config.norm_adv, "no per-minibatch advantage normalization");
  app.add_option("--clip-coef", config.clip_coef, "surrogate (and value) clip")
      ->capture_default_str();
  app.add_flag("!--no-clip-vloss", config.clip_vloss, "no value-loss clipping");
  app.add_option("--ent-coef", config.ent_coef, "entropy coefficient")->capture_default_str();
  app.add_option("--vf-coef", config.vf_coef, "value-loss coefficient")->capture_default_str();
  app.add_option("--max-grad-norm", config.max_grad_norm, "global gradient-norm clip")
      ->capture_default_str();
  app.add_option("--target-kl", config.target_kl, "early-stop KL (0 = off)")->capture_default_str();
  app.add_option("--hidden", config.hidden, "hidden width of actor and critic")
      ->capture_default_str();
  polo::examples::parse_or_exit(app, argc, argv);
  config.total_steps = common.steps;
  config.seed = common.seed;

  try {
    polo::examples::RunOutput output(common.out);
    auto& log = output.log({"step", "update", "mean_return", "episodes", "learning_rate",
                            "policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl",
                            "clip_fraction", "explained_variance", "grad_norm"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::Stopwatch clock;
    polo::examples::PPOTrainer<polo::CartPole> trainer(config, 2);
    const auto summary = trainer.run([&](const polo::examples::PPOUpdateLog& u) {
      log.row({static_cast<double>(u.env_steps), static_cast<double>(u.update), u.mean_return,
               static_cast<double>(u.episodes), u.learning_rate, u.policy_loss, u.value_loss,
               u.entropy, u.approx_kl, u.old_approx_kl, u.clip_fraction, u.explained_variance,
               u.grad_norm});
      progress.update(fmt::format(
          "ppo_cartpole  step {:>7}/{}  return {:6.1f}  entropy {:.3f}  kl {:.4f}  clip {:.3f}  "
          "{:>6.0f} steps/s",
          u.env_steps, config.num_updates() * config.batch_size(), u.mean_return, u.entropy,
          u.approx_kl, u.clip_fraction, static_cast<double>(u.env_steps) / clock.seconds()));
    });
    const double wall = clock.seconds();
    const double sps = static_cast<double>(summary.env_steps) / wall;
    progress.finish(fmt::format(
        "ppo_cartpole  seed {}  {} steps in {:.2f} s ({:.0f} steps/s)  final mean return {:.1f}  "
        "solved at {}",
        config.seed, summary.env_steps, wall, sps, summary.final_mean_return,
        summary.steps_to_solve ? fmt::format("{} steps", *summary.steps_to_solve)
                               : std::string("(not solved)")));
    log.flush();
    nlohmann::json j = {{"seed", config.seed},
                        {"env_steps", summary.env_steps},
                        {"episodes", summary.episodes},
                        {"wall_seconds", wall},
                        {"steps_per_second", sps},
                        {"final_mean_return", summary.final_mean_return},
                        {"steps_to_solve", nullptr},
                        {"solve_threshold", config.solve_threshold},
                        {"solve_window", config.solve_window},
                        {"hyperparameters", config_json(config)}};
    if (summary.steps_to_solve) j["steps_to_solve"] = *summary.steps_to_solve;
    output.write_summary(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ppo_cartpole: %s\n", e.what());
    return 1;
  }
  return 0;
}

// SRPO's self-improvement policy and PIT's gap reward each learn, from the same offline
// preference pairs, to improve a given reference response: the win rate of the revision over
// the reference before (the local reference improver, about 1/2) and after training.
//
//   build/examples/srpo_pit [--seed N] [--steps N] [--out DIR] [--quiet] [...]
//
// A tabular task: K responses of increasing quality with Bradley-Terry preferences. Prints a
// progress line; with --out writes DIR/log.csv (losses and win rates every --log-every steps) and
// DIR/summary.json (win rates before and after, after 1..N revisions, the hyper-parameters,
// wall_seconds).

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "trainers/srpo_pit_tabular.hpp"

namespace {

nlohmann::json config_json(const polo::examples::SelfImproveConfig& c) {
  return {
      {"responses", c.responses},   {"quality_step", c.quality_step},   {"pairs", c.pairs},
      {"steps", c.steps},           {"learning_rate", c.learning_rate}, {"srpo_beta", c.srpo_beta},
      {"srpo_alpha", c.srpo_alpha}, {"pit_beta", c.pit_beta},           {"revisions", c.revisions}};
}

}  // namespace

int main(int argc, char** argv) {
  polo::examples::SelfImproveConfig config;
  polo::examples::CommonOptions common(config.steps);

  CLI::App app{"SRPO and PIT learn to improve a reference response", "srpo_pit"};
  polo::examples::add_common_options(app, common, "Adam steps on each loss");
  app.add_option("--responses", config.responses, "number of responses K")
      ->capture_default_str()
      ->check(CLI::Range(2, 64));
  app.add_option("--quality-step", config.quality_step,
                 "quality gap between consecutive responses (Bradley-Terry)")
      ->capture_default_str();
  app.add_option("--pairs", config.pairs, "offline preference pairs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--learning-rate", config.learning_rate, "Adam learning rate")
      ->capture_default_str();
  app.add_option("--srpo-beta", config.srpo_beta, "SRPO's beta")->capture_default_str();
  app.add_option("--srpo-alpha", config.srpo_alpha, "SRPO's self-improvement weight")
      ->capture_default_str();
  app.add_option("--pit-beta", config.pit_beta, "KL strength of PIT's RL stage")
      ->capture_default_str();
  app.add_option("--revisions", config.revisions, "rounds of revision to report")
      ->capture_default_str();
  app.add_option("--log-every", config.log_every, "steps between log rows")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  polo::examples::parse_or_exit(app, argc, argv);
  config.steps = common.steps;
  config.seed = common.seed;

  try {
    polo::examples::RunOutput output(common.out);
    auto& log = output.log({"step", "srpo_loss", "srpo_win_rate", "generative_win_rate", "pit_loss",
                            "pit_win_rate", "pit_gap_ordering"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::Stopwatch clock;
    const auto s =
        polo::examples::run_self_improvement(config, [&](const polo::examples::SelfImproveLog& r) {
          log.row({static_cast<double>(r.step), r.srpo_loss, r.srpo_win_rate, r.generative_win_rate,
                   r.pit_loss, r.pit_win_rate, r.pit_gap_ordering});
          progress.update(fmt::format(
              "srpo_pit  step {:>5}/{}  srpo loss {:.4f} win {:.3f}  pit loss {:.4f} win {:.3f}",
              r.step, config.steps, r.srpo_loss, r.srpo_win_rate, r.pit_loss, r.pit_win_rate));
        });
    const double wall = clock.seconds();
    progress.finish(fmt::format(
        "srpo_pit  seed {}  {} steps in {:.2f} s  win rate over the reference: before {:.3f}, "
        "srpo {:.3f}, pit {:.3f}  (after {} revisions: srpo {:.3f}, pit {:.3f})",
        config.seed, config.steps, wall, s.reference_win_rate, s.srpo_win_rate, s.pit_win_rate,
        config.revisions, s.srpo_revisions.back(), s.pit_revisions.back()));
    log.flush();
    const nlohmann::json j = {{"seed", config.seed},
                              {"steps", config.steps},
                              {"wall_seconds", wall},
                              {"win_rate_before", s.reference_win_rate},
                              {"srpo_win_rate_after", s.srpo_win_rate},
                              {"pit_win_rate_after", s.pit_win_rate},
                              {"srpo_generative_win_rate_over_reference", s.generative_win_rate},
                              {"revisions",
                               {{"reference", s.reference_revisions},
                                {"srpo", s.srpo_revisions},
                                {"pit", s.pit_revisions}}},
                              {"hyperparameters", config_json(config)}};
    output.write_summary(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "srpo_pit: %s\n", e.what());
    return 1;
  }
  return 0;
}

// DNO and INPO find the Nash (von Neumann winner) policy of a preference matrix with a cyclic,
// rock-paper-scissors-like part, where DPO on offline pairs settles on a Bradley-Terry fit.
//
//   build/examples/nash_preferences [--seed N] [--steps ITERATIONS] [--out DIR] [--quiet] [...]
//
// One tabular softmax policy over K = 5 responses per method. Each iteration minimizes the
// library loss (polo::DNO, polo::INPO, polo::DPO) with Adam. Prints a progress line per
// iteration; with --out writes DIR/log.csv (each method's exploitability per iteration) and
// DIR/summary.json (final_exploitability, the exact Nash policy from polo::nash_policy, every
// method's final policy, the hyper-parameters, wall_seconds).

#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/output.hpp"
#include "common/progress.hpp"
#include "trainers/nash_tabular.hpp"

namespace {

std::vector<double> to_vector(const Eigen::VectorXd& v) {
  return {v.data(), v.data() + v.size()};
}

nlohmann::json matrix_json(const Eigen::MatrixXd& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    rows.push_back(to_vector(m.row(i).transpose()));
  return rows;
}

nlohmann::json config_json(const polo::examples::NashConfig& c) {
  return {{"iterations", c.iterations},   {"pairs_per_iteration", c.pairs_per_iteration},
          {"inner_steps", c.inner_steps}, {"learning_rate", c.learning_rate},
          {"dno_eta", c.dno_eta},         {"inpo_eta", c.inpo_eta},
          {"inpo_tau", c.inpo_tau},       {"inpo_tau_decay", c.inpo_tau_decay},
          {"fixed_tau", c.fixed_tau},     {"dpo_beta", c.dpo_beta},
          {"dpo_pairs", c.dpo_pairs}};
}

}  // namespace

int main(int argc, char** argv) {
  polo::examples::NashConfig config;
  polo::examples::CommonOptions common(config.iterations);

  CLI::App app{"DNO and INPO reach the Nash policy of cyclic preferences; DPO does not",
               "nash_preferences"};
  polo::examples::add_common_options(app, common, "iterations (policy updates)");
  app.add_option("--pairs", config.pairs_per_iteration,
                 "pairs drawn from pi_t per iteration (0: their exact expectation)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--inner-steps", config.inner_steps, "Adam steps per iteration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--learning-rate", config.learning_rate, "Adam learning rate")
      ->capture_default_str();
  app.add_option("--dno-eta", config.dno_eta, "DNO's eta")->capture_default_str();
  app.add_option("--inpo-eta", config.inpo_eta, "INPO's eta")->capture_default_str();
  app.add_option("--inpo-tau", config.inpo_tau, "INPO's initial tau")->capture_default_str();
  app.add_option("--inpo-tau-decay", config.inpo_tau_decay,
                 "iterations for tau to halve: tau_t = tau / (1 + t / decay); 0 keeps tau fixed")
      ->capture_default_str();
  app.add_option("--fixed-tau", config.fixed_tau, "tau of the comparison INPO run")
      ->capture_default_str();
  app.add_option("--dpo-beta", config.dpo_beta, "DPO's beta")->capture_default_str();
  app.add_option("--dpo-pairs", config.dpo_pairs, "offline pairs for DPO, drawn from pi_ref")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  polo::examples::parse_or_exit(app, argc, argv);
  config.iterations = common.steps;
  config.seed = common.seed;

  try {
    polo::examples::RunOutput output(common.out);
    auto& log = output.log({"iteration", "dno_exploitability", "dno_last_exploitability",
                            "inpo_exploitability", "inpo_fixed_tau_exploitability",
                            "dpo_exploitability", "inpo_tau", "dno_loss", "inpo_loss", "dpo_loss"});
    polo::examples::ProgressLine progress(common.quiet ? nullptr : stdout);
    polo::examples::Stopwatch clock;
    const auto summary = polo::examples::run_nash_preferences(
        config, [&](const polo::examples::NashIterationLog& r) {
          log.row({static_cast<double>(r.iteration), r.dno, r.dno_last, r.inpo, r.inpo_fixed_tau,
                   r.dpo, r.tau, r.dno_loss, r.inpo_loss, r.dpo_loss});
          progress.update(fmt::format(
              "nash_preferences  iteration {:>4}/{}  exploitability: dno {:.4f} (last {:.3f})  "
              "inpo {:.4f} (tau {:.4f})  fixed tau {:.4f}  dpo {:.4f}",
              r.iteration, config.iterations, r.dno, r.dno_last, r.inpo, r.tau, r.inpo_fixed_tau,
              r.dpo));
        });
    const double wall = clock.seconds();
    const auto& f = summary.final;
    progress.finish(fmt::format(
        "nash_preferences  seed {}  {} iterations in {:.2f} s  final exploitability: dno {:.4f}  "
        "inpo {:.4f}  dpo {:.4f}  (dno last iterate {:.4f}, inpo fixed tau {:.4f})",
        config.seed, config.iterations, wall, f.dno, f.inpo, f.dpo, f.dno_last, f.inpo_fixed_tau));
    log.flush();
    const nlohmann::json j = {
        {"seed", config.seed},
        {"iterations", config.iterations},
        {"wall_seconds", wall},
        {"final_exploitability", {{"dno", f.dno}, {"inpo", f.inpo}, {"dpo", f.dpo}}},
        {"final_exploitability_other",
         {{"dno_last_iterate", f.dno_last}, {"inpo_fixed_tau", f.inpo_fixed_tau}}},
        {"nash_policy", to_vector(summary.nash.policy)},
        {"nash_exploitability", summary.nash.exploitability},
        {"nash_method", "simplex linear program (polo::nash_policy)"},
        {"policies",
         {{"dno", to_vector(summary.dno)},
          {"dno_last_iterate", to_vector(summary.dno_last)},
          {"inpo", to_vector(summary.inpo)},
          {"inpo_fixed_tau", to_vector(summary.inpo_fixed_tau)},
          {"dpo", to_vector(summary.dpo)}}},
        {"preference_matrix", matrix_json(summary.preferences)},
        {"hyperparameters", config_json(config)}};
    output.write_summary(j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nash_preferences: %s\n", e.what());
    return 1;
  }
  return 0;
}

// PPO on CartPole: polo's C++ trainer against a PyTorch eager implementation of the same recipe
// (benchmarks/ppo_cartpole_torch.py, one thread), interleaved, three runs each for the same
// number of environment steps. Prints the median steps per second of both and the median ratio.
//
//   build/benchmarks/ppo_cartpole [--steps N] [--runs N] [--seed N] [--json FILE]

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "benchmarks/common/python.hpp"
#include "benchmarks/common/report.hpp"
#include "benchmarks/common/timing.hpp"
#include "common/cli.hpp"
#include "polo/envs/cartpole.hpp"
#include "trainers/ppo_discrete.hpp"

namespace {

double median(std::vector<double> v) {
  return polo::bench::stats_of(std::move(v)).median;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t steps = 100'000;
  int runs = 3;
  std::uint64_t seed = 1;
  std::string json_path;
  CLI::App app{"PPO CartPole: polo vs PyTorch eager (same recipe, one thread)", "ppo_cartpole"};
  app.add_option("--steps", steps, "environment steps per run")->capture_default_str();
  app.add_option("--runs", runs, "runs of each implementation")->capture_default_str();
  app.add_option("--seed", seed, "seed of the first run (run k uses seed + k)")
      ->capture_default_str();
  app.add_option("--json", json_path, "write the report as JSON")->type_name("FILE");
  polo::examples::parse_or_exit(app, argc, argv);

  try {
    const std::string script = std::string(POLO_SOURCE_DIR) + "/benchmarks/ppo_cartpole_torch.py";
    std::vector<double> polo_sps, torch_sps, ratios, polo_return, torch_return;
    for (int k = 0; k < runs; ++k) {
      polo::examples::PPOConfig config;
      config.total_steps = steps;
      config.seed = seed + static_cast<std::uint64_t>(k);
      polo::examples::PPOTrainer<polo::CartPole> trainer(config, 2);
      const auto ours = trainer.run();
      const double ours_sps = static_cast<double>(ours.env_steps) / ours.wall_seconds;
      std::printf("run %d  polo:  %8.0f steps/s  final mean return %6.1f\n", k + 1, ours_sps,
                  ours.final_mean_return);

      const auto torch = polo::bench::run_python(
          script, {"--steps", std::to_string(steps), "--seed", std::to_string(config.seed),
                   "--threads", "1", "--quiet"});
      const double torch_run_sps = torch.at("steps_per_second").get<double>();
      std::printf("run %d  torch: %8.0f steps/s  final mean return %6.1f\n", k + 1, torch_run_sps,
                  torch.at("final_mean_return").get<double>());
      polo_sps.push_back(ours_sps);
      torch_sps.push_back(torch_run_sps);
      ratios.push_back(ours_sps / torch_run_sps);
      polo_return.push_back(ours.final_mean_return);
      torch_return.push_back(torch.at("final_mean_return").get<double>());
    }

    polo::bench::Report report("PPO CartPole-v1, CleanRL recipe, one thread (median of runs)");
    report.add("ppo_cartpole", {{"steps", steps},
                                {"runs", runs},
                                {"steps_per_second", median(polo_sps)},
                                {"torch_steps_per_second", median(torch_sps)},
                                {"speedup", median(ratios)},
                                {"final_mean_return", median(polo_return)},
                                {"torch_final_mean_return", median(torch_return)}});
    report.print();
    if (!json_path.empty()) report.write_json(json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ppo_cartpole benchmark: %s\n", e.what());
    return 1;
  }
  return 0;
}

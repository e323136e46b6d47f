// Upper bound for Knapsack RL's per-prompt gain on the arithmetic GRPO example: runs the example's
// trainer (uniform budget unless --budget knapsack) and, at every step, computes the exact success
// probability of each sampled prompt under the policy that sampled it (one correct response, so the
// product of the teacher-forced probabilities of the answer's tokens and the end token). Offline,
// for each step's rates, it compares the expected number of mixed groups (groups with a non-zero
// advantage) of: 8 rollouts each; the best allocation of the same rollouts (greedy on the marginal
// gains of P(mixed | N, p), exact because they never grow with N); and the paper's allocation
// (polo::KnapsackBudget, Value = P(mixed) p (1 - p)^2) fed the same exact rates.
//
//   tools/knapsack_bound.sh [--seed N] [--steps N] [--csv FILE] [--budget uniform|knapsack]
//       [--objective paper_value|mixed_groups|posterior_mixed_groups] [--prior A] [--buffer N]
//
// Under --budget knapsack it also gives the expected mixed groups of the run's own allocation on
// the same policy states, a comparison with uniform free of sampling noise.
//
// Also checks the exact rates against the empirical rate of many sampled completions of a few
// prompts, and the run's realized mixed groups against the expected number under uniform.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "polo/core/random.hpp"
#include "polo/sampling/knapsack.hpp"
#include "trainers/grpo_arithmetic.hpp"

namespace knapsack_bound {

using polo::Index;

/// One sampled group of the uniform run.
struct Visit {
  Index step;
  Index prompt;
  double rate;      ///< exact success probability under the sampling policy
  Index successes;  ///< of the group's rollouts
  Index rollouts;
};

double expected_mixed(const std::vector<double>& p, const std::vector<Index>& n) {
  double mixed = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i)
    mixed += polo::nonzero_gradient_probability(n[i], p[i]);
  return mixed;
}

/// max sum_i P(mixed | N_i, p_i) subject to sum N_i = total, lo <= N_i <= hi: the knapsack's
/// mixed_groups objective solved exactly (no "0 extra" quirk, no fallback), its greedy solver
/// being exact because the marginal gains never grow with N. Returns the expected number of mixed
/// groups.
double best_mixed(const std::vector<double>& p, Index total, Index lo, Index hi) {
  polo::KnapsackBudget best;
  best.objective = polo::KnapsackObjective::mixed_groups;
  best.official_zero_extra = false;
  best.solver = polo::KnapsackSolver::fast;
  best.fallback = false;
  best.uniform_n = best.min_n = best.negative_n = best.positive_n = lo;
  best.max_n = hi;
  const std::vector<std::uint8_t> valid(p.size(), 1);
  return expected_mixed(p, best.allocate(p, valid, total).rollouts);
}

/// Exact rates of a few prompts against the empirical rate of `samples` completions each.
void check_rates(polo::examples::GRPOArithmeticTrainer& trainer, std::span<const Index> ids,
                 Index samples, Index step) {
  std::vector<double> exact;
  trainer.success_probabilities(ids, exact);
  polo::examples::GRPOArithmeticTrainer::Matrix prompts;
  trainer.task().encode(ids, prompts);
  const polo::Groups groups =
      polo::Groups::uniform(static_cast<Index>(ids.size()) * samples, samples);
  polo::Rng gen(1000 + static_cast<std::uint64_t>(step));
  polo::Completions<float> out;
  polo::examples::GRPOArithmeticTrainer::Policy::Workspace ws;
  trainer.policy().sample(prompts, groups, gen, out, ws);
  for (Index g = 0; g < groups.count(); ++g) {
    Index hits = 0;
    for (Index i = groups.begin(g); i < groups.end(g); ++i)
      hits += trainer.task().correct(ids[static_cast<std::size_t>(g)], out.completion(i)) ? 1 : 0;
    const double empirical = static_cast<double>(hits) / static_cast<double>(samples);
    const double p = exact[static_cast<std::size_t>(g)];
    const double se = std::sqrt(std::max(p * (1.0 - p), 1e-12) / static_cast<double>(samples));
    std::printf(
        "rate check step %4lld prompt %-7s exact %.4f empirical %.4f (%lld samples, "
        "%.1f se)\n",
        static_cast<long long>(step),
        trainer.task().prompt_text(ids[static_cast<std::size_t>(g)]).c_str(), p, empirical,
        static_cast<long long>(samples), (empirical - p) / se);
  }
}

int run(int argc, char** argv) {
  polo::examples::GRPOArithmeticConfig config;
  std::string csv;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string flag = argv[a];
    if (flag == "--seed") {
      config.seed = std::strtoull(argv[a + 1], nullptr, 10);
    } else if (flag == "--steps") {
      config.steps = std::atoll(argv[a + 1]);
    } else if (flag == "--csv") {
      csv = argv[a + 1];
    } else if (flag == "--budget") {
      config.budget = std::string(argv[a + 1]) == "knapsack" ? polo::examples::BudgetMode::knapsack
                                                             : polo::examples::BudgetMode::uniform;
    } else if (flag == "--objective") {
      const std::string name = argv[a + 1];
      config.knapsack_objective = name == "mixed_groups" ? polo::KnapsackObjective::mixed_groups
                                  : name == "posterior_mixed_groups"
                                      ? polo::KnapsackObjective::posterior_mixed_groups
                                      : polo::KnapsackObjective::paper_value;
    } else if (flag == "--prior") {
      config.knapsack_prior = std::atof(argv[a + 1]);
    } else if (flag == "--buffer") {
      config.knapsack_buffer = std::atoll(argv[a + 1]);
    } else {
      std::fprintf(stderr, "knapsack_bound: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  config.eval_every = config.steps;
  polo::examples::GRPOArithmeticTrainer trainer(config);
  std::vector<Visit> visits;
  std::vector<double> rates;
  const std::vector<Index> check_steps{1, config.steps / 2, config.steps};
  trainer.set_sample_observer([&](const polo::examples::GRPOSampledBatch& b) {
    trainer.success_probabilities(b.prompts, rates);
    for (Index g = 0; g < b.groups->count(); ++g) {
      Index hits = 0;
      for (Index i = b.groups->begin(g); i < b.groups->end(g); ++i)
        hits += b.rewards[static_cast<std::size_t>(i)] > 0.0F ? 1 : 0;
      visits.push_back({b.step, b.prompts[static_cast<std::size_t>(g)],
                        rates[static_cast<std::size_t>(g)], hits, b.groups->size(g)});
    }
    if (std::find(check_steps.begin(), check_steps.end(), b.step) != check_steps.end()) {
      check_rates(trainer, b.prompts.subspan(0, 4), 4000, b.step);
    }
  });
  const auto summary = trainer.run();
  std::printf("budget %s, objective %s, prior %g\n",
              config.budget == polo::examples::BudgetMode::knapsack ? "knapsack" : "uniform",
              config.knapsack_objective == polo::KnapsackObjective::mixed_groups ? "mixed_groups"
              : config.knapsack_objective == polo::KnapsackObjective::posterior_mixed_groups
                  ? "posterior_mixed_groups"
                  : "paper_value",
              config.knapsack_prior);
  std::printf(
      "seed %llu: held-out accuracy %.3f -> %.3f, realized nonzero_gradient_fraction %.4f\n",
      static_cast<unsigned long long>(config.seed), summary.initial_accuracy,
      summary.final_accuracy, summary.nonzero_gradient_fraction);

  const Index per_step = config.prompts_per_step;
  const Index total = per_step * config.group_size;
  polo::KnapsackBudget paper;  // the example's knapsack settings
  paper.uniform_n = config.group_size;
  paper.min_n = config.knapsack_min;
  paper.max_n = config.knapsack_max;
  paper.positive_n = config.knapsack_positive;
  paper.negative_n = config.group_size;
  polo::KnapsackBudget paper_official = paper;  // run_knapsack_grpo_7b.sh's bounds
  paper_official.max_n = 128;
  paper_official.negative_n = 2;

  double realized = 0, allocated = 0, uniform = 0, best1 = 0, best2 = 0, best2_32 = 0, value = 0,
         value128 = 0;
  double expected_successes = 0, successes = 0;
  std::vector<double> p;
  std::vector<Index> sizes;
  const std::vector<std::uint8_t> valid(static_cast<std::size_t>(per_step), 1);
  const Index steps = static_cast<Index>(visits.size()) / per_step;
  for (Index s = 0; s < steps; ++s) {
    p.clear();
    sizes.clear();
    for (Index g = 0; g < per_step; ++g) {
      const Visit& v = visits[static_cast<std::size_t>(s * per_step + g)];
      p.push_back(std::clamp(v.rate, 0.0, 1.0));
      sizes.push_back(v.rollouts);
      realized += v.successes > 0 && v.successes < v.rollouts ? 1.0 : 0.0;
      successes += static_cast<double>(v.successes);
      expected_successes += v.rate * static_cast<double>(v.rollouts);
    }
    allocated += expected_mixed(p, sizes);
    uniform += expected_mixed(p, std::vector<Index>(p.size(), config.group_size));
    best1 += best_mixed(p, total, 1, total);
    best2 += best_mixed(p, total, 2, total);
    best2_32 += best_mixed(p, total, config.knapsack_min, config.knapsack_max);
    value += expected_mixed(p, paper.allocate(p, valid, total).rollouts);
    value128 += expected_mixed(p, paper_official.allocate(p, valid, total).rollouts);
  }
  const double prompts = static_cast<double>(steps * per_step);
  const auto line = [&](const char* what, double mixed) {
    std::printf("  %-58s %.4f  %+6.1f%%\n", what, mixed / prompts, 100.0 * (mixed / uniform - 1.0));
  };
  std::printf("successes: %.0f realized, %.1f expected from the exact rates\n", successes,
              expected_successes);
  std::printf("expected mixed groups / prompts over %lld steps (vs uniform):\n",
              static_cast<long long>(steps));
  line("realized in this run", realized);
  line("expected under this run's allocation", allocated);
  line("uniform 8 each", uniform);
  line("best, N_i >= 1", best1);
  line("best, N_i >= 2", best2);
  line("best, 2 <= N_i <= 32", best2_32);
  line("paper value, exact rates (min 2, max 32)", value);
  line("paper value, exact rates (min 2, max 128)", value128);

  if (!csv.empty()) {
    std::FILE* f = std::fopen(csv.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "knapsack_bound: cannot write %s\n", csv.c_str());
      return 1;
    }
    std::fprintf(f, "step,prompt,rate,successes,rollouts\n");
    for (const Visit& v : visits) {
      std::fprintf(f, "%lld,%lld,%.8g,%lld,%lld\n", static_cast<long long>(v.step),
                   static_cast<long long>(v.prompt), v.rate, static_cast<long long>(v.successes),
                   static_cast<long long>(v.rollouts));
    }
    std::fclose(f);
  }
  return 0;
}

}  // namespace knapsack_bound

int main(int argc, char** argv) {
  try {
    return knapsack_bound::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "knapsack_bound: %s\n", e.what());
    return 1;
  }
}

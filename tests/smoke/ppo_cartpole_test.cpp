// [smoke] PPO on CartPole learns: a short run of the example's own trainer must clearly beat a
// random policy (about 22 per episode) — a level an untrained or broken learner cannot reach.

#include "polo/envs/cartpole.hpp"
#include "test_support.hpp"
#include "trainers/ppo_discrete.hpp"

namespace ppo_cartpole_test {

polo::examples::PPOSummary train(std::uint64_t seed, polo::Index steps) {
  polo::examples::PPOConfig config;
  config.total_steps = steps;
  config.seed = seed;
  polo::examples::PPOTrainer<polo::CartPole> trainer(config, 2);
  return trainer.run();
}

TEST_CASE("PPO on CartPole beats a random policy within 50k steps", "[smoke][ppo]") {
  for (const std::uint64_t seed : {1U, 2U, 3U}) {
    const auto summary = train(seed, 50'000);
    INFO("seed " << seed << ": mean of the last 20 episodes " << summary.final_mean_return);
    // CleanRL's recipe is near 200 here; random play averages about 22, a policy stuck on one
    // action about 9.
    CHECK(summary.final_mean_return >= 120.0);
    CHECK(summary.env_steps == 49'664);  // 97 updates of 512 steps
  }
}

TEST_CASE("PPO on CartPole is deterministic under a seed", "[smoke][ppo]") {
  const auto a = train(7, 4'096);
  const auto b = train(7, 4'096);
  CHECK(a.final_mean_return == b.final_mean_return);
  CHECK(a.episodes == b.episodes);
}

}  // namespace ppo_cartpole_test

// [smoke] DPO on the arithmetic task learns: from a reference that answers about a fifth of the
// held-out sums, a short run of the example's own trainer must raise held-out accuracy and the
// held-out reward accuracy well beyond what a broken update reaches (a sign error or a dead
// gradient leaves the reward accuracy near its starting 0 and the accuracy at or below the
// reference's), and it must be deterministic under a seed.

#include "trainers/dpo_arithmetic.hpp"
#include "test_support.hpp"

namespace dpo_arithmetic_test {

TEST_CASE("DPO on arithmetic raises held-out accuracy and reward accuracy", "[smoke][dpo]") {
  polo::examples::DPOArithmeticConfig config;
  config.steps = 400;
  config.eval_every = config.steps;
  polo::examples::DPOArithmeticTrainer trainer(config);
  const auto s = trainer.run();
  INFO("held-out accuracy " << s.initial_accuracy << " -> " << s.final_accuracy
                            << ", reward accuracy " << s.before.reward_accuracy << " -> "
                            << s.after.reward_accuracy << ", pairs " << s.train_pairs);
  CHECK(s.before.reward_accuracy == 0.0);  // pi = pi_ref: every pair ties, and ties count wrong
  CHECK(s.final_accuracy >= s.initial_accuracy + 0.12);
  CHECK(s.after.reward_accuracy >= 0.8);
  // R* with alpha = 1 at beta 2 is far above the reference's own ranking accuracy: the gap.
  CHECK(s.idealized_ranking_accuracy >= s.before.ranking_accuracy);
}

TEST_CASE("DPO on arithmetic is deterministic under a seed", "[smoke][dpo]") {
  polo::examples::DPOArithmeticConfig config;
  config.seed = 5;
  config.warmup_steps = 300;
  config.pair_prompts = 800;
  config.steps = 10;
  config.eval_every = 10;
  const auto a = polo::examples::DPOArithmeticTrainer(config).run();
  const auto b = polo::examples::DPOArithmeticTrainer(config).run();
  CHECK(a.final_accuracy == b.final_accuracy);
  CHECK(a.after.loss == b.after.loss);
  CHECK(a.train_pairs == b.train_pairs);
}

}  // namespace dpo_arithmetic_test

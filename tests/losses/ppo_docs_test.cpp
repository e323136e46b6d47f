// The usage snippets of docs/algorithms/ppo.md, compiled and run: a PPO minibatch loss, the
// zero-allocation form, a KL penalty with an adaptive coefficient and the PPO-max reward path.

#include <cmath>

#include "polo/advantage/gae.hpp"
#include "polo/losses/kl.hpp"
#include "polo/losses/ppo.hpp"
#include "polo/losses/ppo_max.hpp"
#include "test_support.hpp"

TEST_CASE("docs/algorithms/ppo.md snippets", "[losses][ppo][docs]") {
  polo::Rng gen(41);
  const polo::Index B = 4;
  const polo::Index T = 6;
  const polo::TokenArrayf old_logp = polo_test::random_tokens(gen, B, T, -2.0, -0.1).cast<float>();
  const polo::TokenArrayf logp = old_logp + 0.05f;
  const polo::TokenArrayf advantages = polo_test::random_tokens(gen, B, T).cast<float>();
  const polo::TokenArrayf values = polo_test::random_tokens(gen, B, T).cast<float>();
  const polo::TokenArrayf old_values = values;
  const polo::TokenArrayf returns = polo_test::random_tokens(gen, B, T).cast<float>();
  const polo::TokenArrayf entropy = polo_test::random_tokens(gen, B, T, 0.1, 1.0).cast<float>();
  const polo::TokenArrayf ref_logp = old_logp;
  polo::MaskArray mask = polo::MaskArray::Ones(B, T);
  mask.rightCols(2).setZero();

  // --- snippet: one PPO minibatch -------------------------------------------------------------
  const polo::PPOClip policy{.epsilon_low = 0.2, .epsilon_high = 0.2};  // or polo::ppo_clip(0.2)
  const polo::ValueLoss value{.clip = 0.2};
  const polo::EntropyBonus bonus{};

  const auto pg = policy({logp, old_logp, advantages, mask});
  const auto vf = value({values, old_values, returns, mask});
  const auto ent = bonus({entropy, mask});
  const double loss = pg.value + 0.5 * vf.value + 0.01 * ent.value;  // CleanRL's coefficients
  // Chain into the model: d loss/d logp = pg.grad_logp, d loss/d V = 0.5 * vf.grad_values,
  // d loss/d H = 0.01 * ent.grad_entropy (then dH/dlogits from the categorical distribution).
  // pg.metrics.clip_fraction, pg.metrics.approx_kl, vf.metrics.explained_variance ... to log.
  // ---------------------------------------------------------------------------------------------
  CHECK(std::isfinite(loss));
  CHECK(pg.metrics.ratio_mean == Approx(std::exp(0.05)).epsilon(1e-5));

  // --- snippet: zero allocation ---------------------------------------------------------------
  polo::TokenArrayf grad_logp(B, T);  // allocated once, reused every minibatch
  const auto pg_value = policy.compute(polo::PolicyInputs<float>{logp, old_logp, advantages, mask},
                                       polo::TokenView<float>(grad_logp));
  // ---------------------------------------------------------------------------------------------
  CHECK(pg_value.value == pg.value);

  // --- snippet: KL penalty in the loss with an adaptive coefficient
  // -------------------------------
  const polo::AdaptiveKLController controller{.target = 6.0, .horizon = 10000.0};
  polo::KLControllerState beta{.coefficient = 0.2};  // caller-owned, lives across updates
  const polo::KLPenalty kl{.estimator = polo::KLEstimator::k3, .coefficient = beta.coefficient};
  const auto penalty = kl({logp, ref_logp, {}, mask});
  controller.update(beta, penalty.metrics.kl_mean * static_cast<double>(T), /*n_steps=*/B);
  // ---------------------------------------------------------------------------------------------
  CHECK(penalty.value > 0.0);
  CHECK(beta.coefficient < 0.2);  // observed KL below target: beta shrinks

  // --- snippet: PPO-max rewards -------------------------------------------------------------
  const polo::PPOMax recipe = polo::ppo_max();
  polo::RunningMoments moments;  // caller-owned reward history
  const polo::SeqArrayf scores = polo_test::random_seq(gen, B, -2.0, 2.0).cast<float>();
  polo::SeqArrayf normalized(B);
  recipe.reward(moments, polo::SeqView<const float>(scores), polo::SeqView<float>(normalized));
  const polo::TokenArrayf token_rewards = recipe.kl(
      polo::ShapedRewardInputs<float>{normalized, old_logp, ref_logp, mask});  // -beta k + score
  polo::GAEInputs<float> gae_in;
  gae_in.rewards = token_rewards;
  gae_in.values = old_values;
  gae_in.mask = mask;
  const auto gae = polo::GAE{.gamma = recipe.gamma, .lambda = recipe.lambda}(gae_in);
  const auto pg_max = recipe.policy({logp, old_logp, gae.advantages, mask});
  const auto vf_max = recipe.value({values, old_values, gae.returns, mask});
  // ---------------------------------------------------------------------------------------------
  CHECK(std::isfinite(pg_max.value + vf_max.value));
  CHECK((normalized.abs() <= 0.8f).all());
}

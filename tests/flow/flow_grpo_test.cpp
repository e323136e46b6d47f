// The DDPO / Flow-GRPO baseline: the preset's settings, and the whole chain — velocities ->
// SDE transition log-probs -> GRPO with group advantages -> d value / d v — against finite
// differences.

#include "polo/flow/flow_grpo.hpp"

#include "test_support.hpp"

namespace flow_grpo_test {

using polo::EulerMaruyamaSDE;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo::TokenView;

TEST_CASE("flow_grpo is GRPO with a symmetric clip, per-step means and a k3 KL", "[flow]") {
  const polo::GRPO g = polo::flow_grpo();
  CHECK(g.epsilon_low == 1e-4);
  CHECK(g.epsilon_high == 1e-4);
  CHECK(g.beta == 0.04);
  CHECK(g.loss_type == polo::GrpoLossType::grpo);
  const polo::GRPO h = polo::flow_grpo(0.2, 0.0);
  CHECK(h.epsilon_low == 0.2);
  CHECK(h.beta == 0.0);
}

/// B trajectories of K steps in D = 2, with fixed states; the velocities at every (i, k) are the
/// differentiable input, stored as [B K, 2] with row i K + k.
struct Chain {
  Index b = 4;
  Index k = 3;
  EulerMaruyamaSDE sde{.steps = 3, .noise_level = 0.7};
  TokenArrayd states;  // [B K, 2]
  TokenArrayd next;    // [B K, 2]
  TokenArrayd old_logp;
  TokenArrayd ref_v;  // set by the test, near its velocities
  SeqArrayd adv;
  polo::GRPO loss = polo::flow_grpo(0.05, 0.1);

  explicit Chain(polo::Rng& gen) {
    states = polo_test::random_tokens(gen, b * k, 2, -2.0, 2.0);
    next = polo_test::random_tokens(gen, b * k, 2, -2.0, 2.0);
    const SeqArrayd rewards = polo_test::random_seq(gen, b, 0.0, 1.0);
    adv = polo::flow_grpo_advantage()(rewards, polo::Groups::uniform(b, 2)).advantages;
  }

  /// logp [B, K] of the velocities, and d logp / d v [B K, 2] when wanted.
  TokenArrayd log_probs(const TokenArrayd& v, TokenArrayd* grad) const {
    TokenArrayd lp(b, k);
    for (Index s = 0; s < k; ++s) {
      const TokenView<const double> x(states.data() + s * 2, b, 2, k * 2);
      const TokenView<const double> xn(next.data() + s * 2, b, 2, k * 2);
      const TokenView<const double> vs(v.data() + s * 2, b, 2, k * 2);
      TokenView<double> g;
      if (grad != nullptr) g = TokenView<double>(grad->data() + s * 2, b, 2, k * 2);
      sde.log_prob(x, vs, xn, sde.time(s), polo::SeqView<double>(lp.data() + s, b, k), g);
    }
    return lp;
  }

  polo::GRPOResult<double> run(const TokenArrayd& v, TokenArrayd* grad) const {
    const TokenArrayd lp = log_probs(v, grad);
    const TokenArrayd ref_lp = log_probs(ref_v, nullptr);
    return loss(polo::GRPOInputs<double>{
        .logp = lp, .old_logp = old_logp, .ref_logp = ref_lp, .advantages = adv});
  }
};

TEST_CASE("Flow-GRPO's velocity gradient through the SDE log-probs matches finite differences",
          "[flow]") {
  polo::Rng gen(31);
  Chain c(gen);
  const TokenArrayd v0 = polo_test::random_tokens(gen, c.b * c.k, 2, -1.0, 1.0);
  // A reference near the policy: a far one makes k3 ~ e^50 and finite differences meaningless.
  c.ref_v = v0 + polo_test::random_tokens(gen, c.b * c.k, 2, -0.05, 0.05);
  // Old log-probs near the current ones: some ratios inside the clip, some outside.
  c.old_logp = c.log_probs(v0, nullptr) + polo_test::random_tokens(gen, c.b, c.k, -0.1, 0.1);
  TokenArrayd dlogp(c.b * c.k, 2);
  const auto r = c.run(v0, &dlogp);
  TokenArrayd grad_v(c.b * c.k, 2);
  for (Index n = 0; n < c.b * c.k; ++n)
    grad_v.row(n) = r.grad_logp(n / c.k, n % c.k) * dlogp.row(n);
  auto value = [&](const TokenArrayd& v) { return c.run(v, nullptr).value; };
  POLO_CHECK_GRADIENT(value, v0, grad_v);
  CHECK(r.metrics.kl_mean > 0.0);
  CHECK(r.metrics.clip_ratio_region > 0.0);
}

}  // namespace flow_grpo_test

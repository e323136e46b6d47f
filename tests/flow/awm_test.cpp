// AWM: the spec's T12 / T12b vectors, every weighting's gradient against finite differences, the
// anchors to the pretrained and EMA velocities, its relation to plain flow matching, the
// clipped group advantages and the error paths.

#include "polo/flow/awm.hpp"

#include <cmath>

#include "polo/flow/advantage.hpp"
#include "test_support.hpp"

namespace flow_awm_test {

using polo::AWM;
using polo::AWMInputs;
using polo::AWMWeighting;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo_test::Contains;
using polo_test::message_of;
using polo_test::tokens;

using polo_test::seq;

TEST_CASE("AWM matches T12 and T12b", "[flow]") {
  // T12: x0 = 1, eps = -0.5, t = 0.3, v = -1.2, A = 0.8: A FM = 0.072, d/dv = 0.48.
  const TokenArrayd v = tokens({{-1.2}});
  const TokenArrayd x0 = tokens({{1.0}});
  const TokenArrayd eps = tokens({{-0.5}});
  const SeqArrayd t = seq({0.3});
  const SeqArrayd a = seq({0.8});
  const AWM uniform{.weighting = AWMWeighting::uniform, .beta = 0.0};
  auto r =
      uniform(AWMInputs<double>{.velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = a});
  CHECK(r.value == Approx(0.072).epsilon(1e-12));
  CHECK(r.grad_velocity(0, 0) == Approx(0.48).epsilon(1e-12));
  CHECK(r.metrics.fm_loss == Approx(0.09).epsilon(1e-12));
  // ghuber (p = 0.25): ((0.09 + 1e-10)^0.25 - 1e-2.5) t / p = 0.653472 (the code's -log_prob).
  const AWM ghuber{.beta = 0.0};
  CHECK(ghuber.weigh(0.09, 0.3).value == Approx(0.653472).epsilon(1e-6));
  r = ghuber(AWMInputs<double>{.velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = a});
  CHECK(r.value == Approx(0.8 * 0.653472).epsilon(1e-6));
  CHECK(r.per_row[0] == Approx(0.8 * 0.653472).epsilon(1e-6));
  // d/dv = A t (mse + delta)^(p - 1) 2 e / D = 0.8 * 0.3 * 0.09^-0.75 * 0.6.
  CHECK(r.grad_velocity(0, 0) == Approx(0.8 * 0.3 * std::pow(0.09, -0.75) * 0.6).epsilon(1e-9));

  // T12b: x0 = [1, -0.5], eps = [0.3, 0.8], t = 0.6, v = [-0.5, 1], A = -0.4.
  const auto r2 = uniform(AWMInputs<double>{.velocity = tokens({{-0.5, 1.0}}),
                                            .x0 = tokens({{1.0, -0.5}}),
                                            .noise = tokens({{0.3, 0.8}}),
                                            .t = seq({0.6}),
                                            .advantages = seq({-0.4})});
  CHECK(r2.metrics.fm_loss == Approx(0.065).epsilon(1e-12));
  polo_test::check_tokens(r2.grad_velocity, tokens({{-0.08, 0.12}}), 1e-14);
}

TEST_CASE("AWM gradients match finite differences for every weighting, with both anchors",
          "[flow]") {
  polo::Rng gen(23);
  const Index samples = 3;
  const Index per = 2;
  const Index rows = samples * per;
  const Index dims = 2;
  const TokenArrayd x0 = polo_test::random_tokens(gen, samples, dims, -2.0, 2.0);
  const TokenArrayd eps = polo_test::random_tokens(gen, rows, dims, -2.0, 2.0);
  const SeqArrayd t = polo_test::random_seq(gen, rows, 0.05, 0.95);
  const SeqArrayd adv = polo_test::random_seq(gen, samples, -1.0, 1.0);
  const TokenArrayd ref = polo_test::random_tokens(gen, rows, dims, -2.0, 2.0);
  const TokenArrayd ema = polo_test::random_tokens(gen, rows, dims, -2.0, 2.0);
  const TokenArrayd v = polo_test::random_tokens(gen, rows, dims, -2.0, 2.0);
  for (const auto w : {AWMWeighting::uniform, AWMWeighting::t, AWMWeighting::t_squared,
                       AWMWeighting::huber, AWMWeighting::ghuber}) {
    const AWM awm{.weighting = w, .beta = 0.3, .beta_ema = 0.7};
    auto inputs = [&](const TokenArrayd& vel) {
      return AWMInputs<double>{.velocity = vel,
                               .x0 = x0,
                               .noise = eps,
                               .t = t,
                               .advantages = adv,
                               .ref_velocity = ref,
                               .ema_velocity = ema};
    };
    auto value = [&](const TokenArrayd& vel) { return awm(inputs(vel)).value; };
    INFO("weighting " << static_cast<int>(w));
    POLO_CHECK_GRADIENT(value, v, awm(inputs(v)).grad_velocity);
  }
}

TEST_CASE("AWM with uniform weighting and no anchors is advantage-weighted flow matching",
          "[flow]") {
  polo::Rng gen(4);
  const TokenArrayd x0 = polo_test::random_tokens(gen, 2, 3);
  const TokenArrayd eps = polo_test::random_tokens(gen, 4, 3);
  const TokenArrayd v = polo_test::random_tokens(gen, 4, 3);
  const SeqArrayd t = polo_test::random_seq(gen, 4, 0.1, 0.9);
  const SeqArrayd adv = seq({0.5, -0.25});
  const SeqArrayd w = seq({0.5, 0.5, -0.25, -0.25});  // each sample's A over its two rows
  const auto a = AWM{.weighting = AWMWeighting::uniform, .beta = 0.0}(
      AWMInputs<double>{.velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = adv});
  const auto f = polo::FlowMatching{}(polo::FlowMatchingInputs<double>{v, x0, eps, w});
  CHECK(a.value == Approx(f.value).epsilon(1e-14));
  polo_test::check_tokens(a.grad_velocity, f.grad_velocity, 1e-15);
  CHECK(a.metrics.fm_loss == Approx(f.metrics.mse).epsilon(1e-14));
}

TEST_CASE("AWM anchors: zero at the anchor, beta times the mean squared gap otherwise", "[flow]") {
  polo::Rng gen(6);
  const TokenArrayd x0 = polo_test::random_tokens(gen, 2, 2);
  const TokenArrayd eps = polo_test::random_tokens(gen, 2, 2);
  const TokenArrayd v = polo_test::random_tokens(gen, 2, 2);
  const SeqArrayd t = seq({0.3, 0.7});
  const SeqArrayd zero = seq({0.0, 0.0});
  const AWM awm{.beta = 0.5};
  auto r = awm(AWMInputs<double>{
      .velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = zero, .ref_velocity = v});
  CHECK(r.value == 0.0);
  CHECK((r.grad_velocity == 0.0).all());
  const TokenArrayd shifted = v + 0.2;
  r = awm(AWMInputs<double>{
      .velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = zero, .ref_velocity = shifted});
  CHECK(r.metrics.kl_ref == Approx(0.04).epsilon(1e-12));
  CHECK(r.value == Approx(0.5 * 0.04).epsilon(1e-12));
  // d/dv = (2 / (N D)) beta (v - v_ref) = 0.5 * 0.5 * -0.2 on every entry.
  CHECK((r.grad_velocity + 0.05).abs().maxCoeff() < 1e-15);
  // A positive advantage lowers, a negative one raises the flow-matching error of its sample.
  const auto up = AWM{.beta = 0.0}(AWMInputs<double>{
      .velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = seq({1.0, -1.0})});
  TokenArrayd moved = v - 1e-3 * up.grad_velocity;
  const auto fm_before = polo::FlowMatching{}(polo::FlowMatchingInputs<double>{v, x0, eps});
  const auto fm_after = polo::FlowMatching{}(polo::FlowMatchingInputs<double>{moved, x0, eps});
  CHECK(fm_after.per_row[0] < fm_before.per_row[0]);
  CHECK(fm_after.per_row[1] > fm_before.per_row[1]);
}

TEST_CASE("Clipped group advantages: batch std, clip, rescale", "[flow]") {
  // Rewards [0, 1, 2, 3] in one group: mean 1.5, unbiased std 1.290994; A = (R - 1.5) / (std +
  // 1e-4) = [-1.161805, -0.387268, 0.387268, 1.161805], then clip 5 and / 5.
  const SeqArrayd r = seq({0.0, 1.0, 2.0, 3.0});
  const polo::Groups one = polo::Groups::uniform(4, 4);
  const double s = std::sqrt(5.0 / 3.0) + 1e-4;
  auto a = polo::awm_advantage()(r, one);
  for (Index i = 0; i < 4; ++i)
    CHECK(a.advantages[i] == Approx((r[i] - 1.5) / s / 5.0).epsilon(1e-12));
  a = polo::ClippedGroupAdvantage{.clip = 1.0, .max = 1.0}(r, one);
  CHECK(a.advantages[0] == -1.0);
  CHECK(a.advantages[1] == Approx(-0.5 / s).epsilon(1e-12));
  CHECK(a.advantages[3] == 1.0);
  // Two groups [0, 1] and [2, 3]: per-group means, the batch std.
  a = polo::flow_grpo_advantage()(r, polo::Groups::uniform(4, 2));
  CHECK(a.advantages[0] == Approx(-0.5 / s).epsilon(1e-12));
  CHECK(a.advantages[3] == Approx(0.5 / s).epsilon(1e-12));
  CHECK_THAT(
      message_of<polo::invalid_argument>([&] { polo::ClippedGroupAdvantage{.clip = 0.0}(r, one); }),
      Contains("polo::ClippedGroupAdvantage: clip must be > 0, got 0"));
}

TEST_CASE("AWM refuses bad settings and inputs with messages", "[flow]") {
  const TokenArrayd v = tokens({{0.0, 1.0}, {1.0, 2.0}});
  const TokenArrayd x0 = tokens({{0.0, 0.0}});
  const TokenArrayd eps = tokens({{0.5, 0.5}, {1.0, 1.0}});
  const SeqArrayd t = seq({0.5, 0.2});
  const SeqArrayd a = seq({1.0});
  auto in = [&] {
    return AWMInputs<double>{.velocity = v, .x0 = x0, .noise = eps, .t = t, .advantages = a};
  };
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{}(in()); }),
             Contains("polo::AWM: ref_velocity must be given (beta > 0), got none"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{.beta = 0.0, .beta_ema = 1.0}(in()); }),
             Contains("ema_velocity must be given (beta_ema > 0)"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{.beta = -1.0}(in()); }),
             Contains("beta must be finite and >= 0, got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{.ghuber_power = 0.0}(in()); }),
             Contains("ghuber_power must be in (0, 1], got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{.delta = 0.0}(in()); }),
             Contains("delta must be > 0, got 0"));
  auto bad = in();
  const SeqArrayd a2 = seq({1.0, 2.0});
  bad.advantages = a2;
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{.beta = 0.0}(bad); }),
             Contains("advantages size must be [1], got [2]"));
  bad = in();
  const SeqArrayd t_bad = seq({0.5, -0.2});
  bad.t = t_bad;
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{.beta = 0.0}(bad); }),
             Contains("polo::AWM: t[1] must be in [0, 1], got -0.2"));
  bad = in();
  const TokenArrayd ref = tokens({{0.0, 0.0}});
  bad.ref_velocity = ref;
  CHECK_THAT(message_of<polo::invalid_argument>([&] { AWM{}(bad); }),
             Contains("ref_velocity shape must be [2, 2], got [1, 2]"));
  TokenArrayd v_inf = v;
  v_inf(1, 1) = polo_test::kInf;
  bad = in();
  bad.velocity = v_inf;
  try {
    AWM{.beta = 0.0}(bad);
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "velocity");
    CHECK(e.row() == 1);
    CHECK(e.col() == 1);
  }
}

}  // namespace flow_awm_test

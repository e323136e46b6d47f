// Euler ODE and Euler-Maruyama SDE samplers: exactness on a straight path, the SDE step's
// coefficients, its transition log-probability against the Gaussian density, the gradient with
// respect to the velocity, the recorded trajectory, and the error paths.

#include "polo/flow/samplers.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "polo/distributions/gaussian.hpp"
#include "test_support.hpp"

namespace flow_samplers_test {

using polo::EulerMaruyamaSDE;
using polo::EulerODE;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo::TokenView;
using polo_test::Contains;
using polo_test::message_of;

/// The exact velocity of the path to a point mass at c: v = (x - c) / t.
struct PointMassField {
  double cx = 1.5;
  double cy = -0.5;
  void operator()(TokenView<const double> x, double t, TokenView<double> v) const {
    for (Index n = 0; n < x.rows(); ++n) {
      v(n, 0) = (x(n, 0) - cx) / t;
      v(n, 1) = (x(n, 1) - cy) / t;
    }
  }
};

TEST_CASE("Euler ODE follows a straight path exactly", "[flow]") {
  // Along x_t = (1 - t) c + t eps the exact velocity is the constant eps - c: Euler is exact.
  polo::Rng gen(4);
  TokenArrayd x = polo_test::random_tokens(gen, 16, 2, -3.0, 3.0);
  EulerODE{.steps = 7}.sample(PointMassField{}, TokenView<double>(x));
  for (Index n = 0; n < x.rows(); ++n) {
    CHECK(x(n, 0) == Approx(1.5).margin(1e-12));
    CHECK(x(n, 1) == Approx(-0.5).margin(1e-12));
  }
  // A constant field moves every point by -v over the unit interval.
  TokenArrayd y = polo_test::tokens({{0.0, 1.0}, {2.0, -1.0}});
  auto constant = [](TokenView<const double> x, double, TokenView<double> v) {
    for (Index n = 0; n < x.rows(); ++n) {
      v(n, 0) = 0.5;
      v(n, 1) = -2.0;
    }
  };
  EulerODE{.steps = 4}.sample(constant, TokenView<double>(y));
  polo_test::check_tokens(y, polo_test::tokens({{-0.5, 3.0}, {1.5, 1.0}}), 1e-14);
}

TEST_CASE("SDE step coefficients", "[flow]") {
  const EulerMaruyamaSDE sde{.steps = 10, .noise_level = 0.7};
  // t = 0.5: sigma = 0.7 sqrt(0.5 / 0.5) = 0.7, h = 0.1.
  auto s = sde.step(0.5);
  CHECK(s.h == Approx(0.1));
  CHECK(s.sigma == Approx(0.7).epsilon(1e-15));
  CHECK(s.std == Approx(0.7 * std::sqrt(0.1)).epsilon(1e-15));
  CHECK(s.mean_x == Approx(1.0 - 0.1 * 0.49 / 1.0).epsilon(1e-15));
  CHECK(s.mean_v == Approx(-0.1 * (1.0 + 0.49 * 0.5 / 1.0)).epsilon(1e-15));
  // t = 1: the 1 / (1 - t) uses the next grid time 0.9 (Flow-GRPO's sigma_max = sigmas[1]).
  s = sde.step(1.0);
  CHECK(s.sigma == Approx(0.7 * std::sqrt(1.0 / 0.1)).epsilon(1e-14));
  CHECK(s.mean_v == Approx(-0.1).epsilon(1e-15));  // (1 - t) = 0
  CHECK(sde.time(0) == 1.0);
  CHECK(sde.time(10) == 0.0);
}

TEST_CASE("SDE transition log-probability is the Gaussian density of the step", "[flow]") {
  polo::Rng gen(8);
  const EulerMaruyamaSDE sde{.steps = 8, .noise_level = 0.6};
  const Index n = 5;
  const TokenArrayd x = polo_test::random_tokens(gen, n, 3, -2.0, 2.0);
  const TokenArrayd v = polo_test::random_tokens(gen, n, 3, -2.0, 2.0);
  const TokenArrayd x_next = polo_test::random_tokens(gen, n, 3, -2.0, 2.0);
  for (const double t : {1.0, 0.625, 0.125}) {
    SeqArrayd lp(n);
    sde.log_prob<double>(x, v, x_next, t, lp);
    // Independent reference: the mean written out, and polo's diagonal Gaussian.
    const double h = 1.0 / 8.0;
    const double sigma = 0.6 * std::sqrt(t / (1.0 - std::min(t, 1.0 - h)));
    TokenArrayd mean = x - h * (v + sigma * sigma / (2.0 * t) * (x + (1.0 - t) * v));
    TokenArrayd log_std = TokenArrayd::Constant(n, 3, std::log(sigma * std::sqrt(h)));
    const SeqArrayd ref =
        polo::DiagonalGaussian::log_prob(TokenView<const double>(mean), log_std, x_next);
    for (Index k = 0; k < n; ++k) {
      INFO("t " << t << ", row " << k);
      CHECK(lp[k] == Approx(ref[k]).epsilon(1e-12));
      // And the density by hand for the first row.
      if (k == 0) {
        double q = 0.0;
        const double var = sigma * sigma * h;
        for (Index d = 0; d < 3; ++d)
          q += (x_next(0, d) - mean(0, d)) * (x_next(0, d) - mean(0, d));
        const double by_hand = -0.5 * q / var - 1.5 * std::log(2.0 * std::numbers::pi * var);
        CHECK(lp[0] == Approx(by_hand).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("SDE transition log-probability gradient with respect to v matches finite differences",
          "[flow]") {
  polo::Rng gen(9);
  const EulerMaruyamaSDE sde{.steps = 5, .noise_level = 0.7};
  const Index n = 4;
  const TokenArrayd x = polo_test::random_tokens(gen, n, 2, -2.0, 2.0);
  const TokenArrayd v0 = polo_test::random_tokens(gen, n, 2, -2.0, 2.0);
  const TokenArrayd x_next = polo_test::random_tokens(gen, n, 2, -2.0, 2.0);
  const SeqArrayd w = polo_test::random_seq(gen, n);  // a weighted sum of the rows' log-probs
  for (const double t : {1.0, 0.6, 0.2}) {
    auto value = [&](const TokenArrayd& v) {
      SeqArrayd lp(n);
      sde.log_prob<double>(x, v, x_next, t, lp);
      return (w * lp).sum();
    };
    SeqArrayd lp(n);
    TokenArrayd grad(n, 2);
    sde.log_prob<double>(x, v0, x_next, t, lp, grad);
    TokenArrayd weighted = grad;
    for (Index k = 0; k < n; ++k)
      weighted.row(k) *= w[k];
    POLO_CHECK_GRADIENT(value, v0, weighted);
  }
}

TEST_CASE("SDE sampling records its trajectory and is deterministic under a seed", "[flow]") {
  const EulerMaruyamaSDE sde{.steps = 6, .noise_level = 0.7};
  polo::Rng gen(21);
  TokenArrayd x = polo_test::random_tokens(gen, 8, 2);
  const TokenArrayd start = x;
  polo::SdeTrajectory<double> traj;
  polo::Rng a(5);
  sde.sample(PointMassField{}, a, TokenView<double>(x), &traj);
  REQUIRE(traj.states.size() == 7);
  REQUIRE(traj.times.size() == 6);
  REQUIRE(traj.log_prob.rows() == 8);
  REQUIRE(traj.log_prob.cols() == 6);
  polo_test::check_tokens(traj.states[0], start, 0.0);
  polo_test::check_tokens(traj.states[6], x, 0.0);
  // Recomputing each step's log-probability from the stored states gives the recorded one.
  for (Index k = 0; k < 6; ++k) {
    const auto& s = traj.states[static_cast<std::size_t>(k)];
    TokenArrayd v(8, 2);
    PointMassField{}(s, traj.times[static_cast<std::size_t>(k)], v);
    SeqArrayd lp(8);
    sde.log_prob<double>(s, v, traj.states[static_cast<std::size_t>(k) + 1], sde.time(k), lp);
    for (Index n = 0; n < 8; ++n)
      CHECK(lp[n] == Approx(traj.log_prob(n, k)).epsilon(1e-12));
  }
  TokenArrayd y = start;
  polo::Rng b(5);
  sde.sample(PointMassField{}, b, TokenView<double>(y));
  polo_test::check_tokens(y, x, 0.0);
}

TEST_CASE("SDE samples of a point-mass path end near the point", "[flow]") {
  // The SDE keeps the marginals of the path in continuous time; with 20 Euler-Maruyama steps the
  // samples of a point mass must land near it, with a spread of the order of the last step's
  // noise.
  polo::Rng gen(3);
  TokenArrayd x(4000, 2);
  for (Index k = 0; k < x.size(); ++k)
    x.data()[k] = polo::normal(gen);
  EulerMaruyamaSDE{.steps = 20, .noise_level = 0.7}.sample(PointMassField{}, gen,
                                                           TokenView<double>(x));
  CHECK(x.col(0).mean() == Approx(1.5).margin(0.03));
  CHECK(x.col(1).mean() == Approx(-0.5).margin(0.03));
  const double spread = std::sqrt((x.col(0) - 1.5).square().mean());
  CHECK(spread < 0.2);
}

TEST_CASE("Samplers refuse bad settings and inputs", "[flow]") {
  TokenArrayd x = polo_test::tokens({{0.0, 0.0}});
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { EulerODE{.steps = 0}.sample(PointMassField{}, TokenView<double>(x)); }),
             Contains("polo::EulerODE: steps must be >= 1, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)EulerMaruyamaSDE{.noise_level = 0.0}.step(0.5); }),
             Contains("polo::EulerMaruyamaSDE: noise_level must be finite and > 0, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)EulerMaruyamaSDE{}.step(0.0); }),
             Contains("t must be in (0, 1], got 0"));
  const TokenArrayd v(2, 2);
  SeqArrayd lp(1);
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { EulerMaruyamaSDE{}.log_prob<double>(x, v, x, 0.5, lp); }),
             Contains("polo::EulerMaruyamaSDE::log_prob: v shape must be [1, 2], got [2, 2]"));
  TokenArrayd nan = x;
  nan(0, 1) = polo_test::kNaN;
  try {
    EulerMaruyamaSDE{}.log_prob<double>(x, x, nan, 0.5, lp);
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "x_next");
    CHECK(e.col() == 1);
  }
}

}  // namespace flow_samplers_test

// Flow matching: the linear path, the loss and its gradient (T12, T12b of the spec), the exact
// velocity of known paths, timestep sampling, and the error paths.

#include "polo/flow/flow_matching.hpp"

#include <cmath>

#include "test_support.hpp"

namespace flow_matching_test {

using polo::FlowMatching;
using polo::FlowMatchingInputs;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo::TokenView;
using polo_test::Contains;
using polo_test::message_of;
using polo_test::tokens;

TEST_CASE("flow_interpolate gives x_t and the target of T12 and T12b", "[flow]") {
  const TokenArrayd x0 = tokens({{1.0, -0.5}});
  const TokenArrayd eps = tokens({{0.3, 0.8}});
  SeqArrayd t(1);
  t << 0.6;
  TokenArrayd xt(1, 2);
  TokenArrayd target(1, 2);
  polo::flow_interpolate<double>(x0, eps, t, xt, target);
  polo_test::check_tokens(xt, tokens({{0.58, 0.28}}), 1e-15);
  polo_test::check_tokens(target, tokens({{-0.7, 1.3}}), 1e-15);

  const TokenArrayd a = tokens({{1.0}});
  const TokenArrayd e = tokens({{-0.5}});
  SeqArrayd t1(1);
  t1 << 0.3;
  TokenArrayd x1(1, 1);
  polo::flow_interpolate<double>(a, e, t1, x1, {});
  CHECK(x1(0, 0) == Approx(0.55).epsilon(1e-15));
}

TEST_CASE("Flow matching matches T12 and T12b with weights as advantages", "[flow]") {
  const FlowMatching fm;
  // T12: x0 = 1, eps = -0.5, v = -1.2, A = 0.8: A * FM = 0.072, d/dv = 0.48.
  const TokenArrayd v = tokens({{-1.2}});
  const TokenArrayd x0 = tokens({{1.0}});
  const TokenArrayd eps = tokens({{-0.5}});
  SeqArrayd w(1);
  w << 0.8;
  auto r = fm(FlowMatchingInputs<double>{v, x0, eps, w});
  CHECK(r.value == Approx(0.072).epsilon(1e-12));
  CHECK(r.grad_velocity(0, 0) == Approx(0.48).epsilon(1e-12));
  CHECK(r.per_row[0] == Approx(0.09).epsilon(1e-12));
  CHECK(r.metrics.mse == Approx(0.09).epsilon(1e-12));

  // T12b: dim-mean MSE 0.065, d(A MSE)/dv = [-0.08, 0.12] with A = -0.4.
  const TokenArrayd v2 = tokens({{-0.5, 1.0}});
  const TokenArrayd x02 = tokens({{1.0, -0.5}});
  const TokenArrayd eps2 = tokens({{0.3, 0.8}});
  SeqArrayd w2(1);
  w2 << -0.4;
  r = fm(FlowMatchingInputs<double>{v2, x02, eps2, w2});
  CHECK(r.per_row[0] == Approx(0.065).epsilon(1e-12));
  CHECK(r.value == Approx(-0.4 * 0.065).epsilon(1e-12));
  polo_test::check_tokens(r.grad_velocity, tokens({{-0.08, 0.12}}), 1e-14);
}

TEST_CASE("Flow matching gradient matches finite differences", "[flow]") {
  polo::Rng gen(11);
  const Index samples = 3;
  const Index per = 2;
  const Index dims = 3;
  const TokenArrayd x0 = polo_test::random_tokens(gen, samples, dims, -2.0, 2.0);
  const TokenArrayd eps = polo_test::random_tokens(gen, samples * per, dims, -2.0, 2.0);
  const SeqArrayd w = polo_test::random_seq(gen, samples * per, -1.0, 1.0);
  const TokenArrayd v = polo_test::random_tokens(gen, samples * per, dims, -2.0, 2.0);
  const FlowMatching fm;
  for (const bool weighted : {false, true}) {
    auto value = [&](const TokenArrayd& x) {
      FlowMatchingInputs<double> in{x, x0, eps};
      if (weighted) in.weights = w;
      return fm(in).value;
    };
    FlowMatchingInputs<double> in{v, x0, eps};
    if (weighted) in.weights = w;
    POLO_CHECK_GRADIENT(value, v, fm(in).grad_velocity);
  }
}

TEST_CASE("Flow matching broadcasts x0 over each sample's timesteps", "[flow]") {
  polo::Rng gen(3);
  const TokenArrayd x0 = polo_test::random_tokens(gen, 2, 2);
  TokenArrayd repeated(6, 2);
  for (Index n = 0; n < 6; ++n)
    repeated.row(n) = x0.row(n / 3);
  const TokenArrayd eps = polo_test::random_tokens(gen, 6, 2);
  const TokenArrayd v = polo_test::random_tokens(gen, 6, 2);
  const FlowMatching fm;
  const auto a = fm(FlowMatchingInputs<double>{v, x0, eps});
  const auto b = fm(FlowMatchingInputs<double>{v, repeated, eps});
  CHECK(a.value == b.value);
  polo_test::check_tokens(a.grad_velocity, b.grad_velocity, 0.0);
}

TEST_CASE("The exact velocity of a point-mass path has zero flow-matching loss", "[flow]") {
  // Data at c: x_t = (1 - t) c + t eps, and v*(x, t) = (x - c) / t equals eps - c exactly.
  polo::Rng gen(5);
  const Index n = 64;
  TokenArrayd x0(n, 2);
  x0.col(0).setConstant(1.5);
  x0.col(1).setConstant(-0.5);
  const TokenArrayd eps = polo_test::random_tokens(gen, n, 2, -3.0, 3.0);
  SeqArrayd t(n);
  polo::TimestepSampler{.t_min = 0.05}.sample(gen, polo::SeqView<double>(t));
  TokenArrayd xt(n, 2);
  polo::flow_interpolate<double>(x0, eps, t, xt, {});
  TokenArrayd v(n, 2);
  for (Index k = 0; k < n; ++k) {
    v(k, 0) = (xt(k, 0) - 1.5) / t[k];
    v(k, 1) = (xt(k, 1) + 0.5) / t[k];
  }
  const auto r = FlowMatching{}(FlowMatchingInputs<double>{v, x0, eps});
  CHECK(r.value == Approx(0.0).margin(1e-24));
}

TEST_CASE(
    "At the exact marginal velocity of Gaussian data the loss gradient is zero in "
    "expectation",
    "[flow]") {
  // x0 ~ N(mu, s^2), eps ~ N(0, 1): v*(x, t) = E[eps - x0 | x_t] = -mu + c (x - (1 - t) mu) with
  // c = (t - (1 - t) s^2) / V, V = (1 - t)^2 s^2 + t^2; the residual E[(v* - u)^2] is s^2 / V.
  polo::Rng gen(17);
  const double mu = 0.7;
  const double s = 0.5;
  const double t0 = 0.4;
  const Index n = 200'000;
  TokenArrayd x0(n, 1);
  TokenArrayd eps(n, 1);
  for (Index k = 0; k < n; ++k) {
    x0(k, 0) = polo::normal(gen, mu, s);
    eps(k, 0) = polo::normal(gen);
  }
  SeqArrayd t = SeqArrayd::Constant(n, t0);
  TokenArrayd xt(n, 1);
  polo::flow_interpolate<double>(x0, eps, t, xt, {});
  const double var = (1 - t0) * (1 - t0) * s * s + t0 * t0;
  const double c = (t0 - (1 - t0) * s * s) / var;
  TokenArrayd v(n, 1);
  for (Index k = 0; k < n; ++k)
    v(k, 0) = -mu + c * (xt(k, 0) - (1 - t0) * mu);
  const auto r = FlowMatching{}(FlowMatchingInputs<double>{v, x0, eps});
  CHECK(r.value == Approx(s * s / var).epsilon(0.01));
  // Half the summed gradient, mean(v - u), estimates E[v* - u] = 0; its standard error is
  // sqrt(s^2 / V / N), about 0.0017 here.
  const double mean_error = r.grad_velocity.sum() / 2.0;
  CHECK(std::abs(mean_error) < 0.007);
  // A velocity off by 0.1 is not a minimizer: its mean error is 0.1.
  TokenArrayd off = v + 0.1;
  const auto r2 = FlowMatching{}(FlowMatchingInputs<double>{off, x0, eps});
  CHECK(r2.grad_velocity.sum() / 2.0 == Approx(0.1).margin(0.007));
  CHECK(r2.value > r.value);
}

TEST_CASE("Flow matching runs in float and agrees with double", "[flow]") {
  polo::Rng gen(2);
  const TokenArrayd x0 = polo_test::random_tokens(gen, 4, 2);
  const TokenArrayd eps = polo_test::random_tokens(gen, 4, 2);
  const TokenArrayd v = polo_test::random_tokens(gen, 4, 2);
  const polo::TokenArrayf x0f = x0.cast<float>();
  const polo::TokenArrayf epsf = eps.cast<float>();
  const polo::TokenArrayf vf = v.cast<float>();
  const auto d = FlowMatching{}(FlowMatchingInputs<double>{v, x0, eps});
  const auto f = FlowMatching{}(FlowMatchingInputs<float>{vf, x0f, epsf});
  CHECK(f.value == Approx(d.value).epsilon(1e-5));
  polo_test::check_tokens(f.grad_velocity.cast<double>(), d.grad_velocity, 1e-6);
}

TEST_CASE("Flow matching refuses bad inputs with messages", "[flow]") {
  const TokenArrayd v = tokens({{0.0, 1.0}, {1.0, 2.0}, {2.0, 3.0}});
  const TokenArrayd x0 = tokens({{0.0, 0.0}, {1.0, 1.0}});
  const TokenArrayd eps = tokens({{0.0, 0.0}, {1.0, 1.0}, {2.0, 2.0}});
  const FlowMatching fm;
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               fm(FlowMatchingInputs<double>{v, x0, eps});
             }),
             Contains("polo::FlowMatching: x0 rows must be a positive divisor of the velocity "
                      "rows (3)") &&
                 Contains("got 2"));
  const TokenArrayd x01 = tokens({{0.0, 0.0}});
  const TokenArrayd eps_bad = tokens({{0.0, 0.0}});
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               fm(FlowMatchingInputs<double>{v, x01, eps_bad});
             }),
             Contains("noise shape must be [3, 2], got [1, 2]"));
  SeqArrayd w(2);
  w << 1.0, 1.0;
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               fm(FlowMatchingInputs<double>{v, x01, eps, w});
             }),
             Contains("weights size must be [3], got [2]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { fm(FlowMatchingInputs<double>{}); }),
             Contains("velocity must be given"));
  TokenArrayd v_nan = v;
  v_nan(1, 0) = polo_test::kNaN;
  try {
    fm(FlowMatchingInputs<double>{v_nan, x01, eps});
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "velocity");
    CHECK(e.row() == 1);
    CHECK(e.col() == 0);
  }
  SeqArrayd t(3);
  t << 0.5, 1.5, 0.2;
  TokenArrayd xt(3, 2);
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::flow_interpolate<double>(x01, eps, t, xt, {}); }),
             Contains("polo::flow_interpolate: t[1] must be in [0, 1], got 1.5"));
}

TEST_CASE("Timesteps: uniform in range, stratified per stratum, logit-normal, shift", "[flow]") {
  polo::Rng gen(7);
  SeqArrayd t(4000);
  const polo::TimestepSampler uni{.t_min = 0.05, .t_max = 0.95};
  uni.sample(gen, polo::SeqView<double>(t));
  CHECK(t.minCoeff() >= 0.05);
  CHECK(t.maxCoeff() < 0.95);
  CHECK(t.mean() == Approx(0.5).margin(0.02));

  SeqArrayd s(4);
  const polo::TimestepSampler strat{.stratified = true};
  for (int rep = 0; rep < 50; ++rep) {
    strat.sample(gen, polo::SeqView<double>(s));
    for (Index k = 0; k < 4; ++k) {
      CHECK(s[k] >= 0.25 * static_cast<double>(k));
      CHECK(s[k] < 0.25 * static_cast<double>(k + 1));
    }
  }

  const polo::TimestepSampler logit{.distribution = polo::TimestepDistribution::logit_normal};
  logit.sample(gen, polo::SeqView<double>(t));
  CHECK(t.minCoeff() > 0.0);
  CHECK(t.maxCoeff() < 1.0);
  CHECK(t.mean() == Approx(0.5).margin(0.02));
  // sigmoid(N(0, 1)) has P(t < sigmoid(-1)) = P(z < -1) = 0.1587.
  const double below = (t < polo::sigmoid(-1.0)).cast<double>().mean();
  CHECK(below == Approx(0.1587).margin(0.02));

  // The shift maps the median 0.5 to 3 * 0.5 / (1 + 2 * 0.5) = 0.75.
  const polo::TimestepSampler shifted{.stratified = true, .shift = 3.0};
  SeqArrayd one(1);
  polo::Rng g2(1);
  shifted.sample(g2, polo::SeqView<double>(one));
  polo::Rng g3(1);
  const double u = polo::uniform(g3);
  CHECK(one[0] == Approx(3.0 * u / (1.0 + 2.0 * u)).epsilon(1e-15));

  // Deterministic under a seed.
  polo::Rng a(9);
  polo::Rng b(9);
  CHECK(uni(a) == uni(b));
}

TEST_CASE("Timestep sampler refuses bad settings", "[flow]") {
  polo::Rng gen(1);
  auto msg = [&](polo::TimestepSampler s) {
    return message_of<polo::invalid_argument>([&] { (void)s(gen); });
  };
  CHECK_THAT(msg({.t_min = 0.6, .t_max = 0.5}),
             Contains("polo::TimestepSampler: t_max must be in [0.6, 1], got 0.5"));
  CHECK_THAT(msg({.t_min = -0.1}), Contains("t_min must be in [0, 1], got -0.1"));
  CHECK_THAT(msg({.logit_std = 0.0}), Contains("logit_std must be > 0, got 0"));
  CHECK_THAT(msg({.shift = 0.0}), Contains("shift must be finite and > 0, got 0"));
  CHECK_THAT(msg({.distribution = polo::TimestepDistribution::logit_normal, .stratified = true}),
             Contains("stratified must be false unless distribution is uniform"));
}

}  // namespace flow_matching_test

// The 2-D flow target: mode centres, the reward's values, the data's statistics, the two
// fractions the example reports, determinism and the error paths.

#include "polo/envs/flow2d.hpp"

#include <cmath>

#include "test_support.hpp"

namespace flow2d_test {

using polo::Flow2D;
using polo::Index;
using polo::TokenArrayd;
using polo::TokenView;
using polo_test::Contains;
using polo_test::message_of;

TEST_CASE("Flow2D centres lie on the ring", "[envs]") {
  const Flow2D task;
  CHECK(task.centre(0)[0] == Approx(2.0));
  CHECK(task.centre(0)[1] == Approx(0.0).margin(1e-15));
  CHECK(task.centre(2)[0] == Approx(0.0).margin(1e-15));
  CHECK(task.centre(2)[1] == Approx(2.0));
  CHECK(task.centre(5)[0] == Approx(-std::sqrt(2.0)));
  CHECK(task.centre(5)[1] == Approx(-std::sqrt(2.0)));
}

TEST_CASE("Flow2D reward prefers modes 0 and 2 and is smooth", "[envs]") {
  const Flow2D task;
  // At a preferred centre: 1 plus the other preferred mode's bump, exp(-8 / 0.5).
  CHECK(task.reward(2.0, 0.0) == Approx(1.0 + std::exp(-16.0)).epsilon(1e-14));
  // Mode 1 at (sqrt 2, sqrt 2) is 1.530734 from both preferred centres: 2 exp(-2.343146 / 0.5).
  const double d2 = std::pow(2.0 - std::sqrt(2.0), 2) + 2.0;
  CHECK(task.reward(std::sqrt(2.0), std::sqrt(2.0)) ==
        Approx(2.0 * std::exp(-d2 / 0.5)).epsilon(1e-14));
  CHECK(task.reward(std::sqrt(2.0), std::sqrt(2.0)) == Approx(0.0184416).epsilon(1e-5));
  CHECK(task.reward(-2.0, 0.0) < 1e-6);
  // Graded: 0.25 away from a preferred centre earns exp(-0.0625 / 0.5) = 0.882497.
  CHECK(task.reward(2.25, 0.0) == Approx(0.882497).epsilon(1e-5));
}

TEST_CASE("Flow2D data: on the support, a quarter on the preferred modes, deterministic",
          "[envs]") {
  const Flow2D task;
  polo::Rng gen(12);
  TokenArrayd x(20'000, 2);
  task.sample(gen, TokenView<double>(x));
  // Within 3 std of its own mode: 1 - exp(-4.5) = 0.988891 for a 2-D Gaussian.
  CHECK(task.on_support_fraction(TokenView<const double>(x)) == Approx(0.988891).margin(0.004));
  // Within 0.5 of modes 0 or 2: 2 / 8 of the samples times 1 - exp(-0.5 (0.5 / 0.15)^2).
  const double p = 0.25 * (1.0 - std::exp(-0.5 * std::pow(0.5 / 0.15, 2)));
  CHECK(task.preferred_fraction(TokenView<const double>(x)) == Approx(p).margin(0.01));
  CHECK(x.mean() == Approx(0.0).margin(0.03));
  // Each mode holds an eighth; the two preferred ones add up to the preferred fraction.
  const TokenView<const double> xv(x);
  CHECK(task.mode_fraction(xv, 3) == Approx(p / 2.0).margin(0.01));
  CHECK(task.mode_fraction(xv, 0) + task.mode_fraction(xv, 2) ==
        Approx(task.preferred_fraction(xv)).epsilon(1e-12));
  polo::Rng a(3);
  polo::Rng b(3);
  TokenArrayd y(10, 2);
  TokenArrayd z(10, 2);
  task.sample(a, TokenView<double>(y));
  task.sample(b, TokenView<double>(z));
  CHECK((y == z).all());
  polo::SeqArrayd r(10);
  task.rewards(TokenView<const double>(y), polo::SeqView<double>(r));
  CHECK(r[3] == task.reward(y(3, 0), y(3, 1)));
}

TEST_CASE("Flow2D refuses bad settings and inputs", "[envs]") {
  Flow2D task;
  task.preferred = {0, 8};
  TokenArrayd x(3, 2);
  x.setZero();
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)task.preferred_fraction(TokenView<const double>(x)); }),
             Contains("polo::Flow2D: preferred mode must be in [0, 8), got 8"));
  task.preferred.clear();
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)task.on_support_fraction(TokenView<const double>(x)); }),
             Contains("preferred must be non-empty"));
  const Flow2D ok;
  TokenArrayd three(2, 3);
  three.setZero();
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)ok.on_support_fraction(TokenView<const double>(three)); }),
             Contains("polo::Flow2D::on_support_fraction: x columns must be 2 (points [N, 2]), "
                      "got 3"));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)ok.mode_fraction(TokenView<const double>(x), 8); }),
             Contains("polo::Flow2D::mode_fraction: k must be in [0, 8), got 8"));
  polo::SeqArrayd r(1);
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { ok.rewards(TokenView<const double>(x), polo::SeqView<double>(r)); }),
             Contains("out size must be [3], got [1]"));
}

}  // namespace flow2d_test

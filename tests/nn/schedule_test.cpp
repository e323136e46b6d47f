// Schedules and the parameter EMA.

#include "polo/nn/schedule.hpp"

#include "polo/nn/ema.hpp"
#include "test_support.hpp"

TEST_CASE("LinearSchedule interpolates, clamps and expresses CleanRL's annealing",
          "[nn][schedule]") {
  const polo::LinearSchedule s{.start = 1.0, .end = 0.0, .steps = 4};
  CHECK(s(0) == 1.0);
  CHECK(s(1) == 0.75);
  CHECK(s(4) == 0.0);
  CHECK(s(9) == 0.0);
  CHECK(s(-3) == 1.0);

  // cleanrl/ppo.py: frac = 1.0 - (update - 1.0) / num_updates; lr = frac * 2.5e-4
  const polo::Index num_updates = 122;
  const polo::LinearSchedule lr{.start = 2.5e-4, .end = 0.0, .steps = num_updates};
  for (polo::Index update = 1; update <= num_updates; ++update) {
    const double frac =
        1.0 - (static_cast<double>(update) - 1.0) / static_cast<double>(num_updates);
    CHECK(lr(update - 1) == Approx(frac * 2.5e-4).epsilon(1e-14));
  }
  CHECK_THROWS_WITH((polo::LinearSchedule{1.0, 0.0, 0}(0)),
                    polo_test::Contains("steps") && polo_test::Contains(">= 1"));
}

TEST_CASE("Constant and cosine schedules", "[nn][schedule]") {
  CHECK(polo::ConstantSchedule{0.3}(100) == 0.3);
  const polo::CosineSchedule c{.start = 1.0, .end = 0.1, .steps = 10};
  CHECK(c(0) == Approx(1.0));
  CHECK(c(5) == Approx(0.55));
  CHECK(c(10) == Approx(0.1));
  CHECK(c(20) == Approx(0.1));
}

TEST_CASE("ParameterEMA averages, warms up and validates decay", "[nn][ema]") {
  polo::Vectord p(2);
  p << 1.0, 2.0;
  polo::ParameterEMA<double> ema(p, {.decay = 0.9});
  CHECK(ema.shadow() == p);
  polo::Vectord q(2);
  q << 3.0, -2.0;
  ema.update(q);
  CHECK(ema.shadow()(0) == Approx(0.9 * 1.0 + 0.1 * 3.0).epsilon(1e-15));
  CHECK(ema.shadow()(1) == Approx(0.9 * 2.0 + 0.1 * -2.0).epsilon(1e-15));
  CHECK(ema.updates() == 1);

  // TensorFlow's ramp: decay min(0.99, (1 + n) / (10 + n)) = 0.1 first, then 2/11 ...
  polo::ParameterEMA<float> warm(p.cast<float>(), {.decay = 0.99, .warmup = true});
  CHECK(warm.current_decay() == Approx(0.1));
  warm.update(q.cast<float>());
  CHECK(warm.shadow()(0) == Approx(0.1 * 1.0 + 0.9 * 3.0).epsilon(1e-6));
  CHECK(warm.current_decay() == Approx(2.0 / 11.0));
  warm.set_updates(10000);
  CHECK(warm.current_decay() == 0.99);

  using polo_test::Contains;
  CHECK_THROWS_WITH(polo::ParameterEMA<double>(p, {.decay = 1.5}),
                    Contains("decay") && Contains("[0, 1]") && Contains("1.5"));
  CHECK_THROWS_WITH(ema.update(polo::Vectord::Zero(3)),
                    Contains("params size") && Contains("got 3"));
}

#include "polo/envs/cartpole.hpp"

#include <array>
#include <cmath>
#include <numbers>

#include "test_support.hpp"

namespace cartpole_test {

using polo::CartPole;
using polo_test::Contains;

void check_state(const CartPole& env, const CartPole::State& expected) {
  for (std::size_t k = 0; k < 4; ++k) {
    INFO("state component " << k);
    CHECK(std::abs(env.state()[k] - expected[k]) <= 1e-12);
  }
}

TEST_CASE("CartPole: two Euler steps from rest, computed by hand", "[envs]") {
  CartPole env;
  env.set_state({0.0, 0.0, 0.0, 0.0});

  // Step 1, push right (force +10), theta = 0 so sin = 0, cos = 1:
  //   temp      = (10 + 0.05 * 0^2 * 0) / 1.1                  = 100/11
  //   denom     = 0.5 * (4/3 - 0.1 * 1 / 1.1) = 0.5 * 41/33      = 41/66
  //   theta_acc = (9.8 * 0 - 1 * 100/11) / (41/66)              = -600/41
  //   x_acc     = 100/11 - 0.05 * (-600/41) * 1 / 1.1           = 100/11 + 300/451 = 400/41
  //   x = 0 + 0.02 * 0 = 0;     x_dot     = 0 + 0.02 * 400/41   = 8/41
  //   theta = 0 + 0.02 * 0 = 0; theta_dot = 0 + 0.02 * -600/41  = -12/41
  auto r = env.step(1);
  check_state(env, {0.0, 8.0 / 41.0, 0.0, -12.0 / 41.0});
  CHECK(r.reward == 1.0);
  CHECK_FALSE(r.terminated);
  CHECK_FALSE(r.truncated);
  CHECK(env.elapsed_steps() == 1);

  // Step 2, push left (force -10), theta is still 0: every acceleration flips sign,
  //   theta_acc = +600/41, x_acc = -400/41.
  // Positions move with the OLD velocities (Euler in Gymnasium's order):
  //   x     = 0 + 0.02 * 8/41   = 0.16/41;  x_dot     = 8/41 - 0.02 * 400/41  = 0
  //   theta = 0 + 0.02 * -12/41 = -0.24/41; theta_dot = -12/41 + 0.02 * 600/41 = 0
  r = env.step(0);
  check_state(env, {0.16 / 41.0, 0.0, -0.24 / 41.0, 0.0});
  CHECK(r.observation == CartPole::Observation{static_cast<float>(0.16 / 41.0), 0.0F,
                                               static_cast<float>(-0.24 / 41.0), 0.0F});
  CHECK(env.elapsed_steps() == 2);
}

TEST_CASE("CartPole: one Euler step from a tilted, moving state", "[envs]") {
  CartPole env;
  env.set_state({0.1, -0.2, 0.05, 0.3});
  // Push right (force +10), theta = 0.05:
  //   cos = 0.9987502603949663, sin = 0.04997916927067833
  //   temp      = (10 + 0.05 * 0.3^2 * sin) / 1.1                      = 9.091113551147014
  //   theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4/3 - 0.1 cos^2 / 1.1))
  //             = (0.48979586 - 9.07975162) / 0.62129784                = -13.825207424073673
  //   x_acc     = temp - 0.05 * theta_acc * cos / 1.1                   = 9.718746710911015
  //   x         = 0.1 + 0.02 * -0.2                                     = 0.096
  //   x_dot     = -0.2 + 0.02 * 9.718746710911015                       = -0.005625065781779709
  //   theta     = 0.05 + 0.02 * 0.3                                     = 0.056
  //   theta_dot = 0.3 + 0.02 * -13.825207424073673                      = 0.02349585151852651
  const auto r = env.step(1);
  check_state(env, {0.096, -0.005625065781779709, 0.056, 0.02349585151852651});
  // The observation is the float32 of the double state.
  for (std::size_t k = 0; k < 4; ++k)
    CHECK(r.observation[k] == static_cast<float>(env.state()[k]));
}

TEST_CASE("CartPole: termination at the position and angle thresholds", "[envs]") {
  CartPole env;
  const double thr = CartPole::theta_threshold;
  CHECK(thr == 12.0 * 2.0 * std::numbers::pi / 360.0);

  SECTION("exactly at the threshold is not terminal") {
    env.set_state({2.4, 0.0, 0.0, 0.0});  // x stays 2.4 (moves with x_dot = 0)
    CHECK_FALSE(env.step(0).terminated);
    env.set_state({-2.4, 0.0, 0.0, 0.0});
    CHECK_FALSE(env.step(1).terminated);
    env.set_state({0.0, 0.0, thr, 0.0});  // theta stays thr (moves with theta_dot = 0)
    CHECK_FALSE(env.step(1).terminated);
    env.set_state({0.0, 0.0, -thr, 0.0});
    CHECK_FALSE(env.step(0).terminated);
  }
  SECTION("past the right edge") {
    env.set_state({2.39, 1.0, 0.0, 0.0});  // x = 2.39 + 0.02 = 2.41
    const auto r = env.step(1);
    CHECK(r.terminated);
    CHECK_FALSE(r.truncated);
    CHECK(r.reward == 1.0);  // the terminating step is rewarded too
    CHECK(env.episode_ended());
  }
  SECTION("past the left edge") {
    env.set_state({-2.39, -1.0, 0.0, 0.0});
    CHECK(env.step(0).terminated);
  }
  SECTION("pole past +12 and -12 degrees") {
    env.set_state({0.0, 0.0, 0.2, 1.0});  // theta = 0.2 + 0.02 = 0.22 > 0.2094
    CHECK(env.step(1).terminated);
    env.set_state({0.0, 0.0, -0.2, -1.0});
    CHECK(env.step(0).terminated);
  }
}

TEST_CASE("CartPole: truncation at exactly max_episode_steps", "[envs]") {
  CartPole env;
  CHECK(env.max_episode_steps == 500);

  SECTION("a balanced episode runs 500 steps, truncated only on the last") {
    polo::Rng gen(3);
    auto obs = env.reset(gen);
    int steps = 0;
    for (;;) {
      // Push towards the side the pole is falling to: balances CartPole for 500 steps.
      const int action = obs[2] + obs[3] > 0.0F ? 1 : 0;
      const auto r = env.step(action);
      ++steps;
      obs = r.observation;
      if (r.terminated || r.truncated) {
        CHECK_FALSE(r.terminated);
        CHECK(r.truncated);
        break;
      }
    }
    CHECK(steps == 500);
    CHECK(env.elapsed_steps() == 500);
  }
  SECTION("terminal on step 500 sets both flags") {
    env.set_state({2.39, 1.0, 0.0, 0.0}, 499);
    const auto r = env.step(1);
    CHECK(r.terminated);
    CHECK(r.truncated);
  }
  SECTION("step 499 is not truncated") {
    env.set_state({0.0, 0.0, 0.0, 0.0}, 498);
    CHECK_FALSE(env.step(1).truncated);
    CHECK(env.step(0).truncated);
  }
  SECTION("a custom limit") {
    env.max_episode_steps = 3;
    env.set_state({0.0, 0.0, 0.0, 0.0});
    CHECK_FALSE(env.step(1).truncated);
    CHECK_FALSE(env.step(0).truncated);
    CHECK(env.step(1).truncated);
  }
}

TEST_CASE("CartPole: reset draws U(-0.05, 0.05) deterministically", "[envs]") {
  polo::Rng a(42);
  polo::Rng b(42);
  polo::Rng ref(42);
  CartPole env1;
  CartPole env2;
  const auto o1 = env1.reset(a);
  const auto o2 = env2.reset(b);
  CHECK(o1 == o2);
  for (std::size_t k = 0; k < 4; ++k) {
    const double expected = polo::uniform(ref, -0.05, 0.05);  // drawn in state order
    CHECK(env1.state()[k] == expected);
    CHECK(o1[k] == static_cast<float>(expected));
    CHECK(std::abs(env1.state()[k]) < 0.05);
  }
  CHECK(env1.elapsed_steps() == 0);
  CHECK_FALSE(env1.episode_ended());
  // A different seed starts elsewhere.
  polo::Rng c(43);
  CHECK(env2.reset(c) != o1);
}

TEST_CASE("CartPole: errors", "[envs]") {
  CartPole env;
  polo::Rng gen(1);

  SECTION("stepping before reset") {
    CHECK_THROWS_WITH(env.step(0), Contains("reset"));
  }
  env.reset(gen);
  SECTION("bad actions name the action") {
    CHECK_THROWS_AS(env.step(2), polo::invalid_argument);
    CHECK_THROWS_WITH(env.step(2), Contains("action") && Contains("got 2"));
    CHECK_THROWS_WITH(env.step(-1), Contains("got -1"));
    CHECK(env.elapsed_steps() == 0);  // a refused action does not advance the episode
  }
  SECTION("stepping a finished episode") {
    env.set_state({2.39, 1.0, 0.0, 0.0});
    CHECK(env.step(1).terminated);
    CHECK_THROWS_AS(env.step(1), polo::invalid_argument);
    CHECK_THROWS_WITH(env.step(1), Contains("ended") && Contains("reset"));
    env.reset(gen);  // reset makes it steppable again
    CHECK_NOTHROW(env.step(1));
  }
  SECTION("invalid limits") {
    env.max_episode_steps = 0;
    CHECK_THROWS_WITH(env.reset(gen), Contains("max_episode_steps"));
    env.max_episode_steps = 500;
    CHECK_THROWS_WITH(env.set_state({}, 500), Contains("elapsed_steps"));
  }
}

}  // namespace cartpole_test

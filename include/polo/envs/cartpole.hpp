#pragma once
// CartPole-v1 as Gymnasium defines it: a pole hinged on a cart moving along a frictionless
// track, pushed left or right with a fixed force, integrated with explicit Euler steps of 20 ms.
// The state is kept in double and returned as float, as Gymnasium returns the float32 of its
// float64 state; episodes end when the cart leaves [-2.4, 2.4] or the pole leans more than 12
// degrees, and are truncated after `max_episode_steps` (500) steps.

#include <array>
#include <cmath>
#include <numbers>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// The classic cart-pole balancing task (Barto, Sutton and Anderson 1983), CartPole-v1.
///
/// Observation: cart position, cart velocity, pole angle (radians, 0 = upright), pole angular
/// velocity. Action: 0 pushes the cart left, 1 pushes it right. Reward: 1 on every step,
/// including the one that terminates the episode.
class CartPole {
 public:
  using State = std::array<double, 4>;
  using Observation = std::array<float, 4>;
  using Action = int;

  static constexpr double gravity = 9.8;
  static constexpr double masscart = 1.0;
  static constexpr double masspole = 0.1;
  static constexpr double total_mass = masscart + masspole;
  static constexpr double length = 0.5;  ///< half the pole's length
  static constexpr double polemass_length = masspole * length;
  static constexpr double force_mag = 10.0;
  static constexpr double tau = 0.02;  ///< seconds between state updates
  static constexpr double theta_threshold = 12.0 * 2.0 * std::numbers::pi / 360.0;
  static constexpr double x_threshold = 2.4;

  /// Steps after which an episode is truncated (Gymnasium's TimeLimit). Must be positive.
  Index max_episode_steps = 500;

  /// Starts an episode: each state component drawn from U(-0.05, 0.05), in state order.
  template <std::uniform_random_bit_generator G>
  Observation reset(G& gen) {
    for (double& s : state_) {
      s = uniform(gen, -0.05, 0.05);
    }
    begin_episode(0);
    return observation();
  }

  /// Starts an episode from a given state, as if `elapsed_steps` steps had already been taken
  /// (tests and evaluations from chosen states).
  void set_state(const State& state, Index elapsed_steps = 0) {
    state_ = state;
    begin_episode(elapsed_steps);
  }

  /// One Euler step of 20 ms under the pushed force. Throws polo::invalid_argument for an action
  /// other than 0 or 1, and when the episode has ended (reset first).
  StepResult<Observation> step(const Action& action) {
    if (action != 0 && action != 1) {
      detail::fail_argument("polo::CartPole::step", "action", "0 (push left) or 1 (push right)",
                            action);
    }
    if (!running_) {
      throw invalid_argument(
          ended_ ? "polo::CartPole::step: the episode has ended (terminated or truncated); call "
                   "reset() before stepping again"
                 : "polo::CartPole::step: no episode has started; call reset() first");
    }
    auto& [x, x_dot, theta, theta_dot] = state_;
    const double force = action == 1 ? force_mag : -force_mag;
    const double cos_theta = std::cos(theta);
    const double sin_theta = std::sin(theta);

    // Frictionless equations of motion: the pole's angular acceleration first, then the cart's.
    const double temp = (force + polemass_length * theta_dot * theta_dot * sin_theta) / total_mass;
    const double theta_acc = (gravity * sin_theta - cos_theta * temp) /
                             (length * (4.0 / 3.0 - masspole * cos_theta * cos_theta / total_mass));
    const double x_acc = temp - polemass_length * theta_acc * cos_theta / total_mass;

    // Explicit Euler: positions move with the old velocities, velocities with the accelerations.
    x = x + tau * x_dot;
    x_dot = x_dot + tau * x_acc;
    theta = theta + tau * theta_dot;
    theta_dot = theta_dot + tau * theta_acc;

    ++elapsed_;
    StepResult<Observation> out;
    out.observation = observation();
    out.reward = 1.0;
    out.terminated =
        x < -x_threshold || x > x_threshold || theta < -theta_threshold || theta > theta_threshold;
    out.truncated = elapsed_ >= max_episode_steps;  // set even when also terminated
    if (out.terminated || out.truncated) {
      running_ = false;
      ended_ = true;
    }
    return out;
  }

  /// The double-precision state (x, x_dot, theta, theta_dot).
  [[nodiscard]] const State& state() const noexcept { return state_; }
  /// The state as the float observation the agent sees.
  [[nodiscard]] Observation observation() const noexcept {
    return {static_cast<float>(state_[0]), static_cast<float>(state_[1]),
            static_cast<float>(state_[2]), static_cast<float>(state_[3])};
  }
  /// Steps taken in the current (or just finished) episode.
  [[nodiscard]] Index elapsed_steps() const noexcept { return elapsed_; }
  /// True once the episode has terminated or been truncated, until the next reset.
  [[nodiscard]] bool episode_ended() const noexcept { return ended_; }

 private:
  void begin_episode(Index elapsed_steps) {
    detail::require_positive("polo::CartPole", "max_episode_steps",
                             static_cast<double>(max_episode_steps));
    if (elapsed_steps < 0 || elapsed_steps >= max_episode_steps) {
      detail::fail_argument("polo::CartPole::set_state", "elapsed_steps",
                            fmt::format("in [0, max_episode_steps = {})", max_episode_steps),
                            elapsed_steps);
    }
    elapsed_ = elapsed_steps;
    running_ = true;
    ended_ = false;
  }

  State state_{};
  Index elapsed_ = 0;
  bool running_ = false;
  bool ended_ = false;
};

static_assert(Environment<CartPole>);

}  // namespace polo

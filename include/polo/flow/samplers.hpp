#pragma once
// Samplers for a velocity model v(x, t) on the rectified-flow path (t = 1 noise, t = 0 data),
// integrating from t = 1 down to 0 on the uniform grid t_k = 1 - k h, h = 1 / steps:
//
//   EulerODE           x_{k+1} = x_k - h v(x_k, t_k)                       (deterministic)
//   EulerMaruyamaSDE   x_{k+1} = mu_k + sigma_k sqrt(h) xi,  xi ~ N(0, I)
//                      mu_k = x_k - h [v + sigma_k^2 / (2 t_k) (x_k + (1 - t_k) v)]
//                      sigma_k = a sqrt(t_k / (1 - min(t_k, 1 - h)))
//
// The SDE is Flow-GRPO's marginal-preserving one (its score is -(x + (1 - t) v) / t); its
// per-step Gaussian transition log-probabilities log N(x_{k+1}; mu_k, sigma_k^2 h I) are what
// DDPO / Flow-GRPO optimize. At t = 1 the 1 / (1 - t) of sigma uses the next grid time, as
// Flow-GRPO's `sigma_max = sigmas[1]`.
//
// A velocity field is any callable `velocity(TokenView<const S> x, double t, TokenView<S> v)`
// that writes v(x_n, t) into row n of `v` ([N, D] both).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// What a sampler calls: writes v(x, t) [N, D] for the states x [N, D].
template <class F, class S>
concept VelocityField = std::invocable < F&,
        TokenView<const S>,
double, TokenView < S >> ;

namespace detail {

inline void require_steps(std::string_view where, Index steps) {
  if (steps < 1) fail_argument(where, "steps", ">= 1", steps);
}

/// Time of grid point k.
inline double grid_time(Index k, Index steps) {
  return 1.0 - static_cast<double>(k) / static_cast<double>(steps);
}

}  // namespace detail

/// Euler integration of dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data).
struct EulerODE {
  Index steps = 10;

  static constexpr std::string_view name = "polo::EulerODE";

  void validate() const { detail::require_steps(name, steps); }

  /// Time of grid point k (k = 0 is 1, k = steps is 0).
  [[nodiscard]] double time(Index k) const { return detail::grid_time(k, steps); }

  /// Integrates `x` [N, D] in place: noise in, samples out. Allocates one [N, D] buffer.
  template <class S, VelocityField<S> F>
  void sample(F&& velocity, TokenView<S> x) const {
    validate();
    TokenArray<S> v(x.rows(), x.cols());
    const double h = 1.0 / static_cast<double>(steps);
    for (Index k = 0; k < steps; ++k) {
      velocity(TokenView<const S>(x), time(k), TokenView<S>(v));
      for (Index n = 0; n < x.rows(); ++n) {
        S* row = x.row(n);
        for (Index d = 0; d < x.cols(); ++d) {
          row[d] = static_cast<S>(static_cast<double>(row[d]) - h * static_cast<double>(v(n, d)));
        }
      }
    }
  }
};

/// The mean and spread of one SDE step at time t: mu = mean_x x + mean_v v, std = sigma sqrt(h).
struct SdeStep {
  double t = 0.0;
  double h = 0.0;
  double sigma = 0.0;   ///< sigma_t
  double std = 0.0;     ///< sigma_t sqrt(h), the transition's standard deviation
  double mean_x = 0.0;  ///< 1 - h sigma^2 / (2 t)
  double mean_v = 0.0;  ///< -h (1 + sigma^2 (1 - t) / (2 t)): d mu / d v
};

/// A recorded SDE run: the states x_0 (noise) ... x_K (samples), the times t_k and the
/// transition log-probabilities log p(x_{k+1} | x_k) [N, K] (one trajectory per row).
template <class S>
struct SdeTrajectory {
  std::vector<TokenArray<S>> states;  ///< K + 1 arrays [N, D]
  std::vector<double> times;          ///< t_0 ... t_{K-1}
  TokenArray<S> log_prob;             ///< [N, K]
};

/// Euler-Maruyama integration of Flow-GRPO's SDE (header comment), with its transition
/// log-probabilities and their gradient with respect to the predicted velocity.
struct EulerMaruyamaSDE {
  Index steps = 10;
  double noise_level = 0.7;  ///< a in sigma_t = a sqrt(t / (1 - t)) (Flow-GRPO's default)

  static constexpr std::string_view name = "polo::EulerMaruyamaSDE";

  void validate() const {
    detail::require_steps(name, steps);
    if (!(noise_level > 0.0 && std::isfinite(noise_level))) {
      detail::fail_argument(name, "noise_level", "finite and > 0", noise_level);
    }
  }

  [[nodiscard]] double time(Index k) const { return detail::grid_time(k, steps); }

  /// The coefficients of the step taken from time t (a grid time in (0, 1]).
  [[nodiscard]] SdeStep step(double t) const {
    validate();
    if (!(t > 0.0 && t <= 1.0)) detail::fail_argument(name, "t", "in (0, 1]", t);
    SdeStep s;
    s.t = t;
    s.h = 1.0 / static_cast<double>(steps);
    const double t_den = std::min(t, 1.0 - s.h);
    s.sigma = noise_level * std::sqrt(t / (1.0 - t_den));
    s.std = s.sigma * std::sqrt(s.h);
    const double q = s.sigma * s.sigma / (2.0 * t);
    s.mean_x = 1.0 - s.h * q;
    s.mean_v = -s.h * (1.0 + q * (1.0 - t));
    return s;
  }

  /// log N(x_next_n; mu_n, std^2 I) into `out` [N] for the step from time t with velocity v, and
  /// when `grad_v` is given its gradient d out_n / d v_n [N, D] = mean_v (x_next - mu) / std^2.
  template <class S>
  void log_prob(TokenView<const S> x, TokenView<const S> v, TokenView<const S> x_next, double t,
                SeqView<S> out, TokenView<S> grad_v = {}) const {
    constexpr std::string_view where = "polo::EulerMaruyamaSDE::log_prob";
    const Index rows = x.rows();
    const Index dims = x.cols();
    detail::require_shape(where, "v", v, rows, dims);
    detail::require_shape(where, "x_next", x_next, rows, dims);
    detail::require_shape(where, "out", out, rows);
    const bool want_grad = !grad_v.is_null();
    if (want_grad) detail::require_shape(where, "grad_v", grad_v, rows, dims);
    const SdeStep s = step(t);
    const double inv_var = 1.0 / (s.std * s.std);
    const double norm = static_cast<double>(dims) * (std::log(s.std) + half_log_two_pi);
    double guard = 0.0;
    for (Index n = 0; n < rows; ++n) {
      double sq = 0.0;
      for (Index d = 0; d < dims; ++d) {
        const double mu =
            s.mean_x * static_cast<double>(x(n, d)) + s.mean_v * static_cast<double>(v(n, d));
        const double r = static_cast<double>(x_next(n, d)) - mu;
        sq += r * r;
        if (want_grad) {
          const double g = s.mean_v * r * inv_var;
          guard += 0.0 * g;
          grad_v(n, d) = static_cast<S>(g);
        }
      }
      const double lp = -0.5 * sq * inv_var - norm;
      guard += 0.0 * lp;
      out[n] = static_cast<S>(lp);
    }
    if (!std::isfinite(guard)) {
      detail::check_finite(where, "x", x, MaskView{});
      detail::check_finite(where, "v", v, MaskView{});
      detail::check_finite(where, "x_next", x_next, MaskView{});
      detail::fail_argument(where, "the log-probability", "finite for finite inputs", guard);
    }
  }

  /// Integrates `x` [N, D] in place from noise to samples, drawing xi with `polo::normal` in
  /// row-major order at each step. When `trajectory` is given it receives the states, times and
  /// transition log-probabilities.
  template <class S, VelocityField<S> F, std::uniform_random_bit_generator G>
  void sample(F&& velocity, G& gen, TokenView<S> x, SdeTrajectory<S>* trajectory = nullptr) const {
    validate();
    const Index rows = x.rows();
    const Index dims = x.cols();
    TokenArray<S> v(rows, dims);
    TokenArray<S> next(rows, dims);
    SeqArray<S> lp(rows);
    if (trajectory != nullptr) {
      trajectory->states.assign(1, TokenArray<S>(rows, dims));
      trajectory->times.clear();
      trajectory->log_prob.resize(rows, steps);
      copy_into(x, trajectory->states[0]);
    }
    for (Index k = 0; k < steps; ++k) {
      const double t = time(k);
      const SdeStep s = step(t);
      velocity(TokenView<const S>(x), t, TokenView<S>(v));
      for (Index n = 0; n < rows; ++n) {
        for (Index d = 0; d < dims; ++d) {
          const double mu =
              s.mean_x * static_cast<double>(x(n, d)) + s.mean_v * static_cast<double>(v(n, d));
          next(n, d) = static_cast<S>(mu + s.std * normal(gen));
        }
      }
      if (trajectory != nullptr) {
        log_prob(TokenView<const S>(x), TokenView<const S>(v), TokenView<const S>(next), t,
                 SeqView<S>(lp));
        trajectory->log_prob.col(k) = lp;
        trajectory->times.push_back(t);
      }
      copy_into(TokenView<S>(next), x);
      if (trajectory != nullptr) {
        trajectory->states.emplace_back(next);
      }
    }
  }

 private:
  static constexpr double half_log_two_pi = 0.91893853320467274178;  // 1/2 log 2 pi

  template <class S>
  static void copy_into(TokenView<S> from, TokenArray<S>& to) {
    for (Index n = 0; n < from.rows(); ++n) {
      for (Index d = 0; d < from.cols(); ++d)
        to(n, d) = from(n, d);
    }
  }
  template <class S>
  static void copy_into(TokenView<S> from, TokenView<S> to) {
    for (Index n = 0; n < from.rows(); ++n) {
      for (Index d = 0; d < from.cols(); ++d)
        to(n, d) = from(n, d);
    }
  }
};

}  // namespace polo

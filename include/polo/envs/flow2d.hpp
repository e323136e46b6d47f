#pragma once
// A 2-D target for flow-model fine-tuning: data from 8 Gaussians on a ring, and a smooth reward
// that prefers some of the modes (ALGORITHMS ranking_flow_offline_meta.md §2(g)).
//
//   data     x ~ (1 / K) sum_k N(c_k, s^2 I),  c_k = r (cos 2 pi k / K, sin 2 pi k / K)
//   reward   R(x) = sum_{k in preferred} exp(-|x - c_k|^2 / (2 w^2))
//
// With r = 2, s = 0.15, w = 0.5, a sample on a preferred mode earns about 0.9, one on the next
// mode (1.53 away) about 0.01: nearly a 0/1 reward, but differentiable and graded near the modes.

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

struct Flow2D {
  Index modes = 8;
  double radius = 2.0;
  double mode_std = 0.15;
  std::vector<Index> preferred = {0, 2};  ///< the modes the reward prefers: (2, 0) and (0, 2)
  double reward_width = 0.5;              ///< w

  static constexpr std::string_view name = "polo::Flow2D";
  static constexpr Index dims = 2;

  void validate() const {
    if (modes < 1) detail::fail_argument(name, "modes", ">= 1", modes);
    detail::require_positive(name, "radius", radius);
    detail::require_positive(name, "mode_std", mode_std);
    detail::require_positive(name, "reward_width", reward_width);
    if (preferred.empty()) detail::fail_argument(name, "preferred", "non-empty", "empty");
    for (const Index k : preferred) {
      if (k < 0 || k >= modes) {
        detail::fail_argument(name, "preferred mode", fmt::format("in [0, {})", modes), k);
      }
    }
  }

  /// The centre c_k of mode k.
  [[nodiscard]] std::array<double, 2> centre(Index k) const {
    const double angle =
        2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(modes);
    return {radius * std::cos(angle), radius * std::sin(angle)};
  }

  /// Fills `out` [N, 2] with data samples: a uniform mode, then its Gaussian (row by row).
  template <class S, std::uniform_random_bit_generator G>
  void sample(G& gen, TokenView<S> out) const {
    validate();
    require_points("polo::Flow2D::sample", "out", TokenView<const S>(out));
    for (Index n = 0; n < out.rows(); ++n) {
      const auto c = centre(uniform_int(gen, modes));
      out(n, 0) = static_cast<S>(c[0] + mode_std * normal(gen));
      out(n, 1) = static_cast<S>(c[1] + mode_std * normal(gen));
    }
  }

  /// R(x) of one point.
  [[nodiscard]] double reward(double x, double y) const {
    double r = 0.0;
    const double inv = 1.0 / (2.0 * reward_width * reward_width);
    for (const Index k : preferred) {
      const auto c = centre(k);
      const double dx = x - c[0];
      const double dy = y - c[1];
      r += std::exp(-(dx * dx + dy * dy) * inv);
    }
    return r;
  }

  /// R of each row of `x` [N, 2] into `out` [N].
  template <class S>
  void rewards(TokenView<const S> x, SeqView<S> out) const {
    validate();
    require_points("polo::Flow2D::rewards", "x", x);
    detail::require_shape("polo::Flow2D::rewards", "out", out, x.rows());
    for (Index n = 0; n < x.rows(); ++n) {
      out[n] = static_cast<S>(reward(static_cast<double>(x(n, 0)), static_cast<double>(x(n, 1))));
    }
  }

  /// Distance from (x, y) to the nearest centre among `preferred` (all modes when `only_preferred`
  /// is false).
  [[nodiscard]] double nearest_distance(double x, double y, bool only_preferred) const {
    double best = std::numeric_limits<double>::infinity();
    auto consider = [&](Index k) {
      const auto c = centre(k);
      best = std::min(best, std::hypot(x - c[0], y - c[1]));
    };
    if (only_preferred) {
      for (const Index k : preferred)
        consider(k);
    } else {
      for (Index k = 0; k < modes; ++k)
        consider(k);
    }
    return best;
  }

  /// Share of rows of `x` within `within` of a preferred centre (the fine-tuning target uses 0.5).
  template <class S>
  [[nodiscard]] double preferred_fraction(TokenView<const S> x, double within = 0.5) const {
    return fraction("polo::Flow2D::preferred_fraction", x, within, true);
  }

  /// Share of rows of `x` within `within` of mode k's centre (to see whether fine-tuning kept
  /// every preferred mode or collapsed onto one).
  template <class S>
  [[nodiscard]] double mode_fraction(TokenView<const S> x, Index k, double within = 0.5) const {
    validate();
    require_points("polo::Flow2D::mode_fraction", "x", x);
    if (k < 0 || k >= modes) {
      detail::fail_argument("polo::Flow2D::mode_fraction", "k", fmt::format("in [0, {})", modes),
                            k);
    }
    if (x.rows() == 0) return 0.0;
    const auto c = centre(k);
    double hits = 0.0;
    for (Index n = 0; n < x.rows(); ++n) {
      const double d =
          std::hypot(static_cast<double>(x(n, 0)) - c[0], static_cast<double>(x(n, 1)) - c[1]);
      hits += d <= within ? 1.0 : 0.0;
    }
    return hits / static_cast<double>(x.rows());
  }

  /// Share of rows of `x` within `k_std` standard deviations of some data mode (on the support).
  template <class S>
  [[nodiscard]] double on_support_fraction(TokenView<const S> x, double k_std = 3.0) const {
    return fraction("polo::Flow2D::on_support_fraction", x, k_std * mode_std, false);
  }

 private:
  template <class S>
  static void require_points(std::string_view where, std::string_view field, TokenView<const S> x) {
    if (x.cols() != dims) {
      detail::fail_argument(where, fmt::format("{} columns", field), "2 (points [N, 2])", x.cols());
    }
  }

  template <class S>
  [[nodiscard]] double fraction(std::string_view where, TokenView<const S> x, double within,
                                bool only_preferred) const {
    validate();
    require_points(where, "x", x);
    if (x.rows() == 0) return 0.0;
    double hits = 0.0;
    for (Index n = 0; n < x.rows(); ++n) {
      const double d = nearest_distance(static_cast<double>(x(n, 0)), static_cast<double>(x(n, 1)),
                                        only_preferred);
      hits += d <= within ? 1.0 : 0.0;
    }
    return hits / static_cast<double>(x.rows());
  }
};

}  // namespace polo

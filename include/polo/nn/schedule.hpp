#pragma once
// Hyper-parameter schedules (learning rate, clip range, entropy coefficient ...): plain
// aggregates called with a step number.

#include <algorithm>
#include <cmath>
#include <numbers>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// The same value at every step.
struct ConstantSchedule {
  double value = 0.0;
  [[nodiscard]] double operator()(Index /*step*/) const noexcept { return value; }
};

/// Linear from `start` at step 0 to `end` at step `steps`, clamped outside [0, steps].
///
/// CleanRL's annealing `lr = (1 - (update - 1) / num_updates) * lr0` for update = 1, 2, ... is
/// `LinearSchedule{lr0, 0.0, num_updates}(update - 1)`: it never reaches 0 on the last update.
struct LinearSchedule {
  double start = 0.0;
  double end = 0.0;
  Index steps = 1;

  [[nodiscard]] double operator()(Index step) const {
    if (steps < 1) detail::fail_argument("polo::LinearSchedule", "steps", ">= 1", steps);
    const double frac =
        static_cast<double>(std::clamp<Index>(step, 0, steps)) / static_cast<double>(steps);
    return start + frac * (end - start);
  }
};

/// Half a cosine from `start` at step 0 to `end` at step `steps` (SGDR without restarts),
/// clamped outside [0, steps].
struct CosineSchedule {
  double start = 0.0;
  double end = 0.0;
  Index steps = 1;

  [[nodiscard]] double operator()(Index step) const {
    if (steps < 1) detail::fail_argument("polo::CosineSchedule", "steps", ">= 1", steps);
    const double frac =
        static_cast<double>(std::clamp<Index>(step, 0, steps)) / static_cast<double>(steps);
    return end + 0.5 * (start - end) * (1.0 + std::cos(std::numbers::pi * frac));
  }
};

}  // namespace polo

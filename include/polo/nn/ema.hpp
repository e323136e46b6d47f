#pragma once
// An exponential moving average of a flat parameter vector (Polyak averaging, target networks,
// EMA evaluation weights). The average is state the caller owns and updates explicitly.

#include <algorithm>

#include <fmt/format.h>
#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

struct EmaOptions {
  double decay = 0.999;  ///< in [0, 1]: 0 copies the parameters, 1 freezes the average
  /// Ramp the decay up as min(decay, (1 + n) / (10 + n)) after n updates (TensorFlow's
  /// `num_updates` rule), so that early averages are not dominated by the initial parameters.
  bool warmup = false;
};

template <class S>
class ParameterEMA {
 public:
  using Scalar = S;

  /// The average starts as a copy of `params`.
  explicit ParameterEMA(const Vector<S>& params, EmaOptions options = {})
      : options_(options), shadow_(params) {
    detail::require_in("polo::ParameterEMA", "decay", options_.decay, 0.0, 1.0);
  }

  /// shadow = d * shadow + (1 - d) * params, with d = current_decay().
  void update(const Vector<S>& params) {
    if (params.size() != shadow_.size()) {
      detail::fail_argument("polo::ParameterEMA::update", "params size",
                            fmt::format("{} (the size of the average)", shadow_.size()),
                            params.size());
    }
    const double d = current_decay();
    shadow_.array() =
        static_cast<S>(d) * shadow_.array() + static_cast<S>(1.0 - d) * params.array();
    ++updates_;
  }

  /// The decay the next `update` applies.
  [[nodiscard]] double current_decay() const noexcept {
    if (!options_.warmup) return options_.decay;
    const auto n = static_cast<double>(updates_);
    return std::min(options_.decay, (1.0 + n) / (10.0 + n));
  }

  [[nodiscard]] const Vector<S>& shadow() const noexcept { return shadow_; }
  [[nodiscard]] Vector<S>& shadow() noexcept { return shadow_; }
  [[nodiscard]] const EmaOptions& options() const noexcept { return options_; }
  [[nodiscard]] Index updates() const noexcept { return updates_; }
  void set_updates(Index n) {
    if (n < 0) detail::fail_argument("polo::ParameterEMA", "updates", ">= 0", n);
    updates_ = n;
  }

 private:
  EmaOptions options_;
  Vector<S> shadow_;
  Index updates_ = 0;
};

}  // namespace polo

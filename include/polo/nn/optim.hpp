#pragma once
// First-order optimizers on a flat parameter vector, step for step the arithmetic of
// torch.optim.Adam, AdamW and SGD (single-tensor path, element arithmetic in the parameter's
// scalar type), so that a run can be compared with its PyTorch twin. Element-wise, so results do
// not depend on vectorization (no approximate sqrt).

#include <cmath>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>
#include <Eigen/Core>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// torch.optim.Adam's defaults. `weight_decay` is L2: added to the gradient before the moments.
struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  static constexpr bool decoupled_weight_decay = false;
};

/// torch.optim.AdamW's defaults. `weight_decay` is decoupled: params *= 1 - lr * wd first.
struct AdamWOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  static constexpr bool decoupled_weight_decay = true;
};

/// torch.optim.SGD's defaults (lr is required there; 1e-3 here).
struct SGDOptions {
  double learning_rate = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

namespace detail {

inline void require_learning_rate(std::string_view where, double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr)) {
    fail_argument(where, "learning_rate", "finite and >= 0", lr);
  }
}

inline void require_parameter_count(std::string_view where, std::string_view field, Index expected,
                                    Index actual) {
  if (expected != actual) {
    fail_argument(where, fmt::format("{} size", field),
                  fmt::format("{} (the optimizer's parameter count)", expected), actual);
  }
}

}  // namespace detail

/// Adam with the bias corrections and eps placement of PyTorch:
///
///     g  = grad (+ wd * param when L2)            m = beta1 * m + (1 - beta1) * g
///     v  = beta2 * v + (1 - beta2) * g * g        t = t + 1
///     param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// The order of operations is torch 1.13's (the version the benchmarks run against). Results
/// can still differ from torch in the last bit: its AVX2 kernels fuse `a + alpha * b` into an
/// FMA, and torch >= 2.0 updates m with `lerp_`.
///
/// `Options` is `AdamOptions` (L2 decay, `polo::Adam`) or `AdamWOptions` (decoupled decay,
/// `polo::AdamW`: param *= 1 - lr * wd before the update).
template <class S, class Options = AdamOptions>
class AdamType {
 public:
  using Scalar = S;

  explicit AdamType(Index num_parameters, Options options = {})
      : options_(options),
        exp_avg_(Vector<S>::Zero(num_parameters)),
        exp_avg_sq_(Vector<S>::Zero(num_parameters)),
        sqrt_v_(num_parameters) {
    if (num_parameters < 0) detail::fail_argument(name(), "num_parameters", ">= 0", num_parameters);
    validate(options_);
  }

  /// One update of `params` from `grads` (both of the size given at construction).
  void step(Vector<S>& params, const Vector<S>& grads) {
    detail::require_parameter_count(name(), "params", exp_avg_.size(), params.size());
    detail::require_parameter_count(name(), "grads", exp_avg_.size(), grads.size());
    const double lr = options_.learning_rate;
    const double wd = options_.weight_decay;
    if constexpr (Options::decoupled_weight_decay) {
      if (wd != 0.0) params *= static_cast<S>(1.0 - lr * wd);
      update(params, grads.array());
    } else if (wd != 0.0) {
      update(params, grads.array() + static_cast<S>(wd) * params.array());
    } else {
      update(params, grads.array());
    }
  }

  [[nodiscard]] double learning_rate() const noexcept { return options_.learning_rate; }
  void set_learning_rate(double lr) {
    detail::require_learning_rate(name(), lr);
    options_.learning_rate = lr;
  }
  [[nodiscard]] const Options& options() const noexcept { return options_; }
  [[nodiscard]] Index num_parameters() const noexcept { return exp_avg_.size(); }

  // State, for checkpoints (PyTorch's names).
  [[nodiscard]] Index steps() const noexcept { return steps_; }
  void set_steps(Index steps) {
    if (steps < 0) detail::fail_argument(name(), "steps", ">= 0", steps);
    steps_ = steps;
  }
  [[nodiscard]] Vector<S>& exp_avg() noexcept { return exp_avg_; }
  [[nodiscard]] const Vector<S>& exp_avg() const noexcept { return exp_avg_; }
  [[nodiscard]] Vector<S>& exp_avg_sq() noexcept { return exp_avg_sq_; }
  [[nodiscard]] const Vector<S>& exp_avg_sq() const noexcept { return exp_avg_sq_; }

  /// Forgets the moments and the step count.
  void reset() {
    exp_avg_.setZero();
    exp_avg_sq_.setZero();
    steps_ = 0;
  }

 private:
  static constexpr std::string_view name() {
    return Options::decoupled_weight_decay ? "polo::AdamW" : "polo::Adam";
  }

  static void validate(const Options& o) {
    detail::require_learning_rate(name(), o.learning_rate);
    detail::require_in_half_open(name(), "beta1", o.beta1, 0.0, 1.0);
    detail::require_in_half_open(name(), "beta2", o.beta2, 0.0, 1.0);
    detail::require_nonnegative(name(), "eps", o.eps);
    detail::require_nonnegative(name(), "weight_decay", o.weight_decay);
  }

  template <class G>
  void update(Vector<S>& params, const G& g) {
    ++steps_;
    const auto t = static_cast<double>(steps_);
    const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
    const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
    const auto step_size = static_cast<S>(options_.learning_rate / bias_correction1);
    const auto bias_correction2_sqrt = static_cast<S>(std::sqrt(bias_correction2));
    auto m = exp_avg_.array();
    m = m * static_cast<S>(options_.beta1) + static_cast<S>(1.0 - options_.beta1) * g;
    auto v = exp_avg_sq_.array();
    v = v * static_cast<S>(options_.beta2) + static_cast<S>(1.0 - options_.beta2) * g * g;
    // Eigen's vectorized float sqrt (EIGEN_FAST_MATH) is an rsqrt refinement, off by an ulp at
    // times and dependent on the SIMD width; std::sqrt is exact, as torch's. One scalar pass for
    // it keeps the rest vectorized. Then addcdiv's order: param + (-step_size * m) / denom.
    for (Index i = 0; i < sqrt_v_.size(); ++i) {
      sqrt_v_[i] = std::sqrt(exp_avg_sq_[i]);
    }
    params.array() +=
        (-step_size * m) / (sqrt_v_.array() / bias_correction2_sqrt + static_cast<S>(options_.eps));
  }

  Options options_;
  Vector<S> exp_avg_;
  Vector<S> exp_avg_sq_;
  Vector<S> sqrt_v_;  ///< scratch: sqrt(exp_avg_sq), not state
  Index steps_ = 0;
};

template <class S>
using Adam = AdamType<S, AdamOptions>;
template <class S>
using AdamW = AdamType<S, AdamWOptions>;

/// Stochastic gradient descent with momentum as torch.optim.SGD:
///
///     g = grad (+ wd * param)
///     buf = g on the first step, else momentum * buf + (1 - dampening) * g
///     g = nesterov ? g + momentum * buf : buf        (when momentum > 0)
///     param -= lr * g
template <class S>
class SGD {
 public:
  using Scalar = S;

  explicit SGD(Index num_parameters, SGDOptions options = {})
      : options_(options), momentum_buffer_(Vector<S>::Zero(num_parameters)) {
    if (num_parameters < 0) {
      detail::fail_argument("polo::SGD", "num_parameters", ">= 0", num_parameters);
    }
    detail::require_learning_rate("polo::SGD", options_.learning_rate);
    detail::require_nonnegative("polo::SGD", "momentum", options_.momentum);
    detail::require_nonnegative("polo::SGD", "weight_decay", options_.weight_decay);
    detail::require_in("polo::SGD", "dampening", options_.dampening, 0.0, 1.0);
    if (options_.nesterov && (options_.momentum <= 0.0 || options_.dampening != 0.0)) {
      detail::fail_argument(
          "polo::SGD", "momentum and dampening", "momentum > 0 and dampening = 0 with nesterov",
          fmt::format("momentum {}, dampening {}", options_.momentum, options_.dampening));
    }
  }

  void step(Vector<S>& params, const Vector<S>& grads) {
    detail::require_parameter_count("polo::SGD", "params", momentum_buffer_.size(), params.size());
    detail::require_parameter_count("polo::SGD", "grads", momentum_buffer_.size(), grads.size());
    if (options_.weight_decay != 0.0) {
      update(params, grads.array() + static_cast<S>(options_.weight_decay) * params.array());
    } else {
      update(params, grads.array());
    }
  }

  [[nodiscard]] double learning_rate() const noexcept { return options_.learning_rate; }
  void set_learning_rate(double lr) {
    detail::require_learning_rate("polo::SGD", lr);
    options_.learning_rate = lr;
  }
  [[nodiscard]] const SGDOptions& options() const noexcept { return options_; }
  [[nodiscard]] Index num_parameters() const noexcept { return momentum_buffer_.size(); }

  // State, for checkpoints. The buffer is meaningful once steps() > 0.
  [[nodiscard]] Index steps() const noexcept { return steps_; }
  void set_steps(Index steps) {
    if (steps < 0) detail::fail_argument("polo::SGD", "steps", ">= 0", steps);
    steps_ = steps;
  }
  [[nodiscard]] Vector<S>& momentum_buffer() noexcept { return momentum_buffer_; }
  [[nodiscard]] const Vector<S>& momentum_buffer() const noexcept { return momentum_buffer_; }

  void reset() {
    momentum_buffer_.setZero();
    steps_ = 0;
  }

 private:
  template <class G>
  void update(Vector<S>& params, const G& g) {
    const auto lr = static_cast<S>(options_.learning_rate);
    if (options_.momentum == 0.0) {
      params.array() -= lr * g;
    } else {
      const auto mu = static_cast<S>(options_.momentum);
      auto buf = momentum_buffer_.array();
      if (steps_ == 0) {
        buf = g;
      } else {
        buf = buf * mu + static_cast<S>(1.0 - options_.dampening) * g;
      }
      if (options_.nesterov) {
        params.array() -= lr * (g + mu * buf);
      } else {
        params.array() -= lr * buf;
      }
    }
    ++steps_;
  }

  SGDOptions options_;
  Vector<S> momentum_buffer_;
  Index steps_ = 0;
};

static_assert(Optimizer<Adam<float>, float> && Optimizer<Adam<double>, double>);
static_assert(Optimizer<AdamW<float>, float> && Optimizer<AdamW<double>, double>);
static_assert(Optimizer<SGD<float>, float> && Optimizer<SGD<double>, double>);

}  // namespace polo

#pragma once
// Element-wise activations of polo's MLP and their derivatives.
//
// A derivative is computed from what the forward pass keeps: the output a = f(z) for tanh and
// relu, and sigmoid(z) next to a for silu, so backward never recomputes a transcendental.

#include <string_view>

#include <Eigen/Core>

#include "polo/core/types.hpp"

namespace polo {

/// The non-linearity of a layer.
enum class Activation {
  identity,  ///< f(z) = z
  tanh,      ///< f(z) = tanh(z)
  relu,      ///< f(z) = max(z, 0); f'(0) = 0, as PyTorch
  silu,      ///< f(z) = z * sigmoid(z) (a.k.a. swish)
};

/// "identity", "tanh", "relu" or "silu".
constexpr std::string_view activation_name(Activation f) noexcept {
  switch (f) {
    case Activation::identity:
      return "identity";
    case Activation::tanh:
      return "tanh";
    case Activation::relu:
      return "relu";
    case Activation::silu:
      return "silu";
  }
  return "unknown";
}

namespace detail {

/// Replaces the pre-activations in `z` by f(z). For silu, `sig` receives sigmoid(z) (the only
/// activation that needs more than its output to differentiate); it is untouched otherwise.
template <class M>
void activate_in_place(Activation f, M& z, M& sig) {
  using S = typename M::Scalar;
  switch (f) {
    case Activation::identity:
      break;
    case Activation::tanh:
      z.array() = z.array().tanh();
      break;
    case Activation::relu:
      z.array() = z.array().max(S(0));
      break;
    case Activation::silu:
      sig.resize(z.rows(), z.cols());
      // 1 / (1 + e^-z): e^-z overflows to inf for very negative z, giving exactly 0.
      sig.array() = (S(1) + (-z.array()).exp()).inverse();
      z.array() *= sig.array();
      break;
  }
}

/// Multiplies the incoming gradient `grad` (dL/da) by f'(z) in place, given the forward output
/// `a` and, for silu, `sig` = sigmoid(z).
template <class M>
void activation_backward_in_place(Activation f, const M& a, const M& sig, M& grad) {
  using S = typename M::Scalar;
  switch (f) {
    case Activation::identity:
      break;
    case Activation::tanh:
      grad.array() *= S(1) - a.array().square();
      break;
    case Activation::relu: {
      // A plain loop: Eigen 3.4's select() is scalar and branchy (5-20x slower); this form
      // compiles to a compare-and-mask, vectorized at -O3.
      const S* out = a.data();
      S* g = grad.data();
      for (Index k = 0; k < grad.size(); ++k) {
        const S v = g[k];
        g[k] = out[k] > S(0) ? v : S(0);
      }
      break;
    }
    case Activation::silu:
      // d/dz z s(z) = s + z s (1 - s) = s + a (1 - s)
      grad.array() *= sig.array() + a.array() * (S(1) - sig.array());
      break;
  }
}

}  // namespace detail
}  // namespace polo

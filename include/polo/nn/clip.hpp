#pragma once
// Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_.

#include <cmath>
#include <initializer_list>
#include <iterator>
#include <ranges>
#include <type_traits>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

namespace detail {

template <class S>
double squared_norm_in_double(const Vector<S>& g) {
  // Accumulate in double whatever S is (polo's rule for sums); Eigen vectorizes the cast.
  return g.template cast<double>().squaredNorm();
}

template <class It>
double clip_grad_norm_range(It first, It last, double max_norm) {
  if (!(max_norm >= 0.0)) {
    detail::fail_argument("polo::clip_grad_norm", "max_norm", ">= 0", max_norm);
  }
  double sum = 0.0;
  for (It it = first; it != last; ++it) {
    if (*it == nullptr) {
      detail::fail_argument("polo::clip_grad_norm", "gradient pointer", "non-null", "null");
    }
    sum += squared_norm_in_double(**it);
  }
  const double norm = std::sqrt(sum);
  // A non-finite norm leaves the gradients alone: the caller sees it in the returned value.
  if (!std::isfinite(norm)) return norm;
  const double scale = max_norm / (norm + 1e-6);
  if (scale < 1.0) {
    for (It it = first; it != last; ++it) {
      auto& g = **it;
      g *= static_cast<typename std::remove_reference_t<decltype(g)>::Scalar>(scale);
    }
  }
  return norm;
}

}  // namespace detail

/// Scales `grads` so that its L2 norm is at most `max_norm`: by max_norm / (norm + 1e-6) when
/// that is below 1, as PyTorch. The norm is computed in double. Returns the norm before clipping;
/// a non-finite norm is returned without touching the gradients.
template <class S>
double clip_grad_norm(Vector<S>& grads, double max_norm) {
  Vector<S>* one[] = {&grads};
  return detail::clip_grad_norm_range(std::begin(one), std::end(one), max_norm);
}

/// The same over the concatenation of several gradient vectors (one global norm), e.g.
/// `clip_grad_norm({&actor.gradients(), &critic.gradients()}, 0.5)`.
template <class S>
double clip_grad_norm(std::initializer_list<Vector<S>*> grads, double max_norm) {
  return detail::clip_grad_norm_range(grads.begin(), grads.end(), max_norm);
}

/// The same over any range of pointers to gradient vectors (a std::vector, a std::span ...).
template <std::ranges::forward_range R>
requires std::is_pointer_v<std::ranges::range_value_t<R>>
double clip_grad_norm(R&& grads, double max_norm) {
  return detail::clip_grad_norm_range(std::ranges::begin(grads), std::ranges::end(grads), max_norm);
}

}  // namespace polo

#pragma once
// What a loss's zero-allocation `compute` call returns: the value and the typed metrics. The
// gradients went into the caller's views.

namespace polo {

/// The value of a loss (what is minimized) and what the reference implementations log with it.
template <class M>
struct LossValue {
  double value = 0.0;
  M metrics{};
};

}  // namespace polo

#pragma once
// Compare an analytic gradient with central finite differences and report the worst element.
// Public, so users can check their own backward passes with it.

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

struct GradcheckOptions {
  double step = 1e-6;  ///< central-difference step h (in double precision)
  double atol = 1e-7;  ///< an element passes when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
};

struct GradcheckReport {
  bool passed = true;
  Index worst = -1;  ///< flat index (storage order) of the element with the largest error ratio
  Index worst_row = -1;
  Index worst_col = -1;
  double analytic = 0.0;
  double numeric = 0.0;
  double abs_error = 0.0;  ///< |analytic - numeric| at `worst`
  double max_abs_error = 0.0;
  Index checked = 0;

  [[nodiscard]] std::string summary() const {
    if (worst < 0) return fmt::format("gradcheck: {} elements, nothing to compare", checked);
    return fmt::format(
        "gradcheck {}: {} elements, worst at {} (row {}, col {}): analytic {:.9g}, numeric "
        "{:.9g}, |diff| {:.3g}; max |diff| {:.3g}",
        passed ? "passed" : "FAILED", checked, worst, worst_row, worst_col, analytic, numeric,
        abs_error, max_abs_error);
  }
};

/// `f(x)` returns the scalar value at `x`; `analytic` is its claimed gradient, same shape as `x`.
/// `X` is any plain Eigen object of doubles (vector, matrix, array; any storage order).
template <class X, class F>
GradcheckReport gradcheck(F&& f, X x, const X& analytic, const GradcheckOptions& options = {}) {
  if (analytic.rows() != x.rows() || analytic.cols() != x.cols()) {
    detail::fail_argument("polo::gradcheck", "analytic shape",
                          fmt::format("[{}, {}] (the shape of x)", x.rows(), x.cols()),
                          fmt::format("[{}, {}]", analytic.rows(), analytic.cols()));
  }
  detail::require_positive("polo::gradcheck", "options.step", options.step);
  GradcheckReport report;
  report.checked = x.size();
  double worst_ratio = -1.0;
  double* data = x.data();
  const double* grad = analytic.data();
  for (Index k = 0; k < x.size(); ++k) {
    const double saved = data[k];
    data[k] = saved + options.step;
    const double up = static_cast<double>(f(static_cast<const X&>(x)));
    data[k] = saved - options.step;
    const double down = static_cast<double>(f(static_cast<const X&>(x)));
    data[k] = saved;
    const double numeric = (up - down) / (2.0 * options.step);
    const double diff = std::abs(grad[k] - numeric);
    const double bound = options.atol + options.rtol * std::abs(numeric);
    const double ratio = std::isfinite(diff) ? diff / bound : INFINITY;
    report.max_abs_error = std::max(report.max_abs_error, diff);
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      report.worst = k;
      report.analytic = grad[k];
      report.numeric = numeric;
      report.abs_error = diff;
    }
  }
  if (report.worst >= 0) {
    const bool row_major = X::IsRowMajor;
    const Index inner = row_major ? x.cols() : x.rows();
    const Index outer_pos = report.worst / inner;
    const Index inner_pos = report.worst % inner;
    report.worst_row = row_major ? outer_pos : inner_pos;
    report.worst_col = row_major ? inner_pos : outer_pos;
  }
  report.passed = worst_ratio <= 1.0;
  return report;
}

}  // namespace polo

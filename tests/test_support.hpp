#pragma once
// Shared test helpers: the Catch2 include for either major version, random inputs, and the
// finite-difference assertion every differentiable output goes through.

#ifdef POLO_CATCH3
#include <catch2/catch_all.hpp>
using Catch::Approx;  // Catch2 3 moved it into the namespace; the tests spell it bare
#else
#include <catch2/catch.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>

#include "polo/core/gradcheck.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo_test {

using Catch::Matchers::Contains;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

/// |a - b| within `rel` of the larger magnitude (so 0 only matches 0 exactly).
inline bool close(double a, double b, double rel = 1e-14) {
  return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b));
}

/// A `[rows, cols]` array from a row-wise literal: `tokens({{1, 2, 3}, {4, 5, 6}})`.
inline polo::TokenArrayd tokens(std::initializer_list<std::initializer_list<double>> rows) {
  polo::TokenArrayd x(static_cast<polo::Index>(rows.size()),
                      static_cast<polo::Index>(rows.begin()->size()));
  polo::Index i = 0;
  for (const auto& row : rows) {
    polo::Index t = 0;
    for (const double v : row)
      x(i, t++) = v;
    ++i;
  }
  return x;
}

/// Same shape, and every element within the absolute `tol` of the expected one.
/// A [n] array from a braced list: seq({1.0, -2.0}).
inline polo::SeqArrayd seq(std::initializer_list<double> values) {
  polo::SeqArrayd x(static_cast<polo::Index>(values.size()));
  polo::Index i = 0;
  for (const double v : values)
    x[i++] = v;
  return x;
}

inline void check_tokens(const polo::TokenArrayd& actual, const polo::TokenArrayd& expected,
                         double tol) {
  REQUIRE(actual.rows() == expected.rows());
  REQUIRE(actual.cols() == expected.cols());
  for (polo::Index i = 0; i < actual.rows(); ++i) {
    for (polo::Index t = 0; t < actual.cols(); ++t) {
      INFO("row " << i << ", col " << t);
      CHECK(actual(i, t) == Approx(expected(i, t)).margin(tol));
    }
  }
}

/// The message of the `E` that `f()` throws, or a marker that matches no expected message.
template <class E, class F>
inline std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception thrown>";
}

/// Uniform [lo, hi) `[rows, cols]` array from polo's portable sampler.
inline polo::TokenArrayd random_tokens(polo::Rng& gen, polo::Index rows, polo::Index cols,
                                       double lo = -1.0, double hi = 1.0) {
  polo::TokenArrayd x(rows, cols);
  for (polo::Index k = 0; k < x.size(); ++k)
    x.data()[k] = polo::uniform(gen, lo, hi);
  return x;
}

inline polo::SeqArrayd random_seq(polo::Rng& gen, polo::Index size, double lo = -1.0,
                                  double hi = 1.0) {
  polo::SeqArrayd x(size);
  for (polo::Index k = 0; k < size; ++k)
    x[k] = polo::uniform(gen, lo, hi);
  return x;
}

}  // namespace polo_test

/// Asserts that `analytic` matches central finite differences of `f` at `x`.
#define POLO_CHECK_GRADIENT(f, x, analytic, ...)                                    \
  do {                                                                              \
    const auto polo_report_ = polo::gradcheck((f), (x), (analytic), ##__VA_ARGS__); \
    INFO(polo_report_.summary());                                                   \
    CHECK(polo_report_.passed);                                                     \
  } while (false)

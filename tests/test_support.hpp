#pragma once
// Shared test helpers: the Catch2 include for either major version, random inputs, and the
// finite-difference assertion every differentiable output goes through.

#ifdef POLO_CATCH3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <string>

#include "polo/core/gradcheck.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo_test {

using Catch::Matchers::Contains;

/// Uniform [lo, hi) `[rows, cols]` array from polo's portable sampler.
inline polo::TokenArrayd random_tokens(polo::Rng& gen, polo::Index rows, polo::Index cols,
                                       double lo = -1.0, double hi = 1.0) {
  polo::TokenArrayd x(rows, cols);
  for (polo::Index k = 0; k < x.size(); ++k) x.data()[k] = polo::uniform(gen, lo, hi);
  return x;
}

inline polo::SeqArrayd random_seq(polo::Rng& gen, polo::Index size, double lo = -1.0,
                                  double hi = 1.0) {
  polo::SeqArrayd x(size);
  for (polo::Index k = 0; k < size; ++k) x[k] = polo::uniform(gen, lo, hi);
  return x;
}

}  // namespace polo_test

/// Asserts that `analytic` matches central finite differences of `f` at `x`.
#define POLO_CHECK_GRADIENT(f, x, analytic, ...)                               \
  do {                                                                         \
    const auto polo_report_ = polo::gradcheck((f), (x), (analytic), ##__VA_ARGS__); \
    INFO(polo_report_.summary());                                              \
    CHECK(polo_report_.passed);                                                \
  } while (false)

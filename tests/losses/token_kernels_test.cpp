// The vector building blocks of the fused token loops (losses/detail/token_loss.hpp): the inline
// exponential against libm in ulps, its special values, the float-to-double block load, and the
// sigmoid with its derivative (finite differences). In a -march=native build these run on the
// AVX-512 forms (one-instruction scaling and widening load), elsewhere on the generic ones.

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "polo/core/random.hpp"
#include "polo/losses/detail/token_loss.hpp"
#include "test_support.hpp"

namespace token_kernels_test {

using polo::Index;
using polo::detail::kBlock;
using polo::detail::VecD;

/// Doubles as integers that order like the values (negative ones mirrored), so that the
/// difference of two is their distance in ulps.
std::int64_t ordered(double x) {
  const auto bits = std::bit_cast<std::int64_t>(x);
  return bits < 0 ? std::numeric_limits<std::int64_t>::min() - bits : bits;
}

std::int64_t ulps_between(double a, double b) {
  const std::int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

/// `count` blocks of arguments: a third over the whole finite range of exp, a third in [-2, 2]
/// (the log-ratios the losses see) and a third within 1e-3 of 0 (where expm1 matters).
std::vector<VecD> arguments(Index count) {
  polo::Rng gen(3);
  std::vector<VecD> blocks(static_cast<std::size_t>(count));
  for (Index b = 0; b < count; ++b) {
    for (Index k = 0; k < kBlock; ++k) {
      const double u = polo::uniform(gen);
      const double x =
          b % 3 == 0 ? -750.0 + 1462.0 * u : (b % 3 == 1 ? -2.0 + 4.0 * u : 2e-3 * u - 1e-3);
      blocks[static_cast<std::size_t>(b)][k] = x;
    }
  }
  return blocks;
}

TEST_CASE("exp_pair is within 1 ulp of std::exp and 4 of std::expm1", "[losses][kernels]") {
  std::int64_t worst_exp = 0;
  std::int64_t worst_expm1 = 0;
  std::int64_t worst_scalar = 0;
  for (const VecD& x : arguments(30000)) {
    const auto block = polo::detail::exp_pair(x);
    for (Index k = 0; k < kBlock; ++k) {
      worst_exp = std::max(worst_exp, ulps_between(block.exp[k], std::exp(x[k])));
      worst_expm1 = std::max(worst_expm1, ulps_between(block.expm1[k], std::expm1(x[k])));
      // The scalar form (the per-row work at sequence level) gives the same bits.
      const auto one = polo::detail::exp_pair(x[k]);
      worst_scalar = std::max(worst_scalar, ulps_between(one.exp, block.exp[k]) +
                                                ulps_between(one.expm1, block.expm1[k]));
    }
  }
  CHECK(worst_exp <= 1);
  CHECK(worst_expm1 <= 4);
  CHECK(worst_scalar == 0);
}

TEST_CASE("exp_pair special values: overflow, underflow, subnormals, NaN", "[losses][kernels]") {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> xs = {709.78, 709.79, 710.0,  1e300, inf, -708.0, -740.0,
                                  -745.2, -746.0, -1e300, -inf,  0.0, -0.0,   polo_test::kNaN};
  for (std::size_t j = 0; j < xs.size(); ++j) {
    VecD x{};
    for (Index k = 0; k < kBlock; ++k) {
      x[k] = xs[(j + static_cast<std::size_t>(k)) % xs.size()];
    }
    const auto block = polo::detail::exp_pair(x);
    for (Index k = 0; k < kBlock; ++k) {
      INFO("x = " << x[k]);
      const double e = std::exp(x[k]);
      if (std::isnan(e)) {
        CHECK(std::isnan(block.exp[k]));
        CHECK(std::isnan(block.expm1[k]));
      } else {
        CHECK(ulps_between(block.exp[k], e) <= 1);
        CHECK(ulps_between(block.expm1[k], std::expm1(x[k])) <= 4);
      }
    }
  }
}

TEST_CASE("load widens float blocks exactly, full and partial", "[losses][kernels]") {
  std::vector<float> data(static_cast<std::size_t>(kBlock));
  for (Index k = 0; k < kBlock; ++k) {
    data[static_cast<std::size_t>(k)] = 0.1f * static_cast<float>(k) - 0.35f;
  }
  for (Index n = 1; n <= kBlock; ++n) {
    const VecD v = polo::detail::load(data.data(), n);
    for (Index k = 0; k < kBlock; ++k) {
      CHECK(v[k] == (k < n ? static_cast<double>(data[static_cast<std::size_t>(k)]) : 0.0));
    }
  }
}

TEST_CASE("sigmoid_pair: both formulas, and its slope is the derivative", "[losses][kernels]") {
  polo::Rng gen(5);
  for (int b = 0; b < 200; ++b) {
    VecD x{};
    for (Index k = 0; k < kBlock; ++k) {
      x[k] = -40.0 + 80.0 * polo::uniform(gen);
    }
    const auto s = polo::detail::sigmoid_pair(x);
    for (Index k = 0; k < kBlock; ++k) {
      const double xk = x[k];
      INFO("x = " << xk);
      // polo::sigmoid's formulas, each free of cancellation on its side.
      const double expected =
          xk >= 0.0 ? 1.0 / (1.0 + std::exp(-xk)) : std::exp(xk) / (1.0 + std::exp(xk));
      CHECK(s.value[k] == Approx(expected).epsilon(1e-15));
      const double e = std::exp(-std::abs(xk));
      CHECK(s.slope[k] == Approx(e / ((1.0 + e) * (1.0 + e))).epsilon(1e-14));
      const double h = 1e-6;
      const double fd =
          (polo::detail::sigmoid_pair(xk + h).value - polo::detail::sigmoid_pair(xk - h).value) /
          (2.0 * h);
      CHECK(s.slope[k] == Approx(fd).epsilon(1e-6).margin(1e-9));  // rounding: 1e-16 / h
    }
  }
  // Saturated: the slope keeps its relative accuracy where 1 - sigma would round to 0.
  const auto far = polo::detail::sigmoid_pair(40.0);
  CHECK(far.value == 1.0);
  CHECK(far.slope == Approx(std::exp(-40.0)).epsilon(1e-14));
  CHECK(std::isnan(polo::detail::sigmoid_pair(polo_test::kNaN).value));
  CHECK(std::isnan(polo::detail::sigmoid_pair(polo_test::kNaN).slope));
}

}  // namespace token_kernels_test

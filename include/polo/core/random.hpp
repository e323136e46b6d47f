#pragma once
// Portable samplers. The standard distributions differ between standard libraries, so polo turns
// a generator's raw bits into numbers itself: the same seed gives the same stream on any platform.

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <random>
#include <span>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// The generator polo's examples use; any `std::uniform_random_bit_generator` works.
using Rng = std::mt19937_64;

namespace detail {

/// 64 random bits from any generator, whatever its range.
template <std::uniform_random_bit_generator G>
std::uint64_t bits64(G& gen) {
  using R = typename G::result_type;
  constexpr auto lo = G::min();
  constexpr auto hi = G::max();
  if constexpr (lo == 0 && hi == std::numeric_limits<std::uint64_t>::max()) {
    return static_cast<std::uint64_t>(gen());
  } else if constexpr (lo == 0 && hi == std::numeric_limits<std::uint32_t>::max()) {
    const auto high = static_cast<std::uint64_t>(static_cast<R>(gen()));
    const auto low = static_cast<std::uint64_t>(static_cast<R>(gen()));
    return (high << 32U) | low;
  } else {
    // Generic range: gather bits 16 at a time from values below the largest multiple of 2^16.
    constexpr std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1U;
    static_assert(span >= (1U << 16U), "polo: generator range too small");
    constexpr std::uint64_t limit = span - span % (1U << 16U);
    std::uint64_t out = 0;
    for (int chunk = 0; chunk < 4; ++chunk) {
      std::uint64_t v = 0;
      do {
        v = static_cast<std::uint64_t>(gen() - lo);
      } while (v >= limit);
      out = (out << 16U) | (v & 0xFFFFU);
    }
    return out;
  }
}

}  // namespace detail

/// Uniform double in [0, 1) with 53 random bits.
template <std::uniform_random_bit_generator G>
double uniform(G& gen) {
  return static_cast<double>(detail::bits64(gen) >> 11U) * 0x1.0p-53;
}

/// Uniform double in (0, 1): never 0 and never 1, so logs stay finite. Uses 52 bits so that
/// k + 0.5 is exact (with 53 bits the top value rounds up to exactly 1.0).
template <std::uniform_random_bit_generator G>
double uniform_open(G& gen) {
  return (static_cast<double>(detail::bits64(gen) >> 12U) + 0.5) * 0x1.0p-52;
}

/// Uniform double in [lo, hi).
template <std::uniform_random_bit_generator G>
double uniform(G& gen, double lo, double hi) {
  const double x = lo + (hi - lo) * uniform(gen);
  return x < hi ? x : std::nextafter(hi, lo);  // the sum can round up to hi, e.g. in [0.5, 1.5)
}

/// Uniform integer in [0, n), unbiased: rejection below the largest multiple of n.
template <std::uniform_random_bit_generator G>
Index uniform_int(G& gen, Index n) {
  if (n <= 0) detail::fail_argument("polo::uniform_int", "n", "> 0", n);
  const auto range = static_cast<std::uint64_t>(n);
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t v = 0;
  do {
    v = detail::bits64(gen);
  } while (v >= limit);
  return static_cast<Index>(v % range);
}

/// Standard normal by Marsaglia's polar method (only log and sqrt, both reproducible). One value
/// per call; the pair's second value is dropped so that no state hides between calls.
template <std::uniform_random_bit_generator G>
double normal(G& gen) {
  for (;;) {
    const double u = 2.0 * uniform(gen) - 1.0;
    const double v = 2.0 * uniform(gen) - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

/// Normal with the given mean and standard deviation.
template <std::uniform_random_bit_generator G>
double normal(G& gen, double mean, double stddev) {
  return mean + stddev * normal(gen);
}

/// Standard Gumbel: -log(-log(U)), U in (0, 1).
template <std::uniform_random_bit_generator G>
double gumbel(G& gen) {
  return -std::log(-std::log(uniform_open(gen)));
}

/// Index drawn from unnormalized non-negative weights by inverse CDF (one uniform per draw).
template <class Scalar, std::uniform_random_bit_generator G>
Index categorical(G& gen, std::span<const Scalar> weights) {
  double total = 0.0;
  for (const Scalar w : weights) {
    if (!(w >= 0) || !std::isfinite(static_cast<double>(w))) {
      detail::fail_argument("polo::categorical", "weights", "finite and >= 0",
                            static_cast<double>(w));
    }
    total += static_cast<double>(w);
  }
  if (!(total > 0.0)) detail::fail_argument("polo::categorical", "sum of weights", "> 0", total);
  const double target = uniform(gen) * total;
  double cumulative = 0.0;
  Index last_positive = 0;
  for (Index i = 0; i < static_cast<Index>(weights.size()); ++i) {
    const auto w = static_cast<double>(weights[static_cast<std::size_t>(i)]);
    if (w <= 0.0) continue;
    cumulative += w;
    last_positive = i;
    if (target < cumulative) return i;
  }
  return last_positive;  // rounding left target at the very top
}

/// Index drawn from logits (softmax probabilities) by the Gumbel-max trick.
template <class Scalar, std::uniform_random_bit_generator G>
Index categorical_from_logits(G& gen, std::span<const Scalar> logits) {
  if (logits.empty())
    detail::fail_argument("polo::categorical_from_logits", "logits", "non-empty", 0);
  Index best = 0;
  double best_key = -std::numeric_limits<double>::infinity();
  for (Index i = 0; i < static_cast<Index>(logits.size()); ++i) {
    const auto logit = static_cast<double>(logits[static_cast<std::size_t>(i)]);
    if (std::isnan(logit)) {
      detail::fail_argument("polo::categorical_from_logits", "logits", "not NaN", logit);
    }
    const double key = logit + gumbel(gen);
    if (key > best_key) {
      best_key = key;
      best = i;
    }
  }
  if (best_key == -std::numeric_limits<double>::infinity()) {
    detail::fail_argument("polo::categorical_from_logits", "logits", "not all -inf", "all -inf");
  }
  return best;
}

}  // namespace polo

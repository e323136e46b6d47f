// polo's portable samplers: reproducible streams, pinned values, ranges, distributions and errors.

#include "polo/core/random.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Index;
using polo_core_test::message_of;
using polo_test::Contains;

namespace random_test {

/// A generator that always returns the same bits: drives the samplers to their extremes.
struct ConstantBits {
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type value = 0;
  result_type operator()() { return value; }
};

/// A 32-bit generator counting 1, 2, 3, ... to check how bits are gathered.
struct Counter32 {
  using result_type = std::uint32_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type next = 1;
  result_type operator()() { return next++; }
};

struct Moments {
  double mean = 0.0;
  double variance = 0.0;
  double kurtosis = 0.0;  ///< fourth standardized moment (3 for a normal)
};

template <class F>
Moments moments(int n, F&& draw) {
  std::vector<double> v(static_cast<std::size_t>(n));
  double sum = 0.0;
  for (double& x : v) {
    x = draw();
    sum += x;
  }
  Moments m;
  m.mean = sum / n;
  double m2 = 0.0;
  double m4 = 0.0;
  for (const double x : v) {
    const double d = x - m.mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m.variance = m2 / n;
  m.kurtosis = (m4 / n) / (m.variance * m.variance);
  return m;
}

/// Pearson's chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int n) {
  double chi2 = 0.0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    if (probs[k] == 0.0) continue;
    const double expected = probs[k] * n;
    chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
  }
  return chi2;
}

TEST_CASE("the same seed gives the same stream", "[core][random]") {
  polo::Rng a(123);
  polo::Rng b(123);
  const std::vector<double> w{0.5, 1.0, 2.5};
  for (int k = 0; k < 200; ++k) {
    REQUIRE(polo::uniform(a) == polo::uniform(b));
    REQUIRE(polo::uniform_open(a) == polo::uniform_open(b));
    REQUIRE(polo::uniform(a, -3.0, 5.0) == polo::uniform(b, -3.0, 5.0));
    REQUIRE(polo::uniform_int(a, 17) == polo::uniform_int(b, 17));
    REQUIRE(polo::normal(a) == polo::normal(b));
    REQUIRE(polo::normal(a, 2.0, 0.5) == polo::normal(b, 2.0, 0.5));
    REQUIRE(polo::gumbel(a) == polo::gumbel(b));
    REQUIRE(polo::categorical<double>(a, w) == polo::categorical<double>(b, w));
    REQUIRE(polo::categorical_from_logits<double>(a, w) ==
            polo::categorical_from_logits<double>(b, w));
  }
  polo::Rng c(124);
  polo::Rng d(123);
  CHECK(polo::uniform(c) != polo::uniform(d));
}

// Values computed once with std::mt19937_64 seeded 42 and hard-coded: the engine is fully
// specified by the standard and polo's conversions are exact integer / power-of-two arithmetic,
// so these must hold bit for bit on every platform.
TEST_CASE("pinned values for seed 42", "[core][random]") {
  {
    polo::Rng gen(42);
    CHECK(gen() == 13930160852258120406ULL);
  }
  {
    polo::Rng gen(42);
    CHECK(polo::uniform(gen) == 0x1.82a3befaddcbcp-1);
    CHECK(polo::uniform(gen) == 0x1.472f1f73724ap-1);
    CHECK(polo::uniform(gen) == 0x1.81192cfe1cbcfp-1);
  }
  {
    polo::Rng gen(42);
    CHECK(polo::uniform_open(gen) == 0x1.82a3befaddcbdp-1);
    CHECK(polo::uniform_open(gen) == 0x1.472f1f73724a1p-1);
    CHECK(polo::uniform_open(gen) == 0x1.81192cfe1cbcfp-1);
  }
  {
    polo::Rng gen(42);
    const std::array<Index, 5> expected{406, 824, 450, 662, 381};
    for (const Index e : expected)
      CHECK(polo::uniform_int(gen, 1000) == e);
  }
  {
    polo::Rng gen(42);
    const std::vector<double> w{1.0, 0.0, 2.0, 3.0, 4.0};
    const std::array<Index, 8> expected{4, 4, 4, 2, 4, 0, 3, 3};
    for (const Index e : expected)
      CHECK(polo::categorical<double>(gen, w) == e);
  }
  {
    std::mt19937 gen(42);
    CHECK(polo::uniform(gen) == 0x1.7f87719b2fa8ep-2);
    CHECK(polo::uniform(gen) == 0x1.e6c406b85deb2p-1);
    CHECK(polo::uniform(gen) == 0x1.76c7e8d58f33ap-1);
  }
  // normal and gumbel go through std::log, which IEEE 754 does not require to be correctly
  // rounded: these hold bit for bit with glibc and to a few ulp elsewhere.
  {
    polo::Rng gen(42);
    CHECK_THAT(polo::normal(gen), Catch::Matchers::WithinULP(0x1.4b37d0b4daa8fp+0, 4));
    CHECK_THAT(polo::normal(gen), Catch::Matchers::WithinULP(0x1.978762f4a05dcp-2, 4));
    CHECK_THAT(polo::normal(gen), Catch::Matchers::WithinULP(0x1.1e599fb914974p+0, 4));
  }
  {
    polo::Rng gen(42);
    CHECK_THAT(polo::gumbel(gen), Catch::Matchers::WithinULP(0x1.451ebcc903fa3p+0, 4));
    CHECK_THAT(polo::gumbel(gen), Catch::Matchers::WithinULP(0x1.9b57df4bfcdf4p-1, 4));
    CHECK_THAT(polo::gumbel(gen), Catch::Matchers::WithinULP(0x1.41812b287590fp+0, 4));
  }
}

TEST_CASE("uniform is in 0 <= u < 1 and uniform_open in 0 < u < 1", "[core][random]") {
  polo::Rng gen(1);
  double lo = 1.0;
  double hi = 0.0;
  for (int k = 0; k < 20000; ++k) {
    const double u = polo::uniform(gen);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    const double o = polo::uniform_open(gen);
    REQUIRE(o > 0.0);
    REQUIRE(o < 1.0);
    const double r = polo::uniform(gen, -2.0, 3.0);
    REQUIRE(r >= -2.0);
    REQUIRE(r < 3.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  CHECK(lo < 1e-3);
  CHECK(hi > 1.0 - 1e-3);
}

TEST_CASE("the samplers stay in range at the extreme bit patterns", "[core][random]") {
  ConstantBits zeros{0};
  CHECK(polo::uniform(zeros) == 0.0);
  CHECK(polo::uniform_open(zeros) > 0.0);
  CHECK(std::isfinite(polo::gumbel(zeros)));

  // All ones: the largest draw. With 53 bits, (2^53 - 1) + 0.5 rounded to 2^53 and
  // uniform_open returned exactly 1.0, which made gumbel return +inf.
  ConstantBits ones{std::numeric_limits<std::uint64_t>::max()};
  CHECK(polo::uniform(ones) < 1.0);
  CHECK(polo::uniform(ones) == 1.0 - 0x1.0p-53);
  CHECK(polo::uniform_open(ones) < 1.0);
  CHECK(std::isfinite(polo::gumbel(ones)));
  CHECK(polo::uniform(ones, -1.0, 1.0) < 1.0);
  // 0.5 + (1 - 2^-53) is a tie between 1.5 - 2^-52 and 1.5 that rounds to even: 1.5, outside
  // [lo, hi) unless the sampler steps back below hi.
  CHECK(polo::uniform(ones, 0.5, 1.5) < 1.5);
  CHECK(polo::uniform(ones, 0.5, 1.5) == 1.5 - 0x1.0p-52);
  CHECK(polo::uniform(zeros, 0.5, 1.5) == 0.5);
}

TEST_CASE("bits from a 32-bit generator are gathered high word first", "[core][random]") {
  Counter32 gen;
  CHECK(polo::detail::bits64(gen) == ((std::uint64_t{1} << 32U) | 2U));
  CHECK(polo::detail::bits64(gen) == ((std::uint64_t{3} << 32U) | 4U));
}

TEST_CASE("a 32-bit and a non-power-of-two generator work too", "[core][random]") {
  std::mt19937 a(9);
  std::mt19937 b(9);
  for (int k = 0; k < 100; ++k)
    REQUIRE(polo::normal(a) == polo::normal(b));
  std::mt19937 gen(3);
  const Moments m = moments(20000, [&] { return polo::uniform(gen); });
  CHECK(std::abs(m.mean - 0.5) < 0.01);
  CHECK(std::abs(m.variance - 1.0 / 12.0) < 0.005);

  std::minstd_rand odd(4);  // range [1, 2^31 - 2]
  for (int k = 0; k < 1000; ++k) {
    const double u = polo::uniform(odd);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    const Index i = polo::uniform_int(odd, 5);
    REQUIRE(i >= 0);
    REQUIRE(i < 5);
  }
  const Moments mo = moments(20000, [&] { return polo::uniform(odd); });
  CHECK(std::abs(mo.mean - 0.5) < 0.01);
}

TEST_CASE("normal has mean 0, variance 1 and normal tails", "[core][random]") {
  polo::Rng gen(2);
  // 20k draws: the standard error of the mean is 0.007, of the variance 0.01, of the kurtosis
  // about 0.07. A uniform or a Box-Muller with a wrong constant fails these.
  const Moments m = moments(20000, [&] { return polo::normal(gen); });
  CHECK(std::abs(m.mean) < 0.03);
  CHECK(std::abs(m.variance - 1.0) < 0.05);
  CHECK(std::abs(m.kurtosis - 3.0) < 0.3);
  const Moments shifted = moments(20000, [&] { return polo::normal(gen, 5.0, 2.0); });
  CHECK(std::abs(shifted.mean - 5.0) < 0.06);
  CHECK(std::abs(shifted.variance - 4.0) < 0.2);
}

TEST_CASE("gumbel has the Gumbel mean and variance", "[core][random]") {
  polo::Rng gen(3);
  // Mean: the Euler-Mascheroni constant; variance pi^2 / 6. Standard errors 0.009 and 0.024.
  const Moments m = moments(20000, [&] { return polo::gumbel(gen); });
  CHECK(std::abs(m.mean - std::numbers::egamma) < 0.04);
  CHECK(std::abs(m.variance - std::numbers::pi * std::numbers::pi / 6.0) < 0.12);
}

TEST_CASE("categorical frequencies follow the weights", "[core][random]") {
  polo::Rng gen(4);
  const std::vector<double> w{1.0, 0.0, 2.0, 3.0, 4.0};
  const std::vector<double> probs{0.1, 0.0, 0.2, 0.3, 0.4};
  const int n = 20000;
  std::vector<int> counts(5, 0);
  for (int k = 0; k < n; ++k)
    ++counts[static_cast<std::size_t>(polo::categorical<double>(gen, w))];
  CHECK(counts[1] == 0);  // a zero weight is never drawn
  // Four free categories -> 3 degrees of freedom; 16.27 is the 0.999 quantile.
  CHECK(chi_square(counts, probs, n) < 16.27);

  const std::vector<float> wf{3.0F, 1.0F};
  std::vector<int> counts_f(2, 0);
  for (int k = 0; k < n; ++k) {
    ++counts_f[static_cast<std::size_t>(polo::categorical<float>(gen, wf))];
  }
  CHECK(chi_square(counts_f, {0.75, 0.25}, n) < 10.83);  // 1 dof, 0.999 quantile

  const std::vector<double> single{0.0, 0.0, 7.0};
  for (int k = 0; k < 20; ++k)
    CHECK(polo::categorical<double>(gen, single) == 2);
}

TEST_CASE("categorical_from_logits follows the softmax", "[core][random]") {
  polo::Rng gen(5);
  const std::vector<double> probs{0.1, 0.0, 0.2, 0.3, 0.4};
  std::vector<double> logits;
  for (const double p : probs)
    logits.push_back(std::log(p) + 1.7);  // log 0 = -inf
  const int n = 20000;
  std::vector<int> counts(5, 0);
  for (int k = 0; k < n; ++k) {
    ++counts[static_cast<std::size_t>(polo::categorical_from_logits<double>(gen, logits))];
  }
  CHECK(counts[1] == 0);
  CHECK(chi_square(counts, probs, n) < 16.27);
}

TEST_CASE("uniform_int is in range and unbiased", "[core][random]") {
  polo::Rng gen(6);
  const int n = 60000;
  std::vector<int> counts(6, 0);
  for (int k = 0; k < n; ++k) {
    const Index v = polo::uniform_int(gen, 6);
    REQUIRE(v >= 0);
    REQUIRE(v < 6);
    ++counts[static_cast<std::size_t>(v)];
  }
  CHECK(chi_square(counts, std::vector<double>(6, 1.0 / 6.0), n) < 20.52);  // 5 dof, 0.999
  for (int k = 0; k < 10; ++k)
    CHECK(polo::uniform_int(gen, 1) == 0);
  // A huge range (2^62 + 1, so a quarter of the raw draws are rejected) stays in range.
  const Index big = (Index{1} << 62) + 1;
  for (int k = 0; k < 100; ++k) {
    const Index v = polo::uniform_int(gen, big);
    REQUIRE(v >= 0);
    REQUIRE(v < big);
  }
}

TEST_CASE("bad sampler inputs throw with messages", "[core][random]") {
  polo::Rng gen(7);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)polo::uniform_int(gen, 0); }),
             Contains("polo::uniform_int: n must be > 0, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)polo::uniform_int(gen, -3); }),
             Contains("n must be > 0, got -3"));
  const std::vector<double> negative{1.0, -1.0};
  CHECK_THAT(
      message_of<polo::invalid_argument>([&] { (void)polo::categorical<double>(gen, negative); }),
      Contains("polo::categorical: weights must be finite and >= 0, got -1"));
  const std::vector<double> nan{1.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THROWS_AS(polo::categorical<double>(gen, nan), polo::invalid_argument);
  const std::vector<double> inf{1.0, std::numeric_limits<double>::infinity()};
  CHECK_THROWS_AS(polo::categorical<double>(gen, inf), polo::invalid_argument);
  const std::vector<double> zeros{0.0, 0.0};
  CHECK_THAT(
      message_of<polo::invalid_argument>([&] { (void)polo::categorical<double>(gen, zeros); }),
      Contains("polo::categorical: sum of weights must be > 0, got 0"));
  CHECK_THROWS_AS(polo::categorical<double>(gen, std::span<const double>()),
                  polo::invalid_argument);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               (void)polo::categorical_from_logits<double>(gen, std::span<const double>());
             }),
             Contains("polo::categorical_from_logits: logits must be non-empty"));
  const double neg_inf = -std::numeric_limits<double>::infinity();
  const std::vector<double> all_masked{neg_inf, neg_inf};
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)polo::categorical_from_logits<double>(gen, all_masked); }),
             Contains("logits must be not all -inf, got all -inf"));
  const std::vector<double> nan_logit{0.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { (void)polo::categorical_from_logits<double>(gen, nan_logit); }),
             Contains("logits must be not NaN, got nan"));
}

}  // namespace random_test

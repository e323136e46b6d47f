// Stable scalar functions, logsumexp / log_softmax, masked reductions and the non-finite scan.

#include "polo/core/numerics.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Index;
using polo::MaskView;
using polo::TokenView;
using polo_core_test::message_of;
using polo_test::Contains;

namespace numerics_test {

using polo_test::kInf;
using polo_test::kNaN;

using polo_test::close;

TEST_CASE("softplus is finite and exact at both tails", "[core][numerics]") {
  CHECK(close(polo::softplus(0.0), std::log(2.0)));
  CHECK(polo::softplus(1000.0) == 1000.0);
  CHECK(polo::softplus(-1000.0) == 0.0);
  CHECK(polo::softplus(-1000.0) >= 0.0);
  // Deep left tail: log(1 + e^x) = e^x to working precision (a naive log(1 + exp(x)) gives 0).
  CHECK(close(polo::softplus(-40.0), std::exp(-40.0)));
  CHECK(close(polo::softplus(40.0), 40.0 + std::exp(-40.0)));
  CHECK(close(polo::softplus(1.5), std::log1p(std::exp(1.5))));
  CHECK(close(polo::softplus(-1.5), std::log1p(std::exp(-1.5))));
}

TEST_CASE("log_sigmoid is finite and exact at both tails", "[core][numerics]") {
  CHECK(close(polo::log_sigmoid(0.0), -std::log(2.0)));
  CHECK(polo::log_sigmoid(1000.0) == 0.0);
  CHECK(polo::log_sigmoid(-1000.0) == -1000.0);
  CHECK(close(polo::log_sigmoid(40.0), -std::exp(-40.0)));
  CHECK(close(polo::log_sigmoid(-40.0), -40.0 - std::exp(-40.0)));
  CHECK(close(polo::log_sigmoid(2.0), std::log(1.0 / (1.0 + std::exp(-2.0)))));
}

TEST_CASE("sigmoid is exact at both tails and symmetric", "[core][numerics]") {
  CHECK(polo::sigmoid(0.0) == 0.5);
  CHECK(polo::sigmoid(1000.0) == 1.0);
  CHECK(polo::sigmoid(-1000.0) == 0.0);
  CHECK(std::isfinite(polo::sigmoid(-1000.0)));
  // The left tail keeps its relative precision (1 - sigmoid(50) would round to 0).
  CHECK(close(polo::sigmoid(-50.0), std::exp(-50.0)));
  for (const double x : {0.1, 1.0, 3.0, 17.0}) {
    CHECK(close(polo::sigmoid(x) + polo::sigmoid(-x), 1.0));
  }
}

TEST_CASE("logsumexp handles -inf entries, large values and empty ranges", "[core][numerics]") {
  const std::vector<double> plain{1.0, 2.0, 3.0};
  CHECK(
      close(polo::logsumexp<double>(plain), 3.0 + std::log(1.0 + std::exp(-1.0) + std::exp(-2.0))));
  const std::vector<double> with_inf{-kInf, 0.0, -kInf, std::log(3.0)};
  CHECK(close(polo::logsumexp<double>(with_inf), std::log(4.0)));
  const std::vector<double> large{1000.0, 1000.0};
  CHECK(close(polo::logsumexp<double>(large), 1000.0 + std::log(2.0)));
  const std::vector<double> all_inf{-kInf, -kInf};
  CHECK(polo::logsumexp<double>(all_inf) == -kInf);
  CHECK(polo::logsumexp<double>(std::span<const double>()) == -kInf);
  const std::vector<double> pos_inf{0.0, kInf};
  CHECK(polo::logsumexp<double>(pos_inf) == kInf);
  const std::vector<float> floats{-1.0F, 0.5F};
  CHECK(close(polo::logsumexp<float>(floats), std::log(std::exp(-1.0) + std::exp(0.5))));
}

TEST_CASE("logsumexp propagates a NaN instead of hiding it", "[core][numerics]") {
  // With std::max the NaN was skipped and {NaN} (or {-inf, NaN}) returned -inf.
  CHECK(std::isnan(polo::logsumexp<double>(std::vector<double>{kNaN})));
  CHECK(std::isnan(polo::logsumexp<double>(std::vector<double>{-kInf, kNaN})));
  CHECK(std::isnan(polo::logsumexp<double>(std::vector<double>{kNaN, 1.0})));
  CHECK(std::isnan(polo::logsumexp<double>(std::vector<double>{1.0, kNaN})));
}

TEST_CASE("log_softmax normalizes and returns the logsumexp", "[core][numerics]") {
  const std::vector<double> x{2.0, -kInf, 0.0, 1.0};
  std::array<double, 4> out{};
  const double lse = polo::log_softmax<double, double>(x, out);
  CHECK(close(lse, std::log(std::exp(2.0) + 1.0 + std::exp(1.0))));
  CHECK(out[1] == -kInf);
  double total = 0.0;
  for (const double v : out)
    total += std::exp(v);
  CHECK(close(total, 1.0));
  CHECK(close(out[0], 2.0 - lse));
}

// The hand-computed case shared by the masked reductions: valid values 1, 2, 4, 6 with NaN and
// -inf at padded positions.
//   sum = 13, mean = 13 / 4 = 3.25
//   squared deviations: 2.25^2 + 1.25^2 + 0.75^2 + 2.75^2 = 5.0625 + 1.5625 + 0.5625 + 7.5625
//                     = 14.75
//   population variance = 14.75 / 4 = 3.6875, sample variance = 14.75 / 3
TEST_CASE("masked sum, mean and variance ignore padded NaN and -inf", "[core][numerics]") {
  polo::TokenArrayd x(2, 3);
  x << 1.0, 2.0, kNaN, 4.0, -kInf, 6.0;
  polo::MaskArray m(2, 3);
  m << 1, 1, 0, 1, 0, 1;
  const TokenView<const double> v(x);
  CHECK(polo::count_valid(MaskView(m), 2, 3) == 4.0);
  CHECK(polo::masked_sum(v, MaskView(m)) == 13.0);
  CHECK(polo::masked_mean(v, MaskView(m)) == 3.25);
  CHECK(polo::masked_variance(v, MaskView(m)) == 3.6875);
  CHECK(close(polo::masked_variance(v, MaskView(m), 1), 14.75 / 3.0));

  // The same through a float mask and float values.
  const polo::TokenArrayf xf = x.cast<float>();
  const polo::TokenArrayf mf = m.cast<float>();
  CHECK(polo::masked_sum(TokenView<const float>(xf), MaskView(mf)) == 13.0);
  CHECK(polo::masked_mean(TokenView<const float>(xf), MaskView(mf)) == 3.25);
}

TEST_CASE("masked reductions without a mask use every position", "[core][numerics]") {
  polo::TokenArrayd x(2, 2);
  x << 1.0, 2.0, 3.0, 6.0;  // mean 3, deviations -2 -1 0 3: squares 4 + 1 + 0 + 9 = 14
  const TokenView<const double> v(x);
  CHECK(polo::count_valid(MaskView(), 2, 2) == 4.0);
  CHECK(polo::masked_sum(v) == 12.0);
  CHECK(polo::masked_mean(v) == 3.0);
  CHECK(polo::masked_variance(v) == 3.5);
}

TEST_CASE("an all-masked input reduces to 0, not NaN", "[core][numerics]") {
  polo::TokenArrayd x = polo::TokenArrayd::Constant(2, 3, kNaN);
  const polo::MaskArray m = polo::MaskArray::Zero(2, 3);
  const TokenView<const double> v(x);
  CHECK(polo::count_valid(MaskView(m), 2, 3) == 0.0);
  CHECK(polo::masked_sum(v, MaskView(m)) == 0.0);
  CHECK(polo::masked_mean(v, MaskView(m)) == 0.0);
  CHECK(polo::masked_variance(v, MaskView(m)) == 0.0);
  CHECK(polo::masked_variance(v, MaskView(m), 1) == 0.0);
  // One valid position has no sample variance.
  polo::MaskArray one = m;
  one(1, 2) = 1;
  x(1, 2) = 5.0;
  CHECK(polo::masked_mean(v, MaskView(one)) == 5.0);
  CHECK(polo::masked_variance(v, MaskView(one), 1) == 0.0);
  CHECK(polo::masked_variance(v, MaskView(one), 0) == 0.0);
}

TEST_CASE("masked reductions accumulate in double", "[core][numerics]") {
  // 1e8 + 1000 * 1 in float stays 1e8 (the spacing there is 8); in double it is exact.
  polo::TokenArrayf x = polo::TokenArrayf::Ones(1, 1001);
  x(0, 0) = 1.0e8F;
  CHECK(polo::masked_sum(TokenView<const float>(x)) == 1.0e8 + 1000.0);
}

TEST_CASE("masked reductions refuse a mask of another shape", "[core][numerics]") {
  const polo::TokenArrayd x = polo::TokenArrayd::Zero(2, 3);
  const polo::MaskArray m = polo::MaskArray::Ones(3, 3);
  const TokenView<const double> v(x);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)polo::masked_sum(v, MaskView(m)); }),
             Contains("polo::masked_sum: mask shape must be [2, 3], got [3, 3]"));
  CHECK_THROWS_AS(polo::masked_mean(v, MaskView(m)), polo::invalid_argument);
  CHECK_THROWS_AS(polo::masked_variance(v, MaskView(m)), polo::invalid_argument);
}

TEST_CASE("find_nonfinite reports the first bad valid position", "[core][numerics]") {
  polo::TokenArrayd x(2, 3);
  x << 1.0, kNaN, 3.0, 4.0, 5.0, kInf;
  polo::MaskArray m(2, 3);
  m << 1, 0, 1, 1, 1, 1;
  const TokenView<const double> v(x);

  const auto masked = polo::detail::find_nonfinite(v, MaskView(m));
  REQUIRE(masked.has_value());
  CHECK(masked->row == 1);
  CHECK(masked->col == 2);
  CHECK(masked->value == kInf);

  const auto unmasked = polo::detail::find_nonfinite(v, MaskView());
  REQUIRE(unmasked.has_value());
  CHECK(unmasked->row == 0);
  CHECK(unmasked->col == 1);
  CHECK(std::isnan(unmasked->value));

  m(1, 2) = 0;
  CHECK_FALSE(polo::detail::find_nonfinite(v, MaskView(m)).has_value());
}

TEST_CASE("check_finite throws nonfinite_error naming the field and position", "[core][numerics]") {
  polo::TokenArrayd x = polo::TokenArrayd::Zero(3, 4);
  x(2, 1) = -kInf;
  try {
    polo::detail::check_finite("polo::loss", "logp", TokenView<const double>(x), MaskView());
    FAIL("no exception thrown");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "logp");
    CHECK(e.row() == 2);
    CHECK(e.col() == 1);
    CHECK_THAT(e.what(), Contains("polo::loss: logp must be finite") &&
                             Contains("got -inf at row 2, column 1"));
  }
  // A masked-out bad value and an absent input pass.
  polo::MaskArray m = polo::MaskArray::Ones(3, 4);
  m(2, 1) = 0;
  CHECK_NOTHROW(
      polo::detail::check_finite("polo::loss", "logp", TokenView<const double>(x), MaskView(m)));
  CHECK_NOTHROW(
      polo::detail::check_finite("polo::loss", "ref_logp", TokenView<const double>(), MaskView()));

  polo::SeqArrayd s = polo::SeqArrayd::Zero(4);
  s[3] = kNaN;
  try {
    polo::detail::check_finite("polo::loss", "rewards", polo::SeqView<const double>(s));
    FAIL("no exception thrown");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "rewards");
    CHECK(e.row() == 3);
    CHECK(e.col() == 0);
  }
}

TEST_CASE("all_finite checks the value and every gradient entry", "[core][numerics]") {
  polo::TokenArrayd g = polo::TokenArrayd::Ones(2, 3);
  CHECK(polo::detail::all_finite(1.0, TokenView<const double>(g)));
  CHECK_FALSE(polo::detail::all_finite(kNaN, TokenView<const double>(g)));
  CHECK_FALSE(polo::detail::all_finite(kInf, TokenView<const double>(g)));
  g(1, 2) = kInf;
  CHECK_FALSE(polo::detail::all_finite(1.0, TokenView<const double>(g)));
  g(1, 2) = kNaN;
  CHECK_FALSE(polo::detail::all_finite(1.0, TokenView<const double>(g)));
}

}  // namespace numerics_test

#include "polo/advantage/whiten.hpp"

#include <cmath>
#include <limits>

#include "polo/advantage/gae.hpp"
#include "test_support.hpp"

using polo::Index;
using polo::MaskArray;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo::TokenView;
using polo::WhitenOptions;
using polo_test::Contains;
using Placement = polo::WhitenOptions::EpsPlacement;

namespace whiten_test {
using polo_test::kNaN;

TEST_CASE("whiten gives mean 0 and unbiased std 1 over the valid positions", "[whiten]") {
  polo::Rng gen(21);
  const TokenArrayd x = polo_test::random_tokens(gen, 4, 7, -3.0, 5.0);
  const TokenArrayd y = polo::whitened(TokenView<const double>(x));
  const double n = static_cast<double>(y.size());
  const double mean = y.sum() / n;
  const double var = (y - mean).square().sum() / (n - 1.0);
  CHECK(mean == Approx(0.0).margin(1e-12));
  CHECK(var == Approx(1.0).epsilon(1e-7));
}

TEST_CASE("whiten matches V6's whitened GAE advantages (TRL/verl placement)", "[whiten]") {
  TokenArrayd r(1, 5);
  TokenArrayd v(1, 5);
  MaskArray done = MaskArray::Zero(1, 5);
  r << 0.5, -0.2, 1.0, 0.0, 2.0;
  v << 0.3, 0.1, 0.8, -0.4, 0.6;
  done(0, 2) = 1;
  SeqArrayd boot(1);
  boot << 0.7;
  auto out = polo::GAE{}(
      polo::GAEInputs<double>{.rewards = r, .values = v, .terminated = done, .bootstrap = boot});
  const auto stats = polo::whiten_inplace(TokenView<double>(out.advantages), {},
                                          WhitenOptions{.eps_placement = Placement::variance});
  const double expected[] = {-0.386709, -0.615907, -1.04153, 1.40748, 0.636669};
  for (Index t = 0; t < 5; ++t)
    CHECK(out.advantages(0, t) == Approx(expected[t]).epsilon(5e-6));
  CHECK(stats.count == 5.0);
  CHECK(stats.mean == Approx((0.938634 + 0.6801 + 0.2 + 2.96247 + 2.093) / 5.0).epsilon(1e-6));
}

TEST_CASE("whiten: both eps placements, bias and shift_mean against hand values", "[whiten]") {
  // x = [1, 2, 3, 4]: mean 2.5, unbiased variance 5/3 (std 1.29099), biased variance 1.25.
  // A large eps = 0.5 tells the placements apart:
  //   std:      (x - 2.5) / (1.29099 + 0.5)     -> ±0.837524, ±0.279175
  //   variance: (x - 2.5) / sqrt(5/3 + 0.5)     -> ±1.019049, ±0.339683
  //   biased, std placement: (x - 2.5) / (sqrt(1.25) + 0.5) -> ±0.927051, ±0.309017
  TokenArrayd x(1, 4);
  x << 1.0, 2.0, 3.0, 4.0;
  const TokenView<const double> in(x);
  const TokenArrayd a = polo::whitened(in, {}, WhitenOptions{.eps = 0.5});
  const TokenArrayd b =
      polo::whitened(in, {}, WhitenOptions{.eps = 0.5, .eps_placement = Placement::variance});
  const TokenArrayd c = polo::whitened(in, {}, WhitenOptions{.eps = 0.5, .unbiased = false});
  const TokenArrayd d = polo::whitened(in, {}, WhitenOptions{.eps = 0.5, .shift_mean = false});
  const double ea[] = {-0.8375235340, -0.2791745113, 0.2791745113, 0.8375235340};
  const double eb[] = {-1.0190493307, -0.3396831102, 0.3396831102, 1.0190493307};
  const double ec[] = {-0.9270509831, -0.3090169944, 0.3090169944, 0.9270509831};
  for (Index t = 0; t < 4; ++t) {
    CHECK(a(0, t) == Approx(ea[t]).epsilon(1e-9));
    CHECK(b(0, t) == Approx(eb[t]).epsilon(1e-9));
    CHECK(c(0, t) == Approx(ec[t]).epsilon(1e-9));
    CHECK(d(0, t) == Approx(ea[t] + 2.5).epsilon(1e-9));  // shift_mean = false adds the mean back
  }
  // CleanRL's default eps = 1e-8 on the std.
  const TokenArrayd e = polo::whitened(in);
  CHECK(e(0, 0) == Approx(-1.5 / (std::sqrt(5.0 / 3.0) + 1e-8)).epsilon(1e-12));
}

TEST_CASE("whiten ignores masked positions, even NaN, and zeroes them", "[whiten]") {
  TokenArrayd x(2, 3);
  MaskArray m(2, 3);
  x << 1.0, kNaN, 2.0,  //
      -std::numeric_limits<double>::infinity(), 3.0, 4.0;
  m << 1, 0, 1, 0, 1, 1;
  TokenArrayd out = TokenArrayd::Constant(2, 3, 9.0);
  const auto stats = polo::whiten(TokenView<const double>(x), m, out);
  CHECK(stats.count == 4.0);
  CHECK(stats.mean == Approx(2.5));
  const double s = std::sqrt(5.0 / 3.0) + 1e-8;
  CHECK(out(0, 0) == Approx(-1.5 / s));
  CHECK(out(1, 2) == Approx(1.5 / s));
  CHECK(out(0, 1) == 0.0);
  CHECK(out(1, 0) == 0.0);

  // A float mask and the [N] overload.
  Eigen::ArrayXXf fm = m.cast<float>();
  Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> fmr = fm;
  TokenArrayd out2(2, 3);
  polo::whiten(TokenView<const double>(x), fmr, out2);
  CHECK(out2(1, 1) == out(1, 1));
  SeqArrayd seq(4);
  seq << 1.0, 2.0, 3.0, 4.0;
  SeqArrayd seq_out(4);
  polo::whiten(polo::SeqView<const double>(seq), seq_out);
  CHECK(seq_out[0] == Approx(out(0, 0)));
  CHECK(seq_out[3] == Approx(out(1, 2)));

  // No valid position, or a single one (unbiased variance undefined): zeros, never NaN.
  MaskArray none = MaskArray::Zero(2, 3);
  polo::whiten(TokenView<const double>(x), none, out);
  CHECK((out == 0.0).all());
  MaskArray one = MaskArray::Zero(2, 3);
  one(1, 1) = 1;
  polo::whiten(TokenView<const double>(x), one, out);
  CHECK((out == 0.0).all());
}

TEST_CASE("whiten refuses bad options, shapes and non-finite valid values", "[whiten]") {
  TokenArrayd x = TokenArrayd::Ones(2, 3);
  TokenArrayd out(2, 3);
  const TokenView<const double> in(x);
  CHECK_THROWS_WITH(polo::whiten(in, {}, out, WhitenOptions{.eps = -1.0}), Contains("eps"));
  MaskArray m(3, 3);
  CHECK_THROWS_WITH(polo::whiten(in, m, out), Contains("mask shape must be [2, 3], got [3, 3]"));
  TokenArrayd wrong(2, 2);
  CHECK_THROWS_WITH(polo::whiten(in, {}, wrong), Contains("out shape must be [2, 3], got [2, 2]"));
  x(1, 0) = kNaN;
  CHECK_THROWS_AS(polo::whiten(in, {}, out), polo::nonfinite_error);
  CHECK_THROWS_WITH(polo::whiten(in, {}, out), Contains("row 1, column 0"));
}

}  // namespace whiten_test

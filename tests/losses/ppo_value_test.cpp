// ValueLoss (V4, clipped and unclipped, finite differences) and explained_variance.

#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "loss_test_support.hpp"
#include "polo/losses/value_loss.hpp"
#include "test_support.hpp"

namespace ppo_value_test {

using polo_loss_test::kVectorTol;

using polo::Aggregation;
using polo::Index;
using polo::TokenArrayd;
using polo::ValueInputs;
using polo::ValueLoss;
using polo_test::Contains;

using polo_test::tokens;

using polo_test::check_tokens;

struct V4 {
  TokenArrayd v = tokens({{0.5, 1.4, -0.3}, {2.0, 0.0, 0.0}});
  TokenArrayd v_old = tokens({{0.4, 1.0, -0.2}, {1.5, 0.3, 0.0}});
  TokenArrayd ret = tokens({{1.0, 0.9, -1.0}, {1.0, -0.05, 0.0}});
  TokenArrayd mask = tokens({{1, 1, 1}, {1, 1, 0}});
};

TEST_CASE("ValueLoss reproduces V4 (clip 0.2, half token mean)", "[losses][ppo][value]") {
  const V4 x;
  const auto out = ValueLoss{.clip = 0.2}({x.v, x.v_old, x.ret, x.mask});
  CHECK(out.value == Approx(0.20125).epsilon(kVectorTol));
  check_tokens(out.grad_values, tokens({{-0.1, 0.1, 0.14}, {0.2, 0, 0}}), 1e-7);
  CHECK(out.metrics.value_clip_fraction == Approx(0.2));  // token (1, 1)
  CHECK(out.metrics.valid_tokens == 5.0);
  CHECK(out.per_token(1, 1) == Approx(0.5 * 0.15 * 0.15));
  CHECK(out.per_token(1, 2) == 0.0);
}

TEST_CASE("ValueLoss without clipping is half the aggregated squared error",
          "[losses][ppo][value]") {
  const V4 x;
  for (const auto& agg : polo_loss_test::all_aggregations(30.0, 9.0)) {
    const ValueLoss loss{.aggregation = agg};
    // old_values may be absent when clip = 0
    const auto out = loss({x.v, {}, x.ret, x.mask});
    const TokenArrayd half_sq = 0.5 * (x.v - x.ret).square();
    CHECK(out.value == Approx(polo::aggregate(polo::TokenView<const double>(half_sq),
                                              polo::MaskView(x.mask), agg)));
    const auto w = polo::aggregation_weights(agg, x.mask, 2, 3);
    for (Index i = 0; i < 2; ++i) {
      for (Index t = 0; t < 3; ++t) {
        const double expected =
            x.mask(i, t) != 0.0 ? w[static_cast<std::size_t>(i)] * (x.v(i, t) - x.ret(i, t)) : 0.0;
        CHECK(out.grad_values(i, t) == Approx(expected).margin(1e-15));
      }
    }
    CHECK(out.metrics.value_clip_fraction == 0.0);
  }
}

TEST_CASE("ValueLoss gradient matches finite differences", "[losses][ppo][value][gradcheck]") {
  polo::Rng gen(17);
  const Index rows = 4;
  const Index cols = 5;
  polo::MaskArray mask(rows, cols);
  for (Index k = 0; k < mask.size(); ++k)
    mask.data()[k] = polo::uniform(gen) < 0.8 ? 1 : 0;
  mask.row(2).setZero();
  for (const double clip : {0.0, 0.2, 0.5}) {
    double clipped_total = 0.0;  // the clipped branch must be exercised
    for (const auto& agg : polo_loss_test::all_aggregations(30.0, 9.0)) {
      const TokenArrayd v_old = polo_test::random_tokens(gen, rows, cols, -1.0, 1.0);
      const TokenArrayd ret = polo_test::random_tokens(gen, rows, cols, -1.0, 1.0);
      TokenArrayd v(rows, cols);
      // keep every V >= 1e-3 away from the band edge and from a tie between the two errors
      for (Index k = 0; k < v.size(); ++k) {
        for (;;) {
          const double d = polo::uniform(gen, -1.0, 1.0);
          const double vi = v_old.data()[k] + d;
          const double vc = v_old.data()[k] + std::clamp(d, -clip, clip);
          const double r = ret.data()[k];
          const bool edge = clip > 0.0 && std::abs(std::abs(d) - clip) < 1e-3;
          const bool tie = clip > 0.0 && std::abs(std::abs(vi - r) - std::abs(vc - r)) < 1e-3 &&
                           std::abs(d) > clip;
          if (!edge && !tie) {
            v.data()[k] = vi;
            break;
          }
        }
      }
      const ValueLoss loss{.clip = clip, .aggregation = agg};
      const auto out = loss({v, v_old, ret, mask});
      auto f = [&](const TokenArrayd& x) { return loss({x, v_old, ret, mask}).value; };
      POLO_CHECK_GRADIENT(f, v, out.grad_values);
      TokenArrayd grad = TokenArrayd::Constant(rows, cols, 7.0);
      const auto val =
          loss.compute(ValueInputs<double>{v, v_old, ret, mask}, polo::TokenView<double>(grad));
      CHECK(val.value == out.value);
      CHECK((grad == out.grad_values).all());
      clipped_total += out.metrics.value_clip_fraction;
    }
    CHECK((clip == 0.0) == (clipped_total == 0.0));
  }
}

TEST_CASE("ValueLoss ignores padding and reports non-finite valid inputs",
          "[losses][ppo][value][errors]") {
  const V4 x;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ValueLoss loss{.clip = 0.2};
  TokenArrayd v = x.v;
  TokenArrayd ret = x.ret;
  v(1, 2) = nan;
  ret(1, 2) = -std::numeric_limits<double>::infinity();
  const auto out = loss({v, x.v_old, ret, x.mask});
  CHECK(out.value == Approx(0.20125).epsilon(kVectorTol));
  CHECK(out.grad_values(1, 2) == 0.0);

  ret(0, 1) = nan;
  CHECK_THROWS_AS(loss({v, x.v_old, ret, x.mask}), polo::nonfinite_error);
  CHECK_THROWS_WITH(loss({v, x.v_old, ret, x.mask}),
                    Contains("returns") && Contains("row 0, column 1"));
  TokenArrayd v_old = x.v_old;
  v_old(1, 0) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(loss({x.v, v_old, x.ret, x.mask}),
                    Contains("old_values") && Contains("row 1, column 0"));
  TokenArrayd bad_v = x.v;
  bad_v(0, 0) = nan;
  CHECK_THROWS_WITH(loss({bad_v, x.v_old, x.ret, x.mask}),
                    Contains("values") && Contains("row 0, column 0"));
}

TEST_CASE("ValueLoss validates clip, presence and shapes", "[losses][ppo][value][errors]") {
  const V4 x;
  CHECK_THROWS_WITH(ValueLoss{.clip = -0.1}({x.v, x.v_old, x.ret, x.mask}),
                    "polo::ValueLoss: clip must be >= 0, got -0.1");
  CHECK_THROWS_WITH(ValueLoss{.clip = 0.2}({x.v, {}, x.ret, x.mask}),
                    Contains("old_values must be given (clip > 0)"));
  const TokenArrayd wide = TokenArrayd::Zero(2, 4);
  CHECK_THROWS_WITH(ValueLoss{}({x.v, {}, wide, x.mask}),
                    "polo::ValueLoss: returns shape must be [2, 3], got [2, 4]");
  CHECK_THROWS_WITH(ValueLoss{.clip = 0.2}({x.v, wide, x.ret, x.mask}),
                    Contains("old_values shape"));
  CHECK_THROWS_WITH(ValueLoss{}({x.v, {}, x.ret, wide}), Contains("mask shape"));
  CHECK_THROWS_WITH(
      ValueLoss{.aggregation = Aggregation::token_sum_over(-1.0)}({x.v, {}, x.ret, x.mask}),
      Contains("aggregation.normalizer"));
  TokenArrayd grad(3, 3);
  CHECK_THROWS_WITH(ValueLoss{}.compute(ValueInputs<double>{x.v, {}, x.ret, x.mask},
                                        polo::TokenView<double>(grad)),
                    Contains("grad_values shape"));
}

TEST_CASE("explained_variance: CleanRL's formula, 0 for constant targets", "[losses][ppo][value]") {
  const TokenArrayd y = tokens({{1.0, 2.0, 4.0}, {3.0, 0.0, 100.0}});
  const TokenArrayd yhat = tokens({{1.5, 1.0, 3.0}, {3.5, 0.5, -7.0}});
  const TokenArrayd mask = tokens({{1, 1, 1}, {1, 1, 0}});
  // by hand over the five valid tokens: y = [1, 2, 4, 3, 0], residual = [-0.5, 1, 1, -0.5, -0.5]
  const double var_y = (1.0 + 4.0 + 16.0 + 9.0 + 0.0) / 5.0 - 2.0 * 2.0;
  const double var_e = (0.25 + 1.0 + 1.0 + 0.25 + 0.25) / 5.0 - 0.1 * 0.1;
  const double expected = 1.0 - var_e / var_y;
  using View = polo::TokenView<const double>;
  CHECK(polo::explained_variance(View(yhat), View(y), mask) == Approx(expected));
  CHECK(polo::explained_variance(View(y), View(y), mask) == Approx(1.0));
  const TokenArrayd constant = TokenArrayd::Constant(2, 3, 5.0);
  CHECK(polo::explained_variance(View(yhat), View(constant)) == 0.0);
  CHECK(polo::explained_variance(View(yhat), View(y), TokenArrayd(TokenArrayd::Zero(2, 3))) == 0.0);
  // far from zero: the shifted sums keep full precision
  const TokenArrayd y_far = y + 1e9;
  const TokenArrayd yhat_far = yhat + 1e9;
  CHECK(polo::explained_variance(View(yhat_far), View(y_far), mask) ==
        Approx(expected).epsilon(1e-6));
  // the loss logs the same number
  const auto out = ValueLoss{}({yhat, {}, y, mask});
  CHECK(out.metrics.explained_variance == Approx(expected));
  const TokenArrayd short_y = TokenArrayd::Zero(1, 3);
  CHECK_THROWS_WITH(polo::explained_variance(View(yhat), View(short_y)), Contains("targets shape"));
}

}  // namespace ppo_value_test

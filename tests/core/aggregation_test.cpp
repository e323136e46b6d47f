// Aggregation modes against hand-computed numbers, empty rows, global normalizers across
// micro-batches, and the validation messages.

#include "polo/core/aggregation.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "core_test_support.hpp"
#include "polo/core/numerics.hpp"
#include "test_support.hpp"

using polo::Aggregation;
using polo::Index;
using polo::MaskView;
using polo::TokenView;
using polo_core_test::message_of;
using polo_test::Contains;

namespace aggregation_test {

using polo_test::kInf;
using polo_test::kNaN;

// x [3, 4] and its mask:
//   row 0:  1  2   3  4    mask 1 1 1 0  -> valid sum 1 + 2 + 3 = 6,  3 tokens
//   row 1:  5  6 NaN  8    mask 1 0 0 1  -> valid sum 5 + 8     = 13, 2 tokens
//   row 2: -inf NaN 9 9    mask 0 0 0 0  -> no valid token
// Five valid tokens in all, valid total 19, three rows.
struct AggregationExample {
  polo::TokenArrayd x = polo::TokenArrayd(3, 4);
  polo::MaskArray mask = polo::MaskArray(3, 4);
  AggregationExample() {
    x << 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, kNaN, 8.0, -kInf, kNaN, 9.0, 9.0;
    mask << 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0;
  }
  [[nodiscard]] double aggregate(const Aggregation& agg) const {
    return polo::aggregate(TokenView<const double>(x), MaskView(mask), agg);
  }
  [[nodiscard]] std::vector<double> weights(const Aggregation& agg) const {
    return polo::aggregation_weights(agg, MaskView(mask), 3, 4);
  }
};

/// Within 1e-14 relative to |b|, or 1e-14 absolute when |b| < 1 (unlike polo_test::close, a
/// tiny nonzero `a` counts as close to 0).
bool close_or_tiny(double a, double b) {
  return std::abs(a - b) <= 1e-14 * std::max(1.0, std::abs(b));
}

TEST_CASE("token_mean divides the valid sum by the valid-token count", "[core][aggregation]") {
  const AggregationExample e;
  // (6 + 13) / 5 = 3.8
  CHECK(close_or_tiny(e.aggregate(Aggregation::token_mean()), 3.8));
  const auto w = e.weights(Aggregation::token_mean());
  REQUIRE(w.size() == 3);
  CHECK(close_or_tiny(w[0], 0.2));
  CHECK(close_or_tiny(w[1], 0.2));
  // A global count replaces the local one: 19 / 10.
  CHECK(close_or_tiny(e.aggregate(Aggregation::token_mean(10.0)), 1.9));
  CHECK(Aggregation{}.mode == polo::AggregationMode::token_mean);
}

TEST_CASE("seq_mean_token_mean averages the per-row token means", "[core][aggregation]") {
  const AggregationExample e;
  // (6 / 3 + 13 / 2 + 0) / 3 = (2 + 6.5) / 3 = 8.5 / 3; the empty row counts as a row with 0.
  CHECK(close_or_tiny(e.aggregate(Aggregation::seq_mean_token_mean()), 8.5 / 3.0));
  const auto w = e.weights(Aggregation::seq_mean_token_mean());
  CHECK(close_or_tiny(w[0], 1.0 / 9.0));
  CHECK(close_or_tiny(w[1], 1.0 / 6.0));
  CHECK(w[2] == 0.0);
  // Global row count 6: (2 + 6.5) / 6.
  CHECK(close_or_tiny(e.aggregate(Aggregation::seq_mean_token_mean(6.0)), 8.5 / 6.0));
}

TEST_CASE("seq_mean_token_sum averages the per-row token sums", "[core][aggregation]") {
  const AggregationExample e;
  // (6 + 13 + 0) / 3 = 19 / 3
  CHECK(close_or_tiny(e.aggregate(Aggregation::seq_mean_token_sum()), 19.0 / 3.0));
  const auto w = e.weights(Aggregation::seq_mean_token_sum());
  CHECK(close_or_tiny(w[0], 1.0 / 3.0));
  CHECK(close_or_tiny(w[1], 1.0 / 3.0));
  // Global row count 4: 19 / 4.
  CHECK(close_or_tiny(e.aggregate(Aggregation::seq_mean_token_sum(4.0)), 19.0 / 4.0));
}

TEST_CASE("token_sum_over divides the valid sum by the constant", "[core][aggregation]") {
  const AggregationExample e;
  // Dr. GRPO with B * L_max = 3 * 4 = 12: 19 / 12
  CHECK(close_or_tiny(e.aggregate(Aggregation::token_sum_over(12.0)), 19.0 / 12.0));
  const auto w = e.weights(Aggregation::token_sum_over(12.0));
  CHECK(close_or_tiny(w[0], 1.0 / 12.0));
  CHECK(close_or_tiny(w[1], 1.0 / 12.0));
}

TEST_CASE("aggregate is sum_i w_i * (valid sum of row i) in every mode", "[core][aggregation]") {
  polo::Rng gen(7);
  const polo::TokenArrayd x = polo_test::random_tokens(gen, 5, 6);
  polo::MaskArray m(5, 6);
  for (Index k = 0; k < m.size(); ++k)
    m.data()[k] = polo::uniform(gen) < 0.6 ? 1 : 0;
  m.row(3).setZero();
  for (const Aggregation agg :
       {Aggregation::token_mean(), Aggregation::token_mean(40.0),
        Aggregation::seq_mean_token_mean(), Aggregation::seq_mean_token_sum(8.0),
        Aggregation::token_sum_over(30.0)}) {
    const auto w = polo::aggregation_weights(agg, MaskView(m), 5, 6);
    double expected = 0.0;
    for (Index i = 0; i < 5; ++i) {
      double row_sum = 0.0;
      for (Index t = 0; t < 6; ++t)
        row_sum += m(i, t) != 0 ? x(i, t) : 0.0;
      expected += w[static_cast<std::size_t>(i)] * row_sum;
    }
    CHECK(close_or_tiny(polo::aggregate(TokenView<const double>(x), MaskView(m), agg), expected));
  }
}

TEST_CASE("a row with no valid token contributes nothing and makes no NaN", "[core][aggregation]") {
  AggregationExample e;
  const double before_mean = e.aggregate(Aggregation::token_mean());
  const double before_seq = e.aggregate(Aggregation::seq_mean_token_mean());
  e.x.row(2).setConstant(kNaN);
  CHECK(e.aggregate(Aggregation::token_mean()) == before_mean);
  CHECK(e.aggregate(Aggregation::seq_mean_token_mean()) == before_seq);
  CHECK(std::isfinite(e.aggregate(Aggregation::seq_mean_token_sum())));
  CHECK(std::isfinite(e.aggregate(Aggregation::token_sum_over(5.0))));

  // An entirely padded batch aggregates to 0 in every mode.
  e.mask.setZero();
  CHECK(e.aggregate(Aggregation::token_mean()) == 0.0);
  CHECK(e.aggregate(Aggregation::seq_mean_token_mean()) == 0.0);
  CHECK(e.aggregate(Aggregation::seq_mean_token_sum()) == 0.0);
  CHECK(e.aggregate(Aggregation::token_sum_over(5.0)) == 0.0);
  for (const double w : e.weights(Aggregation::token_mean()))
    CHECK(std::isfinite(w));
  for (const double w : e.weights(Aggregation::seq_mean_token_mean()))
    CHECK(w == 0.0);
}

TEST_CASE("an empty batch and a null mask", "[core][aggregation]") {
  const polo::TokenArrayd empty(0, 4);
  CHECK(polo::aggregate(TokenView<const double>(empty), MaskView(), Aggregation::token_mean()) ==
        0.0);
  CHECK(polo::aggregate(TokenView<const double>(empty), MaskView(),
                        Aggregation::seq_mean_token_sum()) == 0.0);
  polo::TokenArrayd x(2, 2);
  x << 1.0, 2.0, 3.0, 6.0;
  // No mask: token mean 12 / 4 = 3; row means 1.5 and 4.5 average to 3; row sums 3 and 9 -> 6.
  CHECK(polo::aggregate(TokenView<const double>(x), MaskView(), Aggregation::token_mean()) == 3.0);
  CHECK(polo::aggregate(TokenView<const double>(x), MaskView(),
                        Aggregation::seq_mean_token_mean()) == 3.0);
  CHECK(polo::aggregate(TokenView<const double>(x), MaskView(),
                        Aggregation::seq_mean_token_sum()) == 6.0);
}

TEST_CASE("a global normalizer makes micro-batches add up to the full batch",
          "[core][aggregation]") {
  polo::Rng gen(11);
  const polo::TokenArrayd x = polo_test::random_tokens(gen, 6, 5);
  polo::MaskArray m(6, 5);
  for (Index k = 0; k < m.size(); ++k)
    m.data()[k] = polo::uniform(gen) < 0.5 ? 1 : 0;
  m.row(4).setZero();
  m(0, 0) = 1;
  const TokenView<const double> xv(x);
  const MaskView mv(m);
  const double tokens = polo::count_valid(mv, 6, 5);

  auto split_sum = [&](const Aggregation& agg) {
    return polo::aggregate(xv.middle_rows(0, 2), mv.middle_rows(0, 2), agg) +
           polo::aggregate(xv.middle_rows(2, 4), mv.middle_rows(2, 4), agg);
  };
  // The full-batch token mean, computed by hand.
  double valid_sum = 0.0;
  for (Index i = 0; i < 6; ++i) {
    for (Index t = 0; t < 5; ++t)
      valid_sum += m(i, t) != 0 ? x(i, t) : 0.0;
  }
  const double full = polo::aggregate(xv, mv, Aggregation::token_mean());
  CHECK(close_or_tiny(full, valid_sum / tokens));
  CHECK(close_or_tiny(split_sum(Aggregation::token_mean(tokens)), full));
  // Without the global count each micro-batch divides by its own count, which differs.
  CHECK_FALSE(close_or_tiny(split_sum(Aggregation::token_mean()), full));

  CHECK(close_or_tiny(split_sum(Aggregation::seq_mean_token_mean(6.0)),
                      polo::aggregate(xv, mv, Aggregation::seq_mean_token_mean())));
  CHECK(close_or_tiny(split_sum(Aggregation::seq_mean_token_sum(6.0)),
                      polo::aggregate(xv, mv, Aggregation::seq_mean_token_sum())));
  CHECK(close_or_tiny(split_sum(Aggregation::token_sum_over(30.0)),
                      polo::aggregate(xv, mv, Aggregation::token_sum_over(30.0))));
}

TEST_CASE("token_sum_over without a positive constant throws naming the field",
          "[core][aggregation]") {
  const AggregationExample e;
  for (const double bad : {0.0, -3.0, kNaN}) {
    const auto msg = message_of<polo::invalid_argument>(
        [&] { (void)e.aggregate(Aggregation::token_sum_over(bad)); });
    CHECK_THAT(msg, Contains("polo::aggregate: aggregation.normalizer (the constant) must be > 0"));
    // The weights alone are refused too, instead of coming out infinite.
    CHECK_THAT(message_of<polo::invalid_argument>(
                   [&] { (void)e.weights(Aggregation::token_sum_over(bad)); }),
               Contains("polo::aggregation_weights: aggregation.normalizer (the constant)"));
  }
  CHECK_THAT(
      message_of<polo::invalid_argument>([&] {
        Aggregation{polo::AggregationMode::token_sum_over_constant, 0.0}.validate("polo::DrGRPO");
      }),
      Contains("polo::DrGRPO: aggregation.normalizer (the constant) must be > 0, got 0"));
}

TEST_CASE("aggregation refuses a negative normalizer and mismatched shapes",
          "[core][aggregation]") {
  const AggregationExample e;
  CHECK_THAT(
      message_of<polo::invalid_argument>([&] { (void)e.aggregate(Aggregation::token_mean(-1.0)); }),
      Contains("aggregation.normalizer must be >= 0, got -1"));
  CHECK_THROWS_AS(e.aggregate(Aggregation::seq_mean_token_sum(-2.0)), polo::invalid_argument);
  const polo::MaskArray wrong = polo::MaskArray::Ones(2, 4);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               (void)polo::aggregate(TokenView<const double>(e.x), MaskView(wrong),
                                     Aggregation::token_mean());
             }),
             Contains("polo::aggregate: mask shape must be [3, 4], got [2, 4]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               (void)polo::aggregation_weights(Aggregation::token_mean(), MaskView(wrong), 3, 4);
             }),
             Contains("mask shape must be [3, 4], got [2, 4]"));
  std::vector<double> short_weights(2);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::aggregation_weights(Aggregation::token_mean(), MaskView(e.mask), 3, 4,
                                         short_weights);
             }),
             Contains("weights size must be [3] (one per row), got [2]"));
}

}  // namespace aggregation_test

// The token -> sequence reducer and its backward: hand values, finite differences, exact zeros
// at masked positions, padded NaN ignored.

#include "polo/core/reduce.hpp"

#include <cmath>
#include <limits>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Index;
using polo::MaskView;
using polo::SeqReduce;
using polo::SeqView;
using polo::TokenView;
using polo_core_test::message_of;
using polo_test::Contains;

namespace reduce_test {

using polo_test::kInf;
using polo_test::kNaN;

// x [3, 3] and its mask:
//   row 0:   1   2    3   mask 1 0 1  -> sum 1 + 3 = 4, mean 4 / 2 = 2
//   row 1: NaN   5 -inf   mask 0 1 0  -> sum 5,         mean 5
//   row 2: NaN NaN  NaN   mask 0 0 0  -> sum 0,         mean 0 (no valid token)
struct ReduceExample {
  polo::TokenArrayd x = polo::TokenArrayd(3, 3);
  polo::MaskArray mask = polo::MaskArray(3, 3);
  ReduceExample() {
    x << 1.0, 2.0, 3.0, kNaN, 5.0, -kInf, kNaN, kNaN, kNaN;
    mask << 1, 0, 1, 0, 1, 0, 0, 0, 0;
  }
};

/// A random [rows, cols] mask with about `p` valid, one row fully padded.
polo::MaskArray random_mask(polo::Rng& gen, Index rows, Index cols, double p) {
  polo::MaskArray m(rows, cols);
  for (Index k = 0; k < m.size(); ++k)
    m.data()[k] = polo::uniform(gen) < p ? 1 : 0;
  m.row(rows - 1).setZero();
  return m;
}

TEST_CASE("reduce_tokens sums and averages the valid tokens", "[core][reduce]") {
  const ReduceExample e;
  const auto sum =
      polo::reduce_tokens(TokenView<const double>(e.x), MaskView(e.mask), SeqReduce::sum);
  REQUIRE(sum.size() == 3);
  CHECK(sum[0] == 4.0);
  CHECK(sum[1] == 5.0);
  CHECK(sum[2] == 0.0);
  const auto mean =
      polo::reduce_tokens(TokenView<const double>(e.x), MaskView(e.mask), SeqReduce::mean);
  CHECK(mean[0] == 2.0);
  CHECK(mean[1] == 5.0);
  CHECK(mean[2] == 0.0);
}

TEST_CASE("reduce_tokens writes into a caller view, float in and double out", "[core][reduce]") {
  const ReduceExample e;
  const polo::TokenArrayf xf = e.x.cast<float>();
  polo::SeqArrayd out = polo::SeqArrayd::Constant(3, kNaN);
  polo::reduce_tokens(TokenView<const float>(xf), MaskView(e.mask), SeqReduce::mean,
                      SeqView<double>(out));
  CHECK(out[0] == 2.0);
  CHECK(out[1] == 5.0);
  CHECK(out[2] == 0.0);
  // Owning form from a mutable view, without a mask: plain row sums.
  polo::TokenArrayd x(2, 2);
  x << 1.0, 2.0, 3.0, 4.0;
  const auto sums = polo::reduce_tokens(TokenView<double>(x), MaskView(), SeqReduce::sum);
  CHECK(sums[0] == 3.0);
  CHECK(sums[1] == 7.0);
}

TEST_CASE("reduce_tokens_backward spreads the upstream gradient over valid tokens",
          "[core][reduce]") {
  const ReduceExample e;
  polo::SeqArrayd upstream(3);
  upstream << 2.0, -1.0, 3.0;
  polo::TokenArrayd grad = polo::TokenArrayd::Constant(3, 3, kNaN);

  // sum: each valid token gets upstream[i].
  polo::reduce_tokens_backward(SeqView<const double>(upstream), MaskView(e.mask), SeqReduce::sum,
                               TokenView<double>(grad));
  polo::TokenArrayd expected(3, 3);
  expected << 2.0, 0.0, 2.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0;
  CHECK((grad == expected).all());

  // mean: each valid token gets upstream[i] / n_i: 2 / 2 = 1 in row 0, -1 / 1 in row 1.
  grad.setConstant(kNaN);
  polo::reduce_tokens_backward(SeqView<const double>(upstream), MaskView(e.mask), SeqReduce::mean,
                               TokenView<double>(grad));
  expected << 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0;
  CHECK((grad == expected).all());

  // Masked positions are exactly +0, whatever the buffer held before.
  for (Index i = 0; i < 3; ++i) {
    for (Index t = 0; t < 3; ++t) {
      if (e.mask(i, t) == 0) {
        CHECK(grad(i, t) == 0.0);
        CHECK_FALSE(std::signbit(grad(i, t)));
      }
    }
  }
}

TEST_CASE("reduce_tokens_backward matches finite differences", "[core][reduce]") {
  polo::Rng gen(2024);
  const Index rows = 4;
  const Index cols = 6;
  const polo::TokenArrayd x = polo_test::random_tokens(gen, rows, cols);
  const polo::MaskArray mask = random_mask(gen, rows, cols, 0.6);
  const polo::SeqArrayd upstream = polo_test::random_seq(gen, rows, -2.0, 2.0);

  for (const SeqReduce mode : {SeqReduce::sum, SeqReduce::mean}) {
    INFO((mode == SeqReduce::sum ? "sum" : "mean"));
    // value = sum_i upstream_i * reduce(x)_i, so d value / d reduce(x)_i = upstream_i.
    auto value = [&](const polo::TokenArrayd& at) {
      const auto seq = polo::reduce_tokens(TokenView<const double>(at), MaskView(mask), mode);
      return (seq * upstream).sum();
    };
    polo::TokenArrayd grad(rows, cols);
    polo::reduce_tokens_backward(SeqView<const double>(upstream), MaskView(mask), mode,
                                 TokenView<double>(grad));
    POLO_CHECK_GRADIENT(value, x, grad);
    for (Index i = 0; i < rows; ++i) {
      for (Index t = 0; t < cols; ++t) {
        if (mask(i, t) == 0) CHECK(grad(i, t) == 0.0);
      }
    }
  }
}

TEST_CASE("reduce_tokens ignores NaN at masked positions", "[core][reduce]") {
  polo::Rng gen(5);
  polo::TokenArrayd x = polo_test::random_tokens(gen, 3, 5);
  const polo::MaskArray mask = random_mask(gen, 3, 5, 0.5);
  const auto clean =
      polo::reduce_tokens(TokenView<const double>(x), MaskView(mask), SeqReduce::mean);
  for (Index k = 0; k < x.size(); ++k) {
    if (mask.data()[k] == 0) x.data()[k] = (k % 2 == 0) ? kNaN : -kInf;
  }
  const auto padded =
      polo::reduce_tokens(TokenView<const double>(x), MaskView(mask), SeqReduce::mean);
  CHECK((padded == clean).all());
  CHECK(padded.allFinite());
}

TEST_CASE("reduce_tokens and its backward refuse mismatched shapes", "[core][reduce]") {
  const ReduceExample e;
  polo::SeqArrayd out(2);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::reduce_tokens(TokenView<const double>(e.x), MaskView(e.mask), SeqReduce::sum,
                                   SeqView<double>(out));
             }),
             Contains("polo::reduce_tokens: out size must be [3], got [2]"));
  const polo::MaskArray wrong = polo::MaskArray::Ones(3, 2);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               (void)polo::reduce_tokens(TokenView<const double>(e.x), MaskView(wrong),
                                         SeqReduce::sum);
             }),
             Contains("polo::reduce_tokens: mask shape must be [3, 3], got [3, 2]"));
  polo::TokenArrayd grad(3, 3);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::reduce_tokens_backward(SeqView<const double>(out), MaskView(e.mask),
                                            SeqReduce::sum, TokenView<double>(grad));
             }),
             Contains("polo::reduce_tokens_backward: grad_seq size must be [3], got [2]"));
  polo::SeqArrayd upstream(3);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::reduce_tokens_backward(SeqView<const double>(upstream), MaskView(wrong),
                                            SeqReduce::mean, TokenView<double>(grad));
             }),
             Contains("mask shape must be [3, 3], got [3, 2]"));
}

}  // namespace reduce_test

// PPOClip: ALGORITHMS vectors V1-V3, finite differences under every aggregation, the special
// cases (on-policy, padding width, micro-batch split) and every error path.

#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "loss_test_support.hpp"
#include "polo/losses/ppo.hpp"
#include "test_support.hpp"

namespace ppo_test {

using polo_loss_test::kVectorTol;
using polo_loss_test::random_logp_away_from;
using polo_loss_test::random_mask;

using polo::Aggregation;
using polo::Index;
using polo::PolicyInputs;
using polo::PPOClip;
using polo::TokenArrayd;
using polo_test::Contains;

using polo_test::tokens;

using polo_test::check_tokens;

struct V1 {
  TokenArrayd logp = tokens({{-0.8, -0.7, -2.3}, {-0.4, -1.2, -0.05}});
  TokenArrayd old = tokens({{-1.0, -0.9, -2.0}, {-0.6, -1.5, -0.30}});
  TokenArrayd adv = tokens({{1.0, -0.5, -2.0}, {-1.5, 0.8, 3.0}});
  TokenArrayd mask = tokens({{1, 1, 1}, {1, 1, 0}});
  PolicyInputs<double> inputs() const { return {logp, old, adv, mask}; }
};

TEST_CASE("PPOClip reproduces V1 (token mean, eps 0.2)", "[losses][ppo]") {
  const V1 v;
  const auto out = PPOClip{}(v.inputs());
  CHECK(out.value == Approx(0.376561).epsilon(kVectorTol));
  check_tokens(out.grad_logp, tokens({{0, 0.12214, 0}, {0.366421, 0, 0}}), 1e-6);
  CHECK(out.metrics.clip_ratio_region == Approx(0.6));
  CHECK(out.metrics.clip_fraction == Approx(1.0));  // CleanRL counts |r - 1| > eps
  CHECK(out.metrics.valid_tokens == 5.0);
  CHECK(out.metrics.clip_ratio_low == Approx(0.2));   // (0, 2): A < 0, r < 0.8
  CHECK(out.metrics.clip_ratio_high == Approx(0.4));  // (0, 0), (1, 1): A > 0, r > 1.2
  CHECK(out.metrics.dual_clip_fraction == 0.0);
  // ratio mean and k3 / k1 approximate KL of the five valid ratios
  const double lr[] = {0.2, 0.2, -0.3, 0.2, 0.3};
  double r_sum = 0.0, k3 = 0.0, k1 = 0.0;
  for (const double x : lr) {
    r_sum += std::exp(x);
    k3 += std::exp(x) - 1.0 - x;
    k1 -= x;
  }
  CHECK(out.metrics.ratio_mean == Approx(r_sum / 5));
  CHECK(out.metrics.approx_kl == Approx(k3 / 5));
  CHECK(out.metrics.old_approx_kl == Approx(k1 / 5));
  // per-token losses aggregate to the value and are 0 where masked
  CHECK(out.per_token(1, 2) == 0.0);
  CHECK(polo::aggregate(polo::TokenView<const double>(out.per_token), polo::MaskView(v.mask),
                        Aggregation{}) == Approx(out.value));
}

TEST_CASE("PPOClip reproduces V2 (clip-higher 0.2 / 0.28)", "[losses][ppo]") {
  const V1 v;
  const auto out = polo::clip_higher(0.2, 0.28)(v.inputs());
  CHECK(out.value == Approx(0.359481).epsilon(kVectorTol));
  check_tokens(out.grad_logp, tokens({{-0.244281, 0.12214, 0}, {0.366421, 0, 0}}), 1e-6);
  CHECK(out.metrics.clip_ratio_region == Approx(0.4));
}

TEST_CASE("PPOClip reproduces V3 (dual clip c = 3)", "[losses][ppo]") {
  const TokenArrayd logp = tokens({{std::log(4.0)}});
  const TokenArrayd old = tokens({{0.0}});
  const TokenArrayd adv = tokens({{-1.0}});
  const PolicyInputs<double> in{logp, old, adv, {}};
  const auto dual = polo::dual_clip_ppo(0.2, 3.0)(in);
  CHECK(dual.value == Approx(3.0));
  CHECK(dual.grad_logp(0, 0) == 0.0);
  CHECK(dual.metrics.dual_clip_fraction == 1.0);
  const auto plain = PPOClip{}(in);
  CHECK(plain.value == Approx(4.0));
  CHECK(plain.grad_logp(0, 0) == Approx(4.0));
}

TEST_CASE("PPOClip on-policy: value -Agg(A), gradient -w A", "[losses][ppo]") {
  polo::Rng gen(7);
  const TokenArrayd logp = polo_test::random_tokens(gen, 4, 5, -2.0, -0.1);
  const TokenArrayd adv = polo_test::random_tokens(gen, 4, 5, -2.0, 2.0);
  const polo::MaskArray mask = random_mask(gen, 4, 5);
  for (const auto& agg : polo_loss_test::all_aggregations(40.0, 12.0)) {
    const PPOClip loss{.aggregation = agg};
    const auto out = loss({logp, logp, adv, mask});
    const auto w = polo::aggregation_weights(agg, mask, 4, 5);
    CHECK(out.value ==
          Approx(-polo::aggregate(polo::TokenView<const double>(adv), polo::MaskView(mask), agg)));
    for (Index i = 0; i < 4; ++i) {
      for (Index t = 0; t < 5; ++t) {
        const double expected = mask(i, t) ? -w[static_cast<std::size_t>(i)] * adv(i, t) : 0.0;
        CHECK(out.grad_logp(i, t) == Approx(expected).margin(1e-15));
      }
    }
    CHECK(out.metrics.ratio_mean == Approx(1.0));
    CHECK(out.metrics.approx_kl == Approx(0.0).margin(1e-15));
    CHECK(out.metrics.clip_fraction == 0.0);
  }
}

TEST_CASE("PPOClip gradient matches finite differences", "[losses][ppo][gradcheck]") {
  polo::Rng gen(11);
  const Index rows = 4;
  const Index cols = 6;
  const TokenArrayd old = polo_test::random_tokens(gen, rows, cols, -2.0, -0.2);
  const TokenArrayd adv = polo_test::random_tokens(gen, rows, cols, -2.0, 2.0);
  const polo::MaskArray mask = random_mask(gen, rows, cols);
  const std::vector<PPOClip> variants = {
      polo::ppo_clip(0.2), polo::clip_higher(0.2, 0.28), polo::dual_clip_ppo(0.2, 1.6),
      PPOClip{.epsilon_low = 0.1, .epsilon_high = 0.3, .clamp_log_ratio = 0.9}};
  for (const auto& agg : polo_loss_test::all_aggregations(40.0, 12.0)) {
    for (PPOClip loss : variants) {
      loss.aggregation = agg;
      const double lo = 1.0 - loss.epsilon_low;
      const double hi = 1.0 + loss.epsilon_high;
      const double c = loss.dual_clip > 0.0 ? loss.dual_clip : hi;
      const double clamp = std::exp(loss.clamp_log_ratio > 0.0 ? loss.clamp_log_ratio : 5.0);
      const TokenArrayd logp =
          random_logp_away_from(gen, old, {lo, hi, c, clamp, 1.0 / clamp}, -0.8, 1.4);
      auto f = [&](const TokenArrayd& x) { return loss({x, old, adv, mask}).value; };
      const auto out = loss({logp, old, adv, mask});
      POLO_CHECK_GRADIENT(f, logp, out.grad_logp);
      // compute() writes the same gradient without allocating and returns the same value
      TokenArrayd grad(rows, cols);
      grad.setConstant(42.0);
      const auto v =
          loss.compute(PolicyInputs<double>{logp, old, adv, mask}, polo::TokenView<double>(grad));
      CHECK(v.value == out.value);
      CHECK((grad == out.grad_logp).all());
    }
  }
}

TEST_CASE("PPOClip: padding width does not matter, NaN in padding is ignored", "[losses][ppo]") {
  polo::Rng gen(3);
  const TokenArrayd old = polo_test::random_tokens(gen, 3, 4, -2.0, -0.2);
  const TokenArrayd logp = random_logp_away_from(gen, old, {0.8, 1.2}, -0.8, 1.4);
  const TokenArrayd adv = polo_test::random_tokens(gen, 3, 4, -1.0, 1.0);
  polo::MaskArray mask = random_mask(gen, 3, 4);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  TokenArrayd logp_w(3, 7), old_w(3, 7), adv_w(3, 7);
  polo::MaskArray mask_w = polo::MaskArray::Zero(3, 7);
  logp_w.setConstant(nan);
  old_w.setConstant(-inf);
  adv_w.setConstant(nan);
  logp_w.leftCols(4) = logp;
  old_w.leftCols(4) = old;
  adv_w.leftCols(4) = adv;
  mask_w.leftCols(4) = mask;
  // padding inside the data too: a masked position holding NaN
  for (Index i = 0; i < 3; ++i) {
    for (Index t = 0; t < 4; ++t) {
      if (!mask(i, t)) logp_w(i, t) = nan;
    }
  }
  for (const auto& agg : polo_loss_test::all_aggregations(40.0, 12.0)) {
    const PPOClip loss = polo::dual_clip_ppo(0.2, 3.0);
    PPOClip l = loss;
    l.aggregation = agg;
    const auto narrow = l({logp, old, adv, mask});
    const auto wide = l({logp_w, old_w, adv_w, mask_w});
    if (agg.mode == polo::AggregationMode::token_sum_over_constant) {
      CHECK(wide.value == Approx(narrow.value));
    } else {
      CHECK(wide.value == Approx(narrow.value).epsilon(1e-14));
    }
    check_tokens(wide.grad_logp.leftCols(4), narrow.grad_logp, 1e-15);
    CHECK((wide.grad_logp.rightCols(3) == 0.0).all());
    CHECK(wide.metrics.clip_fraction == narrow.metrics.clip_fraction);
    CHECK(wide.metrics.approx_kl == Approx(narrow.metrics.approx_kl));
  }
}

TEST_CASE("PPOClip token mean with a global normalizer: micro-batches sum to the batch",
          "[losses][ppo]") {
  polo::Rng gen(5);
  const TokenArrayd old = polo_test::random_tokens(gen, 6, 5, -2.0, -0.2);
  const TokenArrayd logp = random_logp_away_from(gen, old, {0.8, 1.2}, -0.8, 1.4);
  const TokenArrayd adv = polo_test::random_tokens(gen, 6, 5, -1.0, 1.0);
  const polo::MaskArray mask = random_mask(gen, 6, 5);
  const double n_global = polo::count_valid(mask, 6, 5);
  const PPOClip full_loss{};
  const auto full = full_loss({logp, old, adv, mask});
  const PPOClip micro{.aggregation = Aggregation::token_mean(n_global)};
  const PolicyInputs<double> in{logp, old, adv, mask};
  double sum = 0.0;
  TokenArrayd grad(6, 5);
  for (const Index first : {Index{0}, Index{2}}) {
    const Index count = first == 0 ? 2 : 4;
    const PolicyInputs<double> part{
        in.logp.middle_rows(first, count), in.old_logp.middle_rows(first, count),
        in.advantages.middle_rows(first, count), in.mask.middle_rows(first, count)};
    polo::TokenView<double> g(grad.data() + first * 5, count, 5);
    sum += micro.compute(part, g).value;
  }
  CHECK(sum == Approx(full.value).epsilon(1e-12));
  check_tokens(grad, full.grad_logp, 1e-15);
}

TEST_CASE("PPOClip: a row without a valid token contributes nothing", "[losses][ppo]") {
  const V1 v;
  TokenArrayd logp(3, 3), old(3, 3), adv(3, 3), mask(3, 3);
  logp << v.logp, TokenArrayd::Constant(1, 3, std::numeric_limits<double>::quiet_NaN());
  old << v.old, TokenArrayd::Zero(1, 3);
  adv << v.adv, TokenArrayd::Zero(1, 3);
  mask << v.mask, TokenArrayd::Zero(1, 3);
  for (const auto& agg : {Aggregation::token_mean(), Aggregation::seq_mean_token_mean(3.0),
                          Aggregation::seq_mean_token_sum(3.0)}) {
    const PPOClip loss{.aggregation = agg};
    PPOClip base = loss;
    const auto with_empty = loss({logp, old, adv, mask});
    const auto without = base(v.inputs());
    CHECK(with_empty.value == Approx(without.value));
    CHECK(std::isfinite(with_empty.value));
    CHECK((with_empty.grad_logp.row(2) == 0.0).all());
  }
}

TEST_CASE("PPOClip works on float inputs, accumulating in double", "[losses][ppo]") {
  const V1 v;
  const polo::TokenArrayf logp = v.logp.cast<float>();
  const polo::TokenArrayf old = v.old.cast<float>();
  const polo::TokenArrayf adv = v.adv.cast<float>();
  const polo::MaskArray mask = v.mask.cast<unsigned char>();
  const auto out = PPOClip{}(PolicyInputs<float>{logp, old, adv, mask});
  CHECK(out.value == Approx(0.376561).epsilon(1e-5));
  CHECK(out.grad_logp(1, 0) == Approx(0.366421f).epsilon(1e-5));
}

TEST_CASE("PPOClip validates its hyper-parameters", "[losses][ppo][errors]") {
  const V1 v;
  const auto in = v.inputs();
  CHECK_THROWS_WITH(PPOClip{.epsilon_low = -0.1}(in),
                    "polo::PPOClip: epsilon_low must be > 0, got -0.1");
  CHECK_THROWS_AS(PPOClip{.epsilon_low = -0.1}(in), polo::invalid_argument);
  CHECK_THROWS_WITH(PPOClip{.epsilon_high = 0.0}(in), Contains("epsilon_high must be > 0"));
  CHECK_THROWS_WITH(PPOClip{.epsilon_high = std::nan("")}(in), Contains("epsilon_high"));
  CHECK_THROWS_WITH(PPOClip{.dual_clip = 0.5}(in), Contains("dual_clip must be 0 (off) or > 1"));
  CHECK_THROWS_WITH(PPOClip{.dual_clip = 1.0}(in), Contains("dual_clip"));
  CHECK_THROWS_WITH(PPOClip{.clamp_log_ratio = -1.0}(in), Contains("clamp_log_ratio"));
  CHECK_THROWS_WITH(PPOClip{.aggregation = Aggregation::token_sum_over(0.0)}(in),
                    Contains("aggregation.normalizer"));
  CHECK_THROWS_WITH(PPOClip{.aggregation = Aggregation::token_mean(-3.0)}(in),
                    Contains("aggregation.normalizer"));
}

TEST_CASE("PPOClip checks shapes and names the field", "[losses][ppo][errors]") {
  const V1 v;
  const TokenArrayd wide = TokenArrayd::Zero(2, 4);
  const TokenArrayd tall = TokenArrayd::Zero(3, 3);
  const PPOClip loss{};
  CHECK_THROWS_WITH(loss({v.logp, wide, v.adv, v.mask}),
                    "polo::PPOClip: old_logp shape must be [2, 3], got [2, 4]");
  CHECK_THROWS_WITH(loss({v.logp, v.old, tall, v.mask}), Contains("advantages shape"));
  CHECK_THROWS_WITH(loss({v.logp, v.old, v.adv, wide}), Contains("mask shape"));
  CHECK_THROWS_WITH(loss({v.logp, {}, v.adv, v.mask}), Contains("old_logp shape"));
  TokenArrayd grad(2, 2);
  CHECK_THROWS_WITH(loss.compute(v.inputs(), polo::TokenView<double>(grad)),
                    Contains("grad_logp shape"));
  TokenArrayd one_row(1, 3);
  CHECK_THROWS_WITH(loss.compute(v.inputs(), polo::TokenView<double>(one_row.data(), 2, 3, 0)),
                    Contains("grad_logp row stride"));
  // a column-major array is refused by the view itself
  const Eigen::ArrayXXd col_major = v.old;
  CHECK_THROWS_WITH(loss({v.logp, col_major, v.adv, v.mask}), Contains("row-major"));
}

TEST_CASE("PPOClip reports non-finite inputs at valid positions only", "[losses][ppo][errors]") {
  const V1 v;
  const PPOClip loss{};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  SECTION("NaN in logp at a valid position") {
    TokenArrayd logp = v.logp;
    logp(1, 1) = nan;
    CHECK_THROWS_AS(loss({logp, v.old, v.adv, v.mask}), polo::nonfinite_error);
    CHECK_THROWS_WITH(loss({logp, v.old, v.adv, v.mask}),
                      Contains("logp") && Contains("row 1, column 1"));
    try {
      (void)loss({logp, v.old, v.adv, v.mask});
    } catch (const polo::nonfinite_error& e) {
      CHECK(e.field() == "logp");
      CHECK(e.row() == 1);
      CHECK(e.col() == 1);
    }
  }
  SECTION("inf in advantages, -inf in old_logp") {
    TokenArrayd adv = v.adv;
    adv(0, 2) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(loss({v.logp, v.old, adv, v.mask}),
                      Contains("advantages") && Contains("row 0, column 2"));
    TokenArrayd old = v.old;
    old(0, 1) = -std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(loss({v.logp, old, v.adv, v.mask}),
                      Contains("old_logp") && Contains("row 0, column 1"));
  }
  SECTION("NaN at a masked position is ignored") {
    TokenArrayd logp = v.logp;
    TokenArrayd adv = v.adv;
    logp(1, 2) = nan;
    adv(1, 2) = nan;
    const auto out = loss({logp, v.old, adv, v.mask});
    CHECK(out.value == Approx(0.376561).epsilon(kVectorTol));
    CHECK(out.grad_logp(1, 2) == 0.0);
  }
  SECTION("finite inputs that overflow exp are reported, clamp_log_ratio avoids it") {
    TokenArrayd logp = v.logp;
    logp(0, 1) = 900.0;  // A < 0: the unclipped branch, r = inf
    CHECK_THROWS_WITH(loss({logp, v.old, v.adv, v.mask}), Contains("clamp_log_ratio"));
    const PPOClip clamped{.clamp_log_ratio = 20.0};
    const auto out = clamped({logp, v.old, v.adv, v.mask});
    CHECK(std::isfinite(out.value));
    CHECK(out.grad_logp(0, 1) == 0.0);
  }
}

TEST_CASE("Row weights computed on the fly equal polo::aggregation_weights", "[losses][ppo]") {
  polo::Rng gen(2);
  const polo::MaskArray mask = random_mask(gen, 5, 4);
  const TokenArrayd ones = TokenArrayd::Ones(5, 4);
  for (const auto& agg : polo_loss_test::all_aggregations(40.0, 12.0)) {
    const auto w = polo::aggregation_weights(agg, mask, 5, 4);
    // the entropy bonus gradient is exactly -w_i
    const auto out = polo::EntropyBonus{agg}(polo::EntropyInputs<double>{ones, mask});
    for (Index i = 0; i < 5; ++i) {
      for (Index t = 0; t < 4; ++t) {
        CHECK(out.grad_entropy(i, t) == (mask(i, t) ? -w[static_cast<std::size_t>(i)] : 0.0));
      }
    }
  }
}

TEST_CASE("PPOClip gives the same result for every mask element type", "[losses][ppo]") {
  const V1 v;
  const auto expected = PPOClip{}(v.inputs());
  const polo::MaskArray u8 = v.mask.cast<unsigned char>();
  const Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> b = v.mask != 0.0;
  const polo::TokenArrayf f32 = v.mask.cast<float>();
  for (const polo::MaskView& mask :
       {polo::MaskView(u8), polo::MaskView(b), polo::MaskView(f32), polo::MaskView(v.mask)}) {
    const auto out = PPOClip{}({v.logp, v.old, v.adv, mask});
    CHECK(out.value == expected.value);
    CHECK((out.grad_logp == expected.grad_logp).all());
  }
  // a null mask counts every token: the same as an all-ones mask
  const TokenArrayd ones = TokenArrayd::Ones(2, 3);
  const auto all = PPOClip{}({v.logp, v.old, v.adv, {}});
  const auto with_ones = PPOClip{}({v.logp, v.old, v.adv, ones});
  CHECK(all.value == with_ones.value);
  CHECK(all.metrics.valid_tokens == 6.0);
}

TEST_CASE("PPOClip: an empty batch has value 0 and no NaN", "[losses][ppo]") {
  const TokenArrayd empty(0, 0);
  const auto out = PPOClip{}({empty, empty, empty, {}});
  CHECK(out.value == 0.0);
  CHECK(out.metrics.valid_tokens == 0.0);
  CHECK(out.metrics.approx_kl == 0.0);
  const TokenArrayd none_valid = TokenArrayd::Zero(2, 3);
  const V1 v;
  const auto masked = PPOClip{}({v.logp, v.old, v.adv, none_valid});
  CHECK(masked.value == 0.0);
  CHECK((masked.grad_logp == 0.0).all());
}

}  // namespace ppo_test

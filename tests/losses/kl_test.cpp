// KL estimators, KLPenalty (V10, finite differences, errors) and the KL controllers.

#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "loss_test_support.hpp"
#include "polo/losses/kl.hpp"
#include "test_support.hpp"

namespace kl_test {

using polo_loss_test::kVectorTol;

using polo::Aggregation;
using polo::Index;
using polo::KLEstimator;
using polo::KLInputs;
using polo::KLPenalty;
using polo::TokenArrayd;
using polo_test::Contains;

using polo_test::tokens;

using polo_test::check_tokens;

/// The shared GRPO fixture of policy_gradient.md §8.
using Fixture = polo_loss_test::GrpoFixture;

constexpr KLEstimator kAll[] = {KLEstimator::k1, KLEstimator::k2, KLEstimator::k3};

TEST_CASE("KL estimators and their gradients per token", "[losses][kl]") {
  const double logp = -0.7;
  const double ref = -1.2;
  const double x = ref - logp;
  auto k1 = polo::kl_token(KLEstimator::k1, logp, ref);
  CHECK(k1.value == Approx(logp - ref));
  CHECK(k1.grad == 1.0);
  auto k2 = polo::kl_token(KLEstimator::k2, logp, ref);
  CHECK(k2.value == Approx(0.5 * (logp - ref) * (logp - ref)));
  CHECK(k2.grad == Approx(logp - ref));
  auto k3 = polo::kl_token(KLEstimator::k3, logp, ref);
  CHECK(k3.value == Approx(std::exp(x) - x - 1.0));
  CHECK(k3.grad == Approx(1.0 - std::exp(x)));
  // k3 stays accurate (and >= 0) when the two policies are nearly equal
  const auto tiny = polo::kl_token(KLEstimator::k3, -1.0, -1.0 + 1e-7);
  CHECK(tiny.value == Approx(0.5e-14).epsilon(1e-6));
  CHECK(polo::kl_token(KLEstimator::k3, -1.0, -1.0).value == 0.0);
  // importance correction: r k, and for k3 the gradient identity r (logp - ref)
  const double old = -0.9;
  const double r = std::exp(logp - old);
  const auto is = polo::kl_token_importance_corrected(KLEstimator::k3, logp, ref, old);
  CHECK(is.value == Approx(r * k3.value));
  CHECK(is.grad == Approx(r * (logp - ref)));
  // every per-token gradient by central differences
  for (const KLEstimator e : kAll) {
    const double h = 1e-6;
    const double num =
        (polo::kl_token(e, logp + h, ref).value - polo::kl_token(e, logp - h, ref).value) / (2 * h);
    CHECK(polo::kl_token(e, logp, ref).grad == Approx(num).epsilon(1e-7));
    const double num_is = (polo::kl_token_importance_corrected(e, logp + h, ref, old).value -
                           polo::kl_token_importance_corrected(e, logp - h, ref, old).value) /
                          (2 * h);
    CHECK(polo::kl_token_importance_corrected(e, logp, ref, old).grad ==
          Approx(num_is).epsilon(1e-7));
  }
}

TEST_CASE("KLPenalty reproduces V10 (k3, token mean, with and without IS)", "[losses][kl]") {
  const Fixture f;
  const TokenArrayd k3_expected = tokens({{0.0187308, 0.0214028, 0.106531},
                                          {0.0214028, 0.0187308, 0.0187308},
                                          {0.0187308, 0.0187308, 0.00517092},
                                          {0.0498588, 0.00483742, 0.0187308}});
  for (Index i = 0; i < 4; ++i) {
    for (Index t = 0; t < 3; ++t) {
      CHECK(polo::kl_token(KLEstimator::k3, f.logp(i, t), f.ref(i, t)).value ==
            Approx(k3_expected(i, t)).epsilon(kVectorTol));
    }
  }
  const KLPenalty loss{.estimator = KLEstimator::k3, .coefficient = 1.0};
  const auto out = loss({f.logp, f.ref, {}, f.mask});
  CHECK(out.value == Approx(0.030995).epsilon(kVectorTol));
  CHECK(out.metrics.kl_mean == Approx(0.030995).epsilon(kVectorTol));
  CHECK(out.metrics.kl_max == Approx(0.106531).epsilon(kVectorTol));
  CHECK(out.metrics.valid_tokens == 9.0);
  check_tokens(out.grad_logp,
               tokens({{0.020141, -0.0246003, 0.0437188},
                       {-0.0246003, 0.020141, 0},
                       {0.020141, 0, 0},
                       {-0.0388732, 0.0105736, 0.020141}}),
               1e-7);

  const KLPenalty is{.coefficient = 1.0, .importance_correction = true};
  const auto out_is = is({f.logp, f.ref, f.old, f.mask});
  CHECK(out_is.value == Approx(0.0362224).epsilon(kVectorTol));
  check_tokens(out_is.grad_logp,
               tokens({{0.0245594, -0.0201075, 0.0828791},
                       {-0.0164626, 0.0245594, 0},
                       {0.0222222, 0, 0},
                       {-0.0301612, 0.0135711, 0.0245594}}),
               1e-7);
  // the coefficient scales value and gradient
  const auto scaled = KLPenalty{.coefficient = 0.04}({f.logp, f.ref, {}, f.mask});
  CHECK(scaled.value == Approx(0.04 * out.value));
  CHECK(scaled.grad_logp(0, 2) == Approx(0.04 * out.grad_logp(0, 2)));
  CHECK(scaled.metrics.kl_mean == Approx(out.metrics.kl_mean));
  CHECK(scaled.per_token(0, 2) == Approx(0.04 * 0.106531).epsilon(kVectorTol));
}

TEST_CASE("KLPenalty gradient matches finite differences", "[losses][kl][gradcheck]") {
  polo::Rng gen(29);
  const TokenArrayd ref = polo_test::random_tokens(gen, 4, 5, -3.0, -0.1);
  const TokenArrayd old = polo_test::random_tokens(gen, 4, 5, -3.0, -0.1);
  const TokenArrayd logp = polo_test::random_tokens(gen, 4, 5, -3.0, -0.1);
  polo::MaskArray mask = polo::MaskArray::Ones(4, 5);
  mask(0, 4) = 0;
  mask(1, 0) = 0;
  mask.row(3).setZero();
  for (const auto& agg : {Aggregation::token_mean(), Aggregation::seq_mean_token_mean(),
                          Aggregation::seq_mean_token_sum(), Aggregation::token_sum_over(20.0)}) {
    for (const KLEstimator e : kAll) {
      for (const bool correct : {false, true}) {
        const KLPenalty loss{.estimator = e,
                             .coefficient = 0.3,
                             .importance_correction = correct,
                             .aggregation = agg};
        const auto out = loss({logp, ref, old, mask});
        auto f = [&](const TokenArrayd& x) { return loss({x, ref, old, mask}).value; };
        POLO_CHECK_GRADIENT(f, logp, out.grad_logp);
        TokenArrayd grad(4, 5);
        const auto v =
            loss.compute(KLInputs<double>{logp, ref, old, mask}, polo::TokenView<double>(grad));
        CHECK(v.value == out.value);
        CHECK((grad == out.grad_logp).all());
        CHECK(polo::aggregate(polo::TokenView<const double>(out.per_token), polo::MaskView(mask),
                              agg) == Approx(out.value));
      }
    }
  }
}

TEST_CASE("KLPenalty masking, shapes and non-finite inputs", "[losses][kl][errors]") {
  const Fixture f;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const KLPenalty loss{.coefficient = 1.0};
  TokenArrayd logp = f.logp;
  TokenArrayd ref = f.ref;
  logp(2, 2) = nan;
  ref(1, 2) = -std::numeric_limits<double>::infinity();
  const auto out = loss({logp, ref, {}, f.mask});
  CHECK(out.value == Approx(0.030995).epsilon(kVectorTol));
  CHECK(out.grad_logp(2, 2) == 0.0);

  ref(3, 1) = nan;
  CHECK_THROWS_AS(loss({logp, ref, {}, f.mask}), polo::nonfinite_error);
  CHECK_THROWS_WITH(loss({logp, ref, {}, f.mask}),
                    Contains("ref_logp") && Contains("row 3, column 1"));
  TokenArrayd old = f.old;
  old(0, 0) = nan;
  const KLPenalty is{.importance_correction = true};
  CHECK_THROWS_WITH(is({f.logp, f.ref, old, f.mask}),
                    Contains("old_logp") && Contains("row 0, column 0"));
  // a NaN old_logp does not matter when it is not used
  CHECK_NOTHROW(loss({f.logp, f.ref, old, f.mask}));
  // finite inputs whose k3 overflows exp
  TokenArrayd far = f.logp;
  far(0, 0) = -1000.0;
  CHECK_THROWS_WITH(loss({far, f.ref, {}, f.mask}), Contains("overflowed"));

  CHECK_THROWS_WITH(KLPenalty{.coefficient = -0.1}({f.logp, f.ref, {}, f.mask}),
                    "polo::KLPenalty: coefficient must be >= 0, got -0.1");
  CHECK_THROWS_WITH(KLPenalty{.coefficient = std::numeric_limits<double>::infinity()}(
                        {f.logp, f.ref, {}, f.mask}),
                    Contains("coefficient must be finite"));
  CHECK_THROWS_WITH(is({f.logp, f.ref, {}, f.mask}),
                    Contains("old_logp must be given (importance_correction)"));
  const TokenArrayd short_ref = f.ref.topRows(3);
  CHECK_THROWS_WITH(loss({f.logp, short_ref, {}, f.mask}),
                    "polo::KLPenalty: ref_logp shape must be [4, 3], got [3, 3]");
  CHECK_THROWS_WITH(is({f.logp, f.ref, short_ref, f.mask}), Contains("old_logp shape"));
  CHECK_THROWS_WITH(loss({f.logp, f.ref, {}, short_ref}), Contains("mask shape"));
  CHECK_THROWS_WITH(
      KLPenalty{.aggregation = Aggregation::token_sum_over(0.0)}({f.logp, f.ref, {}, f.mask}),
      Contains("aggregation.normalizer"));
}

TEST_CASE("AdaptiveKLController follows Ziegler et al.; FixedKLController holds", "[losses][kl]") {
  const polo::AdaptiveKLController ctl{.target = 6.0, .horizon = 10000.0};
  polo::KLControllerState state{.coefficient = 0.2};
  ctl.update(state, 9.0, 256.0);  // error 0.5 clipped to 0.2
  CHECK(state.coefficient == Approx(0.2 * (1.0 + 0.2 * 256.0 / 10000.0)));
  const double before = state.coefficient;
  ctl.update(state, 5.0, 512.0);  // error -1/6, inside the clip
  CHECK(state.coefficient == Approx(before * (1.0 - (1.0 / 6.0) * 512.0 / 10000.0)));
  const double b2 = state.coefficient;
  ctl.update(state, 0.0, 1000.0);  // error -1 clipped to -0.2
  CHECK(state.coefficient == Approx(b2 * (1.0 - 0.2 * 0.1)));
  const double b3 = state.coefficient;
  ctl.update(state, 6.0, 1000.0);  // on target: unchanged
  CHECK(state.coefficient == b3);

  polo::KLControllerState fixed{.coefficient = 0.05};
  polo::FixedKLController{}.update(fixed, 100.0, 1e6);
  CHECK(fixed.coefficient == 0.05);

  CHECK_THROWS_WITH((polo::AdaptiveKLController{.target = 0.0}.update(state, 1.0, 1.0)),
                    "polo::AdaptiveKLController: target must be > 0, got 0");
  CHECK_THROWS_WITH((polo::AdaptiveKLController{.horizon = -1.0}.update(state, 1.0, 1.0)),
                    Contains("horizon must be > 0"));
  CHECK_THROWS_WITH(ctl.update(state, std::nan(""), 1.0), Contains("observed_kl must be finite"));
  CHECK_THROWS_WITH(ctl.update(state, 1.0, -1.0), Contains("n_steps must be >= 0"));
  polo::KLControllerState bad{.coefficient = -1.0};
  CHECK_THROWS_WITH(ctl.update(bad, 1.0, 1.0), Contains("state.coefficient"));
  CHECK_THROWS_WITH(polo::FixedKLController{}.update(bad, 1.0, 1.0), Contains("state.coefficient"));
}

}  // namespace kl_test

// SimPO, CPO and ORPO: ALGORITHMS preference.md §9 vectors 11 and 12, their relations to each
// other and to DPO, finite differences for every loss type, margins of +-1e4, the ORPO clamp at a
// mean log-prob of 0, and every error path.

#include <cmath>
#include <numbers>
#include <vector>

#include "polo/preference/dpo.hpp"
#include "polo/preference/reference_free.hpp"
#include "test_support.hpp"

namespace reference_free_test {

using polo::CPO;
using polo::CPOLossType;
using polo::Index;
using polo::ORPO;
using polo::PreferenceInputs;
using polo::SeqArrayd;
using polo::SimPO;
using polo::SimPOLossType;
using polo_test::Contains;

constexpr double kTol = 5e-6;

/// Summed log-probs with lengths (and optional weights), owning its arrays.
template <class S = double>
struct Batch {
  polo::SeqArray<S> cw, cl, nw, nl, weights;

  [[nodiscard]] PreferenceInputs<S> inputs() const {
    PreferenceInputs<S> in{cw, cl, {}, {}, nw, nl, {}};
    if (weights.size() > 0) in.weights = weights;
    return in;
  }
};

Batch<> one(double cw, double cl, double nw, double nl) {
  Batch<> b;
  b.cw = SeqArrayd::Constant(1, cw);
  b.cl = SeqArrayd::Constant(1, cl);
  b.nw = SeqArrayd::Constant(1, nw);
  b.nl = SeqArrayd::Constant(1, nl);
  return b;
}

Batch<> random_batch(polo::Rng& gen, Index n, bool weighted) {
  Batch<> b;
  b.nw = polo_test::random_seq(gen, n, 5.0, 30.0).floor();
  b.nl = polo_test::random_seq(gen, n, 5.0, 30.0).floor();
  b.cw = b.nw * polo_test::random_seq(gen, n, -2.0, -0.05);  // mean log-probs in (-2, -0.05)
  b.cl = b.nl * polo_test::random_seq(gen, n, -2.0, -0.05);
  if (weighted) b.weights = polo_test::random_seq(gen, n, 0.5, 1.5);
  return b;
}

template <class Loss>
void check_gradient(const Loss& loss, const Batch<>& b) {
  const Index n = b.cw.size();
  SeqArrayd x(2 * n);
  x << b.cw, b.cl;
  const auto out = loss(b.inputs());
  SeqArrayd analytic(2 * n);
  analytic << out.grad_chosen_logp, out.grad_rejected_logp;
  const auto f = [&](const SeqArrayd& v) {
    Batch<> moved = b;
    moved.cw = v.head(n);
    moved.cl = v.tail(n);
    return loss(moved.inputs()).value;
  };
  POLO_CHECK_GRADIENT(f, x, analytic);
}

TEST_CASE("SimPO reproduces vector 11 and ranks by per-token means", "[preference][simpo]") {
  // sums -100 / 100 tokens and -60 / 50 tokens, beta 2.5, gamma 1.4 (z = -0.9)
  const Batch<> b = one(-100, -60, 100, 50);
  const SimPO simpo{.beta = 2.5, .gamma_beta_ratio = 1.4 / 2.5};
  const auto out = simpo(b.inputs());
  CHECK(out.value == Approx(1.24115).epsilon(kTol));
  CHECK(out.grad_chosen_logp[0] == Approx(-0.0177737).epsilon(kTol));
  CHECK(out.grad_rejected_logp[0] == Approx(0.0355475).epsilon(kTol));
  CHECK(out.per_pair[0] == Approx(out.value).epsilon(1e-15));
  // rewards are beta times the means: -2.5 and -3; the means rank y_w higher, the sums would not
  CHECK(out.metrics.rewards_chosen == Approx(-2.5));
  CHECK(out.metrics.rewards_rejected == Approx(-3.0));
  CHECK(out.metrics.rewards_accuracies == 1.0);
  CHECK(out.metrics.logps_chosen == Approx(-1.0));
  CHECK(out.metrics.nll_loss == Approx(1.0));  // logged even with sft_weight 0
}

TEST_CASE("SimPO options: hinge, label smoothing, sft_weight", "[preference][simpo]") {
  const Batch<> b = one(-100, -60, 100, 50);
  // u = beta (a_w - a_l) - gamma = 2.5 * 0.2 - 1.4 = -0.9
  const auto hinge =
      SimPO{.beta = 2.5, .gamma_beta_ratio = 0.56, .loss_type = SimPOLossType::hinge}(b.inputs());
  CHECK(hinge.value == Approx(1.9).epsilon(1e-14));
  CHECK(hinge.grad_chosen_logp[0] == Approx(-2.5 / 100).epsilon(1e-14));
  const auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const auto smooth =
      SimPO{.beta = 2.5, .gamma_beta_ratio = 0.56, .label_smoothing = 0.2}(b.inputs());
  CHECK(smooth.value == Approx(0.8 * softplus(0.9) + 0.2 * softplus(-0.9)).epsilon(1e-14));
  const auto plain = SimPO{.beta = 2.5, .gamma_beta_ratio = 0.56}(b.inputs());
  const auto sft = SimPO{.beta = 2.5, .gamma_beta_ratio = 0.56, .sft_weight = 0.5}(b.inputs());
  CHECK(sft.value == Approx(plain.value + 0.5 * 1.0).epsilon(1e-14));  // NLL = 100 / 100
  CHECK(sft.grad_chosen_logp[0] == Approx(plain.grad_chosen_logp[0] - 0.5 / 100).epsilon(1e-14));
}

TEST_CASE("CPO is reference-free DPO plus cpo_alpha times the chosen NLL", "[preference][cpo]") {
  polo::Rng gen(2);
  const Batch<> b = random_batch(gen, 5, false);
  const PreferenceInputs<double> in = b.inputs();
  const auto cpo = CPO{.cpo_alpha = 0.0}(in);
  const auto dpo = polo::DPO{.reference_free = true}(in);
  CHECK(cpo.value == Approx(dpo.value).epsilon(1e-14));
  for (Index i = 0; i < 5; ++i) {
    CHECK(cpo.grad_chosen_logp[i] == Approx(dpo.grad_chosen_logp[i]).epsilon(1e-14));
  }
  CHECK(cpo.metrics.rewards_margins == Approx(dpo.metrics.rewards_margins).epsilon(1e-14));
  const auto with_nll = CPO{}(in);
  const double nll = -b.cw.sum() / b.nw.sum();
  CHECK(with_nll.metrics.nll_loss == Approx(nll).epsilon(1e-14));
  CHECK(with_nll.value == Approx(cpo.value + nll).epsilon(1e-14));
  CHECK(with_nll.per_pair.mean() == Approx(with_nll.value).epsilon(1e-14));
  CHECK(with_nll.grad_chosen_logp[2] ==
        Approx(cpo.grad_chosen_logp[2] - 1.0 / b.nw.sum()).epsilon(1e-14));
  // CPO-simpo without the NLL is SimPO with gamma / beta = simpo_gamma / beta
  const CPO cpo_simpo{
      .beta = 2.0, .loss_type = CPOLossType::simpo, .cpo_alpha = 0.0, .simpo_gamma = 0.8};
  const SimPO simpo{.beta = 2.0, .gamma_beta_ratio = 0.4};
  CHECK(cpo_simpo(in).value == Approx(simpo(in).value).epsilon(1e-14));
  CHECK(cpo_simpo(in).grad_rejected_logp[1] ==
        Approx(simpo(in).grad_rejected_logp[1]).epsilon(1e-14));
}

TEST_CASE("CPO ipo has its minimum at a mean margin of 1/(2 beta); hinge stops at 1",
          "[preference][cpo]") {
  // a_w - a_l = -0.5 - (-10.5 / 3) = 3 = 1 / (2 * 1/6)
  const Batch<> b = one(-1.0, -10.5, 2, 3);
  const auto ipo =
      CPO{.beta = 1.0 / 6.0, .loss_type = CPOLossType::ipo, .cpo_alpha = 0.0}(b.inputs());
  CHECK(ipo.value == Approx(0.0).margin(1e-24));
  CHECK(ipo.grad_chosen_logp[0] == Approx(0.0).margin(1e-12));
  CHECK(ipo.metrics.rewards_chosen == Approx(-0.5 / 6.0));  // per-token mean for ipo
  const auto hinge = CPO{
      .beta = 0.1, .loss_type = CPOLossType::hinge, .cpo_alpha = 0.0}(one(-10, -25, 1, 1).inputs());
  CHECK(hinge.value == 0.0);  // beta (c_w - c_l) = 1.5 >= 1
  CHECK(hinge.grad_chosen_logp[0] == 0.0);
}

TEST_CASE("ORPO reproduces vector 12 and logs the odds statistics", "[preference][orpo]") {
  // mean log-probs -0.5 and -1.0 (log_odds = 0.974077); the NLL -c_w / |y_w| = 0.5 adds to it
  const auto out = ORPO{}(one(-0.5, -1.0, 1, 1).inputs());
  // §9 prints 0.0320297; -0.1 log sigma(0.974077) = 0.03202998 (the gradients below match the
  // same log_odds to 7 digits), so the printed loss is off in its last digit: check both.
  CHECK(out.value - 0.5 == Approx(0.0320297).epsilon(1e-5));
  CHECK(out.value - 0.5 == Approx(0.03202998).epsilon(1e-7));
  CHECK(out.grad_chosen_logp[0] + 1.0 == Approx(-0.0696544).epsilon(kTol));
  CHECK(out.grad_rejected_logp[0] == Approx(0.0433570).epsilon(kTol));
  CHECK(out.metrics.log_odds_chosen == Approx(0.974077).epsilon(kTol));
  CHECK(out.metrics.log_odds_ratio == Approx(-0.3202998).epsilon(1e-7));
  CHECK(out.metrics.nll_loss == Approx(0.5));
  CHECK(out.metrics.rewards_chosen == Approx(-0.05));
  // the same means from sums over 2 and 4 tokens: the odds gradient is divided by the lengths
  const auto longer = ORPO{}(one(-1.0, -4.0, 2, 4).inputs());
  CHECK(longer.value - 0.5 == Approx(0.03202998).epsilon(1e-7));
  CHECK(longer.grad_chosen_logp[0] + 0.5 == Approx(-0.0696544 / 2).epsilon(kTol));
  CHECK(longer.grad_rejected_logp[0] == Approx(0.0433570 / 4).epsilon(kTol));
}

TEST_CASE("ORPO clamps a mean log-prob of 0 instead of dividing by zero", "[preference][orpo]") {
  const auto out = ORPO{}(one(0.0, -1.0, 3, 2).inputs());
  CHECK(std::isfinite(out.value));
  CHECK(out.grad_chosen_logp[0] == Approx(-1.0 / 3.0).epsilon(1e-12));  // NLL only
  CHECK(std::isfinite(out.grad_rejected_logp[0]));
  // just below 0, sigma(-lo) vanishes as fast as 1 - e^a: the odds gradient stays bounded
  const auto near = ORPO{}(one(-3e-6, -1.0, 3, 2).inputs());
  CHECK(std::isfinite(near.value));
  CHECK(std::abs(near.grad_chosen_logp[0] + 1.0 / 3.0) < 0.1);
}

TEST_CASE("SimPO, CPO and ORPO gradients match finite differences", "[preference][simpo]") {
  polo::Rng gen(17);
  for (const bool weighted : {false, true}) {
    const Batch<> b = random_batch(gen, 6, weighted);
    check_gradient(SimPO{}, b);
    check_gradient(
        SimPO{.beta = 2.5, .gamma_beta_ratio = 0.5, .label_smoothing = 0.1, .sft_weight = 0.3}, b);
    check_gradient(SimPO{.beta = 1.0, .loss_type = SimPOLossType::hinge}, b);
    for (const CPOLossType type :
         {CPOLossType::sigmoid, CPOLossType::hinge, CPOLossType::ipo, CPOLossType::simpo}) {
      INFO("cpo type " << static_cast<int>(type));
      check_gradient(CPO{.label_smoothing = 0.1, .loss_type = type}, b);
      check_gradient(CPO{.beta = 1.5, .loss_type = type, .cpo_alpha = 0.0}, b);
    }
    check_gradient(ORPO{}, b);
    check_gradient(ORPO{.beta = 1.0}, b);
  }
}

template <class S, class Loss>
void check_stable(const Loss& loss, double delta) {
  Batch<S> b;
  b.cw = polo::SeqArray<S>::Constant(2, static_cast<S>(-1e4 + (delta > 0 ? delta : 0.0)));
  b.cl = polo::SeqArray<S>::Constant(2, static_cast<S>(-1e4 - (delta < 0 ? delta : 0.0)));
  b.nw = polo::SeqArray<S>::Constant(2, S(1));
  b.nl = polo::SeqArray<S>::Constant(2, S(1));
  const auto out = loss(b.inputs());
  CHECK(std::isfinite(out.value));
  for (Index i = 0; i < 2; ++i) {
    CHECK(std::isfinite(static_cast<double>(out.grad_chosen_logp[i])));
    CHECK(std::isfinite(static_cast<double>(out.grad_rejected_logp[i])));
  }
}

TEST_CASE("SimPO, CPO and ORPO stay finite for margins of +-1e4", "[preference][simpo]") {
  for (const double delta : {9e3, -9e3}) {
    check_stable<double>(SimPO{}, delta);
    check_stable<float>(SimPO{}, delta);
    for (const CPOLossType type :
         {CPOLossType::sigmoid, CPOLossType::hinge, CPOLossType::ipo, CPOLossType::simpo}) {
      check_stable<double>(CPO{.loss_type = type}, delta);
      check_stable<float>(CPO{.loss_type = type}, delta);
    }
    check_stable<double>(ORPO{}, delta);
    check_stable<float>(ORPO{}, delta);
  }
}

TEST_CASE("SimPO, CPO and ORPO refuse bad inputs with messages", "[preference][simpo]") {
  const Batch<> b = one(-10, -20, 5, 5);
  const auto msg = [](const auto& loss, const PreferenceInputs<double>& in) {
    return polo_test::message_of<polo::invalid_argument>([&] { (void)loss(in); });
  };
  CHECK_THAT(msg(SimPO{.beta = -1.0}, b.inputs()),
             Contains("polo::SimPO: beta must be finite and > 0, got -1"));
  CHECK_THAT(msg(SimPO{.label_smoothing = 1.0}, b.inputs()),
             Contains("label_smoothing must be in [0, 1), got 1"));
  CHECK_THAT(msg(SimPO{.sft_weight = -1.0}, b.inputs()),
             Contains("sft_weight must be finite and >= 0, got -1"));
  CHECK_THAT(msg(CPO{.cpo_alpha = -0.5}, b.inputs()),
             Contains("polo::CPO: cpo_alpha must be finite and >= 0, got -0.5"));
  CHECK_THAT(msg(ORPO{.beta = polo_test::kNaN}, b.inputs()),
             Contains("polo::ORPO: beta must be finite and >= 0, got nan"));
  const PreferenceInputs<double> no_len{b.cw, b.cl};
  CHECK_THAT(msg(SimPO{}, no_len),
             Contains("chosen_length must be given (the loss averages per token), got none"));
  CHECK_THAT(msg(CPO{}, no_len), Contains("chosen_length must be given (the NLL is a token mean)"));
  CHECK(CPO{.cpo_alpha = 0.0}(no_len).value > 0.0);  // sigmoid without the NLL needs no lengths
  PreferenceInputs<double> only_w = b.inputs();
  only_w.rejected_length = {};
  CHECK_THAT(msg(ORPO{}, only_w), Contains("rejected_length must be given"));
  Batch<> negative = b;
  negative.nl[0] = -2.0;
  CHECK_THAT(msg(SimPO{}, negative.inputs()),
             Contains("rejected_length[0] must be >= 0 (a token count), got -2"));
  Batch<> nan_len = b;
  nan_len.nw[0] = polo_test::kNaN;
  CHECK_THROWS_AS(SimPO{}(nan_len.inputs()), polo::nonfinite_error);
  Batch<> bad = b;
  bad.cl[0] = polo_test::kInf;
  try {
    (void)ORPO{}(bad.inputs());
    FAIL("no exception for an infinite rejected_logp");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "rejected_logp");
    CHECK_THAT(e.what(), Contains("polo::ORPO"));
  }
}

TEST_CASE("SimPO, CPO and ORPO of an empty batch are 0", "[preference][simpo]") {
  const SeqArrayd none(0);
  const PreferenceInputs<double> in{none, none, {}, {}, none, none, {}};
  CHECK(SimPO{}(in).value == 0.0);
  CHECK(CPO{}(in).value == 0.0);
  CHECK(ORPO{}(in).value == 0.0);
  CHECK(ORPO{}(in).metrics.nll_loss == 0.0);
}

}  // namespace reference_free_test

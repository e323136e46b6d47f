// DPO and TRL's loss types: ALGORITHMS preference.md §9 vectors 1-10 and 17-23, finite differences
// for every loss type x f-divergence, the stationary margins of §1(g), loss_weights combinations,
// per-pair weights, the bco_pair running mean, AOT's sorting, margins of +-1e4 in float and
// double, the token -> sequence helper with NaN padding, and every error path.

#include <cmath>
#include <numbers>
#include <vector>

#include "polo/preference/dpo.hpp"
#include "polo/preference/reference_free.hpp"
#include "polo/preference/sequences.hpp"
#include "test_support.hpp"

namespace dpo_test {

using polo::BCOState;
using polo::DPO;
using polo::DpoLossTerm;
using polo::DpoLossType;
using polo::FDivergence;
using polo::Index;
using polo::PreferenceInputs;
using polo::SeqArrayd;
using polo::SeqArrayf;
using polo_test::Contains;

/// §9 vectors carry 6 significant digits.
constexpr double kTol = 5e-6;

const std::vector<DpoLossType> kAllTypes = {
    DpoLossType::sigmoid,      DpoLossType::hinge,     DpoLossType::ipo,
    DpoLossType::exo_pair,     DpoLossType::nca_pair,  DpoLossType::robust,
    DpoLossType::bco_pair,     DpoLossType::sppo_hard, DpoLossType::aot,
    DpoLossType::aot_unpaired, DpoLossType::apo_zero,  DpoLossType::apo_down,
    DpoLossType::discopop,     DpoLossType::sft,       DpoLossType::sigmoid_norm};

const std::vector<FDivergence> kAllDivergences = {FDivergence::reverse_kl, FDivergence::forward_kl,
                                                  FDivergence::js_divergence,
                                                  FDivergence::alpha_divergence};

/// A batch of pairs that owns its arrays.
template <class S = double>
struct Batch {
  polo::SeqArray<S> cw, cl, rw, rl, nw, nl, weights;

  [[nodiscard]] PreferenceInputs<S> inputs() const {
    PreferenceInputs<S> in{cw, cl, rw, rl, nw, nl, {}};
    if (weights.size() > 0) in.weights = weights;
    return in;
  }
};

Batch<> pairs(std::vector<double> cw, std::vector<double> cl, std::vector<double> rw,
              std::vector<double> rl, std::vector<double> nw = {}, std::vector<double> nl = {}) {
  const auto arr = [](const std::vector<double>& v) {
    return SeqArrayd(Eigen::Map<const SeqArrayd>(v.data(), static_cast<Index>(v.size())));
  };
  const auto n = static_cast<Index>(cw.size());
  Batch<> b{arr(cw), arr(cl), arr(rw), arr(rl), arr(nw), arr(nl), {}};
  if (nw.empty()) b.nw = SeqArrayd::Constant(n, 10.0);
  if (nl.empty()) b.nl = SeqArrayd::Constant(n, 10.0);
  return b;
}

/// "Base inputs" of §9: rho_w = 2, rho_l = -5, Delta = 7; lengths 20 and 25 (vectors 10, 23).
Batch<> base() {
  return pairs({-40}, {-55}, {-42}, {-50}, {20}, {25});
}

void check_vector(const DPO& loss, const Batch<>& b, double value, double d_w, double d_l) {
  const auto out = loss(b.inputs());
  CHECK(out.value == Approx(value).epsilon(kTol));
  CHECK(out.grad_chosen_logp[0] == Approx(d_w).epsilon(kTol).margin(1e-12));
  CHECK(out.grad_rejected_logp[0] == Approx(d_l).epsilon(kTol).margin(1e-12));
  CHECK(out.per_pair[0] == Approx(value).epsilon(kTol));
}

DPO of(DpoLossType type, double beta = 0.1) {
  return DPO{.beta = beta, .loss_type = type};
}

TEST_CASE("DPO sigmoid reproduces vectors 1-4 with TRL's metrics", "[preference][dpo]") {
  check_vector(DPO{}, base(), 0.403186, -0.0331812, 0.0331812);
  // 2: at initialisation the loss is log 2 and the gradient is -+beta/2, never 0
  const Batch<> init = pairs({-12}, {-12}, {-12}, {-12});
  check_vector(DPO{}, init, std::numbers::ln2, -0.05, 0.05);
  const auto at_init = DPO{}(init.inputs());
  CHECK(at_init.metrics.rewards_chosen == 0.0);
  CHECK(at_init.metrics.rewards_rejected == 0.0);
  CHECK(at_init.metrics.rewards_accuracies == 0.0);  // strict: a tie is not a win
  // 3: z = -40 and z = -2000 (a naive log(sigmoid(z)) gives -inf)
  const Batch<> extreme = pairs({-300}, {-100}, {-100}, {-300});
  check_vector(DPO{}, extreme, 40.0, -0.1, 0.1);
  check_vector(DPO{.beta = 5.0}, extreme, 2000.0, -5.0, 5.0);
  // 4: the batch mean over 1, 2 and 3
  const Batch<> batch =
      pairs({-40, -12, -300}, {-55, -12, -100}, {-42, -12, -100}, {-50, -12, -300});
  const auto out = DPO{}(batch.inputs());
  CHECK(out.value == Approx(13.6988).epsilon(kTol));
  const double g[] = {-0.0110604, -0.0166667, -0.0333333};
  for (Index i = 0; i < 3; ++i) {
    CHECK(out.grad_chosen_logp[i] == Approx(g[i]).epsilon(kTol));
    CHECK(out.grad_rejected_logp[i] == Approx(-g[i]).epsilon(kTol));
  }
  CHECK(out.per_pair.mean() == Approx(out.value).epsilon(1e-14));
  CHECK(out.metrics.rewards_chosen == Approx(-6.6));
  CHECK(out.metrics.rewards_rejected == Approx(6.5));
  CHECK(out.metrics.rewards_margins == Approx(-13.1));
  CHECK(out.metrics.rewards_accuracies == Approx(1.0 / 3.0));
  CHECK(out.metrics.logps_chosen == Approx((-40.0 - 12.0 - 300.0) / 3.0));
  CHECK(out.metrics.logps_rejected == Approx((-55.0 - 12.0 - 100.0) / 3.0));
}

TEST_CASE("DPO loss types reproduce vectors 6-10 and 17-23", "[preference][dpo]") {
  const Batch<> b = base();
  // 6: cDPO is TRL <= 0.28's sigmoid with label smoothing
  check_vector(DPO{.label_smoothing = 0.1, .sigmoid_label_smoothing = true}, b, 0.473186,
               -0.0231812, 0.0231812);
  check_vector(DPO{.loss_type = DpoLossType::robust, .label_smoothing = 0.1}, b, 0.315686,
               -0.0456812, 0.0456812);                          // 7
  check_vector(of(DpoLossType::hinge), b, 0.3, -0.1, 0.1);      // 8
  check_vector(of(DpoLossType::hinge, 0.2), b, 0.0, 0.0, 0.0);  // 8
  check_vector(of(DpoLossType::ipo), b, 4.0, 4.0, -4.0);        // 9
  check_vector(DPO{.loss_type = DpoLossType::ipo, .ipo_length_normalized = true}, b, 22.09, -0.47,
               0.376);                                                         // 10
  check_vector(of(DpoLossType::nca_pair), b, 1.23425, -0.0175249, 0.0188770);  // 17
  check_vector(of(DpoLossType::bco_pair), b, 1.07222, -0.0450166, 0.0377541);  // 18
  check_vector(of(DpoLossType::sppo_hard), b, 9.0, -6.0, 0.0);                 // 19
  check_vector(DPO{.loss_type = DpoLossType::exo_pair, .label_smoothing = 1e-3}, b, 1.65729,
               -0.137612, 0.137612);                                            // 20
  check_vector(of(DpoLossType::apo_zero), b, 0.827707, -0.0247517, 0.0235004);  // 21
  check_vector(of(DpoLossType::apo_down), b, 0.881646, 0.00258037, 0.0221713);  // 21
  check_vector(of(DpoLossType::discopop), b, 0.496585, -0.0496584, 0.0496584);  // 22
  check_vector(of(DpoLossType::discopop), pairs({-40}, {-41}, {-42}, {-42.5}), 0.875181, 0.0285404,
               -0.0285404);                                                              // 22
  check_vector(of(DpoLossType::sigmoid_norm, 5.0), b, 0.201413, -0.0456064, 0.0364851);  // 23
}

TEST_CASE("DPO special cases: log 2, IPO's minimum, label smoothing 0", "[preference][dpo]") {
  const Batch<> tie = pairs({-7, -30}, {-9, -31}, {-7, -30}, {-9, -31});
  for (const double beta : {0.1, 0.5, 2.0}) {
    const auto out = DPO{.beta = beta}(tie.inputs());
    CHECK(out.value == Approx(std::numbers::ln2).epsilon(1e-14));
    CHECK(out.grad_chosen_logp[1] == Approx(-beta / 4.0).epsilon(1e-14));  // -beta/2 over B = 2
  }
  // IPO: zero loss and gradient at Delta = 1/(2 beta), a parabola around it
  for (const double beta : {0.1, 0.25, 1.0}) {
    const double target = 0.5 / beta;
    const auto at = of(DpoLossType::ipo, beta)(pairs({-10 + target}, {-20}, {-10}, {-20}).inputs());
    CHECK(at.value == Approx(0.0).margin(1e-12));
    CHECK(at.grad_chosen_logp[0] == Approx(0.0).margin(1e-12));
    for (const double off : {-1.0, 1.0}) {
      const auto out =
          of(DpoLossType::ipo, beta)(pairs({-10 + target + off}, {-20}, {-10}, {-20}).inputs());
      CHECK(out.value == Approx(1.0).epsilon(1e-12));
    }
  }
  // label smoothing 0 in the cDPO form equals sigmoid; sigmoid ignores label smoothing (TRL >=
  // 0.29)
  const Batch<> b = base();
  const auto plain = DPO{}(b.inputs());
  const auto cdpo0 = DPO{.sigmoid_label_smoothing = true}(b.inputs());
  const auto ignored = DPO{.label_smoothing = 0.3}(b.inputs());
  CHECK(cdpo0.value == Approx(plain.value).epsilon(1e-15));
  CHECK(cdpo0.grad_chosen_logp[0] == Approx(plain.grad_chosen_logp[0]).epsilon(1e-15));
  CHECK(ignored.value == plain.value);
}

TEST_CASE("DPO loss types have the stationary margins of §1(g)", "[preference][dpo]") {
  const auto at_margin = [](double delta) { return pairs({-20 + delta}, {-30}, {-20}, {-30}); };
  const auto logit = [](double p) { return std::log(p / (1.0 - p)); };
  // cDPO and EXO: z* = logit(1 - eps)
  const double eps = 0.1;
  const auto cdpo = DPO{.label_smoothing = eps, .sigmoid_label_smoothing = true};
  CHECK(cdpo(at_margin(logit(1 - eps) / 0.1).inputs()).grad_chosen_logp[0] ==
        Approx(0.0).margin(1e-15));
  CHECK(logit(1 - 1e-3) == Approx(6.90675).epsilon(kTol));
  const auto exo = DPO{.loss_type = DpoLossType::exo_pair, .label_smoothing = 1e-3};
  CHECK(exo(at_margin(logit(1 - 1e-3) / 0.1).inputs()).grad_chosen_logp[0] ==
        Approx(0.0).margin(1e-15));
  // hinge: no loss and no gradient once z >= 1
  for (const double z : {1.0, 1.5, 30.0}) {
    const auto out = of(DpoLossType::hinge)(at_margin(z / 0.1).inputs());
    CHECK(out.value == 0.0);
    CHECK(out.grad_chosen_logp[0] == 0.0);
  }
  // SPPO-hard: rho_w* = 1/(2 beta), rho_l* = -1/(2 beta)
  const auto sppo = of(DpoLossType::sppo_hard)(pairs({-15}, {-35}, {-20}, {-30}).inputs());
  CHECK(sppo.value == 0.0);
  CHECK(sppo.grad_chosen_logp[0] == 0.0);
  CHECK(sppo.grad_rejected_logp[0] == 0.0);
  // NCA: beta rho_w* = ln 2 stops the chosen side; rho_l is still pushed down
  const auto nca = of(DpoLossType::nca_pair)(
      pairs({-20 + std::numbers::ln2 / 0.1}, {-30}, {-20}, {-30}).inputs());
  CHECK(nca.grad_chosen_logp[0] == Approx(0.0).margin(1e-15));
  CHECK(nca.grad_rejected_logp[0] > 0.0);
}

/// Random pairs: summed log-probs around -40, log-ratios in [-3, 3], lengths 5-30, weights 0.5-1.5.
Batch<> random_batch(polo::Rng& gen, Index n) {
  Batch<> b;
  b.cw = polo_test::random_seq(gen, n, -60.0, -20.0);
  b.cl = polo_test::random_seq(gen, n, -60.0, -20.0);
  b.rw = b.cw - polo_test::random_seq(gen, n, -3.0, 3.0);
  b.rl = b.cl - polo_test::random_seq(gen, n, -3.0, 3.0);
  b.nw = polo_test::random_seq(gen, n, 5.0, 30.0).floor();
  b.nl = polo_test::random_seq(gen, n, 5.0, 30.0).floor();
  b.weights = polo_test::random_seq(gen, n, 0.5, 1.5);
  return b;
}

/// Finite differences of the value with respect to [chosen_logp; rejected_logp].
void check_gradient(const DPO& loss, const Batch<>& b) {
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

TEST_CASE("DPO gradients match finite differences for every loss type and f-divergence",
          "[preference][dpo]") {
  polo::Rng gen(7);
  for (const DpoLossType type : kAllTypes) {
    for (const FDivergence f : kAllDivergences) {
      for (const double beta : {0.1, 0.7}) {
        Batch<> b = random_batch(gen, 6);
        const bool sorted = type == DpoLossType::aot || type == DpoLossType::aot_unpaired;
        if (sorted) b.weights.resize(0);
        DPO loss{.beta = beta,
                 .loss_type = type,
                 .label_smoothing = 0.1,
                 .ipo_length_normalized = beta > 0.5,
                 .f_divergence_type = f};
        INFO("type " << static_cast<int>(type) << ", f " << static_cast<int>(f) << ", beta "
                     << beta);
        check_gradient(loss, b);
        if (type == DpoLossType::sigmoid) {
          loss.sigmoid_label_smoothing = true;
          check_gradient(loss, b);
        }
      }
    }
  }
}

TEST_CASE("DPO f-divergence scores follow TRL's definitions", "[preference][dpo]") {
  // base inputs: rho_w = 2, rho_l = -5; f(rho) per §1 catalogue, l = -log sigma(beta Delta)
  const Batch<> b = base();
  const auto sigmoid_loss = [](double z) { return std::log1p(std::exp(-z)); };
  const double alpha = 0.5;
  const auto alpha_f = [&](double rho) { return std::exp((alpha - 1) * rho) / (alpha - 1); };
  const auto js_f = [](double rho) { return -std::log1p(std::exp(-rho)); };
  const double expected[] = {
      sigmoid_loss(0.7), sigmoid_loss(0.1 * (-std::exp(-2.0) + std::exp(5.0))),
      sigmoid_loss(0.1 * (js_f(2) - js_f(-5))), sigmoid_loss(0.1 * (alpha_f(2) - alpha_f(-5)))};
  for (std::size_t k = 0; k < kAllDivergences.size(); ++k) {
    const auto out = DPO{.f_divergence_type = kAllDivergences[k]}(b.inputs());
    CHECK(out.value == Approx(expected[k]).epsilon(1e-12));
    // the logged rewards use the plain log-ratios whatever f is
    CHECK(out.metrics.rewards_chosen == Approx(0.2));
    CHECK(out.metrics.rewards_rejected == Approx(-0.5));
  }
  // the alpha exponent is clamped at 80: beyond it the score is flat
  const auto flat = DPO{.f_divergence_type = FDivergence::alpha_divergence}(
      pairs({-400}, {-55}, {-200}, {-50}).inputs());
  CHECK(std::isfinite(flat.value));
  CHECK(flat.grad_chosen_logp[0] == 0.0);
}

TEST_CASE("DPO loss_types combine as TRL's loss_weights: sum_k w_k mean_i l_k",
          "[preference][dpo]") {
  polo::Rng gen(11);
  Batch<> b = random_batch(gen, 5);
  b.weights.resize(0);
  const std::vector<DpoLossTerm> mpo = {
      {DpoLossType::sigmoid, 0.8}, {DpoLossType::bco_pair, 0.2}, {DpoLossType::sft, 1.0}};
  const DPO combined{.loss_types = mpo};
  const auto out = combined(b.inputs());
  double value = 0.0;
  SeqArrayd gc = SeqArrayd::Zero(5);
  SeqArrayd gr = SeqArrayd::Zero(5);
  SeqArrayd per = SeqArrayd::Zero(5);
  for (const auto& t : mpo) {
    const auto one = of(t.type)(b.inputs());
    value += t.weight * one.value;
    gc += t.weight * one.grad_chosen_logp;
    gr += t.weight * one.grad_rejected_logp;
    per += t.weight * one.per_pair;
  }
  CHECK(out.value == Approx(value).epsilon(1e-13));
  CHECK(out.per_pair.mean() == Approx(out.value).epsilon(1e-13));
  for (Index i = 0; i < 5; ++i) {
    CHECK(out.grad_chosen_logp[i] == Approx(gc[i]).epsilon(1e-13));
    CHECK(out.grad_rejected_logp[i] == Approx(gr[i]).epsilon(1e-13));
    CHECK(out.per_pair[i] == Approx(per[i]).epsilon(1e-13));
  }
  check_gradient(combined, b);
  // loss_types overrides loss_type; AOT combines as well
  const DPO with_aot{.loss_type = DpoLossType::hinge,
                     .loss_types = {{DpoLossType::aot, 0.5}, {DpoLossType::ipo, 0.1}}};
  check_gradient(with_aot, b);
  CHECK(with_aot(b.inputs()).value == Approx(0.5 * of(DpoLossType::aot)(b.inputs()).value +
                                             0.1 * of(DpoLossType::ipo)(b.inputs()).value)
                                          .epsilon(1e-13));
}

TEST_CASE("DPO sft is the token mean NLL of the chosen completions over the batch",
          "[preference][dpo]") {
  // -(sum c_w) / (sum |y_w|) = 60 / 20 = 3, broadcast to every pair; d/d c_w = -1/20
  const Batch<> b = pairs({-40, -20}, {-1, -2}, {0, 0}, {0, 0}, {15, 5}, {1, 1});
  const auto out = of(DpoLossType::sft)(b.inputs());
  CHECK(out.value == Approx(3.0).epsilon(1e-15));
  CHECK(out.per_pair[0] == Approx(3.0).epsilon(1e-15));
  CHECK(out.per_pair[1] == Approx(3.0).epsilon(1e-15));
  CHECK(out.grad_chosen_logp[0] == Approx(-0.05).epsilon(1e-15));
  CHECK(out.grad_rejected_logp[1] == 0.0);
}

TEST_CASE("DPO per-pair weights scale each pair's loss (WPO)", "[preference][dpo]") {
  polo::Rng gen(3);
  const Batch<> b = random_batch(gen, 4);
  Batch<> unweighted = b;
  unweighted.weights.resize(0);
  for (const DpoLossType type : {DpoLossType::sigmoid, DpoLossType::ipo, DpoLossType::apo_down}) {
    const auto w = of(type)(b.inputs());
    const auto u = of(type)(unweighted.inputs());
    for (Index i = 0; i < 4; ++i) {
      CHECK(w.per_pair[i] == Approx(b.weights[i] * u.per_pair[i]).epsilon(1e-14));
      CHECK(w.grad_chosen_logp[i] == Approx(b.weights[i] * u.grad_chosen_logp[i]).epsilon(1e-14));
    }
    CHECK(w.value == Approx(w.per_pair.mean()).epsilon(1e-14));
  }
}

TEST_CASE("DPO bco_pair keeps TRL <= 0.28's running reward mean in a BCOState",
          "[preference][dpo]") {
  const Batch<> b = base();
  // first batch: delta = mean(beta rho_w, beta rho_l) = (0.2 - 0.5) / 2 = -0.15
  BCOState state;
  const DPO bco = of(DpoLossType::bco_pair);
  const auto first = bco(b.inputs(), state);
  CHECK(state.count == 1.0);
  CHECK(state.mean == Approx(-0.15).epsilon(1e-14));
  const auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  // a - delta = 0.35, b - delta = -0.35: -log sigma(0.35) - log sigma(0.35)
  CHECK(first.value == Approx(2.0 * softplus(-0.35)).epsilon(1e-13));
  CHECK(first.grad_chosen_logp[0] == Approx(-0.1 * sig(-0.35)).epsilon(1e-13));
  CHECK(first.grad_rejected_logp[0] == Approx(0.1 * sig(-0.35)).epsilon(1e-13));
  // a second batch with mean reward 0.45 moves delta to the mean of the two: 0.15
  const Batch<> up = pairs({-36}, {-46}, {-42}, {-49});  // beta rho = 0.6 and 0.3
  const auto second = bco(up.inputs(), state);
  CHECK(state.count == 2.0);
  CHECK(state.mean == Approx(0.15).epsilon(1e-13));
  CHECK(second.value == Approx(softplus(-(0.6 - 0.15)) + softplus(0.3 - 0.15)).epsilon(1e-13));
  // without a state: TRL >= 0.29, no shift; other loss types leave the state alone
  CHECK(bco(b.inputs()).value == Approx(1.07222).epsilon(kTol));
  BCOState untouched;
  (void)DPO{}(b.inputs(), untouched);
  CHECK(untouched.count == 0.0);
  // the zero-allocation form updates it too
  SeqArrayd gc(1);
  SeqArrayd gr(1);
  (void)bco.compute(b.inputs(), polo::SeqView<double>(gc), polo::SeqView<double>(gr), state);
  CHECK(state.count == 3.0);
}

TEST_CASE("DPO aot and aot_unpaired pair the batch's order statistics", "[preference][dpo]") {
  // policy log-ratios c_w - c_l = [3, 1], reference r_w - r_l = [2, 5]: sorted, rank 0 pairs
  // pair 1's 1 with 2 (u = -0.1) and rank 1 pairs pair 0's 3 with 5 (u = -0.2)
  const Batch<> b = pairs({-10, -20}, {-13, -21}, {-11, -20}, {-13, -25});
  const auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  const auto aot = of(DpoLossType::aot)(b.inputs());
  CHECK(aot.value == Approx((softplus(0.2) + softplus(0.1)) / 2).epsilon(1e-14));
  CHECK(aot.per_pair[0] == Approx(softplus(0.2)).epsilon(1e-14));
  CHECK(aot.per_pair[1] == Approx(softplus(0.1)).epsilon(1e-14));
  CHECK(aot.grad_chosen_logp[0] == Approx(-0.1 * sig(0.2) / 2).epsilon(1e-14));
  CHECK(aot.grad_chosen_logp[1] == Approx(-0.1 * sig(0.1) / 2).epsilon(1e-14));
  CHECK(aot.grad_rejected_logp[0] == Approx(0.1 * sig(0.2) / 2).epsilon(1e-14));
  // unpaired: rho_w = [1, 0], rho_l = [0, 4]; rank 0: chosen of pair 1 vs rejected of pair 0
  // (u = 0), rank 1: chosen of pair 0 vs rejected of pair 1 (u = -0.3)
  const auto un = of(DpoLossType::aot_unpaired)(b.inputs());
  CHECK(un.value == Approx((std::numbers::ln2 + softplus(0.3)) / 2).epsilon(1e-14));
  CHECK(un.grad_chosen_logp[1] == Approx(-0.025).epsilon(1e-14));
  CHECK(un.grad_rejected_logp[0] == Approx(0.025).epsilon(1e-14));
  CHECK(un.grad_chosen_logp[0] == Approx(-0.1 * sig(0.3) / 2).epsilon(1e-14));
  CHECK(un.grad_rejected_logp[1] == Approx(0.1 * sig(0.3) / 2).epsilon(1e-14));
  // the value does not depend on the order of the pairs (plain DPO's would not either, but AOT's
  // per-pair losses move with the ranks)
  const Batch<> swapped = pairs({-20, -10}, {-21, -13}, {-20, -11}, {-25, -13});
  CHECK(of(DpoLossType::aot)(swapped.inputs()).value == Approx(aot.value).epsilon(1e-15));
}

template <class S>
void check_stable(double delta) {
  // rho_w = delta / 2, rho_l = -delta / 2: z = beta delta = +-1000 at beta 0.1
  Batch<S> b;
  b.cw = polo::SeqArray<S>::Constant(2, static_cast<S>(-12.0 + delta / 2));
  b.cl = polo::SeqArray<S>::Constant(2, static_cast<S>(-12.0 - delta / 2));
  b.rw = polo::SeqArray<S>::Constant(2, S(-12));
  b.rl = polo::SeqArray<S>::Constant(2, S(-12));
  b.nw = polo::SeqArray<S>::Constant(2, S(40));
  b.nl = polo::SeqArray<S>::Constant(2, S(30));
  for (const DpoLossType type : kAllTypes) {
    INFO("type " << static_cast<int>(type) << ", delta " << delta);
    const DPO loss{.loss_type = type, .label_smoothing = 0.1};
    const auto out = loss(b.inputs());
    CHECK(std::isfinite(out.value));
    for (Index i = 0; i < 2; ++i) {
      CHECK(std::isfinite(static_cast<double>(out.grad_chosen_logp[i])));
      CHECK(std::isfinite(static_cast<double>(out.grad_rejected_logp[i])));
    }
  }
  const auto sigmoid = DPO{}(b.inputs());
  if (delta < 0) {
    CHECK(sigmoid.value == Approx(-0.1 * delta).epsilon(1e-6));
    CHECK(static_cast<double>(sigmoid.grad_chosen_logp[0]) == Approx(-0.05).epsilon(1e-6));
  } else {
    CHECK(sigmoid.value == Approx(0.0).margin(1e-300));
  }
}

TEST_CASE("DPO stays finite for margins of +-1e4 in float and double", "[preference][dpo]") {
  for (const double delta : {1e4, -1e4}) {
    check_stable<double>(delta);
    check_stable<float>(delta);
  }
}

TEST_CASE("DPO float inputs agree with double; compute equals the owning call",
          "[preference][dpo]") {
  polo::Rng gen(5);
  const Batch<> b = random_batch(gen, 6);
  Batch<float> f{b.cw.cast<float>(), b.cl.cast<float>(), b.rw.cast<float>(),     b.rl.cast<float>(),
                 b.nw.cast<float>(), b.nl.cast<float>(), b.weights.cast<float>()};
  for (const DpoLossType type : kAllTypes) {
    INFO("type " << static_cast<int>(type));
    const bool sorted = type == DpoLossType::aot || type == DpoLossType::aot_unpaired;
    Batch<> bd = b;
    Batch<float> bf = f;
    if (sorted) {
      bd.weights.resize(0);
      bf.weights.resize(0);
    }
    const DPO loss{.loss_type = type, .label_smoothing = 0.1};
    const auto d = loss(bd.inputs());
    const auto s = loss(bf.inputs());
    CHECK(s.value == Approx(d.value).epsilon(1e-5));
    SeqArrayd gc(6);
    SeqArrayd gr(6);
    SeqArrayd pp(6);
    const auto v = loss.compute(bd.inputs(), polo::SeqView<double>(gc), polo::SeqView<double>(gr),
                                polo::SeqView<double>(pp));
    CHECK(v.value == d.value);
    CHECK(v.metrics.rewards_margins == d.metrics.rewards_margins);
    for (Index i = 0; i < 6; ++i) {
      CHECK(gc[i] == d.grad_chosen_logp[i]);
      CHECK(gr[i] == d.grad_rejected_logp[i]);
      CHECK(pp[i] == d.per_pair[i]);
      CHECK(static_cast<double>(s.grad_chosen_logp[i]) ==
            Approx(d.grad_chosen_logp[i]).epsilon(1e-4).margin(1e-7));
    }
  }
}

TEST_CASE("DPO reference_free is the loss with zero reference log-probs", "[preference][dpo]") {
  const Batch<> b = base();
  PreferenceInputs<double> no_ref{b.cw, b.cl};
  const auto free = DPO{.reference_free = true}(no_ref);
  const Batch<> zero = pairs({-40}, {-55}, {0}, {0});
  const auto zeros = DPO{}(zero.inputs());
  CHECK(free.value == zeros.value);
  CHECK(free.grad_chosen_logp[0] == zeros.grad_chosen_logp[0]);
  CHECK(free.metrics.rewards_chosen == Approx(-4.0));
}

TEST_CASE("DPO of an empty batch is 0 with no NaN", "[preference][dpo]") {
  const SeqArrayd none(0);
  const PreferenceInputs<double> in{none, none, none, none, none, none, {}};
  for (const DpoLossType type : kAllTypes) {
    const auto out = DPO{.loss_type = type, .label_smoothing = 0.1}(in);
    CHECK(out.value == 0.0);
    CHECK(out.metrics.rewards_accuracies == 0.0);
    CHECK(out.per_pair.size() == 0);
  }
}

TEST_CASE("Token log-probs reduce to sequences and chain back (vector 5, NaN padding)",
          "[preference][dpo]") {
  const double nan = polo_test::kNaN;
  const auto chosen = polo_test::tokens({{-1, -2, -0.5, nan}});
  const auto rejected = polo_test::tokens({{-3, -1, nan, nan}});
  const auto ref_chosen = polo_test::tokens({{-2, -1, -1, nan}});       // sums to -4
  const auto ref_rejected = polo_test::tokens({{-2.5, -2, nan, nan}});  // -4.5
  const auto mask_w = polo_test::tokens({{1, 1, 1, 0}});
  const auto mask_l = polo_test::tokens({{1, 1, 0, 0}});
  const polo::TokenPreferenceInputs<double> tok{chosen,       rejected, ref_chosen,
                                                ref_rejected, mask_w,   mask_l};
  const auto seq = polo::reduce_preferences(tok);
  CHECK(seq.chosen_logp[0] == -3.5);
  CHECK(seq.rejected_logp[0] == -4.0);
  CHECK(seq.ref_chosen_logp[0] == -4.0);
  CHECK(seq.chosen_length[0] == 3.0);
  CHECK(seq.rejected_length[0] == 2.0);
  const auto out = DPO{}(seq.inputs());
  CHECK(out.value == Approx(std::numbers::ln2).epsilon(kTol));
  const auto grads =
      polo::preference_token_grads(tok, polo::SeqView<const double>(out.grad_chosen_logp),
                                   polo::SeqView<const double>(out.grad_rejected_logp));
  polo_test::check_tokens(grads.chosen_logp, polo_test::tokens({{-0.05, -0.05, -0.05, 0}}), 1e-12);
  polo_test::check_tokens(grads.rejected_logp, polo_test::tokens({{0.05, 0.05, 0, 0}}), 1e-12);
  // without a reference the sequences carry none
  const auto free = polo::reduce_preferences(
      polo::TokenPreferenceInputs<double>{chosen, rejected, {}, {}, mask_w, mask_l});
  CHECK(free.inputs().ref_chosen_logp.is_null());
}

TEST_CASE("Token-level gradients through the helper match finite differences",
          "[preference][dpo]") {
  polo::Rng gen(21);
  polo::TokenArrayd chosen = polo_test::random_tokens(gen, 3, 5, -3.0, -0.1);
  polo::TokenArrayd rejected = polo_test::random_tokens(gen, 3, 4, -3.0, -0.1);
  const polo::TokenArrayd ref_chosen = polo_test::random_tokens(gen, 3, 5, -3.0, -0.1);
  const polo::TokenArrayd ref_rejected = polo_test::random_tokens(gen, 3, 4, -3.0, -0.1);
  const auto mask_w = polo_test::tokens({{1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}, {1, 0, 0, 0, 0}});
  const auto mask_l = polo_test::tokens({{1, 1, 0, 0}, {1, 1, 1, 1}, {1, 1, 1, 0}});
  for (Index i = 0; i < 3; ++i) {  // padding holds NaN: selected out, never multiplied
    for (Index t = 0; t < 5; ++t) {
      if (mask_w(i, t) == 0.0) chosen(i, t) = polo_test::kNaN;
    }
    for (Index t = 0; t < 4; ++t) {
      if (mask_l(i, t) == 0.0) rejected(i, t) = polo_test::kNaN;
    }
  }
  const DPO loss{.beta = 0.5,
                 .loss_types = {{DpoLossType::sigmoid_norm, 1.0}, {DpoLossType::sft, 0.5}}};
  const auto value_of = [&](const polo::TokenArrayd& w, const polo::TokenArrayd& l) {
    const polo::TokenPreferenceInputs<double> tok{w, l, ref_chosen, ref_rejected, mask_w, mask_l};
    return loss(polo::reduce_preferences(tok).inputs());
  };
  const auto out = value_of(chosen, rejected);
  const polo::TokenPreferenceInputs<double> tok{chosen,       rejected, ref_chosen,
                                                ref_rejected, mask_w,   mask_l};
  const auto grads =
      polo::preference_token_grads(tok, polo::SeqView<const double>(out.grad_chosen_logp),
                                   polo::SeqView<const double>(out.grad_rejected_logp));
  CHECK(grads.chosen_logp(0, 4) == 0.0);
  POLO_CHECK_GRADIENT([&](const polo::TokenArrayd& w) { return value_of(w, rejected).value; },
                      chosen, grads.chosen_logp);
  POLO_CHECK_GRADIENT([&](const polo::TokenArrayd& l) { return value_of(chosen, l).value; },
                      rejected, grads.rejected_logp);
}

TEST_CASE("DPO refuses bad hyper-parameters with messages", "[preference][dpo]") {
  const auto in = base();
  const auto msg = [&](const DPO& loss) {
    return polo_test::message_of<polo::invalid_argument>([&] { (void)loss(in.inputs()); });
  };
  CHECK_THAT(msg(DPO{.beta = 0.0}), Contains("polo::DPO: beta must be finite and > 0, got 0"));
  CHECK_THAT(msg(DPO{.beta = polo_test::kNaN}), Contains("beta must be finite and > 0"));
  CHECK_THAT(msg(DPO{.label_smoothing = 1.5}),
             Contains("label_smoothing must be in [0, 1], got 1.5"));
  CHECK_THAT(msg(DPO{.loss_type = DpoLossType::exo_pair}),
             Contains("label_smoothing must be in (0, 1) for loss_type exo_pair, got 0"));
  CHECK_THAT(msg(DPO{.loss_type = DpoLossType::robust, .label_smoothing = 0.5}),
             Contains("label_smoothing (robust) must be in [0, 0.5), got 0.5"));
  CHECK_THAT(msg(DPO{.f_alpha_divergence_coef = 1.0}),
             Contains("f_alpha_divergence_coef must be finite and != 1, got 1"));
  CHECK_THAT(msg(DPO{.discopop_tau = 0.0}), Contains("discopop_tau must be > 0, got 0"));
  CHECK_THAT(msg(DPO{.loss_types = {{DpoLossType::sigmoid, polo_test::kInf}}}),
             Contains("loss_types weight must be finite, got inf"));
}

TEST_CASE("DPO refuses bad inputs with messages", "[preference][dpo]") {
  const Batch<> b = base();
  const auto msg = [](const DPO& loss, const PreferenceInputs<double>& in) {
    return polo_test::message_of<polo::invalid_argument>([&] { (void)loss(in); });
  };
  const SeqArrayd two = SeqArrayd::Constant(2, -1.0);
  CHECK_THAT(msg(DPO{}, {b.cw, two, b.rw, b.rl}),
             Contains("polo::DPO: rejected_logp size must be [1], got [2]"));
  CHECK_THAT(msg(DPO{}, {b.cw, b.cl, {}, b.rl}),
             Contains("ref_chosen_logp must be given (the loss needs the reference), got none"));
  CHECK_THAT(msg(DPO{}, {b.cw, b.cl, b.rw, two}),
             Contains("ref_rejected_logp size must be [1], got [2]"));
  CHECK_THAT(msg(of(DpoLossType::sigmoid_norm), {b.cw, b.cl, b.rw, b.rl}),
             Contains("chosen_length must be given (loss_type sigmoid_norm averages per token)"));
  CHECK_THAT(msg(DPO{.loss_type = DpoLossType::ipo, .ipo_length_normalized = true},
                 {b.cw, b.cl, b.rw, b.rl, b.nw}),
             Contains("rejected_length must be given (ipo with ipo_length_normalized"));
  CHECK_THAT(msg(of(DpoLossType::sft), {b.cw, b.cl, b.rw, b.rl}),
             Contains("chosen_length must be given (loss_type sft is a token mean"));
  CHECK_THAT(msg(of(DpoLossType::sigmoid), {b.cw, b.cl, b.rw, b.rl, two}),
             Contains("chosen_length size must be [1], got [2]"));
  const SeqArrayd one = SeqArrayd::Constant(1, 1.0);
  CHECK_THAT(msg(of(DpoLossType::aot), {b.cw, b.cl, b.rw, b.rl, {}, {}, one}),
             Contains("weights must be absent with loss_type aot or aot_unpaired"));
  CHECK_THAT(msg(of(DpoLossType::sigmoid), {b.cw, b.cl, b.rw, b.rl, {}, {}, two}),
             Contains("weights size must be [1], got [2]"));
  // outputs of the zero-allocation call
  SeqArrayd small(0);
  SeqArrayd gr(1);
  CHECK_THAT(polo_test::message_of<polo::invalid_argument>([&] {
               (void)DPO{}.compute(b.inputs(), polo::SeqView<double>(small),
                                   polo::SeqView<double>(gr));
             }),
             Contains("grad_chosen_logp size must be [1], got [0]"));
  // non-finite inputs name the field and the row
  for (const char* field :
       {"chosen_logp", "rejected_logp", "ref_chosen_logp", "ref_rejected_logp", "weights"}) {
    Batch<> bad = pairs({-40, -41}, {-55, -50}, {-42, -40}, {-50, -49});
    bad.weights = SeqArrayd::Ones(2);
    const std::string f = field;
    SeqArrayd& target = f == "chosen_logp"       ? bad.cw
                        : f == "rejected_logp"   ? bad.cl
                        : f == "ref_chosen_logp" ? bad.rw
                        : f == "weights"         ? bad.weights
                                                 : bad.rl;
    target[1] = polo_test::kNaN;
    try {
      (void)DPO{}(bad.inputs());
      FAIL("no exception for a NaN in " << field);
    } catch (const polo::nonfinite_error& e) {
      CHECK(e.field() == field);
      CHECK(e.row() == 1);
      CHECK_THAT(e.what(), Contains("polo::DPO"));
    }
  }
  // an infinite log-prob that saturates the loss is still refused
  try {
    (void)DPO{}(pairs({polo_test::kInf}, {-55}, {-42}, {-50}).inputs());
    FAIL("no exception for an infinite chosen_logp");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "chosen_logp");
  }
  // finite inputs whose score overflows
  CHECK_THAT(msg(DPO{.f_divergence_type = FDivergence::forward_kl},
                 pairs({-40}, {-5000}, {-42}, {-50}).inputs()),
             Contains("the loss must be finite for finite inputs"));
}

TEST_CASE("Token helper refuses inconsistent shapes", "[preference][dpo]") {
  const auto w = polo_test::tokens({{-1, -2}, {-1, -1}});
  const auto l = polo_test::tokens({{-1, -2, -3}});
  const auto l2 = polo_test::tokens({{-1, -2, -3}, {-1, -1, -1}});
  const auto mask3 = polo_test::tokens({{1, 1, 1}, {1, 1, 1}});
  const auto msg = [](const polo::TokenPreferenceInputs<double>& in) {
    return polo_test::message_of<polo::invalid_argument>(
        [&] { (void)polo::reduce_preferences(in); });
  };
  CHECK_THAT(msg({w, l}), Contains("polo::reduce_preferences: rejected_logp rows must be 2 (the "
                                   "rows of chosen_logp), got 1"));
  CHECK_THAT(msg({w, l2, w}), Contains("ref_chosen_logp and ref_rejected_logp must be both given "
                                       "or both absent, got only ref_chosen_logp"));
  CHECK_THAT(msg({w, l2, w, w}), Contains("ref_rejected_logp shape must be [2, 3], got [2, 2]"));
  CHECK_THAT(msg({w, l2, {}, {}, mask3}), Contains("mask shape must be [2, 2], got [2, 3]"));
}

TEST_CASE("DPO docs usage runs", "[preference][dpo]") {
  // The usage snippet of docs/algorithms/dpo.md, with checks of what it computes.
  // Two pairs as [B, T] token log-probs under the policy and the reference (any model).
  polo::TokenArrayd chosen(2, 3), rejected(2, 3), ref_chosen(2, 3), ref_rejected(2, 3);
  chosen << -0.5, -1.0, -0.2, -0.9, -0.3, 0.0;
  rejected << -1.5, -0.7, -2.0, -0.4, -1.1, -0.6;
  ref_chosen << -0.6, -1.1, -0.4, -1.0, -0.2, 0.0;
  ref_rejected << -1.2, -0.8, -1.5, -0.5, -1.0, -0.6;
  polo::MaskArray chosen_mask = polo::MaskArray::Ones(2, 3);
  polo::MaskArray rejected_mask = polo::MaskArray::Ones(2, 3);
  chosen_mask(1, 2) = 0;  // padding: never read
  const polo::TokenPreferenceInputs<double> tokens{chosen,       rejected,    ref_chosen,
                                                   ref_rejected, chosen_mask, rejected_mask};
  const auto seq = polo::reduce_preferences(tokens);  // summed log-probs and lengths, [B]

  const polo::DPO dpo{.beta = 0.1};  // loss_type sigmoid
  const auto out = dpo(seq.inputs());
  // out.value, out.grad_chosen_logp / out.grad_rejected_logp [B], out.per_pair,
  // out.metrics.rewards_accuracies ... as TRL logs them. Back to the tokens for the model:
  const auto grads = polo::preference_token_grads(tokens, out);  // [B, T] each, 0 on padding

  // MPO: several loss types with weights (TRL loss_type=[...], loss_weights=[...]).
  const polo::DPO mpo{.loss_types = {{polo::DpoLossType::sigmoid, 0.8},
                                     {polo::DpoLossType::bco_pair, 0.2},
                                     {polo::DpoLossType::sft, 1.0}}};
  const double mpo_loss = mpo(seq.inputs()).value;

  // No reference model: SimPO on the same sums and lengths.
  const auto simpo = polo::SimPO{.beta = 2.5, .gamma_beta_ratio = 0.55}(seq.inputs());
  CHECK(seq.chosen_length[1] == 2.0);
  CHECK(out.value == Approx(out.per_pair.mean()).epsilon(1e-15));
  CHECK(grads.chosen_logp(1, 2) == 0.0);
  CHECK(grads.chosen_logp(0, 1) == out.grad_chosen_logp[0]);
  CHECK(std::isfinite(mpo_loss));
  CHECK(simpo.metrics.rewards_chosen == Approx(2.5 * (-1.7 / 3 - 1.2 / 2) / 2));
}

TEST_CASE("DPO invariances: pair order, padding width", "[preference][dpo]") {
  polo::Rng gen(31);
  const Batch<> b = random_batch(gen, 5);
  const std::vector<Index> perm = {3, 0, 4, 1, 2};
  Batch<> shuffled = b;
  for (std::size_t k = 0; k < perm.size(); ++k) {
    const auto i = static_cast<Index>(k);
    shuffled.cw[i] = b.cw[perm[k]];
    shuffled.cl[i] = b.cl[perm[k]];
    shuffled.rw[i] = b.rw[perm[k]];
    shuffled.rl[i] = b.rl[perm[k]];
    shuffled.nw[i] = b.nw[perm[k]];
    shuffled.nl[i] = b.nl[perm[k]];
    shuffled.weights[i] = b.weights[perm[k]];
  }
  for (const DpoLossType type : kAllTypes) {
    INFO("type " << static_cast<int>(type));
    Batch<> x = b;
    Batch<> y = shuffled;
    if (type == DpoLossType::aot || type == DpoLossType::aot_unpaired) {
      x.weights.resize(0);
      y.weights.resize(0);
    }
    const DPO loss{.loss_type = type, .label_smoothing = 0.1};
    const auto a = loss(x.inputs());
    const auto c = loss(y.inputs());
    CHECK(c.value == Approx(a.value).epsilon(1e-13));
    for (std::size_t k = 0; k < perm.size(); ++k) {
      const auto i = static_cast<Index>(k);
      CHECK(c.grad_chosen_logp[i] == Approx(a.grad_chosen_logp[perm[k]]).epsilon(1e-13));
      CHECK(c.grad_rejected_logp[i] == Approx(a.grad_rejected_logp[perm[k]]).epsilon(1e-13));
    }
  }
  // extra padding columns (holding NaN) change nothing
  const double nan = polo_test::kNaN;
  const auto w = polo_test::tokens({{-1, -2, -0.5}, {-0.3, -0.2, -0.1}});
  const auto l = polo_test::tokens({{-3, -1}, {-2, -2}});
  const auto mw = polo_test::tokens({{1, 1, 1}, {1, 0, 0}});
  const auto ml = polo_test::tokens({{1, 1}, {1, 1}});
  const auto w_wide = polo_test::tokens({{-1, -2, -0.5, nan, nan}, {-0.3, nan, nan, nan, nan}});
  const auto mw_wide = polo_test::tokens({{1, 1, 1, 0, 0}, {1, 0, 0, 0, 0}});
  const polo::TokenPreferenceInputs<double> narrow{w, l, {}, {}, mw, ml};
  const polo::TokenPreferenceInputs<double> wide{w_wide, l, {}, {}, mw_wide, ml};
  const DPO free_norm{.beta = 2.0, .loss_type = DpoLossType::sigmoid_norm, .reference_free = true};
  const auto a = free_norm(polo::reduce_preferences(narrow).inputs());
  const auto c = free_norm(polo::reduce_preferences(wide).inputs());
  CHECK(c.value == a.value);
  CHECK(c.grad_chosen_logp[1] == a.grad_chosen_logp[1]);
  const auto grads = polo::preference_token_grads(wide, c);
  CHECK(grads.chosen_logp(1, 4) == 0.0);
  CHECK(grads.chosen_logp(0, 2) == c.grad_chosen_logp[0]);
}

}  // namespace dpo_test

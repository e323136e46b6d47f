// INPO: vectors 14 and 15 of preference.md §9, finite differences, the special cases (tau = eta
// is IPO against the reference, tau = 0 needs no reference), the expected loss over pairs from
// pi_t minimized by the closed-form OMD step of §4(g), weights, float inputs and every error path.

#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "polo/preference/inpo.hpp"
#include "polo/preference/nash.hpp"
#include "test_support.hpp"

namespace inpo_test {

using polo::INPO;
using polo::INPOInputs;
using polo::SeqArrayd;
using polo_test::Contains;
using polo_test::message_of;

using polo_test::seq;

struct Batch {
  SeqArrayd cw, cl, rw, rl, pw, pl, w;
  [[nodiscard]] INPOInputs<double> inputs() const { return {cw, cl, rw, rl, pw, pl, {}}; }
  [[nodiscard]] INPOInputs<double> weighted() const { return {cw, cl, rw, rl, pw, pl, w}; }
};

Batch vector14() {
  return {seq({-140}), seq({-260}), seq({-150}), seq({-240}), seq({-145}), seq({-250}), {}};
}

Batch vector15() {
  return {seq({-40}), seq({-55}), seq({-42}), seq({-50}), seq({-41}), seq({-53}), {}};
}

Batch random_batch(polo::Rng& gen, polo::Index b) {
  Batch x;
  x.cw = polo_test::random_seq(gen, b, -60, -10);
  x.cl = polo_test::random_seq(gen, b, -60, -10);
  x.rw = polo_test::random_seq(gen, b, -60, -10);
  x.rl = polo_test::random_seq(gen, b, -60, -10);
  x.pw = polo_test::random_seq(gen, b, -60, -10);
  x.pl = polo_test::random_seq(gen, b, -60, -10);
  x.w = polo_test::random_seq(gen, b, 0, 2);
  return x;
}

TEST_CASE("INPO reproduces vector 14 (paper settings eta 0.005, tau eta/3)", "[preference][inpo]") {
  const auto v = vector14();
  const auto out = INPO{}(v.inputs());
  CHECK(out.value == Approx(6400.0).epsilon(1e-12));
  CHECK(out.grad_chosen_logp[0] == Approx(-160.0).epsilon(1e-12));
  CHECK(out.grad_rejected_logp[0] == Approx(160.0).epsilon(1e-12));
  CHECK(out.per_pair[0] == Approx(6400.0).epsilon(1e-12));
  CHECK(out.metrics.pair_function == Approx(20.0).epsilon(1e-12));
  CHECK(out.metrics.target == Approx(100.0));
  CHECK(out.metrics.accuracy == 1.0);
  CHECK(out.metrics.chosen_log_ratio == Approx(5.0));
  CHECK(out.metrics.rejected_log_ratio == Approx(-10.0));
}

TEST_CASE("INPO reproduces vector 15 (eta 0.1, tau eta/3)", "[preference][inpo]") {
  const auto v = vector15();
  const auto out = INPO{.eta = 0.1, .tau = 0.1 / 3}(v.inputs());
  CHECK(out.value == Approx(4.0 / 9).epsilon(1e-12));  // 0.444444
  CHECK(out.grad_chosen_logp[0] == Approx(-4.0 / 3).epsilon(1e-12));
  CHECK(out.grad_rejected_logp[0] == Approx(4.0 / 3).epsilon(1e-12));
  CHECK(out.metrics.pair_function == Approx(13.0 / 3).epsilon(1e-12));
}

TEST_CASE("INPO gradients match finite differences", "[preference][inpo]") {
  polo::Rng gen(5);
  for (const double ratio : {0.0, 1.0 / 3, 1.0}) {
    const INPO loss{.eta = 0.2, .tau = 0.2 * ratio};
    const auto b = random_batch(gen, 6);
    const polo::Index n = b.cw.size();
    Eigen::VectorXd x(2 * n);
    x << b.cw, b.cl;
    auto f = [&](const Eigen::VectorXd& v) {
      const SeqArrayd cw = v.head(n), cl = v.tail(n);
      return loss({cw, cl, b.rw, b.rl, b.pw, b.pl, b.w}).value;
    };
    const auto out = loss(b.weighted());
    Eigen::VectorXd g(2 * n);
    g << out.grad_chosen_logp, out.grad_rejected_logp;
    INFO("tau / eta = " << ratio);
    POLO_CHECK_GRADIENT(f, x, g);
    // the compute call writes the same gradients
    SeqArrayd gc(n), gr(n);
    const auto v = loss.compute(b.weighted(), polo::SeqView<double>(gc), polo::SeqView<double>(gr));
    CHECK(v.value == out.value);
    CHECK((gc == out.grad_chosen_logp).all());
    CHECK((gr == out.grad_rejected_logp).all());
  }
}

TEST_CASE("INPO with tau = eta is IPO against the reference, with tau = 0 online IPO",
          "[preference][inpo]") {
  polo::Rng gen(6);
  const auto b = random_batch(gen, 5);
  const double eta = 0.1;
  const auto ipo = INPO{.eta = eta, .tau = eta}(b.inputs());
  const auto online = INPO{.eta = eta, .tau = 0.0}(b.inputs());
  double ipo_value = 0.0;
  double online_value = 0.0;
  for (polo::Index i = 0; i < 5; ++i) {
    const double ref = (b.cw[i] - b.rw[i]) - (b.cl[i] - b.rl[i]) - 1.0 / (2 * eta);
    const double prev = (b.cw[i] - b.pw[i]) - (b.cl[i] - b.pl[i]) - 1.0 / (2 * eta);
    ipo_value += ref * ref / 5;
    online_value += prev * prev / 5;
  }
  CHECK(ipo.value == Approx(ipo_value).epsilon(1e-12));
  CHECK(online.value == Approx(online_value).epsilon(1e-12));
  // tau = 0 never reads the reference: it may be absent
  const auto no_ref = INPO{.eta = eta, .tau = 0.0}({b.cw, b.cl, {}, {}, b.pw, b.pl, {}});
  CHECK(no_ref.value == online.value);
}

TEST_CASE("INPO weights scale each pair and the batch mean divides by B", "[preference][inpo]") {
  polo::Rng gen(7);
  auto b = random_batch(gen, 4);
  b.w = seq({1.0, 0.0, 2.0, 0.5});
  const INPO loss{.eta = 0.1, .tau = 0.05};
  const auto plain = loss(b.inputs());
  const auto weighted = loss(b.weighted());
  CHECK(weighted.value == Approx((plain.per_pair * b.w).sum() / 4));
  CHECK(weighted.grad_chosen_logp[1] == 0.0);
  CHECK(weighted.grad_chosen_logp[2] == Approx(2.0 * plain.grad_chosen_logp[2]));
  CHECK(plain.value == Approx(plain.per_pair.mean()));
  const SeqArrayd none(0);
  const auto empty = loss({none, none, none, none, none, none, {}});
  CHECK(empty.value == 0.0);
  CHECK(empty.metrics.accuracy == 0.0);
}

TEST_CASE("INPO's expected loss over pairs from pi_t is minimized by the OMD step",
          "[preference][inpo]") {
  // preference.md §4(g): cyclic P, pi_ref = pi_1 = [0.6, 0.3, 0.1], tau = 0.1, eta = 0.3.
  Eigen::MatrixXd p(3, 3);
  p << 0.5, 0.9, 0.1, 0.1, 0.5, 0.9, 0.9, 0.1, 0.5;
  const Eigen::VectorXd ref = (Eigen::VectorXd(3) << 0.6, 0.3, 0.1).finished();
  const double eta = 0.3;
  const double tau = 0.1;
  const Eigen::VectorXd prev = ref;
  // pi_2 ∝ exp(P(y > pi_1)/eta) ref^(tau/eta) pi_1^(1 - tau/eta)
  const Eigen::ArrayXd w = polo::win_rates(p, prev).array();
  Eigen::ArrayXd next =
      (w / eta + tau / eta * ref.array().log() + (1 - tau / eta) * prev.array().log()).exp();
  next /= next.sum();
  CHECK(next[0] == Approx(0.72095).epsilon(1e-5));
  CHECK(next[1] == Approx(0.141753).epsilon(1e-5));
  CHECK(next[2] == Approx(0.137297).epsilon(1e-5));

  // Every ordered pair (y, y'), y != y', as (winner y, loser y') with its probability under pi_t
  // and the labels: the batch is the expectation of Eq. 8.
  std::vector<int> win, lose;
  std::vector<double> weight;
  for (int y = 0; y < 3; ++y) {
    for (int z = 0; z < 3; ++z) {
      if (y == z) continue;
      win.push_back(y);
      lose.push_back(z);
      weight.push_back(prev[y] * prev[z] * p(y, z));
    }
  }
  const auto n = static_cast<polo::Index>(win.size());
  auto tabular_grad = [&](const Eigen::ArrayXd& pi) {
    SeqArrayd cw(n), cl(n), rw(n), rl(n), pw(n), pl(n), wt(n);
    for (polo::Index i = 0; i < n; ++i) {
      cw[i] = std::log(pi[win[i]]);
      cl[i] = std::log(pi[lose[i]]);
      rw[i] = std::log(ref[win[i]]);
      rl[i] = std::log(ref[lose[i]]);
      pw[i] = std::log(prev[win[i]]);
      pl[i] = std::log(prev[lose[i]]);
      wt[i] = weight[static_cast<std::size_t>(i)];
    }
    const auto out = INPO{.eta = eta, .tau = tau}({cw, cl, rw, rl, pw, pl, wt});
    // d log pi(y) / d logit_k = 1[y = k] - pi_k; the pi_k terms cancel because gc = -gr.
    Eigen::Vector3d g = Eigen::Vector3d::Zero();
    for (polo::Index i = 0; i < n; ++i) {
      g[win[i]] += out.grad_chosen_logp[i];
      g[lose[i]] += out.grad_rejected_logp[i];
    }
    return g;
  };
  CHECK(tabular_grad(next).norm() < 1e-12);
  CHECK(tabular_grad(prev.array()).norm() > 0.05);
}

TEST_CASE("INPO is 0 with a zero gradient on its target and finite at margins of 1e4",
          "[preference][inpo]") {
  // h = 1/(2 eta) exactly: chosen log-ratio 5 above the rejected one, eta = 0.1, tau = 0.
  const SeqArrayd cw = seq({-10}), cl = seq({-15}), zero = seq({0.0});
  const auto at = INPO{.eta = 0.1, .tau = 0.0}({cw, cl, {}, {}, zero, zero, {}});
  CHECK(at.value == 0.0);
  CHECK(at.grad_chosen_logp[0] == 0.0);
  const SeqArrayd far_w = seq({1e4}), far_l = seq({-1e4});
  const auto far = INPO{.eta = 0.1, .tau = 0.05}({far_w, far_l, zero, zero, zero, zero, {}});
  CHECK(far.value == Approx((2e4 - 5) * (2e4 - 5)));
  CHECK(far.grad_chosen_logp[0] == Approx(2 * (2e4 - 5)));
  const polo::SeqArrayf fw = far_w.cast<float>(), fl = far_l.cast<float>(), fz = zero.cast<float>();
  const auto farf = INPO{.eta = 0.1, .tau = 0.05}({fl, fw, fz, fz, fz, fz, {}});
  CHECK(farf.value == Approx((2e4 + 5) * (2e4 + 5)));
  CHECK(std::isfinite(farf.grad_rejected_logp[0]));
}

TEST_CASE("INPO takes float inputs and accumulates in double", "[preference][inpo]") {
  const auto v = vector15();
  const polo::SeqArrayf cw = v.cw.cast<float>(), cl = v.cl.cast<float>(), rw = v.rw.cast<float>(),
                        rl = v.rl.cast<float>(), pw = v.pw.cast<float>(), pl = v.pl.cast<float>();
  const auto out = INPO{.eta = 0.1, .tau = 0.1 / 3}({cw, cl, rw, rl, pw, pl, {}});
  CHECK(out.value == Approx(0.444444).epsilon(1e-5));
  CHECK(out.grad_chosen_logp[0] == Approx(-1.33333f).epsilon(1e-5));
}

TEST_CASE("INPO refuses bad hyper-parameters and inputs", "[preference][inpo]") {
  using E = polo::invalid_argument;
  const auto v = vector15();
  CHECK_THAT(message_of<E>([&] { INPO{.eta = 0.0}(v.inputs()); }),
             Contains("polo::INPO: eta must be > 0, got 0"));
  CHECK_THAT(message_of<E>([&] { INPO{.eta = 0.1, .tau = 0.2}(v.inputs()); }),
             Contains("polo::INPO: tau must be in [0, eta = 0.1], got 0.2"));
  CHECK_THAT(message_of<E>([&] { INPO{.eta = 0.1, .tau = -0.01}(v.inputs()); }),
             Contains("tau must be in [0, eta = 0.1], got -0.01"));
  const SeqArrayd two = seq({-1, -2});
  CHECK_THAT(message_of<E>([&] {
               INPO{}({v.cw, two, v.rw, v.rl, v.pw, v.pl, {}});
             }),
             Contains("polo::INPO: rejected_logp size must be [1], got [2]"));
  CHECK_THAT(message_of<E>([&] {
               INPO{}({v.cw, v.cl, {}, {}, v.pw, v.pl, {}});
             }),
             Contains("polo::INPO: ref_chosen_logp must be given (tau > 0), got none"));
  CHECK_THAT(message_of<E>([&] {
               INPO{}({v.cw, v.cl, v.rw, v.rl, v.pw, two, {}});
             }),
             Contains("prev_rejected_logp size must be [1], got [2]"));
  CHECK_THAT(message_of<E>([&] {
               INPO{}({v.cw, v.cl, v.rw, v.rl, v.pw, v.pl, two});
             }),
             Contains("weights size must be [1], got [2]"));
  const SeqArrayd neg = seq({-1});
  CHECK_THAT(message_of<E>([&] {
               INPO{}({v.cw, v.cl, v.rw, v.rl, v.pw, v.pl, neg});
             }),
             Contains("weights[0] must be >= 0, got -1"));
  const SeqArrayd nan = seq({polo_test::kNaN});
  const auto err = message_of<polo::nonfinite_error>([&] {
    INPO{}({v.cw, v.cl, v.rw, v.rl, nan, v.pl, {}});
  });
  CHECK_THAT(err, Contains("polo::INPO: prev_chosen_logp must be finite at every valid position, "
                           "got nan at row 0"));
  const SeqArrayd huge = seq({1e300});
  CHECK_THAT(message_of<E>([&] {
               INPO{}({huge, v.cl, v.rw, v.rl, v.pw, v.pl, {}});
             }),
             Contains("polo::INPO: the loss must be finite for finite inputs"));
  SeqArrayd out(2);
  CHECK_THAT(message_of<E>([&] {
               INPO{}.compute(v.inputs(), polo::SeqView<double>(out), polo::SeqView<double>(out));
             }),
             Contains("grad_chosen_logp size must be [1], got [2]"));
}

}  // namespace inpo_test

// SRPO: vector 13 of preference.md §9, finite differences over all six policy inputs, the special
// cases (alpha = 1 is the self-improvement term alone, alpha = 0 the generative one), the
// expected loss minimized by the game's closed forms whatever the behaviour policy (§2(g)),
// float inputs and every error path.

#include <array>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "polo/core/numerics.hpp"
#include "polo/preference/srpo.hpp"
#include "test_support.hpp"

namespace srpo_test {

using polo::SeqArrayd;
using polo::SRPO;
using polo::SRPOInputs;
using polo_test::Contains;
using polo_test::message_of;

using polo_test::seq;

/// Six policy and six reference arrays, in the order of SRPOInputs.
struct Batch {
  std::array<SeqArrayd, 6> policy;
  std::array<SeqArrayd, 6> ref;
  SeqArrayd weights;
  [[nodiscard]] SRPOInputs<double> inputs(bool weighted = false) const {
    const auto w = weighted ? polo::SeqView<const double>(weights) : polo::SeqView<const double>();
    return {policy[0], policy[1], policy[2], policy[3], policy[4], policy[5], ref[0],
            ref[1],    ref[2],    ref[3],    ref[4],    ref[5],    w};
  }
};

Batch vector13() {
  Batch b;
  const double p[] = {-40, -55, -45, -47, -35, -52};
  const double r[] = {-42, -50, -44, -46, -36, -50};
  for (int k = 0; k < 6; ++k) {
    b.policy[static_cast<std::size_t>(k)] = seq({p[k]});
    b.ref[static_cast<std::size_t>(k)] = seq({r[k]});
  }
  return b;
}

std::array<double, 6> grads_of(const polo::SRPOResult<double>& out, polo::Index i) {
  return {out.grad_chosen_logp[i],
          out.grad_rejected_logp[i],
          out.grad_chosen_given_rejected_logp[i],
          out.grad_rejected_given_rejected_logp[i],
          out.grad_chosen_given_chosen_logp[i],
          out.grad_rejected_given_chosen_logp[i]};
}

TEST_CASE("SRPO reproduces vector 13 (alpha 0.8, beta 0.1)", "[preference][srpo]") {
  const auto out = SRPO{}(vector13().inputs());
  CHECK(out.value == Approx(0.24).epsilon(1e-12));
  const auto g = grads_of(out, 0);
  const double expected[] = {-0.008, 0.008, -0.088, 0.080, -0.032, 0.040};
  for (int k = 0; k < 6; ++k) {
    INFO("input " << k);
    CHECK(g[static_cast<std::size_t>(k)] == Approx(expected[k]).epsilon(1e-12));
  }
  CHECK(out.metrics.self_loss == Approx(0.29));
  CHECK(out.metrics.generative_loss == Approx(0.04));
  CHECK(out.metrics.improve_rejected_margin == Approx(0.0).margin(1e-15));  // e1 = 0.5
  CHECK(out.metrics.keep_chosen_margin == Approx(0.3));                     // e2 = 0.2
  CHECK(out.metrics.robust_margin == Approx(0.8));                          // e3 = -0.2
  CHECK(out.per_pair[0] == Approx(0.24));
}

TEST_CASE("SRPO with alpha 1 or 0 keeps one of its two terms", "[preference][srpo]") {
  const auto b = vector13();
  const auto self = SRPO{.beta = 0.1, .alpha = 1.0}(b.inputs());
  CHECK(self.value == Approx(0.29));
  CHECK(self.grad_chosen_logp[0] == 0.0);  // the generative policy gets nothing
  CHECK(self.grad_rejected_logp[0] == 0.0);
  const auto gen = SRPO{.beta = 0.1, .alpha = 0.0}(b.inputs());
  CHECK(gen.value == Approx(0.04));
  CHECK(gen.grad_rejected_given_rejected_logp[0] == 0.0);  // only the cross contexts move
  CHECK(gen.grad_chosen_given_chosen_logp[0] == 0.0);
  CHECK(gen.grad_chosen_given_rejected_logp[0] == Approx(-0.04));
}

TEST_CASE("SRPO gradients match finite differences", "[preference][srpo]") {
  polo::Rng gen(31);
  const polo::Index n = 5;
  Batch b;
  for (auto& a : b.policy)
    a = polo_test::random_seq(gen, n, -60, -20);
  for (auto& a : b.ref)
    a = polo_test::random_seq(gen, n, -60, -20);
  b.weights = polo_test::random_seq(gen, n, 0, 2);
  const SRPO loss{.beta = 0.05, .alpha = 0.7};
  Eigen::VectorXd x(6 * n);
  for (int k = 0; k < 6; ++k)
    x.segment(k * n, n) = b.policy[static_cast<std::size_t>(k)].matrix();
  auto f = [&](const Eigen::VectorXd& v) {
    Batch c = b;
    for (int k = 0; k < 6; ++k)
      c.policy[static_cast<std::size_t>(k)] = v.segment(k * n, n).array();
    return loss(c.inputs(true)).value;
  };
  const auto out = loss(b.inputs(true));
  Eigen::VectorXd g(6 * n);
  g << out.grad_chosen_logp, out.grad_rejected_logp, out.grad_chosen_given_rejected_logp,
      out.grad_rejected_given_rejected_logp, out.grad_chosen_given_chosen_logp,
      out.grad_rejected_given_chosen_logp;
  POLO_CHECK_GRADIENT(f, x, g);
  CHECK(out.value == Approx((out.per_pair * b.weights).mean()));
  // the compute call writes the same gradients
  std::array<SeqArrayd, 6> gs;
  for (auto& a : gs)
    a.resize(n);
  const polo::SRPOGrads<double> views{gs[0], gs[1], gs[2], gs[3], gs[4], gs[5]};
  const auto v = loss.compute(b.inputs(true), views);
  CHECK(v.value == out.value);
  CHECK((gs[2] == out.grad_chosen_given_rejected_logp).all());
}

TEST_CASE("SRPO's expected loss is minimized by the game's closed forms for any behaviour policy",
          "[preference][srpo]") {
  // preference.md §2(g): Bradley-Terry r = [1, 0, -1], pi_ref = [0.5, 0.3, 0.2] in every
  // context, beta = 0.5, alpha = 0.8.
  const double beta = 0.5;
  const Eigen::Vector3d ref(0.5, 0.3, 0.2);
  const Eigen::Vector3d r(1, 0, -1);
  auto pref = [&](int a, int b) { return polo::sigmoid(r[a] - r[b]); };
  // pi+(y' | y) ∝ pi_ref(y') exp(p(y' > y) / beta);  pi(y) ∝ pi_ref(y) / Z(y)
  Eigen::Matrix3d improve;
  Eigen::Vector3d pi;
  for (int y = 0; y < 3; ++y) {
    double z = 0.0;
    for (int v = 0; v < 3; ++v) {
      improve(y, v) = ref[v] * std::exp(pref(v, y) / beta);
      z += improve(y, v);
    }
    improve.row(y) /= z;
    pi[y] = ref[y] / z;
  }
  pi /= pi.sum();
  CHECK(pi[0] == Approx(0.639390).epsilon(1e-5));
  CHECK(pi[1] == Approx(0.246078).epsilon(1e-5));
  CHECK(pi[2] == Approx(0.114532).epsilon(1e-5));
  CHECK(improve(0, 0) == Approx(0.639085).epsilon(1e-5));
  CHECK(improve(1, 2) == Approx(0.103295).epsilon(1e-5));
  CHECK(improve(2, 1) == Approx(0.272587).epsilon(1e-5));

  // Tabular gradient (3 logits of pi, 3 x 3 logits of pi+) of the expected loss over pairs from
  // mu x mu with labels from p: each ordered pair (y1, y2), y1 != y2, as (y_w, y_l) with weight
  // mu(y1) mu(y2) p(y1 > y2).
  auto tabular_grad = [&](const Eigen::Vector3d& mu, const Eigen::Vector3d& pol,
                          const Eigen::Matrix3d& imp) {
    std::vector<int> w, l;
    std::vector<double> weight;
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) {
        if (a == b) continue;
        w.push_back(a);
        l.push_back(b);
        weight.push_back(mu[a] * mu[b] * pref(a, b));
      }
    }
    const auto n = static_cast<polo::Index>(w.size());
    Batch batch;
    for (auto& x : batch.policy)
      x.resize(n);
    for (auto& x : batch.ref)
      x.resize(n);
    batch.weights.resize(n);
    for (polo::Index i = 0; i < n; ++i) {
      const int yw = w[static_cast<std::size_t>(i)];
      const int yl = l[static_cast<std::size_t>(i)];
      const double v[6] = {pol[yw], pol[yl], imp(yl, yw), imp(yl, yl), imp(yw, yw), imp(yw, yl)};
      const double rv[6] = {ref[yw], ref[yl], ref[yw], ref[yl], ref[yw], ref[yl]};
      for (int k = 0; k < 6; ++k) {
        batch.policy[static_cast<std::size_t>(k)][i] = std::log(v[k]);
        batch.ref[static_cast<std::size_t>(k)][i] = std::log(rv[k]);
      }
      batch.weights[i] = weight[static_cast<std::size_t>(i)];
    }
    const auto out = SRPO{.beta = beta, .alpha = 0.8}(batch.inputs(true));
    Eigen::Vector3d g_pi = Eigen::Vector3d::Zero();
    Eigen::Matrix3d g_imp = Eigen::Matrix3d::Zero();
    auto add_pi = [&](int y, double g) {
      for (int k = 0; k < 3; ++k)
        g_pi[k] += g * ((y == k ? 1.0 : 0.0) - pol[k]);
    };
    auto add_imp = [&](int context, int y, double g) {
      for (int k = 0; k < 3; ++k)
        g_imp(context, k) += g * ((y == k ? 1.0 : 0.0) - imp(context, k));
    };
    for (polo::Index i = 0; i < n; ++i) {
      const int yw = w[static_cast<std::size_t>(i)];
      const int yl = l[static_cast<std::size_t>(i)];
      const auto g = grads_of(out, i);
      add_pi(yw, g[0]);
      add_pi(yl, g[1]);
      add_imp(yl, yw, g[2]);
      add_imp(yl, yl, g[3]);
      add_imp(yw, yw, g[4]);
      add_imp(yw, yl, g[5]);
    }
    return g_pi.norm() + g_imp.norm();
  };
  for (const Eigen::Vector3d& mu :
       {ref, Eigen::Vector3d(1.0 / 3, 1.0 / 3, 1.0 / 3), Eigen::Vector3d(0.1, 0.2, 0.7)}) {
    INFO("mu = " << mu.transpose());
    CHECK(tabular_grad(mu, pi, improve) < 1e-12);
    // the reference itself is not a minimizer
    Eigen::Matrix3d ref_rows;
    ref_rows << ref.transpose(), ref.transpose(), ref.transpose();
    CHECK(tabular_grad(mu, ref, ref_rows) > 1e-3);
  }
}

TEST_CASE("SRPO is finite at log-ratios of 1e4 in float and double", "[preference][srpo]") {
  Batch b = vector13();
  b.policy[2] = seq({1e4});  // pi+(y_w | y_l) far above the reference
  const auto out = SRPO{}(b.inputs());
  CHECK(std::isfinite(out.value));
  CHECK(out.value > 1e5);
  std::array<polo::SeqArrayf, 6> p, r;
  for (std::size_t k = 0; k < 6; ++k) {
    p[k] = b.policy[k].cast<float>();
    r[k] = b.ref[k].cast<float>();
  }
  const auto f =
      SRPO{}({p[0], p[1], p[2], p[3], p[4], p[5], r[0], r[1], r[2], r[3], r[4], r[5], {}});
  CHECK(f.value == Approx(out.value).epsilon(1e-6));
  CHECK(std::isfinite(f.grad_chosen_given_rejected_logp[0]));
}

TEST_CASE("SRPO takes float inputs", "[preference][srpo]") {
  const auto b = vector13();
  std::array<polo::SeqArrayf, 6> p, r;
  for (std::size_t k = 0; k < 6; ++k) {
    p[k] = b.policy[k].cast<float>();
    r[k] = b.ref[k].cast<float>();
  }
  const auto out =
      SRPO{}({p[0], p[1], p[2], p[3], p[4], p[5], r[0], r[1], r[2], r[3], r[4], r[5], {}});
  CHECK(out.value == Approx(0.24).epsilon(1e-6));
  CHECK(out.grad_chosen_given_rejected_logp[0] == Approx(-0.088f).epsilon(1e-5));
}

TEST_CASE("SRPO refuses bad hyper-parameters and inputs", "[preference][srpo]") {
  using E = polo::invalid_argument;
  const auto b = vector13();
  CHECK_THAT(message_of<E>([&] { SRPO{.beta = 0}(b.inputs()); }),
             Contains("polo::SRPO: beta must be > 0, got 0"));
  CHECK_THAT(message_of<E>([&] { SRPO{.beta = 0.1, .alpha = 1.5}(b.inputs()); }),
             Contains("polo::SRPO: alpha must be in [0, 1], got 1.5"));
  for (std::size_t k = 1; k < 6; ++k) {
    Batch c = b;
    c.policy[k] = seq({-1, -2});
    CHECK_THAT(message_of<E>([&] { SRPO{}(c.inputs()); }), Contains("size must be [1], got [2]"));
  }
  Batch c = b;
  c.ref[3] = SeqArrayd();
  CHECK_THAT(message_of<E>([&] { SRPO{}(c.inputs()); }),
             Contains("polo::SRPO: ref_rejected_given_rejected_logp size must be [1], got [0]"));
  c = b;
  c.weights = seq({-1});
  CHECK_THAT(message_of<E>([&] { SRPO{}(c.inputs(true)); }),
             Contains("weights[0] must be >= 0, got -1"));
  c = b;
  c.policy[4] = seq({polo_test::kInf});
  CHECK_THAT(message_of<polo::nonfinite_error>([&] { SRPO{}(c.inputs()); }),
             Contains("polo::SRPO: chosen_given_chosen_logp must be finite at every valid "
                      "position, got inf at row 0"));
}

}  // namespace srpo_test

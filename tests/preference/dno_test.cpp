// DNO: vector 16 of preference.md §9, finite differences, the special cases (win rates give the
// same loss as their sigmoid target; a hard target is DPO's sigmoid loss against pi_t), one
// regression step reproducing soft policy iteration (§3(g)), the DNO-Prct pair rule, float
// inputs and every error path.

#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "polo/core/groups.hpp"
#include "polo/preference/dno.hpp"
#include "polo/preference/nash.hpp"
#include "test_support.hpp"

namespace dno_test {

using polo::DNO;
using polo::DNOInputs;
using polo::SeqArrayd;
using polo_test::Contains;
using polo_test::message_of;

using polo_test::seq;

struct V16 {
  SeqArrayd c1 = seq({-40}), c2 = seq({-55}), p1 = seq({-42}), p2 = seq({-50});
  SeqArrayd r1 = seq({0.7}), r2 = seq({0.2});
  [[nodiscard]] DNOInputs<double> with_win_rates() const {
    return {c1, c2, p1, p2, {}, r1, r2, {}};
  }
};

TEST_CASE("DNO reproduces vector 16 (eta 0.1, win rates 0.7 and 0.2)", "[preference][dno]") {
  const V16 v;
  const auto out = DNO{}(v.with_win_rates());
  CHECK(out.value == Approx(0.667465).epsilon(1e-6));
  CHECK(out.grad_chosen_logp[0] == Approx(0.00457284).epsilon(1e-5));
  CHECK(out.grad_rejected_logp[0] == Approx(-0.00457284).epsilon(1e-5));
  CHECK(out.metrics.target == Approx(polo::sigmoid(0.5)));
  CHECK(out.metrics.predicted == Approx(polo::sigmoid(0.7)));
  CHECK(out.metrics.margin == Approx(0.7));
  CHECK(out.metrics.agreement == 1.0);
  // the same soft target given directly
  const SeqArrayd q = seq({polo::sigmoid(0.5)});
  const auto direct = DNO{}({v.c1, v.c2, v.p1, v.p2, q, {}, {}, {}});
  CHECK(direct.value == Approx(out.value).epsilon(1e-15));
  CHECK(direct.grad_chosen_logp[0] == Approx(out.grad_chosen_logp[0]).epsilon(1e-15));
}

TEST_CASE("DNO with a hard target is DPO's sigmoid loss against the previous iterate",
          "[preference][dno]") {
  // Vector 1 (base inputs, beta 0.1) with the reference played by pi_t.
  const V16 v;
  const SeqArrayd one = seq({1.0});
  const auto out = DNO{.eta = 0.1}({v.c1, v.c2, v.p1, v.p2, one, {}, {}, {}});
  CHECK(out.value == Approx(0.403186).epsilon(1e-6));
  CHECK(out.grad_chosen_logp[0] == Approx(-0.0331812).epsilon(1e-5));
  CHECK(out.grad_rejected_logp[0] == Approx(0.0331812).epsilon(1e-5));
  // DNO-Prct is polo::DPO against pi_t: the same value and gradients
  const auto prct = polo::dno_prct(0.1)({v.c1, v.c2, v.p1, v.p2, {}, {}, {}});
  CHECK(prct.value == Approx(out.value).epsilon(1e-14));
  CHECK(prct.grad_chosen_logp[0] == Approx(out.grad_chosen_logp[0]).epsilon(1e-14));
  CHECK(prct.grad_rejected_logp[0] == Approx(out.grad_rejected_logp[0]).epsilon(1e-14));
  // stable at margins of +-1e4: finite value and gradients
  const SeqArrayd far_w = seq({1e4}), far_l = seq({-1e4}), zero = seq({0.0});
  const auto far = DNO{.eta = 1.0}({far_l, far_w, zero, zero, one, {}, {}, {}});
  CHECK(far.value == Approx(2e4));
  CHECK(far.grad_chosen_logp[0] == Approx(-1.0));
  const polo::SeqArrayf fw = far_w.cast<float>(), fl = far_l.cast<float>(), fz = zero.cast<float>(),
                        fo = one.cast<float>();
  const auto farf = DNO{.eta = 1.0}({fl, fw, fz, fz, fo, {}, {}, {}});
  CHECK(farf.value == Approx(2e4));
  CHECK(std::isfinite(farf.grad_chosen_logp[0]));
}

TEST_CASE("DNO at a zero margin with an even target is log 2 with a zero gradient",
          "[preference][dno]") {
  const SeqArrayd c = seq({-12}), half = seq({0.5});
  const auto out = DNO{}({c, c, c, c, half, {}, {}, {}});
  CHECK(out.value == Approx(std::log(2.0)));
  CHECK(out.grad_chosen_logp[0] == 0.0);
  CHECK(out.metrics.agreement == 0.0);  // neither sign: not counted
  // swapping y1 and y2 with q -> 1 - q gives the same loss and swapped gradients
  const V16 v;
  const SeqArrayd q = seq({0.3}), q_swapped = seq({0.7});
  const auto a = DNO{}({v.c1, v.c2, v.p1, v.p2, q, {}, {}, {}});
  const auto b = DNO{}({v.c2, v.c1, v.p2, v.p1, q_swapped, {}, {}, {}});
  CHECK(a.value == Approx(b.value).epsilon(1e-14));
  CHECK(a.grad_chosen_logp[0] == Approx(b.grad_rejected_logp[0]).epsilon(1e-14));
}

TEST_CASE("DNO gradients match finite differences", "[preference][dno]") {
  polo::Rng gen(21);
  const polo::Index n = 7;
  const SeqArrayd p1 = polo_test::random_seq(gen, n, -60, -10);
  const SeqArrayd p2 = polo_test::random_seq(gen, n, -60, -10);
  const SeqArrayd q = polo_test::random_seq(gen, n, 0, 1);
  const SeqArrayd w = polo_test::random_seq(gen, n, 0, 2);
  Eigen::VectorXd x(2 * n);
  x << polo_test::random_seq(gen, n, -60, -10), polo_test::random_seq(gen, n, -60, -10);
  const DNO loss{.eta = 0.3};
  auto f = [&](const Eigen::VectorXd& v) {
    const SeqArrayd c1 = v.head(n), c2 = v.tail(n);
    return loss({c1, c2, p1, p2, q, {}, {}, w}).value;
  };
  const SeqArrayd c1 = x.head(n), c2 = x.tail(n);
  const auto out = loss({c1, c2, p1, p2, q, {}, {}, w});
  Eigen::VectorXd g(2 * n);
  g << out.grad_chosen_logp, out.grad_rejected_logp;
  POLO_CHECK_GRADIENT(f, x, g);
  CHECK(out.value == Approx((out.per_pair * w).mean()));
}

TEST_CASE("One DNO regression step is soft policy iteration", "[preference][dno]") {
  // preference.md §3(g): Bradley-Terry r = [0, 1, 2], eta = 0.1, pi_1 uniform:
  // pi_2 ∝ pi_1 exp(r_1 / eta) = [0.0148, 0.1134, 0.8718].
  Eigen::MatrixXd p(3, 3);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j)
      p(i, j) = polo::sigmoid(i - j);
  }
  const double eta = 0.1;
  const Eigen::VectorXd prev = Eigen::VectorXd::Constant(3, 1.0 / 3);
  const Eigen::VectorXd r = polo::win_rates(p, prev);
  Eigen::ArrayXd next = prev.array() * (r.array() / eta).exp();
  next /= next.sum();
  CHECK(next[0] == Approx(0.0148).margin(1e-4));
  CHECK(next[1] == Approx(0.1134).margin(1e-4));
  CHECK(next[2] == Approx(0.8718).margin(1e-4));
  // Every pair sampled from pi_1 once: at pi_2 the tabular gradient of the loss vanishes.
  std::vector<int> a, b;
  for (int y = 0; y < 3; ++y) {
    for (int z = 0; z < 3; ++z) {
      if (y != z) {
        a.push_back(y);
        b.push_back(z);
      }
    }
  }
  const auto n = static_cast<polo::Index>(a.size());
  auto tabular_grad = [&](const Eigen::ArrayXd& pi) {
    SeqArrayd c1(n), c2(n), p1(n), p2(n), r1(n), r2(n);
    for (polo::Index i = 0; i < n; ++i) {
      c1[i] = std::log(pi[a[i]]);
      c2[i] = std::log(pi[b[i]]);
      p1[i] = std::log(prev[a[i]]);
      p2[i] = std::log(prev[b[i]]);
      r1[i] = r[a[i]];
      r2[i] = r[b[i]];
    }
    const auto out = DNO{.eta = eta}({c1, c2, p1, p2, {}, r1, r2, {}});
    Eigen::Vector3d g = Eigen::Vector3d::Zero();
    for (polo::Index i = 0; i < n; ++i) {
      g[a[i]] += out.grad_chosen_logp[i];
      g[b[i]] += out.grad_rejected_logp[i];
    }
    return g;
  };
  CHECK(tabular_grad(next).norm() < 1e-12);
  CHECK(tabular_grad(prev.array()).norm() > 0.005);
}

TEST_CASE("DNOPairRule keeps large-margin pairs per prompt", "[preference][dno]") {
  // Prompt 0: scores 6 (teacher), 5, 4, 3; prompt 1: 4, 2 (no positive reaches 5).
  const SeqArrayd scores = seq({6, 5, 4, 3, 4, 2});
  const Eigen::Array<unsigned char, Eigen::Dynamic, 1> teacher =
      (Eigen::Array<unsigned char, Eigen::Dynamic, 1>(6) << 1, 0, 0, 0, 0, 0).finished();
  const auto groups = polo::Groups::from_sizes({4, 2});
  const polo::DNOPairRule rule;
  const auto pairs = rule.select(polo::SeqView<const double>(scores), groups,
                                 polo::SeqView<const unsigned char>(teacher));
  // teacher (6) needs a gap of 2: beats 4 and 3; student 5 needs 1: beats 4 and 3.
  // Order: decreasing gap, ties by position: (0,3) gap 3, (0,2) 2, (1,3) 2, (1,2) 1.
  REQUIRE(pairs.size() == 4);
  CHECK((pairs[0].chosen == 0 && pairs[0].rejected == 3));
  CHECK((pairs[1].chosen == 0 && pairs[1].rejected == 2));
  CHECK((pairs[2].chosen == 1 && pairs[2].rejected == 3));
  CHECK((pairs[3].chosen == 1 && pairs[3].rejected == 2));
  // without teacher flags every positive is a student sample: 6 also beats 5
  const auto all = rule.select(scores, groups);  // an array converts
  CHECK(all.size() == 5);
  // at most one pair per prompt: the largest gap
  const auto one = polo::DNOPairRule{.max_pairs_per_prompt = 1}.select(
      polo::SeqView<const double>(scores), groups);
  REQUIRE(one.size() == 1);
  CHECK((one[0].chosen == 0 && one[0].rejected == 3));
}

TEST_CASE("DNO refuses bad hyper-parameters and inputs", "[preference][dno]") {
  using E = polo::invalid_argument;
  const V16 v;
  CHECK_THAT(message_of<E>([&] { DNO{.eta = -1}(v.with_win_rates()); }),
             Contains("polo::DNO: eta must be > 0, got -1"));
  CHECK_THAT(message_of<E>([&] {
               DNO{}({v.c1, v.c2, v.p1, v.p2, {}, {}, {}, {}});
             }),
             Contains("polo::DNO: target must be given (or both win_rate_chosen and "
                      "win_rate_rejected), got none"));
  CHECK_THAT(message_of<E>([&] {
               DNO{}({v.c1, v.c2, v.p1, v.p2, v.r1, v.r1, v.r2, {}});
             }),
             Contains("win_rate_chosen / win_rate_rejected must be null when target is given"));
  const SeqArrayd two = seq({0.1, 0.2});
  CHECK_THAT(message_of<E>([&] {
               DNO{}({v.c1, v.c2, v.p1, two, {}, v.r1, v.r2, {}});
             }),
             Contains("polo::DNO: prev_rejected_logp size must be [1], got [2]"));
  CHECK_THAT(message_of<E>([&] {
               DNO{}({v.c1, v.c2, v.p1, v.p2, two, {}, {}, {}});
             }),
             Contains("target size must be [1], got [2]"));
  const SeqArrayd bad = seq({1.5});
  CHECK_THAT(message_of<E>([&] {
               DNO{}({v.c1, v.c2, v.p1, v.p2, bad, {}, {}, {}});
             }),
             Contains("polo::DNO: target[0] must be in [0, 1], got 1.5"));
  const SeqArrayd neg = seq({-2});
  CHECK_THAT(message_of<E>([&] {
               DNO{}({v.c1, v.c2, v.p1, v.p2, {}, v.r1, v.r2, neg});
             }),
             Contains("weights[0] must be >= 0, got -2"));
  const SeqArrayd nan = seq({polo_test::kNaN});
  CHECK_THAT(message_of<polo::nonfinite_error>([&] {
               DNO{}({v.c1, nan, v.p1, v.p2, {}, v.r1, v.r2, {}});
             }),
             Contains("polo::DNO: rejected_logp must be finite at every valid position, got nan"));
  CHECK_THAT(message_of<polo::nonfinite_error>([&] {
               DNO{}({v.c1, v.c2, v.p1, v.p2, {}, v.r1, nan, {}});
             }),
             Contains("win_rate_rejected must be finite"));
  const auto groups = polo::Groups::from_sizes({2});
  CHECK_THAT(
      message_of<E>([&] { polo::DNOPairRule{}.select(polo::SeqView<const double>(v.c1), groups); }),
      Contains("polo::DNOPairRule: groups batch size must be the number of scores (1), "
               "got 2"));
  CHECK_THAT(message_of<E>([&] {
               polo::DNOPairRule{.margin = 0}.select(polo::SeqView<const double>(v.c1),
                                                     polo::Groups::from_sizes({1}));
             }),
             Contains("polo::DNOPairRule: margin must be > 0, got 0"));
  CHECK_THAT(message_of<polo::nonfinite_error>([&] {
               polo::DNOPairRule{}.select(polo::SeqView<const double>(nan),
                                          polo::Groups::from_sizes({1}));
             }),
             Contains("scores must be finite"));
}

}  // namespace dno_test

// PIT's gap reward-model loss: vector 24 of preference.md §9, finite differences over the four
// gap scores, summed versus averaged terms, the ordering a trained tabular gap model learns,
// stability at large gaps, float inputs and every error path.

#include <array>
#include <cmath>

#include <Eigen/Core>

#include "polo/preference/pit.hpp"
#include "test_support.hpp"

namespace pit_test {

using polo::PITInputs;
using polo::PITRewardLoss;
using polo::SeqArrayd;
using polo_test::Contains;
using polo_test::message_of;

using polo_test::seq;

struct V24 {
  SeqArrayd wl = seq({1.2}), ww = seq({0.1}), ll = seq({-0.2}), lw = seq({-1.5});
  [[nodiscard]] PITInputs<double> inputs() const { return {wl, ww, ll, lw, {}}; }
};

TEST_CASE("PITRewardLoss reproduces vector 24", "[preference][pit]") {
  const auto out = PITRewardLoss{}(V24{}.inputs());
  CHECK(out.value == Approx(0.997705).epsilon(1e-6));
  CHECK(out.grad_chosen_over_rejected[0] == Approx(-0.510529).epsilon(1e-5));
  CHECK(out.grad_chosen_over_chosen[0] == Approx(0.0817583).epsilon(1e-5));
  CHECK(out.grad_rejected_over_rejected[0] == Approx(-0.0163489).epsilon(1e-5));
  CHECK(out.grad_rejected_over_chosen[0] == Approx(0.445120).epsilon(1e-5));
  CHECK(out.metrics.accuracy == 1.0);
  CHECK(out.metrics.order_accuracy == 1.0);
  CHECK(out.metrics.gap_chosen_over_rejected == Approx(1.2));
  CHECK(out.metrics.gap_rejected_over_chosen == Approx(-1.5));
  CHECK(out.metrics.gap_self == Approx(-0.05));
  // the five terms averaged instead of summed: a fifth of everything
  const auto mean = PITRewardLoss{.mean_terms = true}(V24{}.inputs());
  CHECK(mean.value == Approx(0.997705 / 5).epsilon(1e-6));
  CHECK(mean.grad_rejected_over_chosen[0] == Approx(0.445120 / 5).epsilon(1e-5));
  // the gradients sum to 0: adding a constant to every gap changes nothing
  CHECK(out.grad_chosen_over_rejected[0] + out.grad_chosen_over_chosen[0] +
            out.grad_rejected_over_rejected[0] + out.grad_rejected_over_chosen[0] ==
        Approx(0.0).margin(1e-15));
}

TEST_CASE("PITRewardLoss gradients match finite differences", "[preference][pit]") {
  polo::Rng gen(41);
  const polo::Index n = 6;
  Eigen::VectorXd x(4 * n);
  for (polo::Index k = 0; k < 4 * n; ++k)
    x[k] = polo::uniform(gen, -3, 3);
  const SeqArrayd w = polo_test::random_seq(gen, n, 0, 2);
  for (const bool mean_terms : {false, true}) {
    const PITRewardLoss loss{.mean_terms = mean_terms};
    auto f = [&](const Eigen::VectorXd& v) {
      const SeqArrayd a = v.segment(0, n), b = v.segment(n, n), c = v.segment(2 * n, n),
                      d = v.segment(3 * n, n);
      return loss({a, b, c, d, w}).value;
    };
    const SeqArrayd a = x.segment(0, n), b = x.segment(n, n), c = x.segment(2 * n, n),
                    d = x.segment(3 * n, n);
    const auto out = loss({a, b, c, d, w});
    Eigen::VectorXd g(4 * n);
    g << out.grad_chosen_over_rejected, out.grad_chosen_over_chosen,
        out.grad_rejected_over_rejected, out.grad_rejected_over_chosen;
    POLO_CHECK_GRADIENT(f, x, g);
    CHECK(out.value == Approx((out.per_pair * w).mean()));
  }
}

TEST_CASE("A tabular gap model trained with PITRewardLoss learns the gap ordering",
          "[preference][pit]") {
  // 4 responses of quality 0..3; every pair (a, b), a > b, labelled y_w = a. g is a 4 x 4 table;
  // plain gradient descent on the loss.
  Eigen::Matrix4d g = Eigen::Matrix4d::Zero();
  const PITRewardLoss loss;
  for (int step = 0; step < 2000; ++step) {
    SeqArrayd wl(6), ww(6), ll(6), lw(6);
    std::array<int, 6> a{}, b{};
    int i = 0;
    for (int y = 0; y < 4; ++y) {
      for (int z = 0; z < y; ++z) {
        a[static_cast<std::size_t>(i)] = y;
        b[static_cast<std::size_t>(i)] = z;
        wl[i] = g(y, z);
        ww[i] = g(y, y);
        ll[i] = g(z, z);
        lw[i] = g(z, y);
        ++i;
      }
    }
    const auto out = loss({wl, ww, ll, lw, {}});
    for (int k = 0; k < 6; ++k) {
      const int y = a[static_cast<std::size_t>(k)];
      const int z = b[static_cast<std::size_t>(k)];
      g(y, z) -= 1.0 * out.grad_chosen_over_rejected[k];
      g(y, y) -= 1.0 * out.grad_chosen_over_chosen[k];
      g(z, z) -= 1.0 * out.grad_rejected_over_rejected[k];
      g(z, y) -= 1.0 * out.grad_rejected_over_chosen[k];
    }
    if (step == 1999) CHECK(out.metrics.order_accuracy == 1.0);
  }
  for (int y = 0; y < 4; ++y) {
    for (int z = 0; z < y; ++z) {
      INFO("y " << y << ", z " << z);
      CHECK(g(y, z) > g(y, y));  // improving beats keeping
      CHECK(g(z, z) > g(z, y));  // keeping beats degrading
    }
  }
}

TEST_CASE("PITRewardLoss is finite at gaps of +-1e4 in float and double", "[preference][pit]") {
  const SeqArrayd big = seq({1e4}), zero = seq({0.0}), small = seq({-1e4});
  const auto good = PITRewardLoss{}({big, zero, zero, small, {}});
  CHECK(good.value == Approx(0.0).margin(1e-12));
  const auto bad = PITRewardLoss{}({small, zero, zero, big, {}});
  CHECK(bad.value == Approx(1e4 + 1e4 + 2e4 + 1e4 + 1e4));
  CHECK(bad.grad_chosen_over_rejected[0] == Approx(-3.0));
  const polo::SeqArrayf fb = big.cast<float>(), fz = zero.cast<float>(), fs = small.cast<float>();
  const auto f = PITRewardLoss{}({fs, fz, fz, fb, {}});
  CHECK(std::isfinite(f.value));
  CHECK(f.grad_rejected_over_chosen[0] == Approx(3.0f));
}

TEST_CASE("PITRewardLoss refuses bad inputs", "[preference][pit]") {
  using E = polo::invalid_argument;
  const V24 v;
  const SeqArrayd two = seq({1, 2});
  CHECK_THAT(message_of<E>([&] {
               PITRewardLoss{}({v.wl, two, v.ll, v.lw, {}});
             }),
             Contains("polo::PITRewardLoss: chosen_over_chosen size must be [1], got [2]"));
  CHECK_THAT(message_of<E>([&] {
               PITRewardLoss{}({v.wl, v.ww, v.ll, two, {}});
             }),
             Contains("rejected_over_chosen size must be [1], got [2]"));
  CHECK_THAT(message_of<E>([&] {
               PITRewardLoss{}({v.wl, v.ww, v.ll, v.lw, two});
             }),
             Contains("weights size must be [1], got [2]"));
  const SeqArrayd neg = seq({-0.5});
  CHECK_THAT(message_of<E>([&] {
               PITRewardLoss{}({v.wl, v.ww, v.ll, v.lw, neg});
             }),
             Contains("weights[0] must be >= 0, got -0.5"));
  const SeqArrayd nan = seq({polo_test::kNaN});
  CHECK_THAT(message_of<polo::nonfinite_error>([&] {
               PITRewardLoss{}({v.wl, v.ww, nan, v.lw, {}});
             }),
             Contains("polo::PITRewardLoss: rejected_over_rejected must be finite at every valid "
                      "position, got nan at row 0"));
}

}  // namespace pit_test

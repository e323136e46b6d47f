// Ranking-accuracy diagnostics of Chen et al. 2024: R and R~ against hand counts, R* against the
// §6(g) examples, the flip thresholds of vector 25, Theorem 4.1 on random pairs, the flip order of
// the §6(c) tabular toy, float inputs, and every error path.

#include <array>
#include <cmath>
#include <initializer_list>

#include "polo/core/numerics.hpp"
#include "polo/metrics/ranking_accuracy.hpp"
#include "test_support.hpp"

namespace ranking_accuracy_test {

using polo::Index;
using polo::SeqArrayd;
using polo::SeqArrayf;
using polo_test::Contains;
using polo_test::kNaN;
using polo_test::message_of;

using polo_test::seq;

// Hand count: pairs (-10 vs -12) right, (-5 vs -5) a tie, counted right (>=), (-7 vs -6) wrong,
// (-3 vs -9) right, (-8 vs -8.5) right: R = 4/5. Per-token means with lengths [5, 1, 7, 3, 4]
// and [3, 2, 3, 3, 17]: (-2 vs -4) right, (-5 vs -2.5) wrong, (-1 vs -2) right, (-1 vs -3) right,
// (-2 vs -0.5) wrong: R~ = 3/5.
TEST_CASE("ranking_accuracy and its length-normalized form against hand counts",
          "[metrics][ranking_accuracy]") {
  const SeqArrayd cw = seq({-10, -5, -7, -3, -8});
  const SeqArrayd cl = seq({-12, -5, -6, -9, -8.5});
  const SeqArrayd nw = seq({5, 1, 7, 3, 4});
  const SeqArrayd nl = seq({3, 2, 3, 3, 17});
  CHECK(polo::ranking_accuracy(cw, cl) == Approx(0.8));
  CHECK(polo::length_normalized_ranking_accuracy(cw, cl, nw, nl) == Approx(0.6));

  // A tie of the per-token means counts as right too: -6 / 3 = -4 / 2.
  const SeqArrayd tw = seq({-6});
  const SeqArrayd tl = seq({-4});
  const SeqArrayd lw = seq({3});
  const SeqArrayd ll = seq({2});
  CHECK(polo::length_normalized_ranking_accuracy(tw, tl, lw, ll) == 1.0);
  CHECK(polo::ranking_accuracy(tw, tl) == 0.0);

  // float inputs, same counts.
  const SeqArrayf cwf = cw.cast<float>();
  const SeqArrayf clf = cl.cast<float>();
  const SeqArrayf nwf = nw.cast<float>();
  const SeqArrayf nlf = nl.cast<float>();
  CHECK(polo::ranking_accuracy(cwf, clf) == Approx(0.8));
  CHECK(polo::length_normalized_ranking_accuracy(cwf, clf, nwf, nlf) == Approx(0.6));
}

// §6(g): log pi_ref(y_w) = -30, log pi_ref(y_l) = -25.
//   alpha 0.75, beta 0.1: -5 + 10 log 3 = +5.98612 -> R* = 1
//   alpha 0.75, beta 1:   -5 + log 3 = -3.90139 -> R* = 0
//   alpha 1 (clamped to 0.999), beta 1: -5 + log 999 = +1.90675 -> R* = 1
//   alpha 0.5: -5 -> R* = 0
TEST_CASE("idealized_log_ratio and idealized_ranking_accuracy reproduce §6(g)",
          "[metrics][ranking_accuracy]") {
  const SeqArrayd rw = seq({-30});
  const SeqArrayd rl = seq({-25});
  const auto one = [&](double alpha, double beta) {
    const SeqArrayd a = seq({alpha});
    SeqArrayd out(1);
    polo::idealized_log_ratio(rw, rl, a, beta, polo::SeqView<double>(out));
    return std::array<double, 2>{out[0], polo::idealized_ranking_accuracy(rw, rl, a, beta)};
  };
  CHECK(one(0.75, 0.1)[0] == Approx(5.98612).epsilon(1e-6));
  CHECK(one(0.75, 0.1)[1] == 1.0);
  CHECK(one(0.75, 1.0)[0] == Approx(-3.90139).epsilon(1e-6));
  CHECK(one(0.75, 1.0)[1] == 0.0);
  CHECK(one(1.0, 1.0)[0] == Approx(1.906755).epsilon(1e-6));
  CHECK(one(1.0, 1.0)[1] == 1.0);
  CHECK(one(0.5, 1.0)[0] == Approx(-5.0));
  CHECK(one(0.5, 1.0)[1] == 0.0);
  // alpha = 0 is clamped to epsilon symmetrically: -5 - log 999.
  CHECK(one(0.0, 1.0)[0] == Approx(-5.0 - std::log(999.0)).epsilon(1e-12));
  // A different epsilon moves the clamp.
  const SeqArrayd a1 = seq({1.0});
  SeqArrayd out(1);
  polo::idealized_log_ratio(rw, rl, a1, 1.0, polo::SeqView<double>(out), 0.01);
  CHECK(out[0] == Approx(-5.0 + std::log(99.0)).epsilon(1e-12));

  // As one batch with alpha [0.75, 1, 0.5]: at beta 1 only alpha = 1 is right (R* = 1/3); at
  // beta 0.1 alpha 0.75 is right too (R* = 2/3).
  const SeqArrayd bw = seq({-30, -30, -30});
  const SeqArrayd bl = seq({-25, -25, -25});
  const SeqArrayd alpha = seq({0.75, 1.0, 0.5});
  CHECK(polo::idealized_ranking_accuracy(bw, bl, alpha, 1.0) == Approx(1.0 / 3.0));
  CHECK(polo::idealized_ranking_accuracy(bw, bl, alpha, 0.1) == Approx(2.0 / 3.0));
}

// Pair A: the §6(g) pair with alpha 0.75 (right only for beta <= 0.1 of the paper's betas); pair
// B: the reference already prefers y_w by 1 nat and alpha = 0.5 keeps it there. R* over the betas
// {0.01, 0.1, 1, 5, 10} = [1, 1, 0.5, 0.5, 0.5]: min 0.5, median 0.5, max 1.
TEST_CASE("idealized_ranking_accuracy_range over the paper's betas",
          "[metrics][ranking_accuracy]") {
  const SeqArrayd rw = seq({-30, -20});
  const SeqArrayd rl = seq({-25, -21});
  const SeqArrayd alpha = seq({0.75, 0.5});
  const auto r = polo::idealized_ranking_accuracy_range(rw, rl, alpha);
  CHECK(r.min == 0.5);
  CHECK(r.median == 0.5);
  CHECK(r.max == 1.0);
  const std::array<double, 2> two{0.1, 1.0};
  const auto even = polo::idealized_ranking_accuracy_range(rw, rl, alpha, two);
  CHECK(even.median == Approx(0.75));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::idealized_ranking_accuracy_range(rw, rl, alpha, std::span<const double>{});
             }),
             Contains("betas must be at least one beta, got none"));
}

// The values docs/algorithms/ranking_accuracy.md's usage snippet states.
TEST_CASE("the ranking accuracy docs snippet computes what it says",
          "[metrics][ranking_accuracy]") {
  const SeqArrayd cw = seq({-10, -5, -7, -3});
  const SeqArrayd cl = seq({-12, -5, -6, -9});
  const SeqArrayd rw = seq({-30, -11, -9, -4});
  const SeqArrayd rl = seq({-25, -12, -8, -4});
  const SeqArrayd alpha = seq({0.75, 1.0, 0.5, 0.9});
  CHECK(polo::ranking_accuracy(cw, cl) == 0.75);
  CHECK(polo::idealized_ranking_accuracy(rw, rl, alpha, 0.1) == 0.75);
  CHECK(polo::flip_threshold(rw, rl, 0.1)[0] == Approx(0.474077).epsilon(1e-6));
}

// Vector 25: -log sigmoid(beta c).
TEST_CASE("flip_threshold reproduces vector 25", "[metrics][ranking_accuracy]") {
  // c = rl - rw = [5, 30, -5]
  const SeqArrayd rw = seq({-30, -40, -25});
  const SeqArrayd rl = seq({-25, -10, -30});
  const SeqArrayd t = polo::flip_threshold(rw, rl, 0.1);
  CHECK(t[0] == Approx(0.474077).epsilon(1e-6));
  CHECK(t[1] == Approx(0.0485874).epsilon(1e-6));
  CHECK(t[2] == Approx(0.974077).epsilon(1e-6));
  const SeqArrayd t1 = polo::flip_threshold(rw, rl, 1.0);
  CHECK(t1[0] == Approx(0.00671535).epsilon(1e-6));
  // A pair the reference ranks with c = 0 needs the loss to reach log 2, the loss at pi = pi_ref.
  const SeqArrayd even = seq({-7});
  CHECK(polo::flip_threshold(even, even, 0.3)[0] == Approx(std::log(2.0)));
  // float inputs into a float output.
  const SeqArrayf rwf = rw.cast<float>();
  const SeqArrayf rlf = rl.cast<float>();
  SeqArrayf tf(3);
  polo::flip_threshold(rwf, rlf, 0.1, polo::SeqView<float>(tf));
  CHECK(tf[0] == Approx(0.474077).epsilon(1e-6));
}

// Theorem 4.1: R = 1 if and only if L_DPO <= -log sigmoid(beta c). The DPO loss is written here
// by hand: -log sigmoid(beta ((cw - cl) - (rw - rl))).
TEST_CASE("Theorem 4.1 holds on random pairs: ranked right iff the DPO loss is below the threshold",
          "[metrics][ranking_accuracy]") {
  polo::Rng gen(42);
  const Index n = 400;
  const SeqArrayd cw = polo_test::random_seq(gen, n, -60.0, -10.0);
  SeqArrayd cl = polo_test::random_seq(gen, n, -60.0, -10.0);
  // Keep every pair 1e-6 nats away from a tie, where rounding could decide either way.
  for (Index i = 0; i < n; ++i) {
    if (std::abs(cw[i] - cl[i]) < 1e-6) cl[i] -= 1e-5;
  }
  const SeqArrayd rw = polo_test::random_seq(gen, n, -60.0, -10.0);
  const SeqArrayd rl = polo_test::random_seq(gen, n, -60.0, -10.0);
  for (const double beta : {0.01, 0.1, 1.0}) {
    const SeqArrayd threshold = polo::flip_threshold(rw, rl, beta);
    double right = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double loss = -polo::log_sigmoid(beta * ((cw[i] - cl[i]) - (rw[i] - rl[i])));
      const bool ranked = cw[i] >= cl[i];
      INFO("pair " << i << ", beta " << beta);
      CHECK(ranked == (loss <= threshold[i]));
      right += ranked ? 1.0 : 0.0;
    }
    CHECK(polo::ranking_accuracy(cw, cl) == Approx(right / static_cast<double>(n)));
  }
}

// The §6(c) toy: a two-response tabular policy per pair, started at pi_ref (which mis-ranks the
// pair by c nats), trained by plain gradient descent on the DPO loss (beta 0.1, lr 1). Pairs flip
// after 11, 58, 136 and 1104 steps for c = 1, 5, 10, 30, each exactly when its loss reaches
// its flip threshold; after 150 steps R = 3/4 even though every loss has dropped.
TEST_CASE("the tabular DPO toy flips pairs in order of c, each at its threshold",
          "[metrics][ranking_accuracy]") {
  const double beta = 0.1;
  const SeqArrayd c = seq({1, 5, 10, 30});
  const SeqArrayd ref_w = -c;  // log pi_ref(y_w) - log pi_ref(y_l) = -c, with log pi_ref(y_l) = 0
  const SeqArrayd ref_l = SeqArrayd::Zero(4);
  const SeqArrayd threshold = polo::flip_threshold(ref_w, ref_l, beta);
  SeqArrayd logit_w = ref_w;  // the log-probs up to each pair's normalizer, which cancels
  SeqArrayd logit_l = ref_l;
  std::array<int, 4> flipped_at{-1, -1, -1, -1};
  double r_at_150 = -1.0;
  for (int step = 1; step <= 1200; ++step) {
    for (Index i = 0; i < 4; ++i) {
      const double z = beta * ((logit_w[i] - logit_l[i]) - (ref_w[i] - ref_l[i]));
      const double g = beta * polo::sigmoid(-z);  // -d loss / d logit_w = d loss / d logit_l
      logit_w[i] += g;
      logit_l[i] -= g;
    }
    for (Index i = 0; i < 4; ++i) {
      const auto k = static_cast<std::size_t>(i);
      const double z = beta * ((logit_w[i] - logit_l[i]) - (ref_w[i] - ref_l[i]));
      const bool ranked = logit_w[i] >= logit_l[i];
      CHECK(ranked == (-polo::log_sigmoid(z) <= threshold[i]));
      if (ranked && flipped_at[k] < 0) flipped_at[k] = step;
    }
    if (step == 150) r_at_150 = polo::ranking_accuracy(logit_w, logit_l);
  }
  CHECK(flipped_at == std::array<int, 4>{11, 58, 136, 1104});
  CHECK(r_at_150 == 0.75);
}

TEST_CASE("ranking metrics refuse bad inputs with messages",
          "[metrics][ranking_accuracy][errors]") {
  const SeqArrayd two = seq({-1, -2});
  const SeqArrayd three = seq({-1, -2, -3});
  const SeqArrayd none(0);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { polo::ranking_accuracy(two, three); }),
             Contains("polo::ranking_accuracy: rejected_logp size must be [2], got [3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { polo::ranking_accuracy(none, none); }),
             Contains("chosen_logp size must be >= 1 pair, got 0"));
  const SeqArrayd bad = seq({-1, kNaN});
  try {
    polo::ranking_accuracy(two, bad);
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "rejected_logp");
    CHECK(e.row() == 1);
  }
  const SeqArrayd zero_len = seq({3, 0});
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::length_normalized_ranking_accuracy(two, two, two, two); }),
             Contains("chosen_length[0] must be finite and > 0, got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::length_normalized_ranking_accuracy(two, two, zero_len, zero_len); }),
             Contains("chosen_length[1] must be finite and > 0, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::length_normalized_ranking_accuracy(two, two, three, two); }),
             Contains("chosen_length size must be [2], got [3]"));

  const SeqArrayd alpha = seq({0.5, 1.5});
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::idealized_ranking_accuracy(two, two, alpha, 0.1); }),
             Contains("polo::idealized_log_ratio: alpha[1] must be in [0, 1], got 1.5"));
  const SeqArrayd ok_alpha = seq({0.5, 0.9});
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::idealized_ranking_accuracy(two, two, ok_alpha, 0.0); }),
             Contains("beta must be finite and > 0, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::idealized_ranking_accuracy(two, two, ok_alpha, 0.1, 0.5); }),
             Contains("epsilon must be in (0, 0.5), got 0.5"));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::idealized_ranking_accuracy(two, two, three, 0.1); }),
             Contains("alpha size must be [2], got [3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { polo::flip_threshold(two, two, -1.0); }),
             Contains("polo::flip_threshold: beta must be finite and > 0, got -1"));
  CHECK_THAT(message_of<polo::nonfinite_error>([&] { polo::flip_threshold(bad, two, 0.1); }),
             Contains("ref_chosen_logp must be finite at every valid position, got nan at row 1"));
}

}  // namespace ranking_accuracy_test

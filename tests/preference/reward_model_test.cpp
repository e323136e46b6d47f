// Reward-model losses: the Bradley-Terry loss (hand vectors, margins, centering, finite
// differences, extreme rewards, errors) and the multi-aspect regression head (per-aspect MSE with
// missing labels, weights, finite differences, the weighted combination and its backward).

#include <cmath>
#include <vector>

#include "polo/preference/reward_model.hpp"
#include "test_support.hpp"

namespace reward_model_test {

using polo::AspectRegression;
using polo::BradleyTerry;
using polo::Index;
using polo::SeqArrayd;
using polo::SeqArrayf;
using polo::TokenArrayd;
using polo_test::Contains;
using polo_test::kInf;
using polo_test::kNaN;
using polo_test::message_of;
using polo_test::tokens;

using polo_test::seq;

// Hand values (python, math module): for one pair d = r_w - r_l - m,
//   loss = log(1 + e^{-d}),  d loss / d r_w = -sigmoid(-d) = -(d loss / d r_l).
TEST_CASE("BradleyTerry on one pair is the logistic loss of the reward gap",
          "[preference][reward_model]") {
  const SeqArrayd rw = seq({1.5});
  const SeqArrayd rl = seq({0.5});
  const auto out = BradleyTerry{}({rw, rl});
  CHECK(out.value == Approx(0.313262).epsilon(1e-6));  // softplus(-1)
  CHECK(out.grad_chosen_reward[0] == Approx(-0.26894142).epsilon(1e-7));
  CHECK(out.grad_rejected_reward[0] == Approx(0.26894142).epsilon(1e-7));
  CHECK(out.per_pair[0] == Approx(out.value));
  CHECK(out.metrics.accuracy == 1.0);
  CHECK(out.metrics.margin == Approx(1.0));

  // A margin of 2 asks for a gap of 2: d = -1.
  const SeqArrayd m = seq({2.0});
  const auto with_margin = BradleyTerry{}({rw, rl, m});
  CHECK(with_margin.value == Approx(1.313262).epsilon(1e-6));
  CHECK(with_margin.grad_chosen_reward[0] == Approx(-0.731059).epsilon(1e-6));
  CHECK(with_margin.grad_rejected_reward[0] == Approx(0.731059).epsilon(1e-6));
  // The logged accuracy and margin are of the raw rewards, as TRL logs them.
  CHECK(with_margin.metrics.accuracy == 1.0);
  CHECK(with_margin.metrics.margin == Approx(1.0));
}

// B = 3, rewards r_w = [1.5, -0.2, 3], r_l = [0.5, 0.4, 3], margins [0, 0.5, -1], c = 0.01:
//   d = [1, -1.1, 1], per pair softplus(-d) + c (r_w + r_l)^2 = [0.353262, 1.38774, 0.673262]
//   value = mean = 0.804753
//   d/d r_w = (-sigmoid(-d) + 2c (r_w + r_l)) / 3 = [-0.0763138, -0.248753, -0.0496471]
//   d/d r_l = ( sigmoid(-d) + 2c (r_w + r_l)) / 3 = [0.10298, 0.25142, 0.129647]
// Without margins and centering: value 0.681299, d/d r_w = [-0.0896471, -0.215219, -0.166667].
TEST_CASE("BradleyTerry batch vector with margins and reward centering",
          "[preference][reward_model]") {
  const SeqArrayd rw = seq({1.5, -0.2, 3.0});
  const SeqArrayd rl = seq({0.5, 0.4, 3.0});
  const SeqArrayd m = seq({0.0, 0.5, -1.0});
  const auto out = BradleyTerry{.center_rewards_coefficient = 0.01}({rw, rl, m});
  CHECK(out.value == Approx(0.804753).epsilon(1e-6));
  const double gw[] = {-0.0763138, -0.248753, -0.0496471};
  const double gl[] = {0.10298, 0.25142, 0.129647};
  const double pp[] = {0.353262, 1.38774, 0.673262};
  for (Index i = 0; i < 3; ++i) {
    CHECK(out.grad_chosen_reward[i] == Approx(gw[i]).epsilon(1e-5));
    CHECK(out.grad_rejected_reward[i] == Approx(gl[i]).epsilon(1e-5));
    CHECK(out.per_pair[i] == Approx(pp[i]).epsilon(1e-5));
  }
  // Metrics: the tie (3 vs 3) counts as wrong.
  CHECK(out.metrics.accuracy == Approx(1.0 / 3.0));
  CHECK(out.metrics.chosen_mean == Approx(4.3 / 3.0));
  CHECK(out.metrics.rejected_mean == Approx(3.9 / 3.0));
  CHECK(out.metrics.margin == Approx(0.4 / 3.0));
  CHECK(out.metrics.mean_reward == Approx(8.2 / 6.0));
  CHECK(out.metrics.min_reward == -0.2);
  CHECK(out.metrics.max_reward == 3.0);
  CHECK(out.metrics.pairs == 3.0);

  // The docs' usage snippet: centering without margins.
  CHECK(BradleyTerry{.center_rewards_coefficient = 0.01}({rw, rl}).value ==
        Approx(0.814766).epsilon(1e-6));

  const auto plain = BradleyTerry{}({rw, rl});
  CHECK(plain.value == Approx(0.681299).epsilon(1e-6));
  const double pw[] = {-0.0896471, -0.215219, -0.166667};
  for (Index i = 0; i < 3; ++i) {
    CHECK(plain.grad_chosen_reward[i] == Approx(pw[i]).epsilon(1e-5));
    CHECK(plain.grad_rejected_reward[i] == -plain.grad_chosen_reward[i]);
  }
}

TEST_CASE("BradleyTerry special cases: equal rewards give log 2, shifts cancel",
          "[preference][reward_model]") {
  const SeqArrayd r = seq({0.3, -2.0, 7.0, 0.0});
  const auto tie = BradleyTerry{}({r, r});
  CHECK(tie.value == Approx(std::log(2.0)));
  CHECK(tie.metrics.accuracy == 0.0);
  for (Index i = 0; i < 4; ++i)
    CHECK(tie.grad_chosen_reward[i] == Approx(-0.5 / 4.0));

  // A common shift of both rewards changes nothing without centering (BT is shift invariant)...
  polo::Rng gen(3);
  const SeqArrayd rw = polo_test::random_seq(gen, 6, -2.0, 2.0);
  const SeqArrayd rl = polo_test::random_seq(gen, 6, -2.0, 2.0);
  const SeqArrayd rw5 = rw + 5.0;
  const SeqArrayd rl5 = rl + 5.0;
  const auto a = BradleyTerry{}({rw, rl});
  const auto b = BradleyTerry{}({rw5, rl5});
  CHECK(a.value == Approx(b.value).epsilon(1e-12));
  // ...and centering penalizes it: the shifted rewards cost c mean (r_w + r_l)^2 more.
  const BradleyTerry centered{.center_rewards_coefficient = 0.1};
  const double penalty = 0.1 * (rw5 + rl5).square().mean() - 0.1 * (rw + rl).square().mean();
  CHECK(centered({rw5, rl5}).value - centered({rw, rl}).value == Approx(penalty).epsilon(1e-12));

  // An empty batch is 0, not NaN.
  const SeqArrayd none(0);
  const auto empty = BradleyTerry{}({none, none});
  CHECK(empty.value == 0.0);
  CHECK(empty.metrics.accuracy == 0.0);
}

TEST_CASE("BradleyTerry gradients match finite differences",
          "[preference][reward_model][gradcheck]") {
  polo::Rng gen(11);
  for (const double c : {0.0, 0.01, 0.5}) {
    const SeqArrayd rw = polo_test::random_seq(gen, 7, -3.0, 3.0);
    const SeqArrayd rl = polo_test::random_seq(gen, 7, -3.0, 3.0);
    const SeqArrayd m = polo_test::random_seq(gen, 7, 0.0, 2.0);
    const BradleyTerry loss{.center_rewards_coefficient = c};
    const auto out = loss({rw, rl, m});
    const SeqArrayd gw = out.grad_chosen_reward;
    const SeqArrayd gl = out.grad_rejected_reward;
    POLO_CHECK_GRADIENT([&](const SeqArrayd& x) { return loss({x, rl, m}).value; }, rw, gw);
    POLO_CHECK_GRADIENT([&](const SeqArrayd& x) { return loss({rw, x, m}).value; }, rl, gl);
  }
}

TEST_CASE("BradleyTerry compute writes into caller views and agrees with the owning call",
          "[preference][reward_model]") {
  polo::Rng gen(5);
  const SeqArrayd rw = polo_test::random_seq(gen, 5);
  const SeqArrayd rl = polo_test::random_seq(gen, 5);
  const BradleyTerry loss{.center_rewards_coefficient = 0.01};
  const auto owning = loss({rw, rl});
  SeqArrayd gw(5);
  SeqArrayd gl(5);
  const auto v = loss.compute<double>({rw, rl}, gw, gl);
  CHECK(v.value == owning.value);
  CHECK((gw == owning.grad_chosen_reward).all());
  CHECK((gl == owning.grad_rejected_reward).all());
  CHECK(v.metrics.accuracy == owning.metrics.accuracy);
}

TEST_CASE("BradleyTerry in float matches double and stays finite at rewards of 1e4",
          "[preference][reward_model]") {
  const SeqArrayd rw = seq({1.5, -0.2, 3.0});
  const SeqArrayd rl = seq({0.5, 0.4, 3.0});
  const SeqArrayf rwf = rw.cast<float>();
  const SeqArrayf rlf = rl.cast<float>();
  const auto d = BradleyTerry{}({rw, rl});
  const auto f = BradleyTerry{}({rwf, rlf});
  CHECK(f.value == Approx(d.value).epsilon(1e-6));
  CHECK(f.grad_chosen_reward[1] == Approx(d.grad_chosen_reward[1]).epsilon(1e-6));

  // Gaps of +-2e4: the loss is the gap itself on the wrong side, 0 on the right one.
  const SeqArrayf big = seq({1e4, -1e4}).cast<float>();
  const SeqArrayf small = seq({-1e4, 1e4}).cast<float>();
  const auto x = BradleyTerry{}({big, small});
  CHECK(std::isfinite(x.value));
  CHECK(x.value == Approx(1e4).epsilon(1e-6));  // (0 + 2e4) / 2
  CHECK(x.grad_chosen_reward[0] == 0.0f);
  CHECK(x.grad_chosen_reward[1] == Approx(-0.5));
  CHECK(x.grad_rejected_reward[1] == Approx(0.5));
}

TEST_CASE("BradleyTerry refuses bad inputs with messages", "[preference][reward_model][errors]") {
  const SeqArrayd two = seq({1.0, 2.0});
  const SeqArrayd three = seq({1.0, 2.0, 3.0});
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               BradleyTerry{}({two, three});
             }),
             Contains("polo::BradleyTerry: rejected_rewards size must be [2], got [3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               BradleyTerry{}({two, two, three});
             }),
             Contains("margins size must be [2], got [3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               BradleyTerry{.center_rewards_coefficient = -1.0}({two, two});
             }),
             Contains("center_rewards_coefficient must be finite and >= 0, got -1"));
  SeqArrayd g(3);
  SeqArrayd g2(2);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               BradleyTerry{}.compute<double>({two, two}, g, g2);
             }),
             Contains("grad_chosen_reward size must be [2], got [3]"));

  const SeqArrayd bad = seq({1.0, kNaN});
  try {
    BradleyTerry{}({two, bad});
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "rejected_rewards");
    CHECK(e.row() == 1);
  }
  // An infinite reward would give a finite loss of 0: it is still refused.
  const SeqArrayd inf = seq({kInf, 1.0});
  CHECK_THAT(message_of<polo::nonfinite_error>([&] {
               BradleyTerry{}({inf, two});
             }),
             Contains("chosen_rewards must be finite at every valid position, got inf at row 0"));
  const SeqArrayd bad_margin = seq({kNaN, 0.0});
  CHECK_THAT(message_of<polo::nonfinite_error>([&] {
               BradleyTerry{}({two, two, bad_margin});
             }),
             Contains("margins must be finite"));
}

// Aspect vector: predictions [[0.5, 2], [1, -1], [0, 0.5]], targets [[1, 1.5], [0, NaN],
// [0.5, 1.5]], the NaN unlabelled. Errors p - y: aspect 0 [-0.5, 1, -0.5] -> MSE 0.5; aspect 1
// [0.5, -, -1] -> MSE 0.625. Default weights 1/2: value 0.5625, gradient 2 (1/2) e / n_k:
// aspect 0 e / 3 = [-1/6, 1/3, -1/6], aspect 1 e / 2 = [0.25, 0, -0.5]. Overall MSE 2.75 / 5.
struct AspectVector {
  TokenArrayd p = tokens({{0.5, 2.0}, {1.0, -1.0}, {0.0, 0.5}});
  TokenArrayd y = tokens({{1.0, 1.5}, {0.0, kNaN}, {0.5, 1.5}});
  TokenArrayd mask = tokens({{1, 1}, {1, 0}, {1, 1}});
};

TEST_CASE("AspectRegression: per-aspect MSE with a missing label", "[preference][reward_model]") {
  const AspectVector x;
  const auto out = AspectRegression{}({x.p, x.y, x.mask});
  CHECK(out.value == Approx(0.5625));
  polo_test::check_tokens(out.grad_predictions,
                          tokens({{-1.0 / 6.0, 0.25}, {1.0 / 3.0, 0.0}, {-1.0 / 6.0, -0.5}}),
                          1e-15);
  CHECK(out.aspect_mse[0] == Approx(0.5));
  CHECK(out.aspect_mse[1] == Approx(0.625));
  CHECK(out.metrics.mse == Approx(0.55));
  CHECK(out.metrics.valid_labels == 5.0);

  // Weights [1, 0.5]: value 0.5 + 0.3125; aspect 0's gradient doubles, aspect 1's stays.
  const auto weighted = AspectRegression{.aspect_weights = {1.0, 0.5}}({x.p, x.y, x.mask});
  CHECK(weighted.value == Approx(0.8125));
  polo_test::check_tokens(weighted.grad_predictions,
                          tokens({{-1.0 / 3.0, 0.25}, {2.0 / 3.0, 0.0}, {-1.0 / 3.0, -0.5}}),
                          1e-15);
}

TEST_CASE("AspectRegression with every label is torch's MSELoss on [B, K]",
          "[preference][reward_model]") {
  polo::Rng gen(8);
  const TokenArrayd p = polo_test::random_tokens(gen, 5, 3);
  const TokenArrayd y = polo_test::random_tokens(gen, 5, 3);
  const auto out = AspectRegression{}({p, y});
  CHECK(out.value == Approx((p - y).square().mean()).epsilon(1e-12));
  CHECK(out.metrics.mse == Approx(out.value).epsilon(1e-12));
  const TokenArrayd expected = 2.0 * (p - y) / 15.0;
  polo_test::check_tokens(out.grad_predictions, expected, 1e-15);

  // An aspect with no label contributes 0 and its weight goes to nobody.
  TokenArrayd mask = TokenArrayd::Ones(5, 3);
  mask.col(2).setZero();
  const auto partial = AspectRegression{}({p, y, mask});
  CHECK(partial.aspect_mse[2] == 0.0);
  CHECK(partial.value ==
        Approx((partial.aspect_mse[0] + partial.aspect_mse[1]) / 3.0).epsilon(1e-12));
  CHECK((partial.grad_predictions.col(2) == 0.0).all());
}

TEST_CASE("AspectRegression gradient matches finite differences",
          "[preference][reward_model][gradcheck]") {
  polo::Rng gen(21);
  const TokenArrayd y = polo_test::random_tokens(gen, 6, 4, -2.0, 2.0);
  TokenArrayd mask(6, 4);
  for (Index k = 0; k < mask.size(); ++k)
    mask.data()[k] = polo::uniform(gen) < 0.7 ? 1.0 : 0.0;
  const TokenArrayd p = polo_test::random_tokens(gen, 6, 4, -2.0, 2.0);
  for (const auto& weights : {std::vector<double>{}, std::vector<double>{1.0, 0.0, 2.5, 0.3}}) {
    const AspectRegression loss{.aspect_weights = weights};
    const TokenArrayd grad = loss({p, y, mask}).grad_predictions;
    POLO_CHECK_GRADIENT([&](const TokenArrayd& x) { return loss({x, y, mask}).value; }, p, grad);
  }
}

TEST_CASE("AspectRegression refuses bad inputs with messages",
          "[preference][reward_model][errors]") {
  const AspectVector x;
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               AspectRegression{.aspect_weights = {1.0}}({x.p, x.y, x.mask});
             }),
             Contains("polo::AspectRegression: aspect_weights size must be 2 (one per aspect) or "
                      "empty, got 1"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               AspectRegression{.aspect_weights = {1.0, -0.5}}({x.p, x.y, x.mask});
             }),
             Contains("aspect_weights[1] must be finite and >= 0, got -0.5"));
  const TokenArrayd y3 = tokens({{1, 2}, {3, 4}});
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               AspectRegression{}({x.p, y3});
             }),
             Contains("targets shape must be [3, 2], got [2, 2]"));
  const TokenArrayd none(3, 0);
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               AspectRegression{}({none, none});
             }),
             Contains("predictions columns must be >= 1 aspect, got 0"));
  // The NaN target is labelled once the mask is dropped.
  try {
    AspectRegression{}({x.p, x.y});
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "targets");
    CHECK(e.row() == 1);
    CHECK(e.col() == 1);
  }
}

// V21 of policy_gradient.md: weights [1, 0.5] give the weighted sums [1, 0.5, 0.75, 1.15].
TEST_CASE("combine_aspects reproduces the V21 weighted sums and its backward is w_k g_i",
          "[preference][reward_model]") {
  const TokenArrayd scores = tokens({{0.9, 0.2}, {0.1, 0.8}, {0.5, 0.5}, {0.7, 0.9}});
  const SeqArrayd w = seq({1.0, 0.5});
  const SeqArrayd r = polo::combine_aspects(scores, w);
  const double expected[] = {1.0, 0.5, 0.75, 1.15};
  for (Index i = 0; i < 4; ++i)
    CHECK(r[i] == Approx(expected[i]).epsilon(1e-15));
  const SeqArrayd unweighted = polo::combine_aspects(scores);
  CHECK(unweighted[3] == Approx(1.6));

  // Backward, checked by finite differences of sum_i g_i R_i.
  const SeqArrayd g = seq({0.3, -1.0, 2.0, 0.5});
  TokenArrayd grad(4, 2);
  polo::combine_aspects_backward<double, double>(g, w, grad);
  POLO_CHECK_GRADIENT([&](const TokenArrayd& s) { return (polo::combine_aspects(s, w) * g).sum(); },
                      scores, grad);

  const SeqArrayd w3 = seq({1.0, 0.5, 2.0});
  CHECK_THAT(message_of<polo::invalid_argument>([&] { polo::combine_aspects(scores, w3); }),
             Contains("polo::combine_aspects: weights size must be [2], got [3]"));
  const SeqArrayd wnan = seq({1.0, kNaN});
  CHECK_THAT(message_of<polo::invalid_argument>([&] { polo::combine_aspects(scores, wnan); }),
             Contains("weights[1] must be finite, got nan"));
  const SeqArrayd g3 = seq({1.0, 2.0, 3.0});
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::combine_aspects_backward<double, double>(g3, w, grad); }),
             Contains("polo::combine_aspects_backward: grad_reward size must be [4], got [3]"));
}

}  // namespace reward_model_test

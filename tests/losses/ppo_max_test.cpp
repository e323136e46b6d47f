// PPO-max pieces: RunningMoments (V20), reward normalization / scaling, KL-shaped token rewards.

#include <cmath>
#include <limits>
#include <vector>

#include "loss_test_support.hpp"
#include "polo/losses/ppo_max.hpp"
#include "test_support.hpp"

namespace ppo_max_test {

using polo_loss_test::kVectorTol;

using polo::Index;
using polo::KLShapedRewards;
using polo::RewardNormalization;
using polo::RewardNormMode;
using polo::RunningMoments;
using polo::SeqArrayd;
using polo::SeqView;
using polo::ShapedRewardInputs;
using polo::TokenArrayd;
using polo_test::Contains;

using polo_test::seq;

TEST_CASE("RunningMoments and reward normalization reproduce V20", "[losses][ppo_max]") {
  RunningMoments m;
  const SeqArrayd first = seq({1.0, 2.0, 4.0});
  m.update(SeqView<const double>(first));
  CHECK(m.mean == Approx(2.33333).epsilon(kVectorTol));
  CHECK(m.std() == Approx(1.52753).epsilon(kVectorTol));

  RunningMoments before_second = m;
  const SeqArrayd second = seq({0.0, 3.0});
  SeqArrayd out(2);
  RewardNormalization{.mode = RewardNormMode::normalize, .clip = 0.8}(
      m, SeqView<const double>(second), SeqView<double>(out));
  CHECK(m.mean == Approx(2.0).epsilon(kVectorTol));
  CHECK(m.std() == Approx(1.58114).epsilon(kVectorTol));
  CHECK(out[0] == Approx(-0.8));
  CHECK(out[1] == Approx(0.632456).epsilon(kVectorTol));

  // the same batch without clipping, and the scaling-only variant
  RunningMoments m2 = before_second;
  RewardNormalization{.clip = 0.0}(m2, SeqView<const double>(second), SeqView<double>(out));
  CHECK(out[0] == Approx(-1.26491).epsilon(kVectorTol));
  CHECK(out[1] == Approx(0.632456).epsilon(kVectorTol));
  RunningMoments m3 = before_second;
  RewardNormalization{.mode = RewardNormMode::scale, .clip = 0.0}(m3, SeqView<const double>(second),
                                                                  SeqView<double>(out));
  CHECK(out[0] == 0.0);
  CHECK(out[1] == Approx(1.89737).epsilon(kVectorTol));
  // apply() normalizes without touching the history; in place works
  const RunningMoments frozen = m3;
  SeqArrayd in_place = second;
  RewardNormalization{.clip = 0.0}.apply(frozen, SeqView<const double>(in_place),
                                         SeqView<double>(in_place));
  CHECK(in_place[0] == Approx(-1.26491).epsilon(kVectorTol));
}

TEST_CASE("RunningMoments equals the pooled statistics of everything seen", "[losses][ppo_max]") {
  polo::Rng gen(31);
  RunningMoments m;
  std::vector<double> all;
  for (const Index n : {5, 1, 8, 3}) {
    const SeqArrayd batch = polo_test::random_seq(gen, n, -3.0, 7.0) + 1e6;  // far from zero
    m.update(SeqView<const double>(batch));
    for (Index i = 0; i < n; ++i)
      all.push_back(batch[i]);
  }
  double mean = 0.0;
  for (const double x : all)
    mean += x;
  mean /= static_cast<double>(all.size());
  double var = 0.0;
  for (const double x : all)
    var += (x - mean) * (x - mean);
  var /= static_cast<double>(all.size());
  CHECK(m.mean == Approx(mean).epsilon(1e-14));
  CHECK(m.variance == Approx(var).epsilon(1e-8));
  CHECK(m.count == Approx(17.0));
  CHECK(m.std() == Approx(std::sqrt(var * 17.0 / 16.0)).epsilon(1e-8));
  // an empty batch is a no-op
  const RunningMoments saved = m;
  m.update(SeqView<const double>());
  CHECK(m.mean == saved.mean);
  CHECK(m.count == saved.count);
}

TEST_CASE("KLShapedRewards reproduces V20's token rewards and GAE", "[losses][ppo_max]") {
  TokenArrayd logp(1, 4), ref(1, 4);
  logp << -0.3, -1.0, -0.5, -0.2;
  ref << -0.4, -0.8, -0.5, -0.6;
  const SeqArrayd score = seq({0.632456});
  const KLShapedRewards shaping{.coefficient = 0.05};
  const TokenArrayd u = shaping(ShapedRewardInputs<double>{score, logp, ref, {}});
  const double expected[] = {-0.005, 0.01, 0.0, 0.612456};
  for (Index t = 0; t < 4; ++t)
    CHECK(u(0, t) == Approx(expected[t]).margin(1e-9));
  // GAE by hand (gamma 1, lambda 0.95, V_4 = 0): the advantages and returns of V20
  const double values[] = {0.2, 0.1, 0.3, 0.4};
  const double adv_expected[] = {0.366904, 0.496741, 0.301833, 0.212456};
  double next_value = 0.0;
  double gae = 0.0;
  double adv[4];
  for (Index t = 3; t >= 0; --t) {
    const double delta = u(0, t) + next_value - values[t];
    gae = delta + 0.95 * gae;
    adv[t] = gae;
    next_value = values[t];
  }
  for (Index t = 0; t < 4; ++t) {
    CHECK(adv[t] == Approx(adv_expected[t]).epsilon(kVectorTol));
    CHECK(adv[t] + values[t] == Approx(adv_expected[t] + values[t]).epsilon(kVectorTol));
  }
}

TEST_CASE("KLShapedRewards: score on the last valid token, padding ignored", "[losses][ppo_max]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  TokenArrayd logp(3, 4), ref(3, 4), mask(3, 4);
  logp << -0.3, -1.0, nan, nan,  //
      -0.5, -0.2, -0.1, -0.9,    //
      nan, nan, nan, nan;
  ref << -0.4, -0.8, nan, -1.0,  //
      -0.6, -0.2, -0.3, -0.4,    //
      0.0, 0.0, 0.0, 0.0;
  mask << 1, 1, 0, 0,  //
      1, 1, 1, 0,      //
      0, 0, 0, 0;
  const SeqArrayd scores = seq({2.0, -30.0, 5.0});
  const KLShapedRewards shaping{
      .coefficient = 0.1, .estimator = polo::KLEstimator::k3, .score_clip = 10.0};
  TokenArrayd u(3, 4);
  const auto m = shaping.compute(ShapedRewardInputs<double>{scores, logp, ref, mask},
                                 polo::TokenView<double>(u));
  auto k3 = [](double l, double r) { return polo::kl_token(polo::KLEstimator::k3, l, r).value; };
  CHECK(u(0, 0) == Approx(-0.1 * k3(-0.3, -0.4)));
  CHECK(u(0, 1) == Approx(-0.1 * k3(-1.0, -0.8) + 2.0));
  CHECK(u(0, 2) == 0.0);
  CHECK(u(0, 3) == 0.0);
  CHECK(u(1, 2) == Approx(-0.1 * k3(-0.1, -0.3) - 10.0));  // score clipped to -10
  CHECK(u(1, 3) == 0.0);
  CHECK((u.row(2) == 0.0).all());  // no valid token: no score, no NaN
  CHECK(m.valid_sequences == 2.0);
  CHECK(m.score_mean == Approx((2.0 - 10.0) / 2.0));
  const double kl0 = k3(-0.3, -0.4) + k3(-1.0, -0.8);
  const double kl1 = k3(-0.5, -0.6) + k3(-0.2, -0.2) + k3(-0.1, -0.3);
  CHECK(m.kl_mean == Approx((kl0 + kl1) / 2.0));
}

TEST_CASE("PPO-max pieces validate and report non-finite inputs", "[losses][ppo_max][errors]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  RunningMoments m;
  const SeqArrayd bad = seq({1.0, nan});
  CHECK_THROWS_AS(m.update(SeqView<const double>(bad)), polo::nonfinite_error);
  CHECK_THROWS_WITH(m.update(SeqView<const double>(bad)), Contains("batch") && Contains("row 1"));
  const SeqArrayd two = seq({1.0, 2.0});
  SeqArrayd three(3);
  CHECK_THROWS_WITH(RewardNormalization{}(m, SeqView<const double>(two), SeqView<double>(three)),
                    "polo::RewardNormalization: out size must be [2], got [3]");
  SeqArrayd out(2);
  CHECK_THROWS_WITH(
      RewardNormalization{.clip = -1.0}(m, SeqView<const double>(two), SeqView<double>(out)),
      Contains("clip must be >= 0"));
  CHECK_THROWS_WITH(
      RewardNormalization{.eps = 0.0}(m, SeqView<const double>(two), SeqView<double>(out)),
      Contains("eps must be > 0"));

  TokenArrayd logp = TokenArrayd::Constant(2, 3, -0.5);
  TokenArrayd ref = TokenArrayd::Constant(2, 3, -0.7);
  CHECK_THROWS_WITH(
      (KLShapedRewards{.coefficient = -0.1}(ShapedRewardInputs<double>{two, logp, ref, {}})),
      Contains("coefficient must be >= 0"));
  CHECK_THROWS_WITH(
      (KLShapedRewards{.score_clip = -1.0}(ShapedRewardInputs<double>{two, logp, ref, {}})),
      Contains("score_clip"));
  const SeqArrayd one = seq({1.0});
  CHECK_THROWS_WITH(KLShapedRewards{}(ShapedRewardInputs<double>{one, logp, ref, {}}),
                    "polo::KLShapedRewards: scores size must be [2], got [1]");
  const TokenArrayd short_ref = ref.leftCols(2);
  CHECK_THROWS_WITH(KLShapedRewards{}(ShapedRewardInputs<double>{two, logp, short_ref, {}}),
                    Contains("ref_logp shape"));
  const SeqArrayd nan_score = seq({1.0, nan});
  CHECK_THROWS_WITH(KLShapedRewards{}(ShapedRewardInputs<double>{nan_score, logp, ref, {}}),
                    Contains("scores") && Contains("row 1"));
  ref(1, 2) = nan;
  CHECK_THROWS_AS(KLShapedRewards{}(ShapedRewardInputs<double>{two, logp, ref, {}}),
                  polo::nonfinite_error);
  CHECK_THROWS_WITH(KLShapedRewards{}(ShapedRewardInputs<double>{two, logp, ref, {}}),
                    Contains("ref_logp") && Contains("row 1, column 2"));
}

TEST_CASE("ppo_max() carries the recipe's settings", "[losses][ppo_max]") {
  const polo::PPOMax r = polo::ppo_max();
  CHECK(r.policy.epsilon_low == 0.2);
  CHECK(r.policy.epsilon_high == 0.2);
  CHECK(r.value.clip == 0.2);
  CHECK(r.reward.mode == RewardNormMode::normalize);
  CHECK(r.reward.clip == 0.8);
  CHECK(r.kl.coefficient == 0.05);
  CHECK(r.kl.estimator == polo::KLEstimator::k1);
  CHECK(r.gamma == 1.0);
  CHECK(r.lambda == 0.95);
  CHECK(r.max_grad_norm == 1.0);
}

}  // namespace ppo_max_test

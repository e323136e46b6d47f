#include "polo/advantage/group.hpp"

#include <cmath>
#include <vector>

#include "loss_test_support.hpp"
#include "polo/advantage/whiten.hpp"
#include "test_support.hpp"

namespace group_advantage_test {

using polo::GroupAdvantage;
using polo::Groups;
using polo::Index;
using polo::MaskArray;
using polo::MultiRewardAdvantage;
using polo::ReinforcePP;
using polo::RLOO;
using polo::SeqArrayd;
using polo::SeqArrayf;
using polo::SeqView;
using polo::TokenArrayd;
using polo::TokenView;
using polo_loss_test::kVectorTol;
using polo_test::Contains;
using polo_test::kInf;
using polo_test::kNaN;
using polo_test::message_of;
using Scale = polo::GroupAdvantage::Scale;

using polo_test::seq;

void check_seq(const SeqArrayd& actual, std::initializer_list<double> expected,
               double rel = kVectorTol) {
  REQUIRE(actual.size() == static_cast<Index>(expected.size()));
  Index i = 0;
  for (const double e : expected) {
    INFO("entry " << i);
    CHECK(actual[i] == Approx(e).epsilon(rel).margin(1e-12));
    ++i;
  }
}

/// The shared GRPO fixture of ALGORITHMS.md §8.
struct Fixture {
  TokenArrayd logp = polo_test::tokens(
      {{-0.9, -1.1, -0.1}, {-2.1, -0.3, -1.0}, {-0.5, -0.6, -0.7}, {-1.3, -0.2, -0.9}});
  TokenArrayd ref = polo_test::tokens(
      {{-1.1, -0.9, -0.6}, {-1.9, -0.5, -1.2}, {-0.7, -0.8, -0.6}, {-1.0, -0.3, -1.1}});
  MaskArray mask = (polo_test::tokens({{1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {1, 1, 1}}) != 0.0)
                       .cast<unsigned char>();
  SeqArrayd rewards = seq({1.0, 0.0, 0.5, 0.0});
};

TEST_CASE("GroupAdvantage matches V7 for TRL, Dr. GRPO, verl and OpenRLHF epsilons",
          "[advantage][group]") {
  const SeqArrayd r = seq({1.0, 0.0, 0.5, 0.0});
  const Groups one = Groups::uniform(4, 4);
  const auto trl = GroupAdvantage{}(r, one);
  check_seq(trl.advantages, {1.30531, -0.783186, 0.261062, -0.783186});
  check_seq(GroupAdvantage{.scale = Scale::none}(r, one).advantages,
            {0.625, -0.375, 0.125, -0.375});
  check_seq(GroupAdvantage{.eps = 1e-6}(r, one).advantages,
            {1.30558, -0.783348, 0.261116, -0.783348});
  check_seq(GroupAdvantage{.eps = 1e-9}(r, one).advantages,
            {1.30558, -0.783349, 0.261116, -0.783349});
  REQUIRE(trl.group_means.size() == 1);
  CHECK(trl.group_means[0] == Approx(0.375).epsilon(1e-12));
  CHECK(trl.group_stds[0] == Approx(0.478714).epsilon(kVectorTol));
  CHECK(trl.metrics.reward_mean == Approx(0.375).epsilon(1e-12));
  CHECK(trl.metrics.reward_std == Approx(0.478714).epsilon(kVectorTol));
  CHECK(trl.metrics.group_std_mean == Approx(0.478714).epsilon(kVectorTol));
  CHECK(trl.metrics.frac_reward_zero_std == 0.0);
  CHECK(trl.metrics.num_groups == 1);
}

TEST_CASE("GroupAdvantage batch scaling keeps group means and divides by the batch std",
          "[advantage][group]") {
  // Groups [1, 0, 0.5, 0] and [2, 3]: batch mean 6.5/6, unbiased batch std 1.2416...
  const SeqArrayd r = seq({1.0, 0.0, 0.5, 0.0, 2.0, 3.0});
  const Groups groups = Groups::from_sizes({4, 2});
  const double mean = 6.5 / 6.0;
  double ss = 0.0;
  for (Index i = 0; i < 6; ++i)
    ss += (r[i] - mean) * (r[i] - mean);
  const double batch_std = std::sqrt(ss / 5.0);
  const auto out = GroupAdvantage{.scale = Scale::batch}(r, groups);
  const double d = batch_std + 1e-4;
  check_seq(out.advantages, {0.625 / d, -0.375 / d, 0.125 / d, -0.375 / d, -0.5 / d, 0.5 / d},
            1e-12);
  CHECK(out.metrics.reward_std == Approx(batch_std).epsilon(1e-12));
  CHECK(out.metrics.reward_mean == Approx(mean).epsilon(1e-12));
  CHECK(out.group_means[1] == 2.5);
  CHECK(out.group_stds[1] == Approx(std::sqrt(0.5)).epsilon(1e-12));
  CHECK(out.metrics.group_std_mean == Approx((0.478714 + std::sqrt(0.5)) / 2).epsilon(kVectorTol));
}

TEST_CASE("GroupAdvantage on uneven groups equals the same groups one by one",
          "[advantage][group]") {
  polo::Rng gen(7);
  const std::vector<Index> sizes{3, 5, 2, 7, 4};
  const SeqArrayd r = polo_test::random_seq(gen, 21, -2.0, 3.0);
  const Groups groups = Groups::from_sizes(std::span<const Index>(sizes));
  for (const Scale scale : {Scale::group, Scale::none}) {
    const GroupAdvantage op{.scale = scale};
    const auto all = op(r, groups);
    Index offset = 0;
    for (std::size_t g = 0; g < sizes.size(); ++g) {
      const Index n = sizes[g];
      const SeqArrayd part = r.segment(offset, n);
      const auto alone = op(part, Groups::uniform(n, n));
      for (Index i = 0; i < n; ++i)
        CHECK(all.advantages[offset + i] == alone.advantages[i]);
      CHECK(all.group_means[g] == alone.group_means[0]);
      CHECK(all.group_stds[g] == alone.group_stds[0]);
      offset += n;
    }
  }
}

TEST_CASE("GroupAdvantage gives exact zeros for a constant group and counts it",
          "[advantage][group]") {
  // 0.1 + 0.1 + 0.1 over 3 is not 0.1 in floating point: the advantages must still be 0.
  const SeqArrayd r = seq({0.1, 0.1, 0.1, 1.0, 0.0, 7.0, 7.0});
  const Groups groups = Groups::from_sizes({3, 2, 2});
  for (const Scale scale : {Scale::group, Scale::batch, Scale::none}) {
    const auto out = GroupAdvantage{.scale = scale, .eps = 0.0}(r, groups);
    for (const Index i : {0, 1, 2, 5, 6})
      CHECK(out.advantages[i] == 0.0);
    CHECK(std::isfinite(out.advantages[3]));
    CHECK(out.advantages[3] == -out.advantages[4]);
    CHECK(out.metrics.frac_reward_zero_std == Approx(2.0 / 3.0));
    CHECK(out.metrics.num_zero_std_groups == 2);
    CHECK(out.group_means[0] == 0.1);
    CHECK(out.group_stds[0] == 0.0);
  }
  // Float input, the same: zeros, never NaN.
  SeqArrayf f(3);
  f << 0.3F, 0.3F, 0.3F;
  const auto out = GroupAdvantage{.eps = 0.0}(f, Groups::uniform(3, 3));
  CHECK((out.advantages == 0.0F).all());
}

TEST_CASE("GroupAdvantage refuses a lone completion unless allowed, which gives it 0",
          "[advantage][group]") {
  const SeqArrayd r = seq({1.0, 0.0, 5.0, 0.5, 0.0});
  const Groups groups = Groups::from_sizes({2, 1, 2});
  const auto msg = message_of<polo::invalid_argument>([&] { (void)GroupAdvantage{}(r, groups); });
  CHECK_THAT(msg, Contains("polo::GroupAdvantage: groups: group 1 size must be >= 2"));
  CHECK_THAT(msg, Contains("allow_singleton_groups"));
  CHECK_THAT(msg, Contains("got 1"));
  const auto out = GroupAdvantage{.allow_singleton_groups = true}(r, groups);
  CHECK(out.advantages[2] == 0.0);
  CHECK(out.advantages[0] == Approx(0.5 / (std::sqrt(0.5) + 1e-4)));
  CHECK(out.metrics.num_zero_std_groups == 1);
  CHECK(out.group_means[1] == 5.0);
  CHECK(out.group_stds[1] == 0.0);
  // The same option on the other estimators.
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)RLOO{}(r, groups); }),
             Contains("polo::RLOO: groups: group 1 size must be >= 2"));
  const auto rloo = RLOO{.allow_singleton_groups = true}(r, groups);
  CHECK(rloo.advantages[2] == 0.0);
  CHECK(rloo.baselines[2] == 5.0);
}

TEST_CASE("GroupAdvantage zero-allocation form: spans, in place, float", "[advantage][group]") {
  SeqArrayd r = seq({1.0, 0.0, 0.5, 0.0});
  const Groups one = Groups::uniform(4, 4);
  std::vector<double> means(1);
  std::vector<double> stds(1);
  SeqArrayd adv(4);
  const auto m =
      GroupAdvantage{}.compute(SeqView<const double>(r), one, SeqView<double>(adv), means, stds);
  CHECK(means[0] == Approx(0.375));
  CHECK(stds[0] == Approx(0.478714).epsilon(kVectorTol));
  CHECK(m.reward_mean == Approx(0.375));
  // In place: the output may be the rewards themselves.
  (void)GroupAdvantage{}.compute(SeqView<double>(r), one, SeqView<double>(r));
  for (Index i = 0; i < 4; ++i)
    CHECK(r[i] == adv[i]);
  // Float inputs get double statistics.
  const SeqArrayf f = seq({1.0, 0.0, 0.5, 0.0}).cast<float>();
  const auto out = GroupAdvantage{}(f, one);
  for (Index i = 0; i < 4; ++i)
    CHECK(out.advantages[i] == Approx(adv[i]).epsilon(1e-6));
}

TEST_CASE("RLOO matches V14 baselines, advantages and the normalized advantages",
          "[advantage][group]") {
  const SeqArrayd r = seq({1.0, 0.0, 0.5, 0.0});
  const Groups one = Groups::uniform(4, 4);
  const auto out = RLOO{}(r, one);
  check_seq(out.baselines, {0.166667, 0.5, 0.333333, 0.5});
  check_seq(out.advantages, {0.833333, -0.5, 0.166667, -0.5});
  check_seq(RLOO{.normalize = true}(r, one).advantages, {1.30538, -0.783227, 0.261076, -0.783227});
  CHECK(out.metrics.reward_mean == Approx(0.375));
  // Uneven groups: G/(G − 1)·(R − mean) per group; a constant group gives exact zeros.
  const SeqArrayd u = seq({1.0, 2.0, 6.0, 0.1, 0.1, 0.1});
  const auto uneven = RLOO{}(u, Groups::from_sizes({3, 3}));
  check_seq(uneven.advantages, {1.5 * (1.0 - 3.0), 1.5 * (2.0 - 3.0), 1.5 * (6.0 - 3.0), 0, 0, 0},
            1e-12);
  for (const Index i : {3, 4, 5})
    CHECK(uneven.advantages[i] == 0.0);
  CHECK(uneven.metrics.frac_reward_zero_std == 0.5);
  // In place.
  SeqArrayd x = r;
  (void)RLOO{}.compute(SeqView<double>(x), one, SeqView<double>(x));
  for (Index i = 0; i < 4; ++i)
    CHECK(x[i] == out.advantages[i]);
}

TEST_CASE("ReinforcePP matches V16 (k1 shaping, returns-to-go, biased global whitening)",
          "[advantage][group]") {
  const Fixture fx;
  const polo::ReinforcePPInputs<double> in{
      .rewards = fx.rewards, .old_logp = fx.logp, .ref_logp = fx.ref, .mask = fx.mask};
  const auto out = ReinforcePP{.beta = 0.01}(in);
  polo_test::check_tokens(
      out.returns,
      polo_test::tokens(
          {{0.995, 0.997, 0.995}, {0, -0.002, 0}, {0.498, 0, 0}, {0, -0.003, -0.002}}),
      1e-12);
  const TokenArrayd expected = polo_test::tokens({{1.3322, 1.33658, 1.3322},
                                                  {-0.845975, -0.850353, 0},
                                                  {0.244209, 0, 0},
                                                  {-0.845975, -0.852542, -0.850353}});
  for (Index i = 0; i < 4; ++i) {
    for (Index t = 0; t < 3; ++t) {
      INFO("row " << i << ", col " << t);
      CHECK(out.advantages(i, t) == Approx(expected(i, t)).epsilon(kVectorTol).margin(1e-12));
    }
  }
  CHECK(out.metrics.count == 9.0);
  // verl's whitening: masked_whiten (unbiased variance + eps inside the sqrt) of the same returns.
  const auto verl = ReinforcePP{.beta = 0.01, .whitening = ReinforcePP::Whitening::verl}(in);
  const TokenArrayd want = polo::whitened(
      TokenView<const double>(out.returns), fx.mask,
      polo::WhitenOptions{.unbiased = true,
                          .eps_placement = polo::WhitenOptions::EpsPlacement::variance});
  polo_test::check_tokens(verl.advantages, want, 1e-12);
  // No whitening: the returns themselves.
  const auto raw = ReinforcePP{.beta = 0.01, .whitening = ReinforcePP::Whitening::none}(in);
  polo_test::check_tokens(raw.advantages, out.returns, 1e-15);
}

TEST_CASE("ReinforcePP baseline equals plain REINFORCE++ on group-centred rewards",
          "[advantage][group]") {
  const Fixture fx;
  const Groups groups = Groups::from_sizes({3, 1});
  const auto base = ReinforcePP{.beta = 0.01, .baseline = true}(
      polo::ReinforcePPInputs<double>{
          .rewards = fx.rewards, .old_logp = fx.logp, .ref_logp = fx.ref, .mask = fx.mask},
      groups);
  const SeqArrayd centred = seq({1.0 - 0.5, 0.0 - 0.5, 0.5 - 0.5, 0.0});
  const auto plain = ReinforcePP{.beta = 0.01}(polo::ReinforcePPInputs<double>{
      .rewards = centred, .old_logp = fx.logp, .ref_logp = fx.ref, .mask = fx.mask});
  polo_test::check_tokens(base.advantages, plain.advantages, 1e-12);
  CHECK(base.metrics.frac_reward_zero_std == 0.5);  // the lone group is constant
  // beta = 0 needs no log-probs: the mask gives T, and NaN at masked positions is never read.
  TokenArrayd old = fx.logp;
  old(1, 2) = kNaN;
  const auto no_kl = ReinforcePP{.beta = 0.0}(
      polo::ReinforcePPInputs<double>{.rewards = fx.rewards, .mask = fx.mask});
  const auto nan_masked = ReinforcePP{.beta = 0.3}(polo::ReinforcePPInputs<double>{
      .rewards = fx.rewards, .old_logp = old, .ref_logp = fx.ref, .mask = fx.mask});
  CHECK(no_kl.returns(0, 0) == 1.0);
  CHECK(no_kl.returns(3, 2) == 0.0);
  CHECK(nan_masked.advantages.allFinite());
}

TEST_CASE("MultiRewardAdvantage matches V21 for both aggregations", "[advantage][group]") {
  const TokenArrayd scores = polo_test::tokens({{0.9, 0.2}, {0.1, 0.8}, {0.5, 0.5}, {0.7, 0.9}});
  const SeqArrayd w = seq({1.0, 0.5});
  const Groups one = Groups::uniform(4, 4);
  const auto sum = MultiRewardAdvantage{}(scores, w, one);
  check_seq(sum.advantages, {0.524707, -1.22432, -0.349805, 1.04941});
  CHECK(sum.group_means[0] == Approx((1.0 + 0.5 + 0.75 + 1.15) / 4));
  const auto gdpo = MultiRewardAdvantage{
      .aggregation = MultiRewardAdvantage::Aggregation::normalize_then_sum}(scores, w, one);
  check_seq(gdpo.advantages, {0.470627, -1.20129, -0.365333, 1.096});
  CHECK(gdpo.metrics.reward_mean == Approx((1.0 + 0.5 + 0.75 + 1.15) / 4));
  CHECK(gdpo.group_means[0] == Approx((1.0 + 0.5 + 0.75 + 1.15) / 4));
  CHECK(gdpo.metrics.frac_reward_zero_std == 0.0);
  // One column with unit weight is the single-reward estimator.
  const TokenArrayd col = scores.col(0);
  const auto single = MultiRewardAdvantage{}(col, {}, one);
  check_seq(single.advantages, {1.0244, -1.31708, -0.146342, 0.439026});
}

TEST_CASE("MultiRewardAdvantage normalize_then_sum: constant groups give exact zeros",
          "[advantage][group]") {
  const TokenArrayd scores = polo_test::tokens(
      {{0.9, 0.2}, {0.1, 0.8}, {0.5, 0.5}, {0.7, 0.9}, {0.3, 0.1}, {0.3, 0.1}, {0.3, 0.1}});
  const Groups groups = Groups::from_sizes({4, 3});
  const auto out =
      MultiRewardAdvantage{.aggregation = MultiRewardAdvantage::Aggregation::normalize_then_sum}(
          scores, seq({1.0, 0.5}), groups);
  for (const Index i : {4, 5, 6})
    CHECK(out.advantages[i] == 0.0);
  CHECK(out.advantages.allFinite());
  CHECK(out.metrics.frac_reward_zero_std == 0.5);
  // A group constant in one reward function only still gets the other's signal.
  const TokenArrayd half = polo_test::tokens({{0.5, 1.0}, {0.5, 0.0}});
  const auto h =
      MultiRewardAdvantage{.aggregation = MultiRewardAdvantage::Aggregation::normalize_then_sum}(
          half, {}, Groups::uniform(2, 2));
  CHECK(h.advantages[0] > 0.0);
  CHECK(h.advantages[0] == -h.advantages[1]);
}

TEST_CASE("group estimators: every error names the field, the expectation and the value",
          "[advantage][group]") {
  using E = polo::invalid_argument;
  const SeqArrayd r = seq({1.0, 0.0, 0.5, 0.0});
  const Groups one = Groups::uniform(4, 4);
  SeqArrayd adv3(3);
  std::vector<double> two(2);
  CHECK_THAT(message_of<E>([&] { (void)GroupAdvantage{.eps = -1.0}(r, one); }),
             Contains("polo::GroupAdvantage: eps must be finite and >= 0, got -1"));
  CHECK_THAT(message_of<E>([&] { (void)GroupAdvantage{.scale = Scale{7}}(r, one); }),
             Contains("scale must be group, batch or none, got 7"));
  CHECK_THAT(message_of<E>([&] { (void)GroupAdvantage{}(r, Groups::uniform(6, 3)); }),
             Contains("polo::GroupAdvantage: groups must be offsets covering the batch of 4 "
                      "rows, got offsets ending at 6"));
  CHECK_THAT(message_of<E>([&] {
               (void)GroupAdvantage{}.compute(SeqView<const double>(r), one, SeqView<double>(adv3));
             }),
             Contains("advantages size must be [4], got [3]"));
  CHECK_THAT(
      message_of<E>([&] {
        SeqArrayd a(4);
        (void)GroupAdvantage{}.compute(SeqView<const double>(r), one, SeqView<double>(a), two);
      }),
      Contains("group_means size must be 0 (not wanted) or the number of groups (1), got 2"));
  // Non-finite rewards: nonfinite_error with the row.
  const SeqArrayd bad = seq({1.0, 0.0, kNaN, 0.0});
  try {
    (void)GroupAdvantage{}(bad, one);
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "rewards");
    CHECK(e.row() == 2);
    CHECK_THAT(std::string(e.what()), Contains("polo::GroupAdvantage: rewards must be finite"));
  }
  const SeqArrayd inf_group = seq({kInf, kInf, 0.0, 1.0});
  CHECK_THROWS_AS(GroupAdvantage{}(inf_group, Groups::uniform(4, 2)), polo::nonfinite_error);
  CHECK_THROWS_AS(RLOO{}(bad, one), polo::nonfinite_error);

  // RLOO.
  CHECK_THAT(message_of<E>([&] { (void)RLOO{.eps = kNaN}(r, one); }),
             Contains("polo::RLOO: eps must be finite and >= 0"));
  CHECK_THAT(message_of<E>([&] { (void)RLOO{}(r, Groups::uniform(2, 2)); }),
             Contains("polo::RLOO: groups must be offsets covering the batch of 4 rows"));
  CHECK_THAT(message_of<E>([&] {
               SeqArrayd a(4);
               (void)RLOO{}.compute(SeqView<const double>(r), one, SeqView<double>(a),
                                    SeqView<double>(adv3));
             }),
             Contains("polo::RLOO: baselines size must be [4], got [3]"));

  // REINFORCE++.
  const Fixture fx;
  using In = polo::ReinforcePPInputs<double>;
  const In full{.rewards = fx.rewards, .old_logp = fx.logp, .ref_logp = fx.ref, .mask = fx.mask};
  CHECK_THAT(message_of<E>([&] { (void)ReinforcePP{.beta = -0.1}(full); }),
             Contains("polo::ReinforcePP: beta must be >= 0, got -0.1"));
  CHECK_THAT(message_of<E>([&] { (void)ReinforcePP{.gamma = 1.5}(full); }),
             Contains("polo::ReinforcePP: gamma must be in [0, 1], got 1.5"));
  CHECK_THAT(message_of<E>([&] { (void)ReinforcePP{.whiten_eps = -1.0}(full); }),
             Contains("whiten_eps must be finite and >= 0, got -1"));
  CHECK_THAT(message_of<E>([&] { (void)ReinforcePP{}(In{.rewards = fx.rewards}); }),
             Contains("old_logp, ref_logp or mask must be given (they give T), got none"));
  CHECK_THAT(
      message_of<E>([&] { (void)ReinforcePP{}(In{.rewards = fx.rewards, .mask = fx.mask}); }),
      Contains("polo::ReinforcePP: old_logp must be given (beta > 0 puts k1 in the "
               "reward), got none"));
  const TokenArrayd narrow = fx.ref.leftCols(2);
  CHECK_THAT(
      message_of<E>([&] {
        (void)ReinforcePP{}(
            In{.rewards = fx.rewards, .old_logp = fx.logp, .ref_logp = narrow, .mask = fx.mask});
      }),
      Contains("ref_logp shape must be [4, 3], got [4, 2]"));
  const MaskArray small_mask = fx.mask.topRows(3);
  CHECK_THAT(
      message_of<E>([&] {
        (void)ReinforcePP{}(
            In{.rewards = fx.rewards, .old_logp = fx.logp, .ref_logp = fx.ref, .mask = small_mask});
      }),
      Contains("mask shape must be [4, 3], got [3, 3]"));
  CHECK_THAT(message_of<E>([&] { (void)ReinforcePP{.baseline = true}(full); }),
             Contains("polo::ReinforcePP: groups must be given (baseline subtracts the group "
                      "mean), got none"));
  CHECK_THAT(
      message_of<E>([&] { (void)ReinforcePP{.baseline = true}(full, Groups::uniform(2, 2)); }),
      Contains("groups must be offsets covering the batch of 4 rows"));
  TokenArrayd old = fx.logp;
  old(3, 1) = kInf;
  try {
    (void)ReinforcePP{}(
        In{.rewards = fx.rewards, .old_logp = old, .ref_logp = fx.ref, .mask = fx.mask});
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "old_logp");
    CHECK(e.row() == 3);
    CHECK(e.col() == 1);
  }

  // Several reward functions.
  const TokenArrayd scores = polo_test::tokens({{0.9, 0.2}, {0.1, 0.8}, {0.5, 0.5}, {0.7, 0.9}});
  CHECK_THAT(message_of<E>([&] {
               (void)MultiRewardAdvantage{}(scores, seq({1, 2, 3}), one);
             }),
             Contains("polo::MultiRewardAdvantage: weights size must be [2], got [3]"));
  CHECK_THAT(message_of<E>([&] {
               (void)MultiRewardAdvantage{}(scores, seq({1, kNaN}), one);
             }),
             Contains("weights[1] must be finite, got nan"));
  CHECK_THAT(message_of<E>([&] { (void)MultiRewardAdvantage{}(TokenArrayd(4, 0), {}, one); }),
             Contains("rewards columns must be >= 1 reward function, got 0"));
  CHECK_THAT(
      message_of<E>([&] { (void)MultiRewardAdvantage{.group = {.eps = -2.0}}(scores, {}, one); }),
      Contains("polo::MultiRewardAdvantage: eps must be finite and >= 0, got -2"));
  CHECK_THAT(message_of<E>([&] {
               (void)MultiRewardAdvantage{
                   .aggregation = MultiRewardAdvantage::Aggregation::normalize_then_sum}(
                   scores, {}, Groups::from_sizes({3, 1}));
             }),
             Contains("polo::MultiRewardAdvantage: groups: group 1 size must be >= 2"));
  CHECK_THAT(
      message_of<E>([&] { (void)MultiRewardAdvantage{}(scores, {}, Groups::uniform(2, 2)); }),
      Contains("groups must be offsets covering the batch of 4 rows"));
  for (const auto agg : {MultiRewardAdvantage::Aggregation::sum_then_normalize,
                         MultiRewardAdvantage::Aggregation::normalize_then_sum}) {
    TokenArrayd s = scores;
    s(2, 1) = kNaN;
    try {
      (void)MultiRewardAdvantage{.aggregation = agg}(s, {}, one);
      FAIL("no exception");
    } catch (const polo::nonfinite_error& e) {
      CHECK(e.field() == "rewards");
      CHECK(e.row() == 2);
      CHECK(e.col() == 1);
    }
  }
}

TEST_CASE("group estimators on float inputs agree with double", "[advantage][group]") {
  const Fixture fx;
  const polo::TokenArrayf logp = fx.logp.cast<float>();
  const polo::TokenArrayf ref = fx.ref.cast<float>();
  const SeqArrayf rewards = fx.rewards.cast<float>();
  const Groups groups = Groups::from_sizes({2, 2});
  const auto d = ReinforcePP{.baseline = true}(
      polo::ReinforcePPInputs<double>{
          .rewards = fx.rewards, .old_logp = fx.logp, .ref_logp = fx.ref, .mask = fx.mask},
      groups);
  const auto f = ReinforcePP{.baseline = true}(
      polo::ReinforcePPInputs<float>{
          .rewards = rewards, .old_logp = logp, .ref_logp = ref, .mask = fx.mask},
      groups);
  polo_test::check_tokens(f.advantages.cast<double>(), d.advantages, 1e-5);
  const auto rd = RLOO{.normalize = true}(fx.rewards, groups);
  const auto rf = RLOO{.normalize = true}(rewards, groups);
  for (Index i = 0; i < 4; ++i)
    CHECK(rf.advantages[i] == Approx(rd.advantages[i]).epsilon(1e-6));
  const polo::TokenArrayf scores = logp.leftCols(2);
  for (const auto agg : {MultiRewardAdvantage::Aggregation::sum_then_normalize,
                         MultiRewardAdvantage::Aggregation::normalize_then_sum}) {
    const auto md = MultiRewardAdvantage{.aggregation = agg}(TokenArrayd(fx.logp.leftCols(2)),
                                                             seq({0.3, 2.0}), groups);
    const auto mf = MultiRewardAdvantage{.aggregation = agg}(scores, seq({0.3, 2.0}), groups);
    for (Index i = 0; i < 4; ++i) {
      CHECK(mf.advantages[i] == Approx(md.advantages[i]).epsilon(1e-5));
    }
  }
  // The zero-allocation REINFORCE++ call may leave the returns out.
  polo::TokenArrayf adv(4, 3);
  const auto m = ReinforcePP{}.compute(
      polo::ReinforcePPInputs<float>{
          .rewards = rewards, .old_logp = logp, .ref_logp = ref, .mask = fx.mask},
      adv);
  CHECK(m.count == 9.0);
  CHECK(adv(0, 0) == Approx(1.3322).epsilon(1e-5));
}

}  // namespace group_advantage_test

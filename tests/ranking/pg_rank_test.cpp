// PG-Rank: golden vectors T4 and T4b, the surrogate's gradient against finite differences, the
// estimator's expectation against the exact gradient of expected nDCG (n = 4), masking, bad
// inputs.

#include "polo/ranking/pg_rank.hpp"

#include <vector>

#include "ranking/estimator_test_support.hpp"
#include "ranking/ranking_test_support.hpp"
#include "test_support.hpp"

namespace pg_rank_test {

using polo_ranking_test::kVectorTol;
using polo_ranking_test::rankings;
using polo_test::Contains;
using polo_test::message_of;

polo::Rankings t4_rankings() {
  return rankings({{3, 0, 1, 2}, {0, 3, 2, 1}, {1, 2, 0, 3}});
}

TEST_CASE("PG-Rank with the leave-one-out baseline matches golden vector T4", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  const polo::Rankings y = t4_rankings();
  const polo::PGRank loss{.cutoff = 3};
  const auto out = loss(polo::RankingInputs<double>{s, rel, y});
  // grad = -g (the reference's ascent gradient, negated).
  polo_test::check_tokens(
      out.grad_scores, polo_test::tokens({{-0.0172403, 0.0566628, 0.00195854, -0.0413811}}), 1e-7);
  CHECK(out.value == Approx(-0.0764746).epsilon(kVectorTol));
  CHECK(out.per_query[0] == Approx(out.value).epsilon(1e-15));
  CHECK(out.metrics.mean_utility ==
        Approx((0.736364 + 0.812424 + 0.692020) / 3.0).epsilon(kVectorTol));
  CHECK(out.metrics.mean_log_prob ==
        Approx((-1.43207 - 3.09430 - 6.19948) / 3.0).epsilon(kVectorTol));

  const polo::PGRank plain{.cutoff = 3, .baseline = polo::PGRankBaseline::none};
  polo_test::check_tokens(plain(polo::RankingInputs<double>{s, rel, y}).grad_scores,
                          polo_test::tokens({{-0.327984, 0.128568, -0.265968, 0.465384}}), 1e-6);
  // The mean baseline (self included) is leave-one-out scaled by (K - 1) / K.
  const polo::PGRank mean{.cutoff = 3, .baseline = polo::PGRankBaseline::mean};
  polo_test::check_tokens(mean(polo::RankingInputs<double>{s, rel, y}).grad_scores,
                          out.grad_scores * (2.0 / 3.0), 1e-15);
}

TEST_CASE("PG-Rank gradients are the surrogate's derivative (finite differences)", "[ranking]") {
  polo::Rng gen(17);
  polo::TokenArrayd s = polo_test::random_tokens(gen, 2, 6, -2.0, 2.0);
  polo::TokenArrayd rel(2, 6);
  rel << 0, 1, 2, 4, 0, 3, 1, 0, 0, 2, 0, 0;
  polo::MaskArray mask = polo::MaskArray::Ones(2, 6);
  mask(1, 5) = 0;
  const polo::Rankings y = polo::PlackettLuce<double>{s, mask}.sample(gen, 4, 3);
  for (const auto baseline : {polo::PGRankBaseline::none, polo::PGRankBaseline::leave_one_out,
                              polo::PGRankBaseline::mean}) {
    for (const bool rtg : {false, true}) {
      for (const auto metric :
           {polo::RankingMetric::ndcg, polo::RankingMetric::dcg, polo::RankingMetric::precision,
            polo::RankingMetric::reciprocal_rank}) {
        if (rtg && metric == polo::RankingMetric::reciprocal_rank) continue;
        const polo::PGRank loss{.metric = metric, .baseline = baseline, .reward_to_go = rtg};
        INFO("baseline " << static_cast<int>(baseline) << ", rtg " << rtg << ", metric "
                         << static_cast<int>(metric));
        const auto out = loss(polo::RankingInputs<double>{s, rel, y, mask});
        auto f = [&](const polo::TokenArrayd& x) {
          return loss(polo::RankingInputs<double>{x, rel, y, mask}).value;
        };
        POLO_CHECK_GRADIENT(f, s, out.grad_scores);
        CHECK(out.grad_scores(1, 5) == 0.0);
        CHECK(out.value == Approx(out.per_query.mean()).epsilon(1e-13));
      }
    }
  }
}

polo_ranking_test::Estimator pg(polo::PGRank loss) {
  return [loss](const polo::TokenArrayd& s, const polo::TokenArrayd& rel, const polo::Rankings& y) {
    return polo::TokenArrayd(-loss(polo::RankingInputs<double>{s, rel, y}).grad_scores);
  };
}

TEST_CASE("PG-Rank without a baseline is exactly unbiased: expectation by enumeration",
          "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  for (const polo::Index k : {2, 4}) {
    const auto exact = polo_ranking_test::exact_ndcg_gradient(s, rel, k);
    for (const bool rtg : {false, true}) {
      const auto e = polo_ranking_test::enumerated_expectation(
          s, rel, k, pg({.baseline = polo::PGRankBaseline::none, .reward_to_go = rtg}));
      for (std::size_t j = 0; j < 4; ++j) {
        INFO("k " << k << ", rtg " << rtg << ", item " << j);
        CHECK(e[j] == Approx(exact[j]).margin(1e-8));
      }
    }
  }
}

TEST_CASE("PG-Rank's leave-one-out estimators average to the exact gradient of expected nDCG",
          "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  const polo::Index k = 2;
  const auto exact = polo_ranking_test::exact_ndcg_gradient(s, rel, k);
  polo::Rng gen(99);
  for (const bool rtg : {false, true}) {
    INFO("reward-to-go " << rtg);
    const auto mc =
        polo_ranking_test::monte_carlo(s, rel, k, 4, 20000, gen, pg({.reward_to_go = rtg}));
    polo_ranking_test::check_unbiased(mc, exact);
  }
  // Fair-PGRank's mean baseline: the same direction, shrunk by (K - 1) / K.
  const auto mc = polo_ranking_test::monte_carlo(s, rel, k, 4, 20000, gen,
                                                 pg({.baseline = polo::PGRankBaseline::mean}));
  polo_ranking_test::check_unbiased(mc, exact, 3.0 / 4.0);
}

TEST_CASE("PG-Rank ignores padded items and queries without a relevant item", "[ranking]") {
  // The query of T4 with a padded item (NaN score and label) inserted at index 1: item j of the
  // unpadded query is item j + (j >= 1) of the padded one.
  const polo::TokenArrayd sp = polo_test::tokens({{1.0, polo_test::kNaN, 0.5, -0.5, 2.0}});
  const polo::TokenArrayd relp = polo_test::tokens({{3, polo_test::kNaN, 2, 0, 1}});
  polo::MaskArray mask = polo::MaskArray::Ones(1, 5);
  mask(0, 1) = 0;
  const polo::Rankings mapped_ok = rankings({{4, 0, 2}, {0, 3, 2}});
  const polo::TokenArrayd s4 = polo_test::tokens({{1.0, 0.5, -0.5, 2.0}});
  const polo::TokenArrayd rel4 = polo_test::tokens({{3, 2, 0, 1}});
  const polo::Rankings y4 = rankings({{3, 0, 1}, {0, 2, 1}});
  const polo::PGRank loss;
  const auto a = loss(polo::RankingInputs<double>{sp, relp, mapped_ok, mask});
  const auto b = loss(polo::RankingInputs<double>{s4, rel4, y4});
  CHECK(a.value == Approx(b.value).epsilon(1e-14));
  CHECK(a.grad_scores(0, 1) == 0.0);
  CHECK(a.grad_scores(0, 0) == Approx(b.grad_scores(0, 0)).epsilon(1e-13));
  CHECK(a.grad_scores(0, 2) == Approx(b.grad_scores(0, 1)).epsilon(1e-13));
  CHECK(a.grad_scores(0, 4) == Approx(b.grad_scores(0, 3)).epsilon(1e-13));
  // No relevant item: nDCG is 0 for every sample, so nothing moves.
  const polo::TokenArrayd zero = polo::TokenArrayd::Zero(1, 4);
  const auto c = loss(polo::RankingInputs<double>{s4, zero, y4});
  CHECK(c.value == 0.0);
  CHECK((c.grad_scores == 0.0).all());
}

TEST_CASE("PG-Rank refuses bad inputs with messages", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  const polo::Rankings one = rankings({{3, 0}});
  const polo::Rankings two = rankings({{3, 0}, {0, 1}});
  using E = polo::invalid_argument;
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{}(polo::RankingInputs<double>{s, rel, one});
             }),
             Contains("polo::PGRank: samples per query K must be >= 2 (the leave-one-out "
                      "baseline averages the other samples), got 1"));
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{.metric = polo::RankingMetric::reciprocal_rank,
                                  .reward_to_go = true}(polo::RankingInputs<double>{s, rel, two});
             }),
             Contains("reward_to_go must be false for reciprocal rank"));
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{}(polo::RankingInputs<double>{s, {}, two});
             }),
             Contains("relevance must be given ([Q, n] graded labels), got none"));
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{}(polo::RankingInputs<double>{s, rel, {}});
             }),
             Contains("rankings must be given"));
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{.cutoff = -1}(polo::RankingInputs<double>{s, rel, two});
             }),
             Contains("cutoff must be >= 0 (0: the ranking length), got -1"));
  polo::TokenArrayd neg = rel;
  neg(0, 2) = -1.0;
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{}(polo::RankingInputs<double>{s, neg, two});
             }),
             Contains("relevance[0, 2] must be >= 0 (a graded label), got -1"));
  polo::TokenArrayd nan = rel;
  nan(0, 1) = polo_test::kNaN;
  CHECK_THROWS_AS(polo::PGRank{}(polo::RankingInputs<double>{s, nan, two}), polo::nonfinite_error);
  polo::TokenArrayd grad(2, 4);
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PGRank{}.compute(polo::RankingInputs<double>{s, rel, two},
                                            polo::TokenView<double>(grad));
             }),
             Contains("grad_scores shape must be [1, 4], got [2, 4]"));
}

}  // namespace pg_rank_test

// PL-Rank: golden vectors T5 and T6, exact unbiasedness by enumeration, the Monte-Carlo mean
// against the exact gradient of expected nDCG (n = 4), lower variance than PG-Rank, masking and
// bad inputs.

#include "polo/ranking/pl_rank.hpp"

#include <vector>

#include "polo/ranking/pg_rank.hpp"
#include "ranking/estimator_test_support.hpp"
#include "ranking/ranking_test_support.hpp"
#include "test_support.hpp"

namespace pl_rank_test {

using polo_ranking_test::rankings;
using polo_test::Contains;
using polo_test::message_of;

TEST_CASE("PL-Rank-1 and PL-Rank-2 (by PL-Rank-3) match golden vector T5", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  const polo::Rankings y = rankings({{3, 0, 1, 2}, {0, 3, 2, 1}, {1, 2, 0, 3}});
  const polo::RankingInputs<double> in{s, rel, y};
  const polo::PLRank one{.metric = polo::RankingMetric::dcg,
                         .cutoff = 3,
                         .estimator = polo::PLRankEstimator::pl_rank_1};
  polo_test::check_tokens(one(in).grad_scores,
                          polo_test::tokens({{-2.45219, -0.675757, -0.368205, 3.49615}}), 1e-5);
  const polo::PLRank two{.metric = polo::RankingMetric::dcg, .cutoff = 3};
  const auto out = two(in);
  polo_test::check_tokens(out.grad_scores,
                          polo_test::tokens({{-0.511069, -0.623919, -0.368205, 3.01408}}), 1e-5);
  // The value is the surrogate -sum_d s_d g_d (g held constant).
  CHECK(out.value == Approx((s * out.grad_scores).sum()).epsilon(1e-14));
  // Cutting the rankings at the cutoff changes nothing: positions past it weigh 0.
  const polo::Rankings y3 = y.leftCols(3);
  polo_test::check_tokens(two(polo::RankingInputs<double>{s, rel, y3}).grad_scores, out.grad_scores,
                          1e-14);
}

polo_ranking_test::Estimator pl(polo::PLRank loss) {
  return [loss](const polo::TokenArrayd& s, const polo::TokenArrayd& rel, const polo::Rankings& y) {
    return polo::TokenArrayd(-loss(polo::RankingInputs<double>{s, rel, y}).grad_scores);
  };
}

TEST_CASE("PL-Rank is exactly unbiased for E[DCG@2] of golden vector T6", "[ranking]") {
  // T6: s = [0.5, 0, -0.5], gains rho = [1, 0, 3] = 2^rel - 1 with rel = [1, 0, 2].
  const polo::TokenArrayd s = polo_test::tokens({{0.5, 0.0, -0.5}});
  const polo::TokenArrayd rel = polo_test::tokens({{1, 0, 2}});
  const std::vector<double> rho{1, 0, 3};
  auto dcg2 = [&](const std::vector<std::int32_t>& y) {
    return rho[static_cast<std::size_t>(y[0])] +
           rho[static_cast<std::size_t>(y[1])] / std::log2(3.0);
  };
  const std::vector<double> sv{0.5, 0.0, -0.5};
  CHECK(polo_ranking_test::exact_expectation(sv, {0, 1, 2}, dcg2) == Approx(1.79863).epsilon(5e-6));
  const auto exact = polo_ranking_test::exact_gradient(sv, {0, 1, 2}, dcg2);
  const std::vector<double> t6{-0.0911452, -0.507376, 0.598521};
  for (std::size_t j = 0; j < 3; ++j)
    CHECK(exact[j] == Approx(t6[j]).epsilon(5e-6));
  for (const auto estimator :
       {polo::PLRankEstimator::pl_rank_1, polo::PLRankEstimator::pl_rank_2}) {
    const auto e = polo_ranking_test::enumerated_expectation(
        s, rel, 2, pl({.metric = polo::RankingMetric::dcg, .estimator = estimator}));
    for (std::size_t j = 0; j < 3; ++j) {
      INFO("estimator " << static_cast<int>(estimator) << ", item " << j);
      CHECK(e[j] == Approx(t6[j]).epsilon(5e-6));
    }
  }
}

TEST_CASE("PL-Rank's expectation is the exact gradient of expected nDCG for n = 4", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  for (const polo::Index k : {2, 4}) {
    const auto exact = polo_ranking_test::exact_ndcg_gradient(s, rel, k);
    for (const auto est : {polo::PLRankEstimator::pl_rank_1, polo::PLRankEstimator::pl_rank_2}) {
      const auto e = polo_ranking_test::enumerated_expectation(s, rel, k, pl({.estimator = est}));
      for (std::size_t j = 0; j < 4; ++j) {
        INFO("k " << k << ", estimator " << static_cast<int>(est) << ", item " << j);
        CHECK(e[j] == Approx(exact[j]).margin(1e-8));
      }
    }
    polo::Rng gen(123);
    const auto mc = polo_ranking_test::monte_carlo(s, rel, k, 4, 20000, gen, pl({}));
    polo_ranking_test::check_unbiased(mc, exact);
  }
}

polo_ranking_test::Estimator pg_estimator() {
  return [](const polo::TokenArrayd& s, const polo::TokenArrayd& rel, const polo::Rankings& y) {
    return polo::TokenArrayd(-polo::PGRank{}(polo::RankingInputs<double>{s, rel, y}).grad_scores);
  };
}

TEST_CASE("PL-Rank-2 has a lower variance than PG-Rank with leave-one-out at equal K",
          "[ranking]") {
  // A LETOR-like query at a near-uniform policy (as at initialization): 60 items, about one in
  // seven relevant, K = 16 samples of the top 10, nDCG@10.
  polo::Rng gen(8);
  const polo::Index n = 60;
  polo::TokenArrayd s(1, n), rel(1, n);
  for (polo::Index j = 0; j < n; ++j) {
    rel(0, j) = polo::uniform(gen) < 0.15 ? static_cast<double>(1 + polo::uniform_int(gen, 4)) : 0;
    s(0, j) = 0.5 * (0.3 * rel(0, j) + polo::normal(gen));
  }
  auto total_variance = [&](const polo_ranking_test::Estimator& e) {
    const int trials = 2000;
    const auto mc = polo_ranking_test::monte_carlo(s, rel, 10, 16, trials, gen, e);
    double v = 0.0;
    for (const double se : mc.stderr_of_mean)
      v += se * se * trials;
    return v;
  };
  const double plrank = total_variance(pl({}));
  const double pgrank = total_variance(pg_estimator());
  INFO("trace of the covariance: PL-Rank-2 " << plrank << ", PG-Rank LOO " << pgrank);
  CHECK(plrank < pgrank);
}

TEST_CASE("PL-Rank ignores padded items", "[ranking]") {
  const polo::TokenArrayd sp = polo_test::tokens({{1.0, polo_test::kNaN, 0.5, -0.5, 2.0}});
  const polo::TokenArrayd relp = polo_test::tokens({{3, polo_test::kNaN, 2, 0, 1}});
  polo::MaskArray mask = polo::MaskArray::Ones(1, 5);
  mask(0, 1) = 0;
  const polo::TokenArrayd s4 = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel4 = polo_ranking_test::common_relevance();
  const polo::PLRank loss;
  const auto a =
      loss(polo::RankingInputs<double>{sp, relp, rankings({{4, 0, 2}, {0, 3, 2}}), mask});
  const auto b = loss(polo::RankingInputs<double>{s4, rel4, rankings({{3, 0, 1}, {0, 2, 1}})});
  CHECK(a.value == Approx(b.value).epsilon(1e-14));
  CHECK(a.grad_scores(0, 1) == 0.0);
  CHECK(a.grad_scores(0, 0) == Approx(b.grad_scores(0, 0)).epsilon(1e-13));
  CHECK(a.grad_scores(0, 3) == Approx(b.grad_scores(0, 2)).epsilon(1e-13));
}

TEST_CASE("PL-Rank refuses bad inputs with messages", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  const polo::Rankings y = rankings({{3, 0}});
  using E = polo::invalid_argument;
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PLRank{.metric = polo::RankingMetric::reciprocal_rank}(
                   polo::RankingInputs<double>{s, rel, y});
             }),
             Contains("polo::PLRank: metric must be an additive metric (ndcg, dcg or precision), "
                      "got reciprocal_rank"));
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PLRank{.relevant_at = -1}(polo::RankingInputs<double>{s, rel, y});
             }),
             Contains("relevant_at must be >= 0, got -1"));
  const polo::TokenArrayd rel2(2, 4);
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PLRank{}(polo::RankingInputs<double>{s, rel2, y});
             }),
             Contains("relevance shape must be [1, 4], got [2, 4]"));
}

}  // namespace pl_rank_test

namespace pl_rank_underflow_test {

TEST_CASE("PG-Rank and PL-Rank stay finite and exact when denominators underflow", "[ranking]") {
  const polo::TokenArrayd big = polo_test::tokens({{1000.0, 999.0, 0.0, -1.0, 0.5}});
  const polo::TokenArrayd rel = polo_test::tokens({{2, 0, 1, 3, 0}});
  const polo::Rankings y = polo_ranking_test::rankings({{0, 1, 2}, {0, 1, 4}, {1, 0, 3}});
  const auto pl = polo::PLRank{}(polo::RankingInputs<double>{big, rel, y});
  const auto pg = polo::PGRank{}(polo::RankingInputs<double>{big, rel, y});
  CHECK(pl.grad_scores.isFinite().all());
  CHECK(pg.grad_scores.isFinite().all());
  const auto one = polo::PLRank{.estimator = polo::PLRankEstimator::pl_rank_1}(
      polo::RankingInputs<double>{big, rel, y});
  CHECK(one.grad_scores.isFinite().all());
  auto f = [&](const polo::TokenArrayd& x) {
    return polo::PGRank{}(polo::RankingInputs<double>{x, rel, y}).value;
  };
  POLO_CHECK_GRADIENT(f, big, pg.grad_scores);
}

}  // namespace pl_rank_underflow_test

namespace pl_rank_wide_scores_test {

TEST_CASE("Estimators stay accurate when late denominators are tiny (float scores)", "[ranking]") {
  // Two items 180 above the rest: after they are placed, D_k ~ e^-180, and a gradient written as a
  // total minus the later terms would cancel numbers of size e^180 (inf in float).
  const polo::TokenArrayf s =
      polo_test::tokens({{160.0, 150.0, -20.0, -21.0, -19.5, -22.0}}).cast<float>();
  const polo::TokenArrayf rel = polo_test::tokens({{2, 0, 1, 3, 0, 1}}).cast<float>();
  polo::Rng gen(3);
  const polo::Rankings y = polo::PlackettLuce<float>{s}.sample(gen, 4, 4);
  const auto pg = polo::PGRank{}(polo::RankingInputs<float>{s, rel, y});
  const auto pl = polo::PLRank{}(polo::RankingInputs<float>{s, rel, y});
  CHECK(pg.grad_scores.isFinite().all());
  CHECK(pl.grad_scores.isFinite().all());
  // The same in double, and the float result agrees with it.
  const polo::TokenArrayd sd = s.cast<double>();
  const polo::TokenArrayd reld = rel.cast<double>();
  const auto pgd = polo::PGRank{}(polo::RankingInputs<double>{sd, reld, y});
  const auto pld = polo::PLRank{}(polo::RankingInputs<double>{sd, reld, y});
  for (polo::Index j = 0; j < 6; ++j) {
    CHECK(pg.grad_scores(0, j) == Approx(pgd.grad_scores(0, j)).margin(1e-6));
    CHECK(pl.grad_scores(0, j) == Approx(pld.grad_scores(0, j)).margin(1e-6));
  }
  auto f = [&](const polo::TokenArrayd& x) {
    return polo::PGRank{}(polo::RankingInputs<double>{x, reld, y}).value;
  };
  POLO_CHECK_GRADIENT(f, sd, pgd.grad_scores);
}

}  // namespace pl_rank_wide_scores_test

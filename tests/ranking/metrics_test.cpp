// Ranking metrics: golden vectors T3 and T3b, hand-computed precision, recall and reciprocal rank,
// ideal DCG 0, empty slots and bad inputs.

#include "polo/ranking/metrics.hpp"

#include <cstdint>
#include <vector>

#include "test_support.hpp"

namespace ranking_metrics_test {

using polo_test::Contains;
using polo_test::message_of;

const std::vector<double> kRel{3, 2, 0, 1};
const std::vector<std::int32_t> kRanking{3, 0, 1, 2};

std::span<const double> rel() {
  return {kRel.data(), kRel.size()};
}
std::span<const std::int32_t> ranking() {
  return {kRanking.data(), kRanking.size()};
}

TEST_CASE("DCG and nDCG at 3 match golden vectors T3 and T3b", "[ranking]") {
  CHECK(polo::dcg_at_k(ranking(), rel(), 3) == Approx(6.91651).epsilon(5e-6));
  CHECK(polo::ideal_dcg_at_k(rel(), 3) == Approx(9.39279).epsilon(5e-6));
  CHECK(polo::ndcg_at_k(ranking(), rel(), 3) == Approx(0.736364).epsilon(5e-6));
  CHECK(polo::dcg_at_k(ranking(), rel(), 3, polo::Gain::linear) == Approx(3.89279).epsilon(5e-6));
  CHECK(polo::ideal_dcg_at_k(rel(), 3, polo::Gain::linear) == Approx(4.76186).epsilon(5e-6));
  CHECK(polo::ndcg_at_k(ranking(), rel(), 3, polo::Gain::linear) == Approx(0.817494).epsilon(5e-6));
  // By hand: (2^1 - 1)/log2 2 + (2^3 - 1)/log2 3 = 1 + 4.41650 = 5.41650 at k = 2.
  CHECK(polo::dcg_at_k(ranking(), rel(), 2) == Approx(1.0 + 7.0 / std::log2(3.0)).epsilon(1e-15));
  // The ideal order scores 1; a cutoff past the list counts every item.
  const std::vector<std::int32_t> ideal{0, 1, 3, 2};
  CHECK(polo::ndcg_at_k(std::span<const std::int32_t>(ideal), rel(), 10) == Approx(1.0));
}

TEST_CASE("A query without a relevant item has nDCG 0; empty slots count nothing", "[ranking]") {
  const std::vector<double> none{0, 0, 0};
  const std::vector<std::int32_t> y{2, 0, 1};
  CHECK(polo::ideal_dcg_at_k(std::span<const double>(none), 3) == 0.0);
  CHECK(polo::ndcg_at_k(std::span<const std::int32_t>(y), std::span<const double>(none), 3) == 0.0);
  const std::vector<std::int32_t> short_list{0, -1, -1};
  CHECK(polo::dcg_at_k(std::span<const std::int32_t>(short_list), rel(), 3) == Approx(7.0));
}

TEST_CASE("Precision, recall and reciprocal rank by hand", "[ranking]") {
  CHECK(polo::precision_at_k(ranking(), rel(), 2) == 1.0);
  CHECK(polo::precision_at_k(ranking(), rel(), 3, 2.0) == Approx(2.0 / 3.0));
  CHECK(polo::precision_at_k(ranking(), rel(), 8) == Approx(3.0 / 8.0));  // / k, not / n
  CHECK(polo::recall_at_k(ranking(), rel(), 2, 2.0) == 0.5);
  CHECK(polo::recall_at_k(ranking(), rel(), 3, 2.0) == 1.0);
  CHECK(polo::reciprocal_rank(ranking(), rel(), 2.0) == 0.5);
  CHECK(polo::reciprocal_rank(ranking(), rel()) == 1.0);
  CHECK(polo::reciprocal_rank(ranking(), rel(), 4.0) == 0.0);
  const std::vector<double> none{0, 0, 0, 0};
  CHECK(polo::recall_at_k(ranking(), std::span<const double>(none), 2) == 0.0);
}

TEST_CASE("Metrics refuse bad inputs with messages", "[ranking]") {
  using E = polo::invalid_argument;
  CHECK_THAT(message_of<E>([] { (void)polo::dcg_at_k(ranking(), rel(), 0); }),
             Contains("polo::dcg_at_k: k must be >= 1, got 0"));
  const std::vector<std::int32_t> bad{0, 7};
  CHECK_THAT(
      message_of<E>([&] { (void)polo::ndcg_at_k(std::span<const std::int32_t>(bad), rel(), 2); }),
      Contains("ranking entry must be in [0, 4) or -1, got 7"));
  CHECK_THAT(message_of<E>([] { (void)polo::precision_at_k(ranking(), rel(), -1); }),
             Contains("k must be >= 1, got -1"));
}

}  // namespace ranking_metrics_test

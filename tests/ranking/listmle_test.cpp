// ListMLE: golden vector T7, finite differences, top-k targets, random tie-breaks, bad inputs.

#include "polo/ranking/listmle.hpp"

#include "ranking/ranking_test_support.hpp"
#include "test_support.hpp"

namespace listmle_test {

using polo_ranking_test::kVectorTol;
using polo_ranking_test::rankings;
using polo_test::Contains;
using polo_test::message_of;

TEST_CASE("ListMLE matches golden vector T7", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::Rankings target = rankings({{0, 1, 3, 2}});
  const auto out = polo::ListMLE{}(polo::RankingInputs<double>{s, {}, target});
  CHECK(out.value == Approx(3.35993).epsilon(kVectorTol));
  polo_test::check_tokens(out.grad_scores,
                          polo_test::tokens({{-0.780120, -0.695683, 0.187810, 1.28799}}), 1e-5);
  // Targets from the labels rel = [3, 2, 0, 1] (no ties) are that order.
  const polo::TokenArrayd rel = polo_ranking_test::common_relevance();
  polo::Rng gen(1);
  CHECK((polo::listmle_targets(polo::TokenView<const double>(rel), {}, 4, gen) == target).all());
}

TEST_CASE("ListMLE gradients match finite differences, top-k and padded", "[ranking]") {
  polo::Rng gen(21);
  polo::TokenArrayd s = polo_test::random_tokens(gen, 2, 5, -2.0, 2.0);
  polo::MaskArray mask = polo::MaskArray::Ones(2, 5);
  mask(0, 3) = 0;
  const polo::Rankings target = rankings({{4, 0, 2}, {1, 3, 0}});
  const auto out = polo::ListMLE{}(polo::RankingInputs<double>{s, {}, target, mask});
  auto f = [&](const polo::TokenArrayd& x) {
    return polo::ListMLE{}(polo::RankingInputs<double>{x, {}, target, mask}).value;
  };
  POLO_CHECK_GRADIENT(f, s, out.grad_scores);
  CHECK(out.grad_scores(0, 3) == 0.0);
}

TEST_CASE("ListMLE targets break ties at random and skip padding", "[ranking]") {
  const polo::TokenArrayd rel = polo_test::tokens({{1, 1, 0, 2, polo_test::kNaN}});
  polo::MaskArray mask = polo::MaskArray::Ones(1, 5);
  mask(0, 4) = 0;
  polo::Rng gen(5);
  int first = 0;
  const int draws = 2000;
  for (int t = 0; t < draws; ++t) {
    const polo::Rankings y =
        polo::listmle_targets(polo::TokenView<const double>(rel), mask, 6, gen);
    REQUIRE(y(0, 0) == 3);
    REQUIRE(y(0, 3) == 2);
    REQUIRE(y(0, 4) == -1);
    REQUIRE(y(0, 5) == -1);
    first += y(0, 1) == 0 ? 1 : 0;
  }
  // Binomial(2000, 1/2): 5 standard deviations are 112; index order would give 2000.
  CHECK(std::abs(first - draws / 2) < 112);
}

TEST_CASE("ListMLE refuses bad inputs with messages", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  using E = polo::invalid_argument;
  CHECK_THAT(message_of<E>([&] {
               (void)polo::ListMLE{}(polo::RankingInputs<double>{s, {}, rankings({{0, 0}})});
             }),
             Contains("polo::ListMLE: rankings[0, 1] must be an item not already ranked in row 0"));
  polo::Rng gen(1);
  CHECK_THAT(message_of<E>([&] {
               (void)polo::listmle_targets(polo::TokenView<const double>(s), {}, 0, gen);
             }),
             Contains("polo::listmle_targets: top_k must be >= 1, got 0"));
}

}  // namespace listmle_test

// EntropyBonus: value -Agg(H), gradient -w, finite differences, masking and errors.

#include <cmath>
#include <limits>

#include "polo/losses/entropy_bonus.hpp"
#include "test_support.hpp"

using polo::Aggregation;
using polo::EntropyBonus;
using polo::EntropyInputs;
using polo::Index;
using polo::TokenArrayd;
using polo_test::Contains;

TEST_CASE("EntropyBonus is minus the aggregated entropy", "[losses][ppo][entropy]") {
  TokenArrayd h(2, 3);
  h << 1.0, 0.5, 2.0, 0.25, 1.5, 9.0;
  TokenArrayd mask(2, 3);
  mask << 1, 1, 1, 1, 1, 0;
  const auto out = EntropyBonus{}({h, mask});
  CHECK(out.value == Approx(-(1.0 + 0.5 + 2.0 + 0.25 + 1.5) / 5.0));
  CHECK(out.metrics.entropy_mean == Approx(1.05));
  CHECK(out.metrics.valid_tokens == 5.0);
  CHECK(out.grad_entropy(0, 0) == Approx(-0.2));
  CHECK(out.grad_entropy(1, 2) == 0.0);
  CHECK(out.per_token(0, 2) == -2.0);
  const auto seq = EntropyBonus{Aggregation::seq_mean_token_mean()}({h, mask});
  CHECK(seq.value == Approx(-0.5 * (3.5 / 3.0 + 1.75 / 2.0)));
  CHECK(seq.grad_entropy(1, 0) == Approx(-0.25));
}

TEST_CASE("EntropyBonus gradient matches finite differences", "[losses][ppo][entropy][gradcheck]") {
  polo::Rng gen(23);
  const TokenArrayd h = polo_test::random_tokens(gen, 3, 4, 0.0, 2.0);
  polo::MaskArray mask = polo::MaskArray::Ones(3, 4);
  mask(0, 3) = 0;
  mask.row(2).setZero();
  for (const auto& agg : {Aggregation::token_mean(), Aggregation::seq_mean_token_mean(),
                          Aggregation::seq_mean_token_sum(4.0), Aggregation::token_sum_over(7.0)}) {
    const EntropyBonus loss{agg};
    const auto out = loss({h, mask});
    auto f = [&](const TokenArrayd& x) { return loss({x, mask}).value; };
    POLO_CHECK_GRADIENT(f, h, out.grad_entropy);
    TokenArrayd grad(3, 4);
    const auto v = loss.compute(EntropyInputs<double>{h, mask}, polo::TokenView<double>(grad));
    CHECK(v.value == out.value);
    CHECK((grad == out.grad_entropy).all());
  }
}

TEST_CASE("EntropyBonus ignores padding, reports non-finite entropies",
          "[losses][ppo][entropy][errors]") {
  TokenArrayd h = TokenArrayd::Constant(2, 3, 0.7);
  polo::MaskArray mask = polo::MaskArray::Ones(2, 3);
  mask(1, 1) = 0;
  h(1, 1) = std::numeric_limits<double>::quiet_NaN();
  const auto out = EntropyBonus{}({h, mask});
  CHECK(out.value == Approx(-0.7));
  h(0, 2) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(EntropyBonus{}({h, mask}), polo::nonfinite_error);
  CHECK_THROWS_WITH(EntropyBonus{}({h, mask}), Contains("entropy") && Contains("row 0, column 2"));
  const polo::MaskArray wrong = polo::MaskArray::Ones(3, 3);
  CHECK_THROWS_WITH(EntropyBonus{}({h, wrong}),
                    "polo::EntropyBonus: mask shape must be [2, 3], got [3, 3]");
  CHECK_THROWS_WITH(EntropyBonus{Aggregation::token_sum_over(0.0)}({h, mask}),
                    Contains("aggregation.normalizer"));
  TokenArrayd grad(2, 2);
  CHECK_THROWS_WITH(
      EntropyBonus{}.compute(EntropyInputs<double>{h, mask}, polo::TokenView<double>(grad)),
      Contains("grad_entropy shape"));
}

#include "polo/advantage/gae.hpp"

#include <cmath>
#include <limits>

#include "polo/advantage/whiten.hpp"
#include "test_support.hpp"

using polo::GAE;
using polo::GAEInputs;
using polo::Index;
using polo::MaskArray;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo_test::Contains;

namespace gae_test {

using polo_test::kNaN;

void check_row(const TokenArrayd& x, Index row, std::initializer_list<double> expected,
               double rel) {
  Index t = 0;
  for (const double e : expected) {
    INFO("row " << row << ", column " << t);
    CHECK(x(row, t) == Approx(e).epsilon(rel).margin(1e-12));
    ++t;
  }
}

TEST_CASE("GAE matches V6: a 5-step trajectory with a terminal", "[gae]") {
  TokenArrayd r(1, 5);
  TokenArrayd v(1, 5);
  MaskArray done = MaskArray::Zero(1, 5);
  r << 0.5, -0.2, 1.0, 0.0, 2.0;
  v << 0.3, 0.1, 0.8, -0.4, 0.6;
  done(0, 2) = 1;
  SeqArrayd boot(1);
  boot << 0.7;
  const auto out = GAE{.gamma = 0.99, .lambda = 0.95}(
      GAEInputs<double>{.rewards = r, .values = v, .terminated = done, .bootstrap = boot});
  // V6 to its 6 significant digits ...
  check_row(out.advantages, 0, {0.938634, 0.6801, 0.2, 2.96247, 2.093}, 5e-6);
  check_row(out.returns, 0, {1.23863, 0.7801, 1.0, 2.56247, 2.693}, 5e-6);
  // ... and exactly: d = [0.299, 0.492, 0.2, 0.994, 2.093], A_3 = 0.994 + 0.9405 * 2.093,
  // A_2 = d_2 (terminal), A_1 = 0.492 + 0.9405 * 0.2, A_0 = 0.299 + 0.9405 * 0.6801.
  check_row(out.advantages, 0, {0.93863405, 0.6801, 0.2, 2.9624665, 2.093}, 1e-12);

  // The zero-allocation form writes the same numbers, also in float.
  const polo::TokenArrayf rf = r.cast<float>();
  const polo::TokenArrayf vf = v.cast<float>();
  const polo::SeqArrayf bf = boot.cast<float>();
  polo::TokenArrayf adv(1, 5);
  polo::TokenArrayf ret(1, 5);
  GAE{.gamma = 0.99, .lambda = 0.95}.compute(
      GAEInputs<float>{.rewards = rf, .values = vf, .terminated = done, .bootstrap = bf}, adv, ret);
  for (Index t = 0; t < 5; ++t) {
    CHECK(adv(0, t) == Approx(out.advantages(0, t)).epsilon(1e-6));
    CHECK(ret(0, t) == Approx(out.returns(0, t)).epsilon(1e-6));
  }
}

TEST_CASE("GAE matches V6's LLM variant (gamma 1, no dones, no bootstrap)", "[gae]") {
  TokenArrayd r(1, 5);
  TokenArrayd v(1, 5);
  r << 0.5, -0.2, 1.0, 0.0, 2.0;
  v << 0.3, 0.1, 0.8, -0.4, 0.6;
  const auto out = GAE{.gamma = 1.0, .lambda = 0.95}(GAEInputs<double>{.rewards = r, .values = v});
  check_row(out.advantages, 0, {2.59218, 2.41282, 2.0135, 2.33, 1.4}, 5e-6);
  check_row(out.returns, 0, {2.89218, 2.51282, 2.8135, 1.93, 2.0}, 5e-6);
  // Exactly (gamma = 1 keeps every product a short decimal).
  check_row(out.advantages, 0, {2.59218375, 2.412825, 2.0135, 2.33, 1.4}, 1e-12);
}

TEST_CASE("GAE: truncation bootstraps from final_values, termination does not", "[gae]") {
  // gamma = 0.9, lambda = 0.5, so gamma * lambda = 0.45. Two rows, T = 5.
  TokenArrayd r(2, 5);
  TokenArrayd v(2, 5);
  TokenArrayd fin(2, 5);
  MaskArray term = MaskArray::Zero(2, 5);
  MaskArray trunc = MaskArray::Zero(2, 5);
  SeqArrayd boot(2);
  r << 1.0, 0.0, 2.0, 1.0, 1.0,  //
      0.5, 0.5, 0.5, 0.5, 0.5;
  v << 0.5, 0.2, 1.0, 0.4, 0.3,  //
      1.0, 1.0, 1.0, 1.0, 1.0;
  // final_values is read only at truncated (and not terminated) steps: NaN everywhere else proves
  // it, and row 1's 7.0 at a step that is both terminated and truncated must be ignored.
  fin << kNaN, 2.0, kNaN, kNaN, kNaN,  //
      kNaN, kNaN, 7.0, kNaN, 5.0;
  boot << 0.6, 100.0;  // row 1 ends truncated, so its bootstrap is never used
  trunc(0, 1) = 1;     // row 0: time limit at t = 1 (t = 2 starts a new episode)
  term(0, 3) = 1;      // row 0: terminal at t = 3
  term(1, 2) = 1;      // row 1: both flags at t = 2 -> terminated wins
  trunc(1, 2) = 1;
  trunc(1, 4) = 1;  // row 1: time limit on the last step

  // Row 0, backwards:
  //   t=4  plain, last step:  next = bootstrap 0.6; d = 1 + 0.9*0.6 - 0.3 = 1.24;   A = 1.24
  //   t=3  terminated:        next = 0;             d = 1 + 0 - 0.4       = 0.6;    A = 0.6 (cut)
  //   t=2  plain:             next = V3 = 0.4;      d = 2 + 0.36 - 1.0    = 1.36;   A = 1.36 +
  //   0.45*0.6 = 1.63 t=1  truncated:         next = final 2.0;     d = 0 + 1.8 - 0.2     = 1.6; A
  //   = 1.6 (cut;
  //                           V2 = 1.0 belongs to the next episode and is not used)
  //   t=0  plain:             next = V1 = 0.2;      d = 1 + 0.18 - 0.5    = 0.68;   A = 0.68 +
  //   0.45*1.6 = 1.4 returns = A + V = [1.9, 1.8, 2.63, 1.0, 1.54]
  // Row 1, backwards:
  //   t=4  truncated:         next = final 5.0;     d = 0.5 + 4.5 - 1     = 4.0;    A = 4.0
  //   (bootstrap 100 unused) t=3  plain:             next = V4 = 1;        d = 0.5 + 0.9 - 1     =
  //   0.4;    A = 0.4 + 0.45*4.0 = 2.2 t=2  terminated+trunc:  next = 0 (not 7.0);   d = 0.5 - 1 =
  //   -0.5;   A = -0.5 (cut) t=1  plain:             next = V2 = 1;        d = 0.4; A = 0.4 +
  //   0.45*(-0.5) = 0.175 t=0  plain:             next = V1 = 1;        d = 0.4; A = 0.4 +
  //   0.45*0.175 = 0.47875 returns = [1.47875, 1.175, 0.5, 3.2, 5.0]
  const GAEInputs<double> in{.rewards = r,
                             .values = v,
                             .terminated = term,
                             .truncated = trunc,
                             .final_values = fin,
                             .bootstrap = boot};
  const auto out = GAE{.gamma = 0.9, .lambda = 0.5}(in);
  check_row(out.advantages, 0, {1.4, 1.6, 1.63, 0.6, 1.24}, 1e-12);
  check_row(out.returns, 0, {1.9, 1.8, 2.63, 1.0, 1.54}, 1e-12);
  check_row(out.advantages, 1, {0.47875, 0.175, -0.5, 2.2, 4.0}, 1e-12);
  check_row(out.returns, 1, {1.47875, 1.175, 0.5, 3.2, 5.0}, 1e-12);

  // Folding the truncation into termination (CleanRL) drops the bootstrap: row 0, t = 1 becomes
  // d = 0 - 0.2 = -0.2 and t = 0 becomes 0.68 + 0.45 * (-0.2) = 0.59.
  MaskArray folded = term;
  folded(0, 1) = 1;
  const auto cleanrl = GAE{.gamma = 0.9, .lambda = 0.5}(
      GAEInputs<double>{.rewards = r, .values = v, .terminated = folded, .bootstrap = boot});
  CHECK(cleanrl.advantages(0, 1) == Approx(-0.2));
  CHECK(cleanrl.advantages(0, 0) == Approx(0.59));
}

TEST_CASE("GAE with a token mask passes masked steps through (verl)", "[gae]") {
  // Masked steps inside a row behave as if they were removed from it.
  TokenArrayd r(1, 6);
  TokenArrayd v(1, 6);
  MaskArray mask(1, 6);
  r << 0.1, kNaN, 0.3, kNaN, -0.2, 1.0;
  v << 0.5, kNaN, 0.2, kNaN, 0.4, -0.1;
  mask << 1, 0, 1, 0, 1, 1;
  TokenArrayd rc(1, 4);
  TokenArrayd vc(1, 4);
  rc << 0.1, 0.3, -0.2, 1.0;
  vc << 0.5, 0.2, 0.4, -0.1;
  SeqArrayd boot(1);
  boot << 0.25;
  const GAE gae{.gamma = 0.97, .lambda = 0.9};
  const auto masked =
      gae(GAEInputs<double>{.rewards = r, .values = v, .bootstrap = boot, .mask = mask});
  const auto compact = gae(GAEInputs<double>{.rewards = rc, .values = vc, .bootstrap = boot});
  const Index valid[] = {0, 2, 4, 5};
  for (Index k = 0; k < 4; ++k) {
    CHECK(masked.advantages(0, valid[k]) == Approx(compact.advantages(0, k)).epsilon(1e-14));
    CHECK(masked.returns(0, valid[k]) == Approx(compact.returns(0, k)).epsilon(1e-14));
  }
  CHECK(masked.advantages(0, 1) == 0.0);
  CHECK(masked.returns(0, 3) == 0.0);
}

TEST_CASE("GAE refuses bad hyper-parameters, shapes and non-finite inputs", "[gae]") {
  TokenArrayd r = TokenArrayd::Ones(2, 3);
  TokenArrayd v = TokenArrayd::Zero(2, 3);
  MaskArray trunc = MaskArray::Zero(2, 3);
  const GAEInputs<double> ok{.rewards = r, .values = v};
  CHECK_THROWS_AS(GAE{.gamma = 1.5}(ok), polo::invalid_argument);
  CHECK_THROWS_WITH(GAE{.gamma = 1.5}(ok), Contains("gamma must be in [0, 1], got 1.5"));
  CHECK_THROWS_WITH(GAE{.lambda = -0.1}(ok), Contains("lambda"));

  TokenArrayd v_short = TokenArrayd::Zero(2, 2);
  CHECK_THROWS_WITH(GAE{}(GAEInputs<double>{.rewards = r, .values = v_short}),
                    Contains("values shape must be [2, 3], got [2, 2]"));
  MaskArray term_bad = MaskArray::Zero(3, 3);
  CHECK_THROWS_WITH(GAE{}(GAEInputs<double>{.rewards = r, .values = v, .terminated = term_bad}),
                    Contains("terminated shape"));
  CHECK_THROWS_WITH(GAE{}(GAEInputs<double>{.rewards = r, .values = v, .truncated = trunc}),
                    Contains("final_values"));
  SeqArrayd boot(3);
  boot.setZero();
  CHECK_THROWS_WITH(GAE{}(GAEInputs<double>{.rewards = r, .values = v, .bootstrap = boot}),
                    Contains("bootstrap size must be [2], got [3]"));
  TokenArrayd adv(2, 3);
  TokenArrayd ret(2, 4);
  CHECK_THROWS_WITH(GAE{}.compute(ok, adv, ret), Contains("returns shape"));

  // A broadcast output (row stride 0) cannot hold per-row results.
  CHECK_THROWS_WITH(GAE{}.compute(ok, polo::TokenView<double>(adv.data(), 2, 3, 0), adv),
                    Contains("advantages row stride"));
  // An empty rollout is fine.
  const auto empty = GAE{}(GAEInputs<double>{});
  CHECK(empty.advantages.size() == 0);

  r(1, 2) = kNaN;
  CHECK_THROWS_AS(GAE{}(ok), polo::nonfinite_error);
  CHECK_THROWS_WITH(GAE{}(ok), Contains("rewards"));
  CHECK_THROWS_WITH(GAE{}(ok), Contains("row 1, column 2"));
  r(1, 2) = 1.0;
  TokenArrayd fin = TokenArrayd::Zero(2, 3);
  fin(0, 1) = std::numeric_limits<double>::infinity();
  trunc(0, 1) = 1;
  try {
    (void)GAE{}(
        GAEInputs<double>{.rewards = r, .values = v, .truncated = trunc, .final_values = fin});
    FAIL("expected a nonfinite_error");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "final_values");
    CHECK(e.row() == 0);
    CHECK(e.col() == 1);
  }
}

TEST_CASE("docs/algorithms/gae.md usage snippet compiles and runs", "[gae][docs]") {
  // Buffers as a 4-env, 8-step rollout would fill them.
  polo::Rng gen(3);
  polo::TokenArrayf rewards = polo_test::random_tokens(gen, 4, 8).cast<float>();
  polo::TokenArrayf values = polo_test::random_tokens(gen, 4, 8).cast<float>();
  polo::TokenArrayf final_values = polo_test::random_tokens(gen, 4, 8).cast<float>();
  polo::MaskArray terminated = MaskArray::Zero(4, 8);
  polo::MaskArray truncated = MaskArray::Zero(4, 8);
  terminated(0, 3) = 1;
  truncated(2, 5) = 1;
  polo::SeqArrayf next_value = polo_test::random_seq(gen, 4).cast<float>();

  // --- snippet ---
  const polo::GAE gae{.gamma = 0.99, .lambda = 0.95};
  auto [advantages, returns] = gae(polo::GAEInputs<float>{.rewards = rewards,
                                                          .values = values,
                                                          .terminated = terminated,
                                                          .truncated = truncated,
                                                          .final_values = final_values,
                                                          .bootstrap = next_value});
  polo::whiten_inplace(polo::TokenView<float>(advantages));  // CleanRL: (A − μ) / (σ + 1e-8)
  // --- end ---

  CHECK(std::abs(advantages.cast<double>().mean()) < 1e-6);
  CHECK((returns - values).abs().maxCoeff() > 0.0f);
}

}  // namespace gae_test

// Plackett-Luce: golden vectors T1-T2b, brute force over all permutations, finite differences,
// the sampler's frequencies against the exact probabilities, masking and bad inputs.

#include "polo/ranking/plackett_luce.hpp"

#include <map>
#include <vector>

#include "ranking/ranking_test_support.hpp"
#include "test_support.hpp"

namespace plackett_luce_test {

using polo_ranking_test::kVectorTol;
using polo_ranking_test::rankings;
using polo_test::Contains;
using polo_test::message_of;

TEST_CASE("PL log-prob and its gradient match golden vectors T1 to T2b", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::PlackettLuce<double> pl{s};
  const auto full = pl.log_prob_and_grad(rankings({{3, 0, 1, 2}}));
  CHECK(full.value[0] == Approx(-1.43207).epsilon(kVectorTol));
  CHECK(std::exp(full.value[0]) == Approx(0.238815).epsilon(kVectorTol));
  polo_test::check_tokens(full.grad,
                          polo_test::tokens({{0.233571, -0.195921, -0.439955, 0.402305}}), 1e-6);
  const auto top2 = pl.log_prob_and_grad(rankings({{3, 0}}));
  CHECK(top2.value[0] == Approx(-1.11881).epsilon(kVectorTol));
  polo_test::check_tokens(top2.grad,
                          polo_test::tokens({{0.233571, -0.464863, -0.171013, 0.402305}}), 1e-6);
  // A prefix written with empty slots is the same prefix.
  CHECK(pl.log_prob(rankings({{3, 0, -1, -1}}))[0] == Approx(top2.value[0]).epsilon(1e-15));
}

TEST_CASE("PL probabilities of all 24 permutations match the product formula and sum to one",
          "[ranking]") {
  polo::Rng gen(11);
  const polo::TokenArrayd s = polo_test::random_tokens(gen, 1, 4, -2.0, 2.0);
  const std::vector<double> sv(s.data(), s.data() + 4);
  const auto perms = polo_ranking_test::permutations({0, 1, 2, 3});
  REQUIRE(perms.size() == 24);
  polo::Rankings all(24, 4);
  for (std::size_t r = 0; r < perms.size(); ++r)
    for (std::size_t c = 0; c < 4; ++c)
      all(static_cast<polo::Index>(r), static_cast<polo::Index>(c)) = perms[r][c];
  // 24 rankings of one query: the rows are 24 "samples" of that query.
  const polo::SeqArrayd lp = polo::PlackettLuce<double>{s}.log_prob(all);
  double total = 0.0;
  for (std::size_t r = 0; r < perms.size(); ++r) {
    const double brute = polo_ranking_test::brute_probability(sv, {0, 1, 2, 3}, perms[r], 4);
    CHECK(std::exp(lp[static_cast<polo::Index>(r)]) == Approx(brute).epsilon(1e-13));
    total += std::exp(lp[static_cast<polo::Index>(r)]);
  }
  CHECK(total == Approx(1.0).epsilon(1e-13));
  // The 12 top-2 prefixes are the marginals: they sum to one too, and each is the sum of the two
  // full rankings that extend it.
  const polo::Rankings top2 = all.leftCols(2);
  const polo::SeqArrayd lp2 = polo::PlackettLuce<double>{s}.log_prob(top2);
  double total2 = 0.0;
  for (polo::Index r = 0; r < 24; r += 2) {
    CHECK(std::exp(lp2[r]) == Approx(std::exp(lp[r]) + std::exp(lp[r + 1])).epsilon(1e-13));
    total2 += std::exp(lp2[r]);
  }
  CHECK(total2 == Approx(1.0).epsilon(1e-13));
}

TEST_CASE("PL log-prob gradients match finite differences, full and top-k, with padding",
          "[ranking]") {
  polo::Rng gen(5);
  polo::TokenArrayd s = polo_test::random_tokens(gen, 3, 6, -3.0, 3.0);
  polo::MaskArray mask = polo::MaskArray::Ones(3, 6);
  mask(1, 4) = 0;
  mask(1, 5) = 0;
  mask(2, 0) = 0;
  const polo::Rankings y =
      rankings({{5, 0, 3, 1, 2, 4}, {2, 0, 3, 1, -1, -1}, {4, 1, 3, 2, 5, -1}});
  const polo::Rankings top3 = y.leftCols(3);
  for (const polo::Rankings* r : {&y, &top3}) {
    const auto out = polo::PlackettLuce<double>{s, mask}.log_prob_and_grad(*r);
    for (polo::Index row = 0; row < 3; ++row) {
      auto f = [&](const polo::TokenArrayd& x) {
        return polo::PlackettLuce<double>{x, mask}.log_prob(*r)[row];
      };
      polo::TokenArrayd g = polo::TokenArrayd::Zero(3, 6);
      g.row(row) = out.grad.row(row);
      POLO_CHECK_GRADIENT(f, s, g);
    }
  }
}

TEST_CASE("Padded items are never read: NaN scores there change nothing", "[ranking]") {
  const polo::TokenArrayd s = polo_test::tokens({{1.0, 0.5, -0.5, 2.0, 0.0}});
  polo::TokenArrayd padded = s;
  padded(0, 1) = polo_test::kNaN;
  polo::MaskArray mask = polo::MaskArray::Ones(1, 5);
  mask(0, 1) = 0;
  // Item 1 removed: the same as the 4-item problem on the others.
  const polo::TokenArrayd sub = polo_test::tokens({{1.0, -0.5, 2.0, 0.0}});
  const auto a = polo::PlackettLuce<double>{padded, mask}.log_prob_and_grad(rankings({{3, 0, 4}}));
  const auto b = polo::PlackettLuce<double>{sub}.log_prob_and_grad(rankings({{2, 0, 3}}));
  CHECK(a.value[0] == Approx(b.value[0]).epsilon(1e-15));
  CHECK(a.grad(0, 1) == 0.0);
  CHECK(a.grad(0, 0) == Approx(b.grad(0, 0)).epsilon(1e-14));
  CHECK(a.grad(0, 3) == Approx(b.grad(0, 2)).epsilon(1e-14));
  CHECK(a.grad(0, 4) == Approx(b.grad(0, 3)).epsilon(1e-14));
  polo::Rng gen(3);
  const polo::Rankings drawn = polo::PlackettLuce<double>{padded, mask}.sample(gen, 200, 5);
  CHECK((drawn != 1).all());
  CHECK((drawn.col(4) == -1).all());  // 4 valid items: the fifth slot is empty
  const polo::SeqArrayd h = polo::PlackettLuce<double>{padded, mask}.first_entropy();
  CHECK(h[0] == Approx(polo::PlackettLuce<double>{sub}.first_entropy()[0]).epsilon(1e-14));
}

/// Pearson's chi-square statistic of `counts` against `probabilities` for `n` draws.
double chi_square(const std::map<std::vector<std::int32_t>, double>& counts,
                  const std::map<std::vector<std::int32_t>, double>& probabilities, double n) {
  double x2 = 0.0;
  for (const auto& [y, p] : probabilities) {
    const auto it = counts.find(y);
    const double o = it == counts.end() ? 0.0 : it->second;
    x2 += (o - n * p) * (o - n * p) / (n * p);
  }
  return x2;
}

TEST_CASE("Gumbel sampler frequencies match the exact PL probabilities (chi-square)", "[ranking]") {
  // s spread enough that every one of the 24 orders has an expected count >= 20 at n = 40000.
  const polo::TokenArrayd s = polo_test::tokens({{0.8, 0.3, -0.4, 0.0}});
  const std::vector<double> sv(s.data(), s.data() + 4);
  const double n = 40000;
  polo::Rng gen(2024);
  const polo::Rankings drawn = polo::PlackettLuce<double>{s}.sample(gen, 40000, 4);
  std::map<std::vector<std::int32_t>, double> full, top2, p_full, p_top2;
  for (polo::Index r = 0; r < drawn.rows(); ++r) {
    full[{drawn(r, 0), drawn(r, 1), drawn(r, 2), drawn(r, 3)}] += 1.0;
    top2[{drawn(r, 0), drawn(r, 1)}] += 1.0;
  }
  for (const auto& y : polo_ranking_test::permutations({0, 1, 2, 3})) {
    p_full[y] = polo_ranking_test::brute_probability(sv, {0, 1, 2, 3}, y, 4);
    p_top2[{y[0], y[1]}] += p_full[y];
  }
  REQUIRE(full.size() <= 24);
  // 0.999 quantiles: 49.73 for 23 degrees of freedom, 31.26 for 11. Sorting s - g instead of
  // s + g, or drawing uniform orders, gives statistics in the thousands here.
  CHECK(chi_square(full, p_full, n) < 49.73);
  CHECK(chi_square(top2, p_top2, n) < 31.26);
  // A top-2 draw has the same distribution as the prefix of a full draw.
  polo::Rng gen2(7);
  const polo::Rankings short_draws = polo::PlackettLuce<double>{s}.sample(gen2, 40000, 2);
  std::map<std::vector<std::int32_t>, double> direct;
  for (polo::Index r = 0; r < short_draws.rows(); ++r)
    direct[{short_draws(r, 0), short_draws(r, 1)}] += 1.0;
  CHECK(chi_square(direct, p_top2, n) < 31.26);
}

TEST_CASE("Sampling is deterministic under a seed and lays K samples per query", "[ranking]") {
  polo::Rng g1(9), g2(9);
  polo::Rng gen(1);
  const polo::TokenArrayd s = polo_test::random_tokens(gen, 3, 7);
  const polo::Rankings a = polo::PlackettLuce<double>{s}.sample(g1, 5, 3);
  const polo::Rankings b = polo::PlackettLuce<double>{s}.sample(g2, 5, 3);
  CHECK(a.rows() == 15);
  CHECK(a.cols() == 3);
  CHECK((a == b).all());
  // float scores: the same keys in double, so the same rankings.
  const polo::TokenArrayf sf = s.cast<float>();
  polo::Rng g3(9);
  const polo::Rankings c = polo::PlackettLuce<float>{sf}.sample(g3, 5, 3);
  CHECK(c.rows() == 15);
  const auto lp = polo::PlackettLuce<float>{sf}.log_prob_and_grad(c);
  CHECK(std::isfinite(lp.value.sum()));
}

TEST_CASE("The sampler draws the rankings of s + polo::gumbel from the same stream", "[ranking]") {
  // The exponential-race keys are a monotone map of the Gumbel keys built from the same uniforms:
  // a reference that sorts s_j + polo::gumbel(gen) must produce the same rankings.
  polo::Rng gen(31);
  polo::TokenArrayd s = polo_test::random_tokens(gen, 3, 40, -4.0, 4.0);
  polo::MaskArray mask = polo::MaskArray::Ones(3, 40);
  mask(1, 7) = 0;
  mask(2, 0) = 0;
  for (const polo::Index k : {5, 40}) {  // the threshold-and-count and nth_element paths
    polo::Rng a(77), b(77);
    const polo::Rankings drawn = polo::PlackettLuce<double>{s, mask}.sample(a, 6, k);
    for (polo::Index q = 0; q < 3; ++q) {
      for (polo::Index t = 0; t < 6; ++t) {
        std::vector<std::pair<double, std::int32_t>> keyed;
        for (polo::Index j = 0; j < 40; ++j)
          if (mask(q, j) != 0) keyed.emplace_back(s(q, j) + polo::gumbel(b), j);
        std::sort(keyed.begin(), keyed.end(), [](auto x, auto y) { return x.first > y.first; });
        for (polo::Index c = 0; c < k; ++c) {
          const auto cc = static_cast<std::size_t>(c);
          CHECK(drawn(q * 6 + t, c) == (cc < keyed.size() ? keyed[cc].second : -1));
        }
      }
    }
  }
}

TEST_CASE("The mode ranks by decreasing score, ties by index", "[ranking]") {
  const polo::TokenArrayd s = polo_test::tokens({{0.5, 2.0, 0.5, -1.0}, {1.0, 1.0, 3.0, 0.0}});
  const polo::Rankings m = polo::PlackettLuce<double>{s}.mode(3);
  CHECK((m.row(0) == rankings({{1, 0, 2}}).row(0)).all());
  CHECK((m.row(1) == rankings({{2, 0, 1}}).row(0)).all());
}

TEST_CASE("Equal keys go by index on every selection path", "[ranking]") {
  // Equal scores give equal mode keys: every item passes the threshold, so 30 items take the
  // counting path, 100 the sort of the candidates, and k = 40 nth_element.
  for (const polo::Index n : {30, 100}) {
    polo::TokenArrayd s = polo::TokenArrayd::Constant(2, n, 0.25);
    s(1, n - 1) = 1.0;  // one clear winner, then the ties
    for (const polo::Index k : {5, 40}) {
      const polo::Rankings m = polo::PlackettLuce<double>{s}.mode(k);
      for (polo::Index c = 0; c < k; ++c) {
        CHECK(m(0, c) == (c < n ? c : -1));
        CHECK(m(1, c) == (c == 0 ? n - 1 : (c <= n - 1 ? c - 1 : -1)));
      }
    }
  }
}

TEST_CASE("First-position entropy and its gradient", "[ranking]") {
  polo::Rng gen(4);
  polo::TokenArrayd s = polo_test::random_tokens(gen, 2, 5, -2.0, 2.0);
  const polo::SeqArrayd h = polo::PlackettLuce<double>{s}.first_entropy();
  for (polo::Index q = 0; q < 2; ++q) {
    const Eigen::ArrayXd p = (s.row(q) - s.row(q).maxCoeff()).exp().transpose();
    const Eigen::ArrayXd pn = p / p.sum();
    CHECK(h[q] == Approx(-(pn * pn.log()).sum()).epsilon(1e-13));
  }
  polo::SeqArrayd out(2);
  polo::TokenArrayd grad(2, 5);
  polo::PlackettLuce<double>{s}.first_entropy(out, grad);
  auto f = [](const polo::TokenArrayd& x) {
    return polo::PlackettLuce<double>{x}.first_entropy().sum();
  };
  POLO_CHECK_GRADIENT(f, s, grad);
  // Equal scores: log n, the maximum.
  const polo::TokenArrayd equal = polo::TokenArrayd::Zero(1, 4);
  CHECK(polo::PlackettLuce<double>{equal}.first_entropy()[0] ==
        Approx(std::log(4.0)).epsilon(1e-15));
}

TEST_CASE("PL refuses bad inputs with messages", "[ranking]") {
  const polo::TokenArrayd s = polo_ranking_test::common_scores();
  const polo::PlackettLuce<double> pl{s};
  using E = polo::invalid_argument;
  CHECK_THAT(message_of<E>([&] {
               (void)pl.log_prob(rankings({{3, 4}}));
             }),
             Contains("rankings[0, 1] must be an item index in [0, 4) or -1 (empty slot), got 4"));
  CHECK_THAT(message_of<E>([&] {
               (void)pl.log_prob(rankings({{3, 3}}));
             }),
             Contains("rankings[0, 1] must be an item not already ranked in row 0, got 3"));
  CHECK_THAT(message_of<E>([&] {
               (void)pl.log_prob(rankings({{-1, 2}}));
             }),
             Contains("rankings[0, 1] must be -1 (only empty slots follow an empty slot), got 2"));
  polo::MaskArray mask = polo::MaskArray::Ones(1, 4);
  mask(0, 2) = 0;
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PlackettLuce<double>{s, mask}.log_prob(rankings({{2}}));
             }),
             Contains("rankings[0, 0] must be a valid item of query 0 (not padding), got 2"));
  const polo::TokenArrayd two = polo_test::tokens({{1, 2}, {3, 4}});
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PlackettLuce<double>{two}.log_prob(rankings({{0}, {1}, {0}}));
             }),
             Contains("rankings rows must be a positive multiple of the number of queries (2)"));
  polo::Rng gen(1);
  CHECK_THAT(message_of<E>([&] { (void)pl.sample(gen, 0, 2); }),
             Contains("polo::PlackettLuce::sample: num_samples must be >= 1, got 0"));
  CHECK_THAT(message_of<E>([&] { (void)pl.sample(gen, 2, 0); }),
             Contains("top_k must be >= 1, got 0"));
  polo::Rankings small(1, 2);
  CHECK_THAT(message_of<E>([&] { pl.sample(gen, 3, small); }),
             Contains("out shape must be [3, 2], got [1, 2]"));
  const polo::MaskArray wrong = polo::MaskArray::Ones(2, 4);
  CHECK_THAT(message_of<E>([&] {
               (void)polo::PlackettLuce<double>{s, wrong}.first_entropy();
             }),
             Contains("mask shape must be [1, 4], got [2, 4]"));
  CHECK_THAT(message_of<E>([&] { (void)polo::PlackettLuce<double>{}.mode(2); }),
             Contains("scores must be given ([Q, n]), got none"));
  polo::TokenArrayd bad = s;
  bad(0, 2) = polo_test::kInf;
  try {
    (void)polo::PlackettLuce<double>{bad}.log_prob(rankings({{0}}));
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "scores");
    CHECK(e.col() == 2);
  }
}

}  // namespace plackett_luce_test

namespace plackett_luce_underflow_test {

TEST_CASE("Denominators that underflow switch to log space: finite, exact, differentiable",
          "[ranking]") {
  // After items 0 and 1 are placed, every item left sits ~1000 below: exp(s - max) underflows.
  polo::TokenArrayd s = polo_test::tokens({{1000.0, 999.0, 0.0, -1.0, 0.5}});
  const polo::Rankings y = polo_ranking_test::rankings({{0, 1, 2, 3}, {0, 1, 4, 2}});
  const auto out = polo::PlackettLuce<double>{s}.log_prob_and_grad(y);
  // By hand, in log space: log p = s_y - logsumexp(remaining).
  auto lse = [](std::initializer_list<double> v) {
    double hi = *std::max_element(v.begin(), v.end()), sum = 0.0;
    for (const double x : v)
      sum += std::exp(x - hi);
    return hi + std::log(sum);
  };
  const double expected = 1000.0 - lse({1000, 999, 0, -1, 0.5}) + 999.0 - lse({999, 0, -1, 0.5}) +
                          0.0 - lse({0, -1, 0.5}) + -1.0 - lse({-1, 0.5});
  CHECK(out.value[0] == Approx(expected).epsilon(1e-12));
  auto f = [&](const polo::TokenArrayd& x) {
    return polo::PlackettLuce<double>{x}.log_prob(y).sum();
  };
  const polo::TokenArrayd g = out.grad.row(0) + out.grad.row(1);
  POLO_CHECK_GRADIENT(f, s, polo::TokenArrayd(g));
}

}  // namespace plackett_luce_underflow_test

#include "polo/distributions/gaussian.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "test_support.hpp"

using polo::DiagonalGaussian;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo::TokenView;
using polo_test::Contains;

namespace gaussian_test {
using CView = TokenView<const double>;

TEST_CASE("DiagonalGaussian log_prob and entropy match the closed forms",
          "[distributions][gaussian]") {
  TokenArrayd mu(2, 2);
  TokenArrayd ls(2, 2);
  TokenArrayd a(2, 2);
  mu << 0.5, -1.0, 2.0, 0.0;
  ls << 0.0, std::log(0.5), -1.0, 0.3;
  a << 1.5, -1.25, 2.0, -0.7;
  const SeqArrayd lp = DiagonalGaussian::log_prob(CView(mu), CView(ls), CView(a));
  const SeqArrayd h = DiagonalGaussian::entropy(CView(ls));
  auto normal_log_pdf = [](double x, double m, double s) {
    return -0.5 * ((x - m) / s) * ((x - m) / s) - std::log(s) -
           0.5 * std::log(2.0 * std::numbers::pi);
  };
  for (Index i = 0; i < 2; ++i) {
    double expected = 0.0;
    double expected_h = 0.0;
    for (Index d = 0; d < 2; ++d) {
      expected += normal_log_pdf(a(i, d), mu(i, d), std::exp(ls(i, d)));
      expected_h += 0.5 * std::log(2.0 * std::numbers::pi * std::numbers::e) + ls(i, d);
    }
    CHECK(lp[i] == Approx(expected).epsilon(1e-13));
    CHECK(h[i] == Approx(expected_h).epsilon(1e-13));
  }
  // Row 0 by hand: z = [1, 0.5]; -0.5 (1 + 0.25) - (0 + log 0.5) - log 2π = -0.625 + 0.693147
  // - 1.837877
  CHECK(lp[0] == Approx(-1.76973).epsilon(5e-6));
}

TEST_CASE("DiagonalGaussian backward matches finite differences", "[distributions][gaussian]") {
  polo::Rng gen(17);
  const Index n = 4;
  const Index dims = 3;
  const TokenArrayd mu = polo_test::random_tokens(gen, n, dims, -1.0, 1.0);
  const TokenArrayd ls = polo_test::random_tokens(gen, n, dims, -1.0, 0.5);
  const TokenArrayd a = polo_test::random_tokens(gen, n, dims, -2.0, 2.0);
  const SeqArrayd w = polo_test::random_seq(gen, n);
  const SeqArrayd u = polo_test::random_seq(gen, n);
  // value = Σ_i w_i logp_i + u_i H_i
  auto value = [&](const TokenArrayd& m, const TokenArrayd& s) {
    return (w * DiagonalGaussian::log_prob(CView(m), CView(s), CView(a))).sum() +
           (u * DiagonalGaussian::entropy(CView(s))).sum();
  };
  TokenArrayd gm(n, dims);
  TokenArrayd gs(n, dims);
  DiagonalGaussian::backward(CView(mu), CView(ls), CView(a), w, u, gm, gs);
  auto of_mean = [&](const TokenArrayd& m) { return value(m, ls); };
  auto of_log_std = [&](const TokenArrayd& s) { return value(mu, s); };
  POLO_CHECK_GRADIENT(of_mean, mu, gm);
  POLO_CHECK_GRADIENT(of_log_std, ls, gs);

  // Null grad_entropy: the log-prob term alone.
  DiagonalGaussian::backward(CView(mu), CView(ls), CView(a), w, {}, gm, gs);
  auto logp_only = [&](const TokenArrayd& s) {
    return (w * DiagonalGaussian::log_prob(CView(mu), CView(s), CView(a))).sum();
  };
  POLO_CHECK_GRADIENT(logp_only, ls, gs);
}

TEST_CASE("DiagonalGaussian with a state-independent log_std (row stride 0)",
          "[distributions][gaussian]") {
  polo::Rng gen(29);
  const Index n = 5;
  const Index dims = 2;
  const TokenArrayd mu = polo_test::random_tokens(gen, n, dims);
  const TokenArrayd a = polo_test::random_tokens(gen, n, dims, -2.0, 2.0);
  const SeqArrayd shared = polo_test::random_seq(gen, dims, -0.5, 0.5);
  const SeqArrayd w = polo_test::random_seq(gen, n);
  const SeqArrayd u = polo_test::random_seq(gen, n);
  auto value = [&](const SeqArrayd& s) {
    const CView ls(s.data(), n, dims, 0);
    return (w * DiagonalGaussian::log_prob(CView(mu), ls, CView(a))).sum() +
           (u * DiagonalGaussian::entropy(ls)).sum();
  };
  const CView ls(shared.data(), n, dims, 0);
  TokenArrayd gm(n, dims);
  SeqArrayd gs(dims);
  DiagonalGaussian::backward_shared(CView(mu), ls, CView(a), w, u, gm, gs);
  POLO_CHECK_GRADIENT(value, shared, gs);

  // The [N, D] form summed over rows gives the same [D] gradient.
  TokenArrayd gm2(n, dims);
  TokenArrayd gs2(n, dims);
  DiagonalGaussian::backward(CView(mu), ls, CView(a), w, u, gm2, gs2);
  CHECK((gm2 - gm).abs().maxCoeff() == 0.0);
  for (Index d = 0; d < dims; ++d)
    CHECK(gs2.col(d).sum() == Approx(gs[d]).epsilon(1e-14));

  // A broadcast output would silently keep one row: refused, pointing at backward_shared.
  TokenArrayd one_row(1, dims);
  CHECK_THROWS_WITH(DiagonalGaussian::backward(CView(mu), ls, CView(a), w, u, gm2,
                                               TokenView<double>(one_row.data(), n, dims, 0)),
                    Contains("backward_shared"));
}

TEST_CASE("DiagonalGaussian sampling is reproducible with the right moments",
          "[distributions][gaussian]") {
  const Index n = 20000;
  const double mean_row[] = {1.0, -2.0};
  const double ls_row[] = {0.0, std::log(0.5)};
  const CView mu(mean_row, n, 2, 0);
  const CView ls(ls_row, n, 2, 0);
  TokenArrayd a1(n, 2);
  TokenArrayd a2(n, 2);
  polo::Rng g1(99);
  polo::Rng g2(99);
  DiagonalGaussian::sample(mu, ls, g1, a1);
  DiagonalGaussian::sample(mu, ls, g2, a2);
  CHECK((a1 == a2).all());
  for (Index d = 0; d < 2; ++d) {
    const double sd = std::exp(ls_row[d]);
    const double m = a1.col(d).mean();
    const double var = (a1.col(d) - m).square().sum() / static_cast<double>(n - 1);
    // 5 standard errors of the mean and of the variance (sqrt(2/n) σ² for a normal).
    CHECK(std::abs(m - mean_row[d]) < 5.0 * sd / std::sqrt(static_cast<double>(n)));
    CHECK(std::abs(var - sd * sd) < 5.0 * sd * sd * std::sqrt(2.0 / static_cast<double>(n)));
  }
  TokenArrayd greedy(n, 2);
  DiagonalGaussian::mode(mu, greedy);
  CHECK(greedy(n - 1, 1) == -2.0);
}

TEST_CASE("DiagonalGaussian refuses bad shapes and non-finite inputs",
          "[distributions][gaussian]") {
  TokenArrayd mu = TokenArrayd::Zero(2, 3);
  TokenArrayd ls = TokenArrayd::Zero(2, 3);
  TokenArrayd a_bad = TokenArrayd::Zero(2, 2);
  SeqArrayd out(2);
  CHECK_THROWS_WITH(DiagonalGaussian::log_prob(CView(mu), CView(ls), CView(a_bad), out),
                    Contains("actions shape must be [2, 3], got [2, 2]"));
  SeqArrayd out_bad(3);
  CHECK_THROWS_WITH(DiagonalGaussian::entropy(CView(ls), out_bad),
                    Contains("out size must be [2], got [3]"));
  TokenArrayd a = TokenArrayd::Zero(2, 3);
  ls(1, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(DiagonalGaussian::log_prob(CView(mu), CView(ls), CView(a), out),
                  polo::nonfinite_error);
  CHECK_THROWS_WITH(DiagonalGaussian::log_prob(CView(mu), CView(ls), CView(a), out),
                    Contains("log_std"));
  CHECK_THROWS_WITH(DiagonalGaussian::entropy(CView(ls), out), Contains("row 1, column 2"));
}

}  // namespace gaussian_test

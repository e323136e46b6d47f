#include "polo/distributions/categorical.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "test_support.hpp"

using polo::Categorical;
using polo::Index;
using polo::SeqArrayd;
using polo::TokenArrayd;
using polo::TokenView;
using polo_test::Contains;

namespace categorical_test {

// Reference log-softmax of one row, written the naive way (fine for the small logits used here).
std::vector<double> naive_log_softmax(const TokenArrayd& z, Index i) {
  double sum = 0.0;
  for (Index v = 0; v < z.cols(); ++v)
    sum += std::exp(z(i, v));
  std::vector<double> out;
  for (Index v = 0; v < z.cols(); ++v)
    out.push_back(z(i, v) - std::log(sum));
  return out;
}

std::vector<Index> random_actions(polo::Rng& gen, Index n, Index k) {
  std::vector<Index> a(static_cast<std::size_t>(n));
  for (auto& x : a)
    x = polo::uniform_int(gen, k);
  return a;
}

TEST_CASE("Categorical entropy and its logit gradient match V5", "[distributions][categorical]") {
  TokenArrayd z(1, 4);
  z << 1.0, 0.0, -1.0, 0.5;
  const SeqArrayd h = Categorical::entropy(TokenView<const double>(z));
  CHECK(h[0] == Approx(1.19298).epsilon(1e-6));

  SeqArrayd ones = SeqArrayd::Ones(1);
  TokenArrayd grad(1, 4);
  Categorical::backward(TokenView<const double>(z), {}, {}, ones, grad);
  const double expected[] = {-0.211595, 0.09653, 0.0996591, 0.0154061};
  for (Index v = 0; v < 4; ++v)
    CHECK(grad(0, v) == Approx(expected[v]).epsilon(1e-5));
  CHECK(grad.sum() == Approx(0.0).margin(1e-15));  // softmax gradients sum to zero
}

TEST_CASE("Categorical log_prob and entropy agree with the naive formulas",
          "[distributions][categorical]") {
  polo::Rng gen(7);
  for (const Index k : {Index{1}, Index{2}, Index{5}}) {
    const TokenArrayd z = polo_test::random_tokens(gen, 6, k, -3.0, 3.0);
    const auto actions = random_actions(gen, 6, k);
    SeqArrayd logp(6);
    SeqArrayd h(6);
    Categorical::log_prob_and_entropy(TokenView<const double>(z), actions, logp, h);
    const SeqArrayd logp_only = Categorical::log_prob(TokenView<const double>(z), actions);
    const SeqArrayd h_only = Categorical::entropy(TokenView<const double>(z));
    for (Index i = 0; i < 6; ++i) {
      const auto ls = naive_log_softmax(z, i);
      double entropy = 0.0;
      for (const double l : ls)
        entropy -= std::exp(l) * l;
      CHECK(logp[i] == Approx(ls[static_cast<std::size_t>(actions[static_cast<std::size_t>(i)])])
                           .epsilon(1e-12));
      CHECK(h[i] == Approx(entropy).epsilon(1e-12).margin(1e-15));
      CHECK(logp_only[i] == logp[i]);
      CHECK(h_only[i] == h[i]);
    }
  }
}

TEST_CASE("Categorical is stable for huge logits and exact in float",
          "[distributions][categorical]") {
  TokenArrayd z(2, 2);
  z << 1000.0, 999.0, -1000.0, -1000.0;
  const std::vector<Index> actions{1, 0};
  const SeqArrayd logp = Categorical::log_prob(TokenView<const double>(z), actions);
  CHECK(logp[0] == Approx(-1.0 - std::log1p(std::exp(-1.0))).epsilon(1e-12));
  CHECK(logp[1] == Approx(-std::log(2.0)).epsilon(1e-12));

  polo::Rng gen(3);
  const TokenArrayd zd = polo_test::random_tokens(gen, 9, 3, -4.0, 4.0);
  const polo::TokenArrayf zf = zd.cast<float>();
  const auto a = random_actions(gen, 9, 3);
  polo::SeqArrayf lf(9);
  polo::SeqArrayf hf(9);
  Categorical::log_prob_and_entropy(TokenView<const float>(zf), a, lf, hf);
  SeqArrayd ld(9);
  SeqArrayd hd(9);
  Categorical::log_prob_and_entropy(TokenView<const double>(zf.cast<double>().eval()), a, ld, hd);
  for (Index i = 0; i < 9; ++i) {
    CHECK(lf[i] == Approx(ld[i]).epsilon(1e-6));
    CHECK(hf[i] == Approx(hd[i]).epsilon(1e-6));
  }

  // The float backward (generic K = 3 and the binary K = 2 path) against double.
  for (const Index k : {Index{2}, Index{3}}) {
    const TokenArrayd zk = polo_test::random_tokens(gen, 9, k, -4.0, 4.0);
    const polo::TokenArrayf zkf = zk.cast<float>();
    const auto ak = random_actions(gen, 9, k);
    const SeqArrayd w = polo_test::random_seq(gen, 9);
    const SeqArrayd u = polo_test::random_seq(gen, 9);
    const polo::SeqArrayf wf = w.cast<float>();
    const polo::SeqArrayf uf = u.cast<float>();
    polo::TokenArrayf gf(9, k);
    TokenArrayd gd(9, k);
    Categorical::backward(TokenView<const float>(zkf), ak, wf, uf, gf);
    Categorical::backward(TokenView<const double>(zkf.cast<double>().eval()), ak,
                          wf.cast<double>().eval(), uf.cast<double>().eval(), gd);
    CHECK((gf.cast<double>() - gd).abs().maxCoeff() < 1e-6);
  }
}

TEST_CASE("Categorical backward matches finite differences", "[distributions][categorical]") {
  polo::Rng gen(11);
  for (const Index k : {Index{2}, Index{4}}) {
    const Index n = 5;
    const TokenArrayd z = polo_test::random_tokens(gen, n, k, -2.0, 2.0);
    const auto actions = random_actions(gen, n, k);
    const SeqArrayd w = polo_test::random_seq(gen, n);  // d value / d logp_i
    const SeqArrayd u = polo_test::random_seq(gen, n);  // d value / d H_i
    // value(z) = Σ_i w_i log p_i(a_i) + u_i H_i
    auto value = [&](const TokenArrayd& x) {
      SeqArrayd logp(n);
      SeqArrayd h(n);
      Categorical::log_prob_and_entropy(TokenView<const double>(x), actions, logp, h);
      return (w * logp + u * h).sum();
    };
    TokenArrayd grad(n, k);
    Categorical::backward(TokenView<const double>(z), actions, w, u, grad);
    POLO_CHECK_GRADIENT(value, z, grad);

    // Each term alone, with the other gradient null.
    auto value_logp = [&](const TokenArrayd& x) {
      return (w * Categorical::log_prob(TokenView<const double>(x), actions)).sum();
    };
    Categorical::backward(TokenView<const double>(z), actions, w, {}, grad);
    POLO_CHECK_GRADIENT(value_logp, z, grad);
    auto value_h = [&](const TokenArrayd& x) {
      return (u * Categorical::entropy(TokenView<const double>(x))).sum();
    };
    Categorical::backward(TokenView<const double>(z), {}, {}, u, grad);
    POLO_CHECK_GRADIENT(value_h, z, grad);
  }
}

TEST_CASE("Categorical reads a column-major K x N MLP output and broadcast logits",
          "[distributions][categorical]") {
  Eigen::MatrixXd head(2, 3);  // one column per observation, as an MLP writes it
  head << 0.1, -0.4, 2.0, 0.7, 0.3, -1.0;
  const TokenView<const double> z(head.data(), 3, 2);
  const std::vector<Index> a{1, 0, 0};
  const SeqArrayd logp = Categorical::log_prob(z, a);
  CHECK(logp[0] == Approx(0.7 - std::log(std::exp(0.1) + std::exp(0.7))));
  CHECK(logp[2] == Approx(2.0 - std::log(std::exp(2.0) + std::exp(-1.0))));

  const double row[] = {0.2, -0.3, 0.9};
  const TokenView<const double> shared(row, 4, 3, 0);
  const SeqArrayd h = Categorical::entropy(shared);
  for (Index i = 1; i < 4; ++i)
    CHECK(h[i] == h[0]);
}

TEST_CASE("Categorical sampling is reproducible and has the right frequencies",
          "[distributions][categorical]") {
  const double row[] = {0.5, -1.0, 1.2};
  const Index n = 40000;
  const TokenView<const double> z(row, n, 3, 0);
  polo::Rng g1(123);
  polo::Rng g2(123);
  const auto s1 = Categorical::sample(z, g1);
  const auto s2 = Categorical::sample(z, g2);
  CHECK(s1 == s2);

  double p[3];
  double total = 0.0;
  for (int v = 0; v < 3; ++v)
    total += std::exp(row[v]);
  for (int v = 0; v < 3; ++v)
    p[v] = std::exp(row[v]) / total;
  double count[3] = {0, 0, 0};
  for (const Index a : s1)
    count[a] += 1.0;
  for (int v = 0; v < 3; ++v) {
    // 5 standard errors: a sampler off by even 0.02 in any probability fails.
    const double se = std::sqrt(p[v] * (1.0 - p[v]) / static_cast<double>(n));
    CHECK(std::abs(count[v] / static_cast<double>(n) - p[v]) < 5.0 * se);
  }

  // Binary fast path too.
  const double two[] = {0.3, -0.8};
  polo::Rng g3(5);
  const auto s3 = Categorical::sample(TokenView<const double>(two, n, 2, 0), g3);
  double ones = 0.0;
  for (const Index a : s3)
    ones += static_cast<double>(a);
  const double p1 = 1.0 / (1.0 + std::exp(0.3 + 0.8));
  CHECK(std::abs(ones / static_cast<double>(n) - p1) <
        5.0 * std::sqrt(p1 * (1.0 - p1) / static_cast<double>(n)));
}

TEST_CASE("Categorical mode is the first argmax", "[distributions][categorical]") {
  TokenArrayd z(3, 3);
  z << 0.1, 0.5, 0.2, 2.0, 2.0, -1.0, -3.0, -2.0, -2.5;
  std::vector<Index> out(3);
  Categorical::mode(TokenView<const double>(z), out);
  CHECK(out == std::vector<Index>{1, 0, 1});
}

TEST_CASE("Categorical refuses bad actions, shapes and non-finite logits",
          "[distributions][categorical]") {
  TokenArrayd z(3, 2);
  z << 0.1, 0.2, 0.3, 0.4, 0.5, 0.6;
  const TokenView<const double> view(z);
  SeqArrayd out(3);
  const std::vector<Index> bad{0, 2, 1};
  CHECK_THROWS_AS(Categorical::log_prob(view, bad, out), polo::invalid_argument);
  CHECK_THROWS_WITH(Categorical::log_prob(view, bad, out), Contains("actions[1]"));
  CHECK_THROWS_WITH(Categorical::log_prob(view, bad, out), Contains("in [0, 2), got 2"));
  const std::vector<Index> negative{0, 1, -1};
  TokenArrayd grad(3, 2);
  SeqArrayd w = SeqArrayd::Ones(3);
  CHECK_THROWS_WITH(Categorical::backward(view, negative, w, {}, grad), Contains("actions[2]"));

  SeqArrayd short_out(2);
  CHECK_THROWS_WITH(Categorical::entropy(view, short_out),
                    Contains("out size must be [3], got [2]"));
  const std::vector<Index> two_actions{0, 1};
  CHECK_THROWS_WITH(Categorical::log_prob(view, two_actions, out), Contains("actions size"));
  TokenArrayd wrong_grad(3, 3);
  CHECK_THROWS_WITH(Categorical::backward(view, {}, {}, w, wrong_grad),
                    Contains("grad_logits shape must be [3, 2], got [3, 3]"));
  TokenArrayd empty(3, 0);
  CHECK_THROWS_WITH(Categorical::entropy(TokenView<const double>(empty), out),
                    Contains("number of categories"));

  z(2, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(Categorical::entropy(view, out), polo::nonfinite_error);
  CHECK_THROWS_WITH(Categorical::entropy(view, out), Contains("logits"));
  CHECK_THROWS_WITH(Categorical::entropy(view, out), Contains("row 2, column 1"));
  z(2, 1) = std::numeric_limits<double>::infinity();
  polo::Rng gen(1);
  std::vector<Index> sampled(3);
  CHECK_THROWS_WITH(Categorical::sample(view, gen, std::span<Index>(sampled)),
                    Contains("row 2, column 1"));
  z(2, 1) = 0.6;
  w[1] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(Categorical::backward(view, bad, {}, w, grad), Contains("grad_entropy"));
}

}  // namespace categorical_test

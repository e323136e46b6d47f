#include "polo/nn/token_policy.hpp"

#include <cmath>
#include <vector>

#include "polo/nn/token_policy.hpp"
#include "test_support.hpp"

namespace token_policy_test {

using polo::Index;
using polo::TokenPolicy;
using polo::TokenPolicyOptions;
using polo_test::Contains;
using polo_test::message_of;

constexpr Index kF = 3;
constexpr Index kV = 4;
constexpr Index kT = 3;
constexpr Index kEnd = 3;

TokenPolicyOptions small_options() {
  return {.prompt_features = kF,
          .vocab_size = kV,
          .max_length = kT,
          .end_token = kEnd,
          .hidden = {6, 5},
          .activation = polo::Activation::tanh};
}

template <class S>
TokenPolicy<S> small_policy(std::uint64_t seed, double output_gain = 1.0) {
  TokenPolicy<S> policy(small_options());
  polo::Rng gen(seed);
  policy.init(gen, output_gain);
  return policy;
}

template <class S>
typename TokenPolicy<S>::Matrix random_prompts(polo::Rng& gen, Index count) {
  typename TokenPolicy<S>::Matrix p(kF, count);
  for (Index k = 0; k < p.size(); ++k)
    p.data()[k] = static_cast<S>(polo::uniform(gen, -1, 1));
  return p;
}

/// Five rows over two prompts (sizes 3 and 2) with lengths 3, 1, 2, 0, 3.
struct Fixture {
  polo::TokenArray<Index> tokens = polo::TokenArray<Index>(5, kT);
  polo::MaskArray mask = polo::MaskArray::Zero(5, kT);
  polo::Groups groups = polo::Groups::from_sizes({3, 2});
  Fixture() {
    tokens << 0, 1, 2,  //
        3, 0, 0,        //
        2, 3, 1,        //
        1, 1, 1,        //
        2, 0, 1;
    const Index lengths[] = {3, 1, 2, 0, 3};
    for (Index i = 0; i < 5; ++i) {
      for (Index t = 0; t < lengths[i]; ++t)
        mask(i, t) = 1;
    }
  }
};

TEST_CASE("TokenPolicy: input layout and parameters", "[nn]") {
  const TokenPolicy<float> policy(small_options());
  CHECK(policy.input_size() == kF + kT + (kT - 1) * kV);
  CHECK(policy.network().layer_sizes() == std::vector<Index>{kF + kT + (kT - 1) * kV, 6, 5, kV});
  CHECK(policy.num_parameters() == policy.network().num_parameters());
  STATIC_REQUIRE(polo::Parametric<TokenPolicy<float>>);
}

TEST_CASE("TokenPolicy: log-prob and entropy gradients match finite differences", "[nn]") {
  polo::Rng gen(11);
  auto policy = small_policy<double>(3);
  const auto prompts = random_prompts<double>(gen, 2);
  const Fixture fx;
  const polo::TokenArrayd c = polo_test::random_tokens(gen, 5, kT);
  const polo::TokenArrayd d = polo_test::random_tokens(gen, 5, kT);
  TokenPolicy<double>::Workspace ws;
  polo::TokenArrayd logp(5, kT);
  polo::TokenArrayd entropy(5, kT);

  for (const bool with_entropy : {false, true}) {
    INFO("with entropy: " << with_entropy);
    auto value = [&](const polo::Vectord& theta) {
      auto p = policy;
      p.parameters() = theta;
      TokenPolicy<double>::Workspace w;
      polo::TokenArrayd lp(5, kT);
      polo::TokenArrayd h(5, kT);
      p.evaluate(prompts, fx.groups, fx.tokens, fx.mask, lp, h, w);
      double v = 0.0;
      for (Index i = 0; i < 5; ++i) {
        for (Index t = 0; t < kT; ++t) {
          if (fx.mask(i, t)) v += c(i, t) * lp(i, t) + (with_entropy ? d(i, t) * h(i, t) : 0.0);
        }
      }
      return v;
    };
    policy.evaluate(prompts, fx.groups, fx.tokens, fx.mask, logp, entropy, ws);
    policy.zero_grad();
    policy.backward(
        c, with_entropy ? polo::TokenView<const double>(d) : polo::TokenView<const double>{}, ws);
    const polo::Vectord analytic = policy.gradients();
    POLO_CHECK_GRADIENT(value, policy.parameters(), analytic);
    // backward accumulates
    policy.backward(
        c, with_entropy ? polo::TokenView<const double>(d) : polo::TokenView<const double>{}, ws);
    CHECK((policy.gradients() - 2.0 * analytic).norm() <= 1e-12 * (1.0 + analytic.norm()));
  }
}

TEST_CASE("TokenPolicy: evaluate gives normalized distributions and their entropies", "[nn]") {
  polo::Rng gen(5);
  const auto policy = small_policy<double>(8);
  const auto prompts = random_prompts<double>(gen, 1);
  // Every token at position 1 after token 2: the probabilities sum to 1.
  polo::TokenArray<Index> tokens(kV, 2);
  for (Index v = 0; v < kV; ++v) {
    tokens(v, 0) = 2;
    tokens(v, 1) = v;
  }
  TokenPolicy<double>::Workspace ws;
  polo::TokenArrayd logp(kV, 2);
  polo::TokenArrayd entropy(kV, 2);
  policy.evaluate(prompts, polo::Groups::uniform(kV, kV), tokens, polo::MaskView{}, logp, entropy,
                  ws);
  double total = 0.0;
  double h = 0.0;
  for (Index v = 0; v < kV; ++v) {
    total += std::exp(logp(v, 1));
    h -= std::exp(logp(v, 1)) * logp(v, 1);
  }
  CHECK(total == Approx(1.0).epsilon(1e-12));
  for (Index v = 0; v < kV; ++v) {
    CHECK(entropy(v, 1) == Approx(h).epsilon(1e-12));
    CHECK(logp(v, 0) == Approx(logp(0, 0)).epsilon(1e-12));  // same context, same token
  }
}

TEST_CASE("TokenPolicy: sampling stops after the end token and matches evaluate", "[nn]") {
  polo::Rng gen(21);
  const auto policy = small_policy<double>(4);
  const auto prompts = random_prompts<double>(gen, 3);
  const polo::Groups groups = polo::Groups::from_sizes({4, 1, 3});
  polo::Completions<double> out;
  TokenPolicy<double>::Workspace ws;
  polo::Rng sampler(99);
  policy.sample(prompts, groups, sampler, out, ws);
  REQUIRE(out.rows() == 8);
  REQUIRE(out.tokens.cols() == kT);
  Index ended = 0;
  for (Index i = 0; i < 8; ++i) {
    const Index len = out.lengths[static_cast<std::size_t>(i)];
    REQUIRE(len >= 1);
    REQUIRE(len <= kT);
    for (Index t = 0; t < kT; ++t) {
      CHECK((out.mask(i, t) != 0) == (t < len));
      if (t < len - 1) CHECK(out.tokens(i, t) != kEnd);
      if (t >= len) {
        CHECK(out.tokens(i, t) == kEnd);
        CHECK(out.logp(i, t) == 0.0);
      }
    }
    ended += out.tokens(i, len - 1) == kEnd ? 1 : 0;
    CHECK(out.completion(i).size() == static_cast<std::size_t>(len));
  }
  CHECK(ended >= 1);
  CHECK(out.num_tokens() == std::accumulate(out.lengths.begin(), out.lengths.end(), Index{0}));

  // Teacher forcing reproduces the log-probs recorded while sampling.
  polo::TokenArrayd logp(8, kT);
  TokenPolicy<double>::Workspace ews;
  policy.evaluate(prompts, groups, out.tokens, out.mask, logp, polo::TokenView<double>{}, ews);
  for (Index k = 0; k < logp.size(); ++k) {
    CHECK(logp.data()[k] == Approx(out.logp.data()[k]).margin(1e-12));
  }

  // The same seed gives the same completions.
  polo::Completions<double> again;
  polo::Rng sampler2(99);
  policy.sample(prompts, groups, sampler2, again, ws);
  CHECK((again.tokens == out.tokens).all());
}

TEST_CASE("TokenPolicy: first-token frequencies follow the softmax", "[nn]") {
  polo::Rng gen(2);
  const auto policy = small_policy<double>(6);
  const auto prompts = random_prompts<double>(gen, 1);
  constexpr Index n = 20'000;
  polo::Completions<double> out;
  TokenPolicy<double>::Workspace ws;
  policy.sample(prompts, polo::Groups::uniform(n, n), gen, out, ws);
  std::vector<double> count(kV, 0.0);
  std::vector<double> prob(kV, 0.0);
  for (Index i = 0; i < n; ++i) {
    count[static_cast<std::size_t>(out.tokens(i, 0))] += 1.0;
    prob[static_cast<std::size_t>(out.tokens(i, 0))] = std::exp(out.logp(i, 0));
  }
  for (Index v = 0; v < kV; ++v) {
    const double p = prob[static_cast<std::size_t>(v)];
    INFO("token " << v << ": p " << p);
    REQUIRE(p > 0.0);
    // 5 standard deviations of a binomial count
    CHECK(std::abs(count[static_cast<std::size_t>(v)] - n * p) <= 5.0 * std::sqrt(n * p * (1 - p)));
  }
}

TEST_CASE("TokenPolicy: greedy picks the most likely token at every step", "[nn]") {
  polo::Rng gen(8);
  const auto policy = small_policy<double>(12);
  const auto prompts = random_prompts<double>(gen, 4);
  polo::Completions<double> out;
  TokenPolicy<double>::Workspace ws;
  policy.greedy(prompts, out, ws);
  REQUIRE(out.rows() == 4);
  for (Index p = 0; p < 4; ++p) {
    const Index len = out.lengths[static_cast<std::size_t>(p)];
    for (Index t = 0; t < len; ++t) {
      // Score every alternative token at position t after the greedy prefix.
      polo::TokenArray<Index> alt(kV, t + 1);
      for (Index v = 0; v < kV; ++v) {
        for (Index k = 0; k < t; ++k)
          alt(v, k) = out.tokens(p, k);
        alt(v, t) = v;
      }
      const typename TokenPolicy<double>::Matrix one = prompts.col(p);
      polo::TokenArrayd lp(kV, t + 1);
      TokenPolicy<double>::Workspace ews;
      policy.evaluate(one, polo::Groups::uniform(kV, kV), alt, polo::MaskView{}, lp,
                      polo::TokenView<double>{}, ews);
      for (Index v = 0; v < kV; ++v)
        CHECK(lp(v, t) <= lp(out.tokens(p, t), t));
    }
  }
}

TEST_CASE("TokenPolicy: masked positions are never read", "[nn]") {
  polo::Rng gen(3);
  const auto policy = small_policy<float>(1);
  const auto prompts = random_prompts<float>(gen, 2);
  Fixture fx;
  polo::TokenArrayf clean(5, kT);
  polo::TokenArrayf dirty(5, kT);
  TokenPolicy<float>::Workspace ws;
  policy.evaluate(prompts, fx.groups, fx.tokens, fx.mask, clean, polo::TokenView<float>{}, ws);
  for (Index i = 0; i < 5; ++i) {
    for (Index t = 0; t < kT; ++t) {
      if (!fx.mask(i, t)) fx.tokens(i, t) = -7;  // out of range: would throw if read
    }
  }
  policy.evaluate(prompts, fx.groups, fx.tokens, fx.mask, dirty, polo::TokenView<float>{}, ws);
  CHECK((clean == dirty).all());
  CHECK(clean(3, 0) == 0.0F);
}

TEST_CASE("TokenPolicy: bad arguments name the field", "[nn]") {
  using E = polo::invalid_argument;
  auto with = [](auto change) {
    auto o = small_options();
    change(o);
    return [o] { TokenPolicy<double> p(o); };
  };
  CHECK_THAT(message_of<E>(with([](auto& o) { o.vocab_size = 1; })),
             Contains("polo::TokenPolicy: vocab_size must be >= 2, got 1"));
  CHECK_THAT(message_of<E>(with([](auto& o) { o.max_length = 0; })),
             Contains("max_length must be >= 1, got 0"));
  CHECK_THAT(message_of<E>(with([](auto& o) { o.end_token = 4; })),
             Contains("end_token must be -1 (none) or a token in [0, 4), got 4"));

  polo::Rng gen(1);
  auto policy = small_policy<double>(2);
  const auto prompts = random_prompts<double>(gen, 2);
  const Fixture fx;
  polo::TokenArrayd logp(5, kT);
  TokenPolicy<double>::Workspace ws;
  CHECK_THAT(message_of<E>([&] { policy.backward(logp, {}, ws); }),
             Contains("polo::TokenPolicy::backward: workspace must be filled by evaluate()"));
  CHECK_THAT(message_of<E>([&] {
               policy.evaluate(prompts, polo::Groups::from_sizes({5}), fx.tokens, fx.mask, logp, {},
                               ws);
             }),
             Contains("groups count must be 2 (one group per prompt column), got 1"));
  CHECK_THAT(message_of<E>([&] {
               policy.evaluate(prompts, polo::Groups::from_sizes({3, 3}), fx.tokens, fx.mask, logp,
                               {}, ws);
             }),
             Contains("groups must be offsets covering the batch of 5 rows"));
  const typename TokenPolicy<double>::Matrix wide(kF + 1, 2);
  CHECK_THAT(
      message_of<E>([&] { policy.evaluate(wide, fx.groups, fx.tokens, fx.mask, logp, {}, ws); }),
      Contains("prompts rows must be 3 (prompt_features; prompts is [F, P]), got 4"));
  Fixture bad;
  bad.tokens(2, 1) = kV;
  CHECK_THAT(message_of<E>(
                 [&] { policy.evaluate(prompts, fx.groups, bad.tokens, bad.mask, logp, {}, ws); }),
             Contains("tokens at row 2, column 1 must be in [0, 4), got 4"));
  polo::TokenArrayd narrow(5, kT - 1);
  CHECK_THAT(message_of<E>(
                 [&] { policy.evaluate(prompts, fx.groups, fx.tokens, fx.mask, narrow, {}, ws); }),
             Contains("logp shape must be [5, 3], got [5, 2]"));
  policy.evaluate(prompts, fx.groups, fx.tokens, fx.mask, logp, {}, ws);
  CHECK_THAT(message_of<E>([&] { policy.backward(narrow, {}, ws); }),
             Contains("grad_logp shape must be [5, 3], got [5, 2]"));
  polo::TokenArray<Index> longer(5, kT + 1);
  CHECK_THAT(message_of<E>([&] {
               polo::TokenArrayd lp(5, kT + 1);
               policy.evaluate(prompts, fx.groups, longer, polo::MaskView{}, lp, {}, ws);
             }),
             Contains("tokens columns must be <= max_length (3), got 4"));
}

}  // namespace token_policy_test

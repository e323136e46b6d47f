// Nash solver: equilibria known in closed form (cyclic, weighted rock-paper-scissors, Condorcet
// winner, all ties), the win-rate and exploitability values of preference.md §3(g) and §4(g),
// random matrices, and every error path.

#include <cmath>

#include <Eigen/Core>

#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/preference/nash.hpp"
#include "test_support.hpp"

namespace nash_test {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using polo_test::Contains;
using polo_test::message_of;

/// P = 1/2 + A for a skew-symmetric A.
MatrixXd from_payoff(const MatrixXd& a) {
  return MatrixXd::Constant(a.rows(), a.cols(), 0.5) + a;
}

/// The cyclic matrix of preference.md §3(g): 0 > 1 > 2 > 0, each with probability 0.9.
MatrixXd cyclic() {
  MatrixXd p(3, 3);
  p << 0.5, 0.9, 0.1, 0.1, 0.5, 0.9, 0.9, 0.1, 0.5;
  return p;
}

VectorXd vec(std::initializer_list<double> v) {
  VectorXd x(static_cast<Eigen::Index>(v.size()));
  Eigen::Index i = 0;
  for (const double e : v)
    x[i++] = e;
  return x;
}

void check_policy(const VectorXd& actual, const VectorXd& expected, double tol) {
  REQUIRE(actual.size() == expected.size());
  for (Eigen::Index i = 0; i < actual.size(); ++i) {
    INFO("entry " << i);
    CHECK(actual[i] == Approx(expected[i]).margin(tol));
  }
}

TEST_CASE("nash_policy of a symmetric cycle is uniform", "[preference][nash]") {
  const auto sol = polo::nash_policy(cyclic());
  check_policy(sol.policy, vec({1.0 / 3, 1.0 / 3, 1.0 / 3}), 1e-12);
  CHECK(std::abs(sol.exploitability) < 1e-12);
  CHECK(sol.pivots > 0);
}

TEST_CASE("nash_policy of weighted rock-paper-scissors is (c, b, a) / (a + b + c)",
          "[preference][nash]") {
  // A = [[0, a, -b], [-a, 0, c], [b, -c, 0]]: A y = 0 for y = (c, b, a), normalized.
  const double a = 0.3;
  const double b = 0.1;
  const double c = 0.2;
  MatrixXd pay(3, 3);
  pay << 0, a, -b, -a, 0, c, b, -c, 0;
  const auto sol = polo::nash_policy(from_payoff(pay));
  check_policy(sol.policy, vec({c / 0.6, b / 0.6, a / 0.6}), 1e-12);
  CHECK(std::abs(sol.exploitability) < 1e-12);
}

TEST_CASE("nash_policy ignores dominated responses around a cycle", "[preference][nash]") {
  // Responses 3 and 4 lose to each of 0, 1, 2: the equilibrium is the cycle's, with 0 on them.
  const double a = 0.3;
  const double b = 0.1;
  const double c = 0.2;
  MatrixXd pay = MatrixXd::Zero(5, 5);
  pay.topLeftCorner(3, 3) << 0, a, -b, -a, 0, c, b, -c, 0;
  for (int i = 0; i < 3; ++i) {
    pay(i, 3) = 0.2;
    pay(3, i) = -0.2;
    pay(i, 4) = 0.4;
    pay(4, i) = -0.4;
  }
  pay(3, 4) = 0.1;
  pay(4, 3) = -0.1;
  const auto sol = polo::nash_policy(from_payoff(pay));
  check_policy(sol.policy, vec({c / 0.6, b / 0.6, a / 0.6, 0, 0}), 1e-12);
}

TEST_CASE("nash_policy of a transitive matrix is the Condorcet winner", "[preference][nash]") {
  // Bradley-Terry with r = [0, 1, 2]: response 2 beats everything.
  const VectorXd r = vec({0, 1, 2});
  MatrixXd p(3, 3);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j)
      p(i, j) = polo::sigmoid(r[i] - r[j]);
  }
  const auto sol = polo::nash_policy(p);
  check_policy(sol.policy, vec({0, 0, 1}), 1e-12);
  CHECK(sol.exploitability == Approx(0.0).margin(1e-12));
}

TEST_CASE("nash_policy of all ties is an unexploitable policy", "[preference][nash]") {
  const auto sol = polo::nash_policy(MatrixXd::Constant(4, 4, 0.5));
  CHECK(sol.policy.sum() == Approx(1.0));
  CHECK(sol.policy.minCoeff() >= 0.0);
  CHECK(sol.exploitability == Approx(0.0).margin(1e-15));
  const auto one = polo::nash_policy(MatrixXd::Constant(1, 1, 0.5));
  check_policy(one.policy, vec({1.0}), 0.0);
}

TEST_CASE("nash_policy is unexploitable on random preference matrices", "[preference][nash]") {
  polo::Rng gen(11);
  for (int k = 2; k <= 9; ++k) {
    MatrixXd p(k, k);
    for (int i = 0; i < k; ++i) {
      p(i, i) = 0.5;
      for (int j = i + 1; j < k; ++j) {
        p(i, j) = polo::uniform(gen);
        p(j, i) = 1.0 - p(i, j);
      }
    }
    const auto sol = polo::nash_policy(p);
    INFO("K = " << k);
    CHECK(sol.policy.minCoeff() >= 0.0);
    CHECK(sol.policy.sum() == Approx(1.0).epsilon(1e-12));
    CHECK(std::abs(sol.exploitability) < 1e-10);
    CHECK(polo::exploitability(p, sol.policy) == Approx(sol.exploitability).margin(1e-15));
  }
}

TEST_CASE("win_rates, win_rate and exploitability match preference.md", "[preference][nash]") {
  const MatrixXd p = cyclic();
  const VectorXd pi = vec({0.6, 0.3, 0.1});
  check_policy(polo::win_rates(p, pi), vec({0.58, 0.30, 0.62}), 1e-15);
  CHECK(polo::exploitability(p, pi) == Approx(0.12));
  CHECK(polo::win_rate(p, pi, pi) == Approx(0.5));  // any policy ties with itself
  const VectorXd rock = vec({1, 0, 0});
  const VectorXd paper = vec({0, 0, 1});
  CHECK(polo::win_rate(p, paper, rock) == Approx(0.9));
  // §4(g): the KL-regularized equilibrium at tau = 0.1 has exploitability 0.0992.
  CHECK(polo::exploitability(p, vec({0.460659, 0.212659, 0.326682})) ==
        Approx(0.0992).margin(5e-5));
  // §3(g): DNO's averaged iterate [0.304, 0.358, 0.338] is 0.0136 from the equilibrium.
  CHECK(polo::exploitability(p, vec({0.304, 0.358, 0.338})) == Approx(0.0136).margin(5e-4));
  // A pure policy is beaten with the cycle's probability.
  CHECK(polo::exploitability(p, rock) == Approx(0.4));
}

TEST_CASE("Nash functions refuse bad matrices and policies", "[preference][nash]") {
  using E = polo::invalid_argument;
  CHECK_THAT(message_of<E>([] { polo::nash_policy(MatrixXd::Constant(2, 3, 0.5)); }),
             Contains("polo::nash: preference matrix shape must be square and non-empty [K, K], "
                      "got [2, 3]"));
  CHECK_THAT(message_of<E>([] { polo::nash_policy(MatrixXd(0, 0)); }),
             Contains("must be square and non-empty"));
  MatrixXd p = cyclic();
  p(0, 1) = 1.2;
  CHECK_THAT(message_of<E>([&] { polo::nash_policy(p); }),
             Contains("preference P(0, 1) must be in [0, 1], got 1.2"));
  p = cyclic();
  p(0, 1) = 0.8;
  CHECK_THAT(message_of<E>([&] { polo::nash_policy(p); }), Contains("P(0, 1) + P(1, 0) must be 1"));
  p = cyclic();
  p(1, 1) = 0.7;
  CHECK_THAT(message_of<E>([&] { polo::nash_policy(p); }), Contains("P(1, 1) + P(1, 1) must be 1"));
  p(1, 1) = polo_test::kNaN;
  CHECK_THAT(message_of<E>([&] { polo::nash_policy(p); }),
             Contains("preference P(1, 1) must be in [0, 1], got nan"));
  CHECK_THAT(message_of<E>([] {
               polo::exploitability(cyclic(), vec({0.5, 0.5}));
             }),
             Contains("polo::exploitability: policy size must be 3 (the matrix size), got 2"));
  CHECK_THAT(message_of<E>([] {
               polo::exploitability(cyclic(), vec({0.5, 0.6, -0.1}));
             }),
             Contains("policy[2] must be finite and >= 0, got -0.1"));
  CHECK_THAT(message_of<E>([] {
               polo::win_rates(cyclic(), vec({0.5, 0.6, 0.1}));
             }),
             Contains("polo::win_rates: sum of policy must be 1, got 1.2"));
  CHECK_THAT(message_of<E>([] {
               polo::win_rate(cyclic(), vec({1, 0, 0}), vec({1, 0}));
             }),
             Contains("polo::win_rate: pi2 size must be 3"));
}

}  // namespace nash_test

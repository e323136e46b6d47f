// polo::gradcheck: passes a correct gradient, pinpoints a wrong element in either storage order,
// refuses a shape mismatch.

#include "polo/core/gradcheck.hpp"

#include <cmath>
#include <limits>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Index;
using polo_core_test::message_of;
using polo_test::Contains;

namespace gradcheck_test {

template <class X>
double sum_sin(const X& x) {
  return x.sin().sum();
}

TEST_CASE("gradcheck passes the gradient of sum(sin x)", "[core][gradcheck]") {
  polo::Rng gen(1);
  const polo::TokenArrayd x = polo_test::random_tokens(gen, 3, 4, -2.0, 2.0);
  const polo::TokenArrayd grad = x.cos();
  const auto report = polo::gradcheck(sum_sin<polo::TokenArrayd>, x, grad);
  CHECK(report.passed);
  CHECK(report.checked == 12);
  CHECK(report.worst >= 0);
  CHECK(report.max_abs_error < 1e-8);
  CHECK_THAT(report.summary(), Contains("gradcheck passed: 12 elements"));
  POLO_CHECK_GRADIENT(sum_sin<polo::TokenArrayd>, x, grad);
  POLO_CHECK_GRADIENT(sum_sin<polo::TokenArrayd>, x, grad, polo::GradcheckOptions{.step = 1e-5});
}

TEST_CASE("gradcheck reports the worst element of a row-major array", "[core][gradcheck]") {
  polo::Rng gen(2);
  const polo::TokenArrayd x = polo_test::random_tokens(gen, 3, 4, -2.0, 2.0);
  polo::TokenArrayd grad = x.cos();
  grad(1, 2) += 0.1;
  grad(2, 0) += 1e-3;  // wrong too, but less so
  const auto report = polo::gradcheck(sum_sin<polo::TokenArrayd>, x, grad);
  CHECK_FALSE(report.passed);
  CHECK(report.worst == 1 * 4 + 2);
  CHECK(report.worst_row == 1);
  CHECK(report.worst_col == 2);
  CHECK(report.analytic == grad(1, 2));
  CHECK(std::abs(report.numeric - std::cos(x(1, 2))) < 1e-8);
  CHECK(std::abs(report.abs_error - 0.1) < 1e-8);
  CHECK(report.max_abs_error == report.abs_error);
  CHECK_THAT(report.summary(), Contains("FAILED") && Contains("(row 1, col 2)"));
}

TEST_CASE("gradcheck reports row and column of a column-major array and a vector",
          "[core][gradcheck]") {
  polo::Rng gen(3);
  Eigen::ArrayXXd x(3, 4);
  for (Index k = 0; k < x.size(); ++k)
    x.data()[k] = polo::uniform(gen, -1.0, 1.0);
  Eigen::ArrayXXd grad = x.cos();
  grad(1, 2) -= 0.5;
  const auto report = polo::gradcheck(sum_sin<Eigen::ArrayXXd>, x, grad);
  CHECK_FALSE(report.passed);
  CHECK(report.worst == 2 * 3 + 1);  // storage order: column 2, row 1
  CHECK(report.worst_row == 1);
  CHECK(report.worst_col == 2);

  Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(5, -1.0, 1.0);
  auto square = [](const Eigen::VectorXd& at) { return at.squaredNorm(); };
  Eigen::VectorXd g = 2.0 * v;
  CHECK(polo::gradcheck(square, v, g).passed);
  g[3] = 0.0;
  const auto bad = polo::gradcheck(square, v, g);
  CHECK_FALSE(bad.passed);
  CHECK(bad.worst_row == 3);
  CHECK(bad.worst_col == 0);
}

TEST_CASE("gradcheck tolerances and non-finite gradients", "[core][gradcheck]") {
  polo::Rng gen(4);
  const polo::TokenArrayd x = polo_test::random_tokens(gen, 2, 3);
  polo::TokenArrayd grad = x.cos();
  grad(0, 1) += 1e-4;  // |cos x| <= 1, so the default bound is at most 1e-7 + 1e-5
  CHECK_FALSE(polo::gradcheck(sum_sin<polo::TokenArrayd>, x, grad).passed);
  CHECK(polo::gradcheck(sum_sin<polo::TokenArrayd>, x, grad,
                        polo::GradcheckOptions{.atol = 1e-3, .rtol = 0.0})
            .passed);
  grad(1, 1) = std::numeric_limits<double>::quiet_NaN();
  const auto report = polo::gradcheck(sum_sin<polo::TokenArrayd>, x, grad);
  CHECK_FALSE(report.passed);
  CHECK(report.worst_row == 1);
  CHECK(report.worst_col == 1);

  const polo::TokenArrayd empty(0, 3);
  const auto nothing = polo::gradcheck(sum_sin<polo::TokenArrayd>, empty, empty);
  CHECK(nothing.checked == 0);
  CHECK_THAT(nothing.summary(), Contains("nothing to compare"));
}

TEST_CASE("gradcheck leaves the caller's point alone and evaluates around it",
          "[core][gradcheck]") {
  polo::TokenArrayd x(1, 2);
  x << 0.5, -0.25;
  const polo::TokenArrayd saved = x;
  int calls = 0;
  auto f = [&](const polo::TokenArrayd& at) {
    ++calls;
    return at(0, 0) * at(0, 1);
  };
  polo::TokenArrayd grad(1, 2);
  grad << x(0, 1), x(0, 0);
  CHECK(polo::gradcheck(f, x, grad).passed);
  CHECK(calls == 4);  // two evaluations per element
  CHECK((x == saved).all());
}

TEST_CASE("gradcheck refuses a gradient of another shape and a bad step", "[core][gradcheck]") {
  const polo::TokenArrayd x = polo::TokenArrayd::Zero(3, 4);
  const polo::TokenArrayd wrong = polo::TokenArrayd::Zero(4, 3);
  CHECK_THAT(
      message_of<polo::invalid_argument>(
          [&] { (void)polo::gradcheck(sum_sin<polo::TokenArrayd>, x, wrong); }),
      Contains("polo::gradcheck: analytic shape must be [3, 4] (the shape of x), got [4, 3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               (void)polo::gradcheck(sum_sin<polo::TokenArrayd>, x, x,
                                     polo::GradcheckOptions{.step = 0.0});
             }),
             Contains("options.step must be > 0, got 0"));
}

}  // namespace gradcheck_test

// polo's exceptions and the argument checks that raise them.

#include "polo/core/error.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo_core_test::message_of;
using polo_test::Contains;

TEST_CASE("nonfinite_error carries the field, row and column", "[core][error]") {
  STATIC_REQUIRE(std::is_base_of_v<polo::invalid_argument, polo::nonfinite_error>);
  STATIC_REQUIRE(std::is_base_of_v<std::invalid_argument, polo::invalid_argument>);
  const polo::nonfinite_error e("polo::DPO", "chosen_logps", 2, 5,
                                std::numeric_limits<double>::quiet_NaN());
  CHECK(e.field() == "chosen_logps");
  CHECK(e.row() == 2);
  CHECK(e.col() == 5);
  CHECK_THAT(e.what(), Contains("polo::DPO: chosen_logps must be finite at every valid position, "
                                "got nan at row 2, column 5"));
  // Catchable as either base.
  try {
    throw polo::nonfinite_error("polo::f", "x", 0, 1, INFINITY);
  } catch (const polo::invalid_argument& base) {
    CHECK_THAT(base.what(), Contains("got inf at row 0, column 1"));
  }
  CHECK_THROWS_AS(throw polo::nonfinite_error("polo::f", "x", 0, 0, 1.0), std::invalid_argument);
}

TEST_CASE("io_error names the path and the reason", "[core][error]") {
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, polo::io_error>);
  STATIC_REQUIRE_FALSE(std::is_base_of_v<polo::invalid_argument, polo::io_error>);
  const polo::io_error e("/tmp/model.polo", "truncated after 12 bytes");
  CHECK(e.path() == "/tmp/model.polo");
  CHECK(e.reason() == "truncated after 12 bytes");
  CHECK(std::string(e.what()) == "polo: /tmp/model.polo: truncated after 12 bytes");
}

TEST_CASE("the argument checks name where, what was expected and what came", "[core][error]") {
  using namespace polo::detail;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_NOTHROW(require_positive("polo::GRPO", "epsilon", 0.2));
  CHECK_THAT(
      message_of<polo::invalid_argument>([] { require_positive("polo::GRPO", "epsilon", 0); }),
      Contains("polo::GRPO: epsilon must be > 0, got 0"));
  CHECK_THROWS_AS(require_positive("polo::GRPO", "epsilon", nan), polo::invalid_argument);
  CHECK_NOTHROW(require_nonnegative("polo::GRPO", "beta", 0.0));
  CHECK_THAT(
      message_of<polo::invalid_argument>([] { require_nonnegative("polo::GRPO", "beta", -0.5); }),
      Contains("polo::GRPO: beta must be >= 0, got -0.5"));
  CHECK_THROWS_AS(require_nonnegative("polo::GRPO", "beta", nan), polo::invalid_argument);

  CHECK_NOTHROW(require_in("polo::f", "p", 0.0, 0.0, 1.0));
  CHECK_NOTHROW(require_in("polo::f", "p", 1.0, 0.0, 1.0));
  CHECK_THAT(message_of<polo::invalid_argument>([] { require_in("polo::f", "p", 1.5, 0.0, 1.0); }),
             Contains("polo::f: p must be in [0, 1], got 1.5"));
  CHECK_THROWS_AS(require_in("polo::f", "p", nan, 0.0, 1.0), polo::invalid_argument);

  CHECK_NOTHROW(require_in_half_open("polo::f", "gamma", 0.0, 0.0, 1.0));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [] { require_in_half_open("polo::f", "gamma", 1.0, 0.0, 1.0); }),
             Contains("polo::f: gamma must be in [0, 1), got 1"));

  CHECK_THAT(message_of<polo::invalid_argument>(
                 [] { fail_argument("polo::f", "loss_type", "one of {a, b}", std::string("c")); }),
             Contains("polo::f: loss_type must be one of {a, b}, got c"));
  CHECK_THAT(
      message_of<polo::invalid_argument>([] { require(false, "polo::f", "k", "even", 3.0); }),
      Contains("polo::f: k must be even, got 3"));
}

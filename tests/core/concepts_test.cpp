// The concepts accept a minimal conforming component and reject one that lacks a member; the
// array aliases have the storage the conventions promise.

#include "polo/core/concepts.hpp"

#include <type_traits>

#include "polo/core/types.hpp"
#include "test_support.hpp"

namespace concepts_test {

struct TinyModel {
  using Scalar = double;
  polo::Vectord params = polo::Vectord::Zero(3);
  polo::Vectord grads = polo::Vectord::Zero(3);
  [[nodiscard]] polo::Index num_parameters() const { return params.size(); }
  polo::Vectord& parameters() { return params; }
  polo::Vectord& gradients() { return grads; }
  void zero_grad() { grads.setZero(); }
};

struct NoZeroGrad {
  using Scalar = double;
  polo::Vectord params;
  [[nodiscard]] polo::Index num_parameters() const { return params.size(); }
  polo::Vectord& parameters() { return params; }
  polo::Vectord& gradients() { return params; }
};

struct Sgd {
  double lr = 0.1;
  void step(polo::Vectord& p, const polo::Vectord& g) const { p -= lr * g; }
  [[nodiscard]] double learning_rate() const { return lr; }
  void set_learning_rate(double value) { lr = value; }
};

struct Coin {
  using Observation = int;
  using Action = int;
  int state = 0;
  Observation reset(polo::Rng& gen) {
    state = static_cast<int>(polo::uniform_int(gen, 2));
    return state;
  }
  polo::StepResult<Observation> step(const Action& a) {
    return {state, a == state ? 1.0 : 0.0, true, false};
  }
};

struct Guess {
  int act(const int& /*obs*/, polo::Rng& gen) const {
    return static_cast<int>(polo::uniform_int(gen, 2));
  }
};

struct Batch {};
struct TinyResult {
  double value = 0.0;
  polo::TokenArrayd grad_logp;
  struct {
  } metrics;
};
struct TinyLoss {
  TinyResult operator()(const Batch& /*batch*/) const { return {}; }
};

TEST_CASE("the concepts accept conforming components and reject others", "[core][concepts]") {
  STATIC_REQUIRE(polo::Parametric<TinyModel>);
  STATIC_REQUIRE_FALSE(polo::Parametric<NoZeroGrad>);
  STATIC_REQUIRE(polo::Optimizer<Sgd>);
  STATIC_REQUIRE_FALSE(polo::Optimizer<TinyModel>);
  STATIC_REQUIRE(polo::Environment<Coin>);
  STATIC_REQUIRE_FALSE(polo::Environment<Sgd>);
  STATIC_REQUIRE(polo::Policy<Guess, int>);
  STATIC_REQUIRE(polo::TokenLoss<TinyLoss, Batch>);
  STATIC_REQUIRE_FALSE(polo::TokenLoss<Sgd, Batch>);
}

TEST_CASE("the array aliases are row-major B x T and column B", "[core][types]") {
  STATIC_REQUIRE(polo::TokenArrayd::IsRowMajor);
  STATIC_REQUIRE(polo::TokenArrayf::IsRowMajor);
  STATIC_REQUIRE(polo::MaskArray::IsRowMajor);
  STATIC_REQUIRE(std::is_same_v<polo::MaskArray::Scalar, unsigned char>);
  STATIC_REQUIRE(polo::SeqArrayd::ColsAtCompileTime == 1);
  STATIC_REQUIRE(std::is_same_v<polo::Index, Eigen::Index>);
  STATIC_REQUIRE(std::is_same_v<polo::Rng, std::mt19937_64>);
  polo::TokenArrayd a(2, 3);
  CHECK(&a(1, 0) == a.data() + 3);  // rows are contiguous, one after another
}

}  // namespace concepts_test

// MLP: forward by hand, backward against central finite differences (parameters and inputs) for
// every activation and several depths, gradient accumulation, the cheap no-input-gradient path,
// the flat layout and the shape errors.

#include "polo/nn/mlp.hpp"

#include <string>
#include <vector>

#include "polo/core/view.hpp"
#include "test_support.hpp"

namespace {

using polo::Activation;
using polo::Index;
using MLPd = polo::MLP<double>;
using Matrixd = MLPd::Matrix;

Matrixd random_matrix(polo::Rng& gen, Index rows, Index cols, double lo = -1.0, double hi = 1.0) {
  Matrixd m(rows, cols);
  for (Index k = 0; k < m.size(); ++k)
    m.data()[k] = polo::uniform(gen, lo, hi);
  return m;
}

// L = sum(R .* net(x)): dL/d(output) = R.
double weighted_output(const MLPd& net, const Matrixd& x, const Matrixd& r) {
  MLPd::Workspace ws;
  return net.forward(x, ws).cwiseProduct(r).sum();
}

}  // namespace

TEST_CASE("MLP sizes, flat layout and PyTorch parameter order", "[nn][mlp]") {
  polo::MLP<float> net({4, 64, 64, 2});
  CHECK(net.num_parameters() == 4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2);
  CHECK(net.num_layers() == 3);
  CHECK(net.input_size() == 4);
  CHECK(net.output_size() == 2);
  CHECK(net.layer_sizes() == std::vector<Index>{4, 64, 64, 2});
  CHECK(net.hidden_activation() == Activation::tanh);
  CHECK(net.output_activation() == Activation::identity);
  CHECK(net.gradients().size() == net.num_parameters());
  CHECK(net.parameters().isZero());

  // weight(0) is [64, 4] row-major at offset 0; bias(0) follows; then layer 1.
  net.parameters().setLinSpaced(net.num_parameters(), 0.0f,
                                static_cast<float>(net.num_parameters() - 1));
  CHECK(net.weight(0).rows() == 64);
  CHECK(net.weight(0).cols() == 4);
  CHECK(net.weight(0)(0, 1) == 1.0f);
  CHECK(net.weight(0)(1, 0) == 4.0f);
  CHECK(net.bias(0)(0) == 256.0f);
  CHECK(net.weight(1)(0, 0) == 320.0f);
  CHECK(net.bias(2)(1) == static_cast<float>(net.num_parameters() - 1));
  net.weight_grad(1)(2, 3) = 7.0f;
  CHECK(net.gradients()(320 + 2 * 64 + 3) == 7.0f);
  net.zero_grad();
  CHECK(net.gradients().isZero());
}

TEST_CASE("MLP forward matches a hand computation", "[nn][mlp]") {
  // 2 -> 2 (tanh) -> 1 (identity)
  MLPd net({2, 2, 1});
  net.weight(0) << 0.5, -1.0, 2.0, 0.25;
  net.bias(0) << 0.1, -0.2;
  net.weight(1) << 1.5, -0.5;
  net.bias(1) << 0.3;
  Matrixd x(2, 2);
  x << 1.0, -1.0,  //
      2.0, 0.5;    // two samples (columns): (1, 2) and (-1, 0.5)
  const Matrixd y = net.predict(x);
  REQUIRE(y.rows() == 1);
  REQUIRE(y.cols() == 2);
  for (Index n = 0; n < 2; ++n) {
    const double h0 = std::tanh(0.5 * x(0, n) - 1.0 * x(1, n) + 0.1);
    const double h1 = std::tanh(2.0 * x(0, n) + 0.25 * x(1, n) - 0.2);
    CHECK(y(0, n) == Approx(1.5 * h0 - 0.5 * h1 + 0.3).epsilon(1e-14));
  }
  // The batch's memory is a row-major [N, features] array.
  const polo::TokenView<const double> view(y.data(), y.cols(), y.rows());
  CHECK(view(1, 0) == y(0, 1));
}

TEST_CASE("MLP backward matches finite differences", "[nn][mlp][gradcheck]") {
  struct Case {
    std::vector<Index> sizes;
    Activation hidden;
    Activation output;
  };
  const std::vector<Case> cases = {
      {{3, 2}, Activation::tanh, Activation::identity},
      {{3, 5, 2}, Activation::tanh, Activation::identity},
      {{4, 6, 5, 3}, Activation::tanh, Activation::tanh},
      {{3, 5, 2}, Activation::relu, Activation::identity},
      {{4, 6, 5, 3}, Activation::relu, Activation::relu},
      {{3, 5, 2}, Activation::silu, Activation::identity},
      {{4, 6, 5, 4, 3}, Activation::silu, Activation::silu},
      {{2, 3, 3}, Activation::identity, Activation::tanh},
  };
  polo::Rng gen(20261201);
  for (const auto& c : cases) {
    MLPd net(c.sizes, c.hidden, c.output);
    net.init_xavier_uniform(gen, 1.0);
    // Non-zero biases so that bias gradients are exercised away from symmetric points.
    for (Index l = 0; l < net.num_layers(); ++l) {
      net.bias(l) = random_matrix(gen, net.bias(l).size(), 1, -0.5, 0.5);
    }
    // Batches of 3 and 6: both forward paths (per-sample GEMV up to 4, GEMM above).
    for (const Index batch : {Index{3}, Index{6}}) {
      // For relu, a kink within a step h of a pre-activation would spoil the difference quotient;
      // with continuous random inputs that has probability ~1e-6 per unit, and the seed is fixed.
      const Matrixd x = random_matrix(gen, net.input_size(), batch, -2.0, 2.0);
      const Matrixd r = random_matrix(gen, net.output_size(), batch);
      INFO("sizes " << fmt::format("{}", c.sizes) << " hidden " << polo::activation_name(c.hidden)
                    << " output " << polo::activation_name(c.output) << " batch " << batch);

      MLPd::Workspace ws;
      net.forward(x, ws);
      net.zero_grad();
      const Matrixd grad_x = net.backward(r, ws);
      const polo::Vectord grad_p = net.gradients();

      auto f_params = [&](const polo::Vectord& p) {
        MLPd probe = net;
        probe.parameters() = p;
        return weighted_output(probe, x, r);
      };
      POLO_CHECK_GRADIENT(f_params, net.parameters(), grad_p);
      auto f_input = [&](const Matrixd& xi) { return weighted_output(net, xi, r); };
      POLO_CHECK_GRADIENT(f_input, x, grad_x);
    }
  }
}

TEST_CASE("MLP small-batch and large-batch forward paths agree", "[nn][mlp]") {
  polo::Rng gen(99);
  MLPd net({5, 7, 3}, Activation::silu, Activation::tanh);
  net.init_orthogonal(gen);
  const Matrixd x = random_matrix(gen, 5, 12);
  const Matrixd all = net.predict(x);
  for (Index n = 1; n <= 4; ++n) {
    const Matrixd few = net.predict(x.leftCols(n));
    CHECK((few - all.leftCols(n)).cwiseAbs().maxCoeff() < 1e-14);
  }
}

TEST_CASE("MLP backward accumulates and the skip path gives the same parameter gradients",
          "[nn][mlp]") {
  polo::Rng gen(7);
  MLPd net({4, 8, 8, 2}, Activation::tanh);
  net.init_orthogonal(gen);
  const Matrixd x = random_matrix(gen, 4, 6);
  const Matrixd r = random_matrix(gen, 2, 6);
  MLPd::Workspace ws;
  net.forward(x, ws);
  net.backward(r, ws);
  const polo::Vectord once = net.gradients();
  CHECK(!once.isZero());
  net.backward(r, ws);  // the workspace still holds the forward pass
  CHECK(net.gradients().isApprox(2.0 * once, 1e-14));

  net.zero_grad();
  net.backward(r, ws, polo::skip_input_grad);
  CHECK(net.gradients().isApprox(once, 1e-14));
}

TEST_CASE("MLP workspace does not reallocate in steady state", "[nn][mlp]") {
  polo::Rng gen(3);
  polo::MLP<float> net({4, 64, 64, 2});
  net.init_orthogonal(gen, std::sqrt(2.0), 0.01);
  const polo::MLP<float>::Matrix x = polo::MLP<float>::Matrix::Random(4, 128);
  const polo::MLP<float>::Matrix g = polo::MLP<float>::Matrix::Random(2, 128);
  polo::MLP<float>::Workspace ws;
  net.forward(x, ws);
  net.backward(g, ws);
  std::vector<const float*> before;
  for (const auto& m : ws.activations)
    before.push_back(m.data());
  for (const auto& m : ws.deltas)
    before.push_back(m.data());
  before.push_back(ws.input_grad.data());
  for (int k = 0; k < 3; ++k) {
    net.forward(x, ws);
    net.backward(g, ws);
  }
  std::vector<const float*> after;
  for (const auto& m : ws.activations)
    after.push_back(m.data());
  for (const auto& m : ws.deltas)
    after.push_back(m.data());
  after.push_back(ws.input_grad.data());
  CHECK(before == after);
}

TEST_CASE("MLP in float agrees with double", "[nn][mlp]") {
  polo::Rng gen(11);
  MLPd netd({4, 16, 16, 2}, Activation::silu);
  netd.init_orthogonal(gen);
  polo::MLP<float> netf({4, 16, 16, 2}, Activation::silu);
  netf.parameters() = netd.parameters().cast<float>();
  const Matrixd x = random_matrix(gen, 4, 9);
  const Matrixd yd = netd.predict(x);
  const polo::MLP<float>::Matrix yf = netf.predict(x.cast<float>());
  CHECK((yd - yf.cast<double>()).cwiseAbs().maxCoeff() < 1e-5);
}

TEST_CASE("MLP refuses bad shapes with a message", "[nn][mlp][errors]") {
  using polo_test::Contains;
  CHECK_THROWS_AS(MLPd({4}), polo::invalid_argument);
  CHECK_THROWS_WITH(MLPd({4}), Contains("layer_sizes") && Contains("at least two entries"));
  CHECK_THROWS_WITH(MLPd({4, 0, 2}), Contains("layer_sizes[1]") && Contains(">= 1"));

  MLPd net({3, 4, 2});
  CHECK_THROWS_WITH(net.weight(2), Contains("layer index") && Contains("[0, 2)") && Contains("2"));
  CHECK_THROWS_AS(net.bias_grad(-1), polo::invalid_argument);
  MLPd::Workspace ws;
  CHECK_THROWS_WITH(net.forward(Matrixd::Zero(2, 5), ws), Contains("polo::MLP::forward") &&
                                                              Contains("x rows") && Contains("3") &&
                                                              Contains("[2, 5]"));
  CHECK_THROWS_WITH(net.backward(Matrixd::Zero(2, 5), ws),
                    Contains("workspace") && Contains("forward"));
  net.forward(Matrixd::Zero(3, 5), ws);
  CHECK_THROWS_AS(net.backward(Matrixd::Zero(2, 4), ws), polo::invalid_argument);
  CHECK_THROWS_WITH(net.backward(Matrixd::Zero(3, 5), ws, polo::skip_input_grad),
                    Contains("grad_output shape") && Contains("[2, 5]") && Contains("[3, 5]"));
}

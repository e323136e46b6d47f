// Initializers: orthogonality with gain in both directions, zero biases, determinism.

#include "polo/nn/init.hpp"

#include "polo/nn/mlp.hpp"
#include "test_support.hpp"

using polo::Index;

TEST_CASE("init_orthogonal gives gain-scaled orthonormal rows or columns", "[nn][init]") {
  polo::Rng gen(1);
  for (const auto& [rows, cols] : {std::pair<Index, Index>{3, 7}, {7, 3}, {5, 5}, {1, 4}}) {
    Eigen::MatrixXd w(rows, cols);
    const double gain = 1.7;
    polo::init_orthogonal(w, gen, gain);
    const Eigen::MatrixXd gram =
        rows <= cols ? Eigen::MatrixXd(w * w.transpose()) : Eigen::MatrixXd(w.transpose() * w);
    const Index k = std::min(rows, cols);
    CHECK((gram - gain * gain * Eigen::MatrixXd::Identity(k, k)).cwiseAbs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("MLP::init_orthogonal is CleanRL's layer_init", "[nn][init]") {
  polo::Rng gen(42);
  polo::MLP<double> net({4, 64, 64, 2});
  net.parameters().setOnes();
  net.init_orthogonal(gen, std::sqrt(2.0), 0.01);
  // [64, 4] is tall: orthonormal columns; [64, 64] square; [2, 64] wide: orthonormal rows.
  const Eigen::MatrixXd w0 = net.weight(0);
  CHECK((w0.transpose() * w0 - 2.0 * Eigen::MatrixXd::Identity(4, 4)).cwiseAbs().maxCoeff() <
        1e-12);
  const Eigen::MatrixXd w1 = net.weight(1);
  CHECK((w1 * w1.transpose() - 2.0 * Eigen::MatrixXd::Identity(64, 64)).cwiseAbs().maxCoeff() <
        1e-12);
  const Eigen::MatrixXd w2 = net.weight(2);
  CHECK((w2 * w2.transpose() - 1e-4 * Eigen::MatrixXd::Identity(2, 2)).cwiseAbs().maxCoeff() <
        1e-16);
  for (Index l = 0; l < 3; ++l)
    CHECK(net.bias(l).isZero(0.0));

  // Same seed, same weights (also in float, from the same double draws).
  polo::Rng again(42);
  polo::MLP<double> twin({4, 64, 64, 2});
  twin.init_orthogonal(again, std::sqrt(2.0), 0.01);
  CHECK(twin.parameters() == net.parameters());
  polo::Rng other(43);
  twin.init_orthogonal(other, std::sqrt(2.0), 0.01);
  CHECK(twin.parameters() != net.parameters());
  polo::Rng as_float(42);
  polo::MLP<float> netf({4, 64, 64, 2});
  netf.init_orthogonal(as_float, std::sqrt(2.0), 0.01);
  CHECK(netf.parameters() == net.parameters().cast<float>());
}

TEST_CASE("Xavier-uniform and torch-default bounds", "[nn][init]") {
  polo::Rng gen(5);
  polo::MLP<double> net({10, 30, 2});
  net.init_xavier_uniform(gen, 2.0);
  const double bound0 = 2.0 * std::sqrt(6.0 / 40.0);
  CHECK(net.weight(0).cwiseAbs().maxCoeff() <= bound0);
  CHECK(net.weight(0).cwiseAbs().maxCoeff() > 0.8 * bound0);
  CHECK(net.bias(0).isZero(0.0));
  net.init_torch_default(gen);
  CHECK(net.weight(1).cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(30.0));
  CHECK(net.bias(0).cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(10.0));
  CHECK(!net.bias(0).isZero(0.0));
}

#pragma once
// Weight initializers on any writable Eigen matrix (typically a Map into a flat parameter
// vector). Randomness comes only from polo's portable samplers, so a seed gives the same weights
// on every platform.

#include <cmath>
#include <random>

#include <Eigen/Core>
#include <Eigen/QR>

#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// Fills the `[rows, cols]` matrix `w` with a (semi-)orthogonal matrix times `gain`, as
/// `torch.nn.init.orthogonal_`: a Gaussian matrix, transposed to be tall, QR-factorized, Q's
/// columns sign-corrected by diag(R) so that the result is uniformly distributed. The rows are
/// orthonormal (times gain) when rows <= cols, the columns when rows >= cols. Computed in double.
///
/// Takes `const MatrixBase&` so that temporaries such as `Eigen::Map`s bind (Eigen's idiom for
/// writable expression arguments).
template <class Derived, std::uniform_random_bit_generator G>
void init_orthogonal(const Eigen::MatrixBase<Derived>& w_, G& gen, double gain) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(w_);
  const Index rows = w.rows();
  const Index cols = w.cols();
  if (rows == 0 || cols == 0) return;
  // Gaussian draws in row-major order of the [rows, cols] matrix, as torch fills its tensor.
  Eigen::MatrixXd a(rows, cols);
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) {
      a(i, j) = normal(gen);
    }
  }
  const bool wide = rows < cols;
  if (wide) a.transposeInPlace();
  const Index m = a.rows();
  const Index n = a.cols();  // m >= n
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(m, n);
  for (Index j = 0; j < n; ++j) {
    // torch multiplies by sign(R_jj); a zero diagonal has probability zero, keep the column then.
    if (qr.matrixQR()(j, j) < 0.0) q.col(j) = -q.col(j);
  }
  using S = typename Derived::Scalar;
  if (wide) {
    w = (gain * q.transpose()).template cast<S>();
  } else {
    w = (gain * q).template cast<S>();
  }
}

/// Fills the `[fan_out, fan_in]` matrix `w` from U(-a, a), a = gain * sqrt(6 / (fan_in +
/// fan_out)), as `torch.nn.init.xavier_uniform_`.
template <class Derived, std::uniform_random_bit_generator G>
void init_xavier_uniform(const Eigen::MatrixBase<Derived>& w_, G& gen, double gain = 1.0) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(w_);
  using S = typename Derived::Scalar;
  const auto fans = static_cast<double>(w.rows() + w.cols());
  const double bound = fans > 0.0 ? gain * std::sqrt(6.0 / fans) : 0.0;
  for (Index i = 0; i < w.rows(); ++i) {
    for (Index j = 0; j < w.cols(); ++j) {
      w(i, j) = static_cast<S>(uniform(gen, -bound, bound));
    }
  }
}

/// Fills `x` from U(-bound, bound) (row by row). With bound = 1 / sqrt(fan_in) on a weight and
/// its bias this is `torch.nn.Linear`'s default initialization.
template <class Derived, std::uniform_random_bit_generator G>
void init_uniform(const Eigen::MatrixBase<Derived>& x_, G& gen, double bound) {
  auto& x = const_cast<Eigen::MatrixBase<Derived>&>(x_);
  using S = typename Derived::Scalar;
  for (Index i = 0; i < x.rows(); ++i) {
    for (Index j = 0; j < x.cols(); ++j) {
      x(i, j) = static_cast<S>(uniform(gen, -bound, bound));
    }
  }
}

}  // namespace polo

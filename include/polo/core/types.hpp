#pragma once
// Index type and the owning array aliases that match polo's storage conventions.

#include <cstddef>

#include <Eigen/Core>

namespace polo {

/// Signed index used for every shape and position (Eigen's own index type).
using Index = Eigen::Index;

/// Owning `[B, T]` array: one sequence (or trajectory) per row, time along the row, row-major,
/// so that it has the memory layout of a contiguous `[B, T]` PyTorch tensor.
template <class Scalar>
using TokenArray = Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Owning per-sequence `[B]` array.
template <class Scalar>
using SeqArray = Eigen::Array<Scalar, Eigen::Dynamic, 1>;

using TokenArrayd = TokenArray<double>;
using TokenArrayf = TokenArray<float>;
using SeqArrayd = SeqArray<double>;
using SeqArrayf = SeqArray<float>;

/// Owning `[B, T]` mask (nonzero = the token counts).
using MaskArray = Eigen::Array<unsigned char, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Flat parameter / gradient vectors used by the models and optimizers.
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
using Vectord = Vector<double>;
using Vectorf = Vector<float>;

}  // namespace polo

#pragma once
// A multi-layer perceptron with a hand-written backward pass over one flat parameter vector.
//
// A batch is a column-major `[features, N]` matrix, one sample per column: its memory is that of
// a row-major `[N, features]` array (a PyTorch batch), so `polo::TokenView<const S>(m.data(), N,
// features)` views it without a copy. Layer l computes a_l = f_l(W_l a_{l-1} + b_l).
//
// The flat vector holds, layer by layer, the weight `[out, in]` in row-major order and then the
// bias `[out]`: exactly `torch.cat([p.flatten() for p in net.parameters()])` of the equivalent
// stack of `torch.nn.Linear`s, so weights move between the two with one copy.

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <Eigen/Core>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/nn/activation.hpp"
#include "polo/nn/init.hpp"

namespace polo {

/// Tag for `MLP::backward` when the gradient with respect to the input is not needed (a network
/// whose input is data): the cheaper path skips the first layer's input product.
struct SkipInputGrad {
  explicit SkipInputGrad() = default;
};
inline constexpr SkipInputGrad skip_input_grad{};

template <class S>
class MLP {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                "polo::MLP: Scalar must be float or double");

 public:
  using Scalar = S;
  using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  /// A weight `[out, in]` as stored in the flat vector (row-major, PyTorch's layout).
  using WeightMatrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using WeightMap = Eigen::Map<WeightMatrix>;
  using ConstWeightMap = Eigen::Map<const WeightMatrix>;
  using BiasMap = Eigen::Map<Vector<S>>;
  using ConstBiasMap = Eigen::Map<const Vector<S>>;

  /// Everything a forward pass keeps for its backward pass, plus backward's scratch. Owned by the
  /// caller and reused across calls: buffers are resized only when the batch size changes, so a
  /// steady training loop does not allocate (keep one workspace per batch size, e.g. one for
  /// acting and one for minibatch updates).
  struct Workspace {
    std::vector<Matrix> activations;  ///< [0] a copy of the input; [l + 1] layer l's output
    std::vector<Matrix> sigmoids;     ///< sigmoid(z_l) for silu layers (empty otherwise)
    std::vector<Matrix> deltas;       ///< dL/dz_l, backward scratch
    Matrix input_grad;                ///< dL/dx `[in, N]`
    Index batch = -1;                 ///< N of the last forward pass; -1 before any
  };

  /// `layer_sizes` lists the widths from input to output, e.g. {4, 64, 64, 2} (at least two
  /// entries, each >= 1). Hidden layers use `hidden`, the last layer `output`. Parameters start
  /// at zero: call one of the `init_*` functions.
  explicit MLP(std::vector<Index> layer_sizes, Activation hidden = Activation::tanh,
               Activation output = Activation::identity)
      : sizes_(std::move(layer_sizes)), hidden_(hidden), output_(output) {
    if (sizes_.size() < 2) {
      detail::fail_argument("polo::MLP", "layer_sizes",
                            "at least two entries (input and output widths)",
                            fmt::format("{}", sizes_));
    }
    Index total = 0;
    offsets_.reserve(sizes_.size());
    for (std::size_t l = 0; l < sizes_.size(); ++l) {
      if (sizes_[l] < 1) {
        detail::fail_argument("polo::MLP", fmt::format("layer_sizes[{}]", l), ">= 1",
                              fmt::format("{} (in {})", sizes_[l], sizes_));
      }
      if (l + 1 < sizes_.size()) {
        offsets_.push_back(total);
        total += sizes_[l + 1] * sizes_[l] + sizes_[l + 1];
      }
    }
    params_ = Vector<S>::Zero(total);
    grads_ = Vector<S>::Zero(total);
  }

  // ---- shape -------------------------------------------------------------------------------

  [[nodiscard]] Index num_parameters() const noexcept { return params_.size(); }
  /// Number of affine layers (entries of layer_sizes() minus one).
  [[nodiscard]] Index num_layers() const noexcept { return static_cast<Index>(offsets_.size()); }
  [[nodiscard]] Index input_size() const noexcept { return sizes_.front(); }
  [[nodiscard]] Index output_size() const noexcept { return sizes_.back(); }
  [[nodiscard]] const std::vector<Index>& layer_sizes() const noexcept { return sizes_; }
  [[nodiscard]] Activation hidden_activation() const noexcept { return hidden_; }
  [[nodiscard]] Activation output_activation() const noexcept { return output_; }
  [[nodiscard]] Activation activation(Index layer) const noexcept {
    return layer + 1 == num_layers() ? output_ : hidden_;
  }

  // ---- parameters --------------------------------------------------------------------------

  [[nodiscard]] Vector<S>& parameters() noexcept { return params_; }
  [[nodiscard]] const Vector<S>& parameters() const noexcept { return params_; }
  [[nodiscard]] Vector<S>& gradients() noexcept { return grads_; }
  [[nodiscard]] const Vector<S>& gradients() const noexcept { return grads_; }
  void zero_grad() noexcept { grads_.setZero(); }

  /// Layer `l`'s weight `[out, in]` and bias `[out]`, viewed in the flat vectors.
  [[nodiscard]] WeightMap weight(Index l) {
    return {params_.data() + weight_offset(l), rows(l), cols(l)};
  }
  [[nodiscard]] ConstWeightMap weight(Index l) const {
    return {params_.data() + weight_offset(l), rows(l), cols(l)};
  }
  [[nodiscard]] BiasMap bias(Index l) { return {params_.data() + bias_offset(l), rows(l)}; }
  [[nodiscard]] ConstBiasMap bias(Index l) const {
    return {params_.data() + bias_offset(l), rows(l)};
  }
  [[nodiscard]] WeightMap weight_grad(Index l) {
    return {grads_.data() + weight_offset(l), rows(l), cols(l)};
  }
  [[nodiscard]] ConstWeightMap weight_grad(Index l) const {
    return {grads_.data() + weight_offset(l), rows(l), cols(l)};
  }
  [[nodiscard]] BiasMap bias_grad(Index l) { return {grads_.data() + bias_offset(l), rows(l)}; }
  [[nodiscard]] ConstBiasMap bias_grad(Index l) const {
    return {grads_.data() + bias_offset(l), rows(l)};
  }

  // ---- initialization ----------------------------------------------------------------------

  /// Orthogonal weights and zero biases, as CleanRL's `layer_init`: hidden layers get
  /// `hidden_gain` (sqrt 2 there), the last layer `output_gain` (0.01 for a policy head, 1 for a
  /// value head).
  template <std::uniform_random_bit_generator G>
  void init_orthogonal(G& gen, double hidden_gain = std::numbers::sqrt2, double output_gain = 1.0) {
    for (Index l = 0; l < num_layers(); ++l) {
      polo::init_orthogonal(weight(l), gen, l + 1 == num_layers() ? output_gain : hidden_gain);
      bias(l).setZero();
    }
  }

  /// Xavier-uniform weights with `gain` and zero biases.
  template <std::uniform_random_bit_generator G>
  void init_xavier_uniform(G& gen, double gain = 1.0) {
    for (Index l = 0; l < num_layers(); ++l) {
      polo::init_xavier_uniform(weight(l), gen, gain);
      bias(l).setZero();
    }
  }

  /// `torch.nn.Linear`'s default: weight and bias from U(-1/sqrt(in), 1/sqrt(in)).
  template <std::uniform_random_bit_generator G>
  void init_torch_default(G& gen) {
    for (Index l = 0; l < num_layers(); ++l) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(cols(l)));
      polo::init_uniform(weight(l), gen, bound);
      polo::init_uniform(bias(l), gen, bound);
    }
  }

  // ---- forward / backward ------------------------------------------------------------------

  /// Runs the network on `x` `[in, N]` and returns the output `[out, N]`, a reference into `ws`
  /// valid until its next use. Keeps what `backward` needs in `ws`.
  const Matrix& forward(const Eigen::Ref<const Matrix>& x, Workspace& ws) const {
    if (x.rows() != input_size()) {
      detail::fail_argument(
          "polo::MLP::forward", "x rows (input features)",
          fmt::format("{} (x is [features, N], one sample per column)", input_size()),
          fmt::format("{} (x is [{}, {}])", x.rows(), x.rows(), x.cols()));
    }
    const Index n = x.cols();
    const auto layers = static_cast<std::size_t>(num_layers());
    ws.activations.resize(layers + 1);
    ws.sigmoids.resize(layers);
    ws.deltas.resize(layers);
    ws.activations[0] = x;  // same size every step: no reallocation
    for (Index l = 0; l < num_layers(); ++l) {
      const auto k = static_cast<std::size_t>(l);
      Matrix& z = ws.activations[k + 1];
      z.resize(rows(l), n);
      if (n <= 4) {
        // A few samples (acting in a vector env): Eigen's GEMM packing costs more than the
        // product itself; one GEMV per sample is 2-3x faster here.
        for (Index j = 0; j < n; ++j) {
          z.col(j).noalias() = weight(l) * ws.activations[k].col(j);
        }
      } else {
        z.noalias() = weight(l) * ws.activations[k];
      }
      z.colwise() += bias(l);
      detail::activate_in_place(activation(l), z, ws.sigmoids[k]);
    }
    ws.batch = n;
    return ws.activations.back();
  }

  /// The output for `x` `[in, N]` (inference convenience; allocates its own workspace).
  [[nodiscard]] Matrix predict(const Eigen::Ref<const Matrix>& x) const {
    Workspace ws;
    return forward(x, ws);
  }

  /// Back-propagates `grad_output` = dL/d(output) `[out, N]` through the last `forward` on `ws`:
  /// ADDS dL/dparameters to `gradients()` and returns dL/dx `[in, N]` (a reference into `ws`).
  const Matrix& backward(const Eigen::Ref<const Matrix>& grad_output, Workspace& ws) {
    backward_layers(grad_output, ws, true);
    return ws.input_grad;
  }

  /// As `backward`, without computing dL/dx.
  void backward(const Eigen::Ref<const Matrix>& grad_output, Workspace& ws, SkipInputGrad) {
    backward_layers(grad_output, ws, false);
  }

 private:
  [[nodiscard]] Index rows(Index l) const { return sizes_[static_cast<std::size_t>(l) + 1]; }
  [[nodiscard]] Index cols(Index l) const { return sizes_[static_cast<std::size_t>(l)]; }
  // Every accessor computes this first (braced initializers evaluate left to right), so the
  // layer index is checked before anything is read.
  [[nodiscard]] Index weight_offset(Index l) const {
    if (l < 0 || l >= num_layers()) {
      detail::fail_argument("polo::MLP", "layer index", fmt::format("in [0, {})", num_layers()), l);
    }
    return offsets_[static_cast<std::size_t>(l)];
  }
  [[nodiscard]] Index bias_offset(Index l) const {
    const Index w = weight_offset(l);  // checks l before rows and cols read sizes_
    return w + rows(l) * cols(l);
  }

  void backward_layers(const Eigen::Ref<const Matrix>& grad_output, Workspace& ws,
                       bool want_input_grad) {
    const auto layers = static_cast<std::size_t>(num_layers());
    if (ws.batch < 0 || ws.activations.size() != layers + 1 ||
        ws.activations[0].rows() != input_size() || ws.activations.back().rows() != output_size()) {
      detail::fail_argument("polo::MLP::backward", "workspace",
                            "filled by forward() of this network", "a workspace without it");
    }
    if (grad_output.rows() != output_size() || grad_output.cols() != ws.batch) {
      detail::fail_argument("polo::MLP::backward", "grad_output shape",
                            fmt::format("[{}, {}] (output features, batch of the last forward)",
                                        output_size(), ws.batch),
                            fmt::format("[{}, {}]", grad_output.rows(), grad_output.cols()));
    }
    ws.deltas.back() = grad_output;
    for (Index l = num_layers() - 1; l >= 0; --l) {
      const auto k = static_cast<std::size_t>(l);
      Matrix& delta = ws.deltas[k];
      detail::activation_backward_in_place(activation(l), ws.activations[k + 1], ws.sigmoids[k],
                                           delta);
      const Matrix& input = ws.activations[k];
      weight_grad(l).noalias() += delta * input.transpose();
      bias_grad(l) += delta.rowwise().sum();
      if (l > 0) {
        Matrix& next = ws.deltas[k - 1];
        next.resize(cols(l), ws.batch);
        next.noalias() = weight(l).transpose() * delta;
      } else if (want_input_grad) {
        ws.input_grad.resize(cols(l), ws.batch);
        ws.input_grad.noalias() = weight(l).transpose() * delta;
      }
    }
  }

  std::vector<Index> sizes_;
  std::vector<Index> offsets_;  ///< start of each layer's weight in the flat vector
  Activation hidden_;
  Activation output_;
  Vector<S> params_;
  Vector<S> grads_;
};

static_assert(Parametric<MLP<float>>);
static_assert(Parametric<MLP<double>>);

}  // namespace polo

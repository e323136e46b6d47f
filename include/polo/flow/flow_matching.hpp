#pragma once
// Rectified flow matching (Liu et al. 2023; Lipman et al. 2023) with the linear path of SD3 and
// the AWM code: t = 1 is noise, t = 0 is data (ALGORITHMS ranking_flow_offline_meta.md §2(b)).
//
//   x_t = (1 - t) x0 + t eps,   eps ~ N(0, I),   target u = eps - x0
//   mse_n = mean_d (v_nd - u_nd)^2,   value = (1 / N) sum_n w_n mse_n
//   d value / d v_nd = (2 / (N D)) w_n (v_nd - u_nd)
//
// Rows of the velocity are (sample, timestep) pairs: with x0 [B, D] and N = B M rows, row n
// belongs to sample n / M (each sample's M timesteps are consecutive rows), so a sample is stored
// once however many timesteps it is trained at.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"

namespace polo {

namespace detail {

/// Rows per sample when `rows` (velocity / noise) rows share `samples` rows of x0.
inline Index rows_per_sample(std::string_view where, Index rows, Index samples) {
  if (samples <= 0 || rows % samples != 0) {
    fail_argument(where, "x0 rows",
                  fmt::format("a positive divisor of the velocity rows ({}); row n uses x0 row "
                              "n / (rows / x0 rows)",
                              rows),
                  samples);
  }
  return rows / samples;
}

/// e_d = v_d - (eps_d - x0_d): the velocity's error against the path's target.
template <class S>
double fm_error(const S* v, const S* x0, const S* eps, Index d) {
  return static_cast<double>(v[d]) - (static_cast<double>(eps[d]) - static_cast<double>(x0[d]));
}

/// mean_d e_d^2 of one row.
template <class S>
double fm_row_mse(const S* v, const S* x0, const S* eps, Index dims) {
  double sum = 0.0;
  for (Index d = 0; d < dims; ++d) {
    const double e = fm_error(v, x0, eps, d);
    sum += e * e;
  }
  return dims > 0 ? sum / static_cast<double>(dims) : 0.0;
}

/// Shapes shared by flow matching and AWM: velocity [N, D], x0 [B, D] (B divides N), noise [N, D].
template <class S>
Index require_fm_shapes(std::string_view where, TokenView<const S> velocity, TokenView<const S> x0,
                        TokenView<const S> noise) {
  require_present(where, "velocity", velocity, "the model's prediction [N, D]");
  require_present(where, "x0", x0, "the clean samples [B, D]");
  const Index per = rows_per_sample(where, velocity.rows(), x0.rows());
  require_shape(where, "x0", x0, x0.rows(), velocity.cols());
  require_shape(where, "noise", noise, velocity.rows(), velocity.cols());
  return per;
}

/// The owning form of the velocity losses (flow matching, AWM): allocate the result, run the
/// loss's zero-allocation `compute` into it, keep the value and the metrics.
template <class Result, class S, class Loss, class Inputs>
Result owning_velocity_call(const Loss& loss, const Inputs& in) {
  Result out;
  out.grad_velocity.resize(in.velocity.rows(), in.velocity.cols());
  out.per_row.resize(in.velocity.rows());
  const auto v = loss.compute(in, TokenView<S>(out.grad_velocity), SeqView<S>(out.per_row));
  out.value = v.value;
  out.metrics = v.metrics;
  return out;
}

}  // namespace detail

/// The point of the path at `t` and its velocity target: `x_t = (1 - t) x0 + t eps` and
/// `target = eps - x0` (either output may be null). Shapes as the loss: noise, t, x_t and target
/// have N rows; x0 has B rows, B dividing N.
template <class S>
void flow_interpolate(TokenView<const S> x0, TokenView<const S> noise, SeqView<const S> t,
                      TokenView<S> x_t, TokenView<S> target) {
  constexpr std::string_view where = "polo::flow_interpolate";
  const Index rows = noise.rows();
  const Index dims = noise.cols();
  const Index per = detail::rows_per_sample(where, rows, x0.rows());
  detail::require_shape(where, "x0", x0, x0.rows(), dims);
  detail::require_shape(where, "t", t, rows);
  if (!x_t.is_null()) detail::require_shape(where, "x_t", x_t, rows, dims);
  if (!target.is_null()) detail::require_shape(where, "target", target, rows, dims);
  for (Index n = 0; n < rows; ++n) {
    const double tn = static_cast<double>(t[n]);
    detail::require_in(where, fmt::format("t[{}]", n), tn, 0.0, 1.0);
    const S* a = x0.row(n / per);
    const S* e = noise.row(n);
    for (Index d = 0; d < dims; ++d) {
      const double x = static_cast<double>(a[d]);
      const double z = static_cast<double>(e[d]);
      if (!x_t.is_null()) x_t(n, d) = static_cast<S>((1.0 - tn) * x + tn * z);
      if (!target.is_null()) target(n, d) = static_cast<S>(z - x);
    }
  }
}

/// How training timesteps are drawn.
enum class TimestepDistribution : std::uint8_t {
  uniform,       ///< u ~ U[0, 1)
  logit_normal,  ///< u = sigmoid(m + s z), z ~ N(0, 1) (SD3's "logit-normal")
};

/// Draws training timesteps: u from `distribution`, then t = t_min + (t_max - t_min) u, then the
/// SD3 time shift t' = shift t / (1 + (shift - 1) t) (shift 1 = none). `stratified` (uniform
/// only) puts the k-th of n draws in [k / n, (k + 1) / n), as the AWM code does for a sample's M
/// timesteps.
struct TimestepSampler {
  TimestepDistribution distribution = TimestepDistribution::uniform;
  double t_min = 0.0;  ///< AWM's toy: 0.05 (very small t gives near-zero targets, high noise)
  double t_max = 1.0;  ///< AWM's toy: 0.95
  double logit_mean = 0.0;
  double logit_std = 1.0;
  bool stratified = false;
  double shift = 1.0;  ///< SD3 / AWM configs use 3.0

  static constexpr std::string_view name = "polo::TimestepSampler";

  void validate() const {
    if (distribution != TimestepDistribution::uniform &&
        distribution != TimestepDistribution::logit_normal) {
      detail::fail_argument(name, "distribution", "uniform or logit_normal",
                            static_cast<int>(distribution));
    }
    detail::require_in(name, "t_min", t_min, 0.0, 1.0);
    detail::require_in(name, "t_max", t_max, t_min, 1.0);
    if (!std::isfinite(logit_mean)) detail::fail_argument(name, "logit_mean", "finite", logit_mean);
    detail::require_positive(name, "logit_std", logit_std);
    if (!(shift > 0.0 && std::isfinite(shift))) {
      detail::fail_argument(name, "shift", "finite and > 0", shift);
    }
    if (stratified && distribution != TimestepDistribution::uniform) {
      detail::fail_argument(name, "stratified", "false unless distribution is uniform", "true");
    }
  }

  /// One timestep (non-stratified).
  template <std::uniform_random_bit_generator G>
  double operator()(G& gen) const {
    validate();
    return map(draw(gen));
  }

  /// Fills `out` (stratified over its entries when `stratified`).
  template <class S, std::uniform_random_bit_generator G>
  void sample(G& gen, SeqView<S> out) const {
    validate();
    const auto n = static_cast<double>(out.size());
    for (Index k = 0; k < out.size(); ++k) {
      const double u = stratified ? (static_cast<double>(k) + uniform(gen)) / n : draw(gen);
      out[k] = static_cast<S>(map(u));
    }
  }

 private:
  template <std::uniform_random_bit_generator G>
  [[nodiscard]] double draw(G& gen) const {
    if (distribution == TimestepDistribution::uniform) return uniform(gen);
    return sigmoid(logit_mean + logit_std * normal(gen));
  }

  [[nodiscard]] double map(double u) const {
    const double t = std::min(t_min + (t_max - t_min) * u, t_max);
    return shift == 1.0 ? t : shift * t / (1.0 + (shift - 1.0) * t);
  }
};

/// The inputs of the flow-matching loss. Everything but `velocity` is a constant.
template <class S>
struct FlowMatchingInputs {
  TokenView<const S> velocity{};  ///< v_theta(x_t, t) [N, D], the differentiable input
  TokenView<const S> x0{};        ///< clean samples [B, D], B dividing N (row n uses n / (N / B))
  TokenView<const S> noise{};     ///< eps [N, D], the noise that made row n's x_t
  SeqView<const S> weights{};     ///< optional per-row weights w_n [N] (null: all 1)
};

struct FlowMatchingMetrics {
  double mse = 0.0;  ///< unweighted mean of mse_n (the plain flow-matching loss)
  double rows = 0.0;
};

template <class S>
struct FlowMatchingResult {
  double value = 0.0;
  TokenArray<S> grad_velocity;  ///< d value / d velocity [N, D]
  SeqArray<S> per_row;          ///< mse_n [N] before weighting
  FlowMatchingMetrics metrics;
};

/// The (optionally weighted) rectified flow-matching loss, to minimize. No hyper-parameters: the
/// path and the target are fixed (see the header comment); weights express any time weighting.
struct FlowMatching {
  static constexpr std::string_view name = "polo::FlowMatching";

  /// Zero-allocation call: writes d value / d velocity into `grad_velocity` [N, D] and, when
  /// given, mse_n into `per_row` [N].
  template <class S>
  LossValue<FlowMatchingMetrics> compute(const FlowMatchingInputs<S>& in,
                                         TokenView<S> grad_velocity,
                                         SeqView<S> per_row = {}) const {
    const Index per = detail::require_fm_shapes(name, in.velocity, in.x0, in.noise);
    const Index rows = in.velocity.rows();
    const Index dims = in.velocity.cols();
    detail::require_shape(name, "grad_velocity", grad_velocity, rows, dims);
    if (!in.weights.is_null()) detail::require_shape(name, "weights", in.weights, rows);
    if (!per_row.is_null()) detail::require_shape(name, "per_row", per_row, rows);
    const double scale = rows > 0 && dims > 0 ? 2.0 / static_cast<double>(rows * dims) : 0.0;
    double value = 0.0;
    double mse_sum = 0.0;
    double guard = 0.0;
    for (Index n = 0; n < rows; ++n) {
      const S* v = in.velocity.row(n);
      const S* x0 = in.x0.row(n / per);
      const S* eps = in.noise.row(n);
      const double w = in.weights.is_null() ? 1.0 : static_cast<double>(in.weights[n]);
      S* g = grad_velocity.row(n);
      double sq = 0.0;
      for (Index d = 0; d < dims; ++d) {  // one pass: the gradient needs no row statistic
        const double e = detail::fm_error(v, x0, eps, d);
        sq += e * e;
        const double gd = scale * w * e;
        guard += 0.0 * gd;
        g[d] = static_cast<S>(gd);
      }
      const double mse = dims > 0 ? sq / static_cast<double>(dims) : 0.0;
      if (!per_row.is_null()) per_row[n] = static_cast<S>(mse);
      value += w * mse;
      mse_sum += mse;
    }
    if (rows > 0) value /= static_cast<double>(rows);
    if (!std::isfinite(value) || !std::isfinite(guard)) {
      detail::check_finite(name, "velocity", in.velocity, MaskView{});
      detail::check_finite(name, "x0", in.x0, MaskView{});
      detail::check_finite(name, "noise", in.noise, MaskView{});
      if (!in.weights.is_null()) detail::check_finite(name, "weights", in.weights);
      detail::fail_argument(name, "the loss", "finite for finite inputs", value);
    }
    LossValue<FlowMatchingMetrics> out;
    out.value = value;
    out.metrics.rows = static_cast<double>(rows);
    out.metrics.mse = rows > 0 ? mse_sum / static_cast<double>(rows) : 0.0;
    return out;
  }

  /// Owning call.
  template <class S>
  FlowMatchingResult<S> operator()(const FlowMatchingInputs<S>& in) const {
    return call<S>(in);
  }
  /// Braced inputs deduce no template argument; these pick the scalar.
  FlowMatchingResult<double> operator()(const FlowMatchingInputs<double>& in) const {
    return call<double>(in);
  }
  FlowMatchingResult<float> operator()(const FlowMatchingInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  FlowMatchingResult<S> call(const FlowMatchingInputs<S>& in) const {
    return detail::owning_velocity_call<FlowMatchingResult<S>, S>(*this, in);
  }
};

}  // namespace polo

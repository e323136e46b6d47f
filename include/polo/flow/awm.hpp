#pragma once
// Advantage Weighted Matching (Xue et al. 2025, arXiv 2509.25050): the pretraining flow-matching
// loss on the policy's own clean samples x0, each (sample, timestep) row weighted by the sample's
// advantage, plus squared-velocity anchors to the pretrained model and to an EMA copy.
// ALGORITHMS ranking_flow_offline_meta.md §2(b)-(c).
//
//   mse_n  = mean_d (v_nd - (eps_nd - x0_{i(n)d}))^2,   i(n) = n / M,  M = N / B
//   f_n    = weighting(mse_n, t_n)                       (uniform: mse_n; ghuber: see AWMWeighting)
//   value  = (1 / N) sum_n [ A_i f_n + beta mean_d (v - v_ref)^2 + beta_ema mean_d (v - v_ema)^2 ]
//   d value / d v_nd = (2 / (N D)) [ A_i f'_n e_nd + beta (v - v_ref)_nd + beta_ema (v - v_ema)_nd
//   ]
//
// The code's PPO form on-policy has ratio 1 and the same gradient (its `clip_range` is inert); the
// value here is the surrogate whose gradient that is. x_t = (1 - t) x0 + t eps must come from
// freshly noised samples, never from the sampler's trajectory (that reintroduces DDPO's noisy
// targets).

#include <cmath>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/flow/flow_matching.hpp"
#include "polo/losses/result.hpp"

namespace polo {

/// How a row's flow-matching error becomes its (negative) surrogate log-likelihood (the AWM
/// code's `weighting`); f and f' = d f / d mse:
enum class AWMWeighting : std::uint8_t {
  uniform,    ///< f = mse
  t,          ///< f = t mse
  t_squared,  ///< f = t^2 mse
  huber,      ///< f = (sqrt(mse + delta) - 1e-5) t,  f' = t / (2 sqrt(mse + delta))
  ghuber,     ///< f = ((mse + delta)^p - delta^p) t / p,  f' = t (mse + delta)^(p - 1) (default)
};

/// The inputs of the AWM loss. Everything but `velocity` is a constant.
template <class S>
struct AWMInputs {
  TokenView<const S> velocity{};      ///< v_theta(x_t, t) [N, D], the differentiable input
  TokenView<const S> x0{};            ///< the policy's clean samples [B, D], B dividing N
  TokenView<const S> noise{};         ///< eps [N, D] (fresh per row)
  SeqView<const S> t{};               ///< timesteps [N], in [0, 1]
  SeqView<const S> advantages{};      ///< A_i [B] (e.g. polo::awm_advantage())
  TokenView<const S> ref_velocity{};  ///< the pretrained model at the same (x_t, t); iff beta > 0
  TokenView<const S> ema_velocity{};  ///< the EMA copy at the same (x_t, t); iff beta_ema > 0
};

struct AWMMetrics {
  double policy_loss = 0.0;  ///< (1 / N) sum_n A_i f_n
  double fm_loss = 0.0;      ///< mean mse_n: the plain flow-matching loss on the samples
  double kl_ref = 0.0;       ///< mean_n mean_d (v - v_ref)^2 (0 when beta = 0)
  double kl_ema = 0.0;       ///< mean_n mean_d (v - v_ema)^2 (0 when beta_ema = 0)
  double rows = 0.0;
};

template <class S>
struct AWMResult {
  double value = 0.0;
  TokenArray<S> grad_velocity;  ///< d value / d velocity [N, D]
  SeqArray<S> per_row;          ///< A_i f_n [N]
  AWMMetrics metrics;
};

/// AWM's loss, to minimize. Defaults: the official GenEval config (ghuber p = 0.25, beta 0.001);
/// `beta_ema` defaults to 0 (the configs use 1 with an EMA copy the caller keeps).
struct AWM {
  AWMWeighting weighting = AWMWeighting::ghuber;
  double ghuber_power = 0.25;  ///< p, in (0, 1]
  double delta = 1e-10;        ///< the ghuber / huber offset (> 0)
  double beta = 0.001;         ///< weight of the anchor to the pretrained velocity (>= 0)
  double beta_ema = 0.0;       ///< weight of the anchor to the EMA velocity (>= 0)

  static constexpr std::string_view name = "polo::AWM";

  void validate() const {
    if (weighting != AWMWeighting::uniform && weighting != AWMWeighting::t &&
        weighting != AWMWeighting::t_squared && weighting != AWMWeighting::huber &&
        weighting != AWMWeighting::ghuber) {
      detail::fail_argument(name, "weighting", "uniform, t, t_squared, huber or ghuber",
                            static_cast<int>(weighting));
    }
    if (!(ghuber_power > 0.0 && ghuber_power <= 1.0)) {
      detail::fail_argument(name, "ghuber_power", "in (0, 1]", ghuber_power);
    }
    detail::require_positive(name, "delta", delta);
    if (!(beta >= 0.0 && std::isfinite(beta))) {
      detail::fail_argument(name, "beta", "finite and >= 0", beta);
    }
    if (!(beta_ema >= 0.0 && std::isfinite(beta_ema))) {
      detail::fail_argument(name, "beta_ema", "finite and >= 0", beta_ema);
    }
  }

  /// f(mse, t) and f'(mse, t) of `weighting`.
  struct Weighted {
    double value = 0.0;
    double slope = 0.0;
  };
  [[nodiscard]] Weighted weigh(double mse, double t) const {
    switch (weighting) {
      case AWMWeighting::uniform:
        return {mse, 1.0};
      case AWMWeighting::t:
        return {t * mse, t};
      case AWMWeighting::t_squared:
        return {t * t * mse, t * t};
      case AWMWeighting::huber: {
        const double r = std::sqrt(mse + delta);
        return {(r - 1e-5) * t, t / (2.0 * r)};
      }
      case AWMWeighting::ghuber:
        break;
    }
    const double p = ghuber_power;
    const double powered = std::pow(mse + delta, p);
    return {(powered - std::pow(delta, p)) * t / p, t * powered / (mse + delta)};
  }

  /// Zero-allocation call: writes d value / d velocity into `grad_velocity` [N, D] and, when
  /// given, A_i f_n into `per_row` [N].
  template <class S>
  LossValue<AWMMetrics> compute(const AWMInputs<S>& in, TokenView<S> grad_velocity,
                                SeqView<S> per_row = {}) const {
    validate();
    const Index per = detail::require_fm_shapes(name, in.velocity, in.x0, in.noise);
    const Index rows = in.velocity.rows();
    const Index dims = in.velocity.cols();
    const Index samples = in.x0.rows();
    detail::require_shape(name, "t", in.t, rows);
    detail::require_present(name, "advantages", in.advantages, "one per sample [B]");
    detail::require_shape(name, "advantages", in.advantages, samples);
    const bool use_ref = beta > 0.0;
    const bool use_ema = beta_ema > 0.0;
    if (use_ref) detail::require_present(name, "ref_velocity", in.ref_velocity, "beta > 0");
    if (use_ema) detail::require_present(name, "ema_velocity", in.ema_velocity, "beta_ema > 0");
    if (use_ref) detail::require_shape(name, "ref_velocity", in.ref_velocity, rows, dims);
    if (use_ema) detail::require_shape(name, "ema_velocity", in.ema_velocity, rows, dims);
    detail::require_shape(name, "grad_velocity", grad_velocity, rows, dims);
    if (!per_row.is_null()) detail::require_shape(name, "per_row", per_row, rows);

    const double inv_rows = rows > 0 ? 1.0 / static_cast<double>(rows) : 0.0;
    const double scale = dims > 0 ? 2.0 * inv_rows / static_cast<double>(dims) : 0.0;
    const double inv_dims = dims > 0 ? 1.0 / static_cast<double>(dims) : 0.0;
    double policy = 0.0;
    double mse_sum = 0.0;
    double kl_ref = 0.0;
    double kl_ema = 0.0;
    double guard = 0.0;
    for (Index n = 0; n < rows; ++n) {
      const Index i = n / per;
      const S* v = in.velocity.row(n);
      const S* x0 = in.x0.row(i);
      const S* eps = in.noise.row(n);
      const double tn = static_cast<double>(in.t[n]);
      if (!(tn >= 0.0 && tn <= 1.0))
        detail::fail_argument(name, fmt::format("t[{}]", n), "in [0, 1]", tn);
      const double a = static_cast<double>(in.advantages[i]);
      const double mse = detail::fm_row_mse(v, x0, eps, dims);
      const Weighted f = weigh(mse, tn);
      const double row_policy = a * f.value;
      const double pg = a * f.slope;
      double ref_sq = 0.0;
      double ema_sq = 0.0;
      S* g = grad_velocity.row(n);
      for (Index d = 0; d < dims; ++d) {
        const double vd = static_cast<double>(v[d]);
        double gd = pg * detail::fm_error(v, x0, eps, d);
        if (use_ref) {
          const double r = vd - static_cast<double>(in.ref_velocity(n, d));
          ref_sq += r * r;
          gd += beta * r;
        }
        if (use_ema) {
          const double r = vd - static_cast<double>(in.ema_velocity(n, d));
          ema_sq += r * r;
          gd += beta_ema * r;
        }
        gd *= scale;
        guard += 0.0 * gd;
        g[d] = static_cast<S>(gd);
      }
      if (!per_row.is_null()) per_row[n] = static_cast<S>(row_policy);
      policy += row_policy;
      mse_sum += mse;
      kl_ref += ref_sq * inv_dims;
      kl_ema += ema_sq * inv_dims;
    }
    LossValue<AWMMetrics> out;
    auto& m = out.metrics;
    m.rows = static_cast<double>(rows);
    m.policy_loss = policy * inv_rows;
    m.fm_loss = mse_sum * inv_rows;
    m.kl_ref = kl_ref * inv_rows;
    m.kl_ema = kl_ema * inv_rows;
    out.value = m.policy_loss + beta * m.kl_ref + beta_ema * m.kl_ema;
    if (!std::isfinite(out.value) || !std::isfinite(guard)) {
      detail::check_finite(name, "velocity", in.velocity, MaskView{});
      detail::check_finite(name, "x0", in.x0, MaskView{});
      detail::check_finite(name, "noise", in.noise, MaskView{});
      detail::check_finite(name, "advantages", in.advantages);
      if (use_ref) detail::check_finite(name, "ref_velocity", in.ref_velocity, MaskView{});
      if (use_ema) detail::check_finite(name, "ema_velocity", in.ema_velocity, MaskView{});
      detail::fail_argument(name, "the loss", "finite for finite inputs", out.value);
    }
    return out;
  }

  /// Owning call.
  template <class S>
  AWMResult<S> operator()(const AWMInputs<S>& in) const {
    return call<S>(in);
  }
  /// Braced inputs deduce no template argument; these pick the scalar.
  AWMResult<double> operator()(const AWMInputs<double>& in) const { return call<double>(in); }
  AWMResult<float> operator()(const AWMInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  AWMResult<S> call(const AWMInputs<S>& in) const {
    return detail::owning_velocity_call<AWMResult<S>, S>(*this, in);
  }
};

/// The 2-D toy's form (spec §2(g)): uniform weighting, anchor beta to the pretrained model.
inline AWM awm_uniform(double beta = 0.01) {
  return AWM{.weighting = AWMWeighting::uniform, .beta = beta};
}

}  // namespace polo

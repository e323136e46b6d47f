#pragma once
// PPO's entropy bonus on per-token entropies: value = -Agg(H), so minimizing it raises entropy.
// The caller chains d value / d H into dH/dlogits (polo's categorical distribution gives that).

#include <cmath>
#include <string_view>

#include "polo/core/aggregation.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/detail/token_loss.hpp"
#include "polo/losses/result.hpp"

namespace polo {

template <class S>
struct EntropyInputs {
  TokenView<const S> entropy{};  ///< H_it = -sum_v p log p of the policy at each token, [B, T]
  MaskView mask{};
};

struct EntropyBonusMetrics {
  double entropy_mean = 0.0;  ///< token mean of H over valid tokens (what CleanRL logs)
  double valid_tokens = 0.0;
};

template <class S>
struct EntropyBonusResult {
  double value = 0.0;
  TokenArray<S> grad_entropy;  ///< d value / d H = -w_it, [B, T], 0 at masked positions
  TokenArray<S> per_token;     ///< -H_it, 0 at masked positions
  EntropyBonusMetrics metrics;
};

/// Entropy bonus, to minimize: \f$ L_H = -\mathrm{Agg}(H) \f$, gradient \f$ -w_{it} \f$ with
/// respect to H. Scale it by the entropy coefficient (CleanRL 0.01) when adding it to the loss.
struct EntropyBonus {
  Aggregation aggregation{};

  static constexpr std::string_view name = "polo::EntropyBonus";

  void validate() const { aggregation.validate(name); }

  template <class S>
  LossValue<EntropyBonusMetrics> compute(const EntropyInputs<S>& in,
                                         TokenView<S> grad_entropy) const {
    return run(in, grad_entropy, TokenView<S>{});
  }

  template <class S>
  EntropyBonusResult<S> operator()(const EntropyInputs<S>& in) const {
    return call<S>(in);
  }

  /// Braced inputs (`loss({a, b, c, mask})`) deduce no template argument; these pick the scalar.
  EntropyBonusResult<double> operator()(const EntropyInputs<double>& in) const {
    return call<double>(in);
  }
  EntropyBonusResult<float> operator()(const EntropyInputs<float>& in) const {
    return call<float>(in);
  }

 private:
  template <class S>
  EntropyBonusResult<S> call(const EntropyInputs<S>& in) const {
    return detail::owning_call<EntropyBonusResult<S>>(
        in.entropy.rows(), in.entropy.cols(), &EntropyBonusResult<S>::grad_entropy,
        [&](TokenView<S> grad, TokenView<S> per_token) { return run(in, grad, per_token); });
  }

  template <class S>
  LossValue<EntropyBonusMetrics> run(const EntropyInputs<S>& in, TokenView<S> grad,
                                     TokenView<S> per_token) const {
    validate();
    const Index rows = in.entropy.rows();
    const Index cols = in.entropy.cols();
    detail::require_mask_shape(name, in.mask, rows, cols);
    detail::require_output(name, "grad_entropy", grad, rows, cols);
    const bool keep_per_token = !per_token.is_null();
    if (keep_per_token) detail::require_output(name, "per_token", per_token, rows, cols);

    // Sums local to the loop (see PPOClip): captured by reference they would be stored per token.
    struct Sums {
      double value = 0.0, h = 0.0, n = 0.0;
    };
    const Sums sums = in.mask.visit([&](auto valid) {
      Sums acc;
      const detail::RowWeights weights(aggregation, valid, rows, cols);
      for (Index i = 0; i < rows; ++i) {
        const double w = weights(i);
        const S* h = in.entropy.row(i);
        S* g = grad.row(i);
        S* pt = keep_per_token ? per_token.row(i) : nullptr;
        double row_sum = 0.0;
        for (Index t = 0; t < cols; ++t) {
          if (!valid(i, t)) {
            g[t] = S{0};
            if (keep_per_token) pt[t] = S{0};
            continue;
          }
          const double hi = static_cast<double>(h[t]);
          row_sum += hi;
          g[t] = static_cast<S>(-w);
          if (keep_per_token) pt[t] = static_cast<S>(-hi);
          acc.n += 1.0;
        }
        acc.value -= w * row_sum;
        acc.h += row_sum;
      }
      return acc;
    });
    const double value = sums.value;
    const double n = sums.n;

    // The gradient is -w whatever H is, so only the value can go non-finite.
    if (!std::isfinite(value)) {
      detail::fail_nonfinite<S>(name, {{"entropy", in.entropy}}, in.mask, value,
                                "the entropies overflowed");
    }
    LossValue<EntropyBonusMetrics> out;
    out.value = value;
    out.metrics.valid_tokens = n;
    out.metrics.entropy_mean = n > 0.0 ? sums.h / n : 0.0;
    return out;
  }
};

}  // namespace polo

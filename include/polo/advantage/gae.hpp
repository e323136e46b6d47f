#pragma once
// Generalized Advantage Estimation (Schulman et al. 2016) over [N, T] rollouts: one environment
// (or one response) per row, time along the row.
//
// Terminations and truncations are separate inputs. A terminated step has no future (its next value
// is 0); a truncated step (a time limit) bootstraps from the value of the final observation, which
// the vector env reports before it resets. Either flag cuts the λ-trace, since the next step of the
// row belongs to a new episode. CleanRL folds truncation into termination (no bootstrap); pass
// truncated steps as terminated to reproduce it.

#include <cmath>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// What GAE reads. Every view is `[N, T]` unless noted; masks are nonzero where the flag is set.
template <class S>
struct GAEInputs {
  /// r_t, the reward of step t.
  TokenView<const S> rewards{};
  /// V_t = V(s_t), the critic at the observation of step t.
  TokenView<const S> values{};
  /// Step t ended the episode in a terminal state (null: never).
  MaskView terminated{};
  /// Step t hit a time limit (null: never).
  MaskView truncated{};
  /// V(final observation of step t), read only where truncated and not terminated; required when
  /// `truncated` is given.
  TokenView<const S> final_values{};
  /// [N] V of the observation after step T − 1 (null: 0, as for LLM responses).
  SeqView<const S> bootstrap{};
  /// Valid positions (null: all); masked steps pass through.
  MaskView mask{};
};

template <class S>
struct GAEResult {
  TokenArray<S> advantages;
  TokenArray<S> returns;
};

/// Per row, backwards from t = T−1 with A_T = 0:
///   next_t = 0 if terminated_t, else final_values_t if truncated_t, else V_{t+1} (bootstrap at
///   T−1) δ_t = r_t + γ next_t − V_t,   A_t = δ_t + γλ c_t A_{t+1},   c_t = !(terminated_t ||
///   truncated_t) returns_t = A_t + V_t.
/// Terminated wins when both flags are set (Gymnasium also reports truncated on a terminal step at
/// the time limit).
///
/// With a `mask` (LLM responses with tool or observation tokens inside), a masked step is skipped
/// as verl's GAE does: the running next value and A pass through it unchanged to the previous valid
/// step, and nothing at a masked step is read. Masked outputs are set to 0.
struct GAE {
  double gamma = 0.99;   ///< discount γ in [0, 1]
  double lambda = 0.95;  ///< trace decay λ in [0, 1]

  void validate(std::string_view where) const {
    detail::require_in(where, "gamma", gamma, 0.0, 1.0);
    detail::require_in(where, "lambda", lambda, 0.0, 1.0);
  }

  /// Zero-allocation form: writes `advantages` and `returns` ([N, T]).
  template <class S>
  void compute(const GAEInputs<S>& in, TokenView<std::type_identity_t<S>> advantages,
               TokenView<std::type_identity_t<S>> returns) const {
    constexpr std::string_view where = "polo::GAE";
    validate(where);
    check_inputs(where, in);
    const Index n = in.rewards.rows();
    const Index t_len = in.rewards.cols();
    detail::require_shape(where, "advantages", advantages, n, t_len);
    detail::require_shape(where, "returns", returns, n, t_len);
    require_distinct_rows(where, "advantages", advantages);
    require_distinct_rows(where, "returns", returns);

    const double trace = gamma * lambda;
    double guard = 0.0;
    // The valid-token mask is dispatched once (a null mask folds away); the flags are read
    // through MaskView's switch, which the branch predictor handles for the few flags per row.
    // A null flag is never set (a null MaskView itself reads as "everywhere").
    const bool any_terminal = !in.terminated.is_null();
    const bool any_truncation = !in.truncated.is_null();
    in.mask.visit([&](auto valid) {
      for (Index i = 0; i < n; ++i) {
        const S* r = in.rewards.row(i);
        const S* v = in.values.row(i);
        S* adv = advantages.row(i);
        S* ret = returns.row(i);
        double next_value = in.bootstrap.is_null() ? 0.0 : static_cast<double>(in.bootstrap[i]);
        double next_adv = 0.0;
        for (Index t = t_len - 1; t >= 0; --t) {
          if (!valid(i, t)) {
            adv[t] = S{0};
            ret[t] = S{0};
            continue;
          }
          const double value = static_cast<double>(v[t]);
          double target = next_value;
          bool continues = true;
          if (any_terminal && in.terminated(i, t)) {
            target = 0.0;
            continues = false;
          } else if (any_truncation && in.truncated(i, t)) {
            target = static_cast<double>(in.final_values(i, t));
            continues = false;
          }
          const double delta = static_cast<double>(r[t]) + gamma * target - value;
          const double a = continues ? delta + trace * next_adv : delta;
          guard += 0.0 * a;
          adv[t] = static_cast<S>(a);
          ret[t] = static_cast<S>(a + value);
          next_value = value;
          next_adv = a;
        }
      }
    });
    if (!std::isfinite(guard)) report_nonfinite(where, in);
  }

  /// Owning form: `{advantages, returns}`.
  template <class S>
  GAEResult<S> operator()(const GAEInputs<S>& in) const {
    GAEResult<S> out{TokenArray<S>(in.rewards.rows(), in.rewards.cols()),
                     TokenArray<S>(in.rewards.rows(), in.rewards.cols())};
    compute(in, out.advantages, out.returns);
    return out;
  }

 private:
  template <class S>
  static void require_distinct_rows(std::string_view where, std::string_view field,
                                    TokenView<S> v) {
    if (v.rows() > 1 && v.stride() < v.cols()) {
      detail::fail_argument(where, fmt::format("{} row stride", field),
                            fmt::format(">= cols ({}) (an output cannot broadcast)", v.cols()),
                            v.stride());
    }
  }

  static void require_flag_shape(std::string_view where, std::string_view field, const MaskView& m,
                                 Index rows, Index cols) {
    if (!m.is_null() && (m.rows() != rows || m.cols() != cols)) {
      detail::fail_argument(where, fmt::format("{} shape", field),
                            fmt::format("[{}, {}]", rows, cols),
                            fmt::format("[{}, {}]", m.rows(), m.cols()));
    }
  }

  template <class S>
  static void check_inputs(std::string_view where, const GAEInputs<S>& in) {
    if (!in.values.is_null()) {
      detail::require_present(where, "rewards", in.rewards, "the [N, T] rewards");
    }
    const Index n = in.rewards.rows();
    const Index t_len = in.rewards.cols();
    detail::require_shape(where, "values", in.values, n, t_len);
    require_flag_shape(where, "terminated", in.terminated, n, t_len);
    require_flag_shape(where, "truncated", in.truncated, n, t_len);
    require_flag_shape(where, "mask", in.mask, n, t_len);
    if (!in.truncated.is_null()) {
      detail::require_present(where, "final_values", in.final_values,
                              "truncated steps bootstrap from V(final observation)");
      detail::require_shape(where, "final_values", in.final_values, n, t_len);
    }
    if (!in.bootstrap.is_null()) detail::require_shape(where, "bootstrap", in.bootstrap, n);
  }

  /// Called only when the result came out non-finite: names the first input at fault.
  template <class S>
  static void report_nonfinite(std::string_view where, const GAEInputs<S>& in) {
    detail::check_finite(where, "rewards", in.rewards, in.mask);
    detail::check_finite(where, "values", in.values, in.mask);
    if (!in.bootstrap.is_null()) detail::check_finite(where, "bootstrap", in.bootstrap);
    if (in.truncated.is_null()) return;
    for (Index i = 0; i < in.rewards.rows(); ++i) {
      for (Index t = 0; t < in.rewards.cols(); ++t) {
        const bool terminal = !in.terminated.is_null() && in.terminated(i, t);
        const bool read = in.mask(i, t) && !terminal && in.truncated(i, t);
        const auto x = static_cast<double>(in.final_values(i, t));
        if (read && !std::isfinite(x)) {
          throw nonfinite_error(std::string(where), "final_values", i, t, x);
        }
      }
    }
  }
};

static_assert(std::is_aggregate_v<GAE>, "GAE is configured with designated initializers");

}  // namespace polo

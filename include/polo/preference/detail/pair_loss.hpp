#pragma once
// Internals shared by the pairwise preference losses: input and output checks, the TRL metric
// sums, the owning-call wrapper and the non-finite diagnosis DESIGN.md asks for.

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/preference/inputs.hpp"

namespace polo::detail {

/// Checks the shapes of a preference batch and returns B. `need_ref`: the reference log-probs are
/// required; else they are ignored. An empty batch needs nothing (an empty array views as null).
template <class S>
Index require_pairs(std::string_view where, const PreferenceInputs<S>& in, bool need_ref) {
  const Index b = in.chosen_logp.size();
  require_shape(where, "rejected_logp", in.rejected_logp, b);
  if (need_ref && b > 0) {
    require_present(where, "ref_chosen_logp", in.ref_chosen_logp, "the loss needs the reference");
    require_present(where, "ref_rejected_logp", in.ref_rejected_logp,
                    "the loss needs the reference");
    require_shape(where, "ref_chosen_logp", in.ref_chosen_logp, b);
    require_shape(where, "ref_rejected_logp", in.ref_rejected_logp, b);
  }
  if (!in.chosen_length.is_null()) require_shape(where, "chosen_length", in.chosen_length, b);
  if (!in.rejected_length.is_null()) {
    require_shape(where, "rejected_length", in.rejected_length, b);
  }
  if (!in.weights.is_null()) require_shape(where, "weights", in.weights, b);
  return b;
}

/// Requires a length input that `because` needs (in a non-empty batch of `b` pairs): present,
/// finite and >= 0 (a NaN length would otherwise pass the clamp to 1 unnoticed).
template <class S>
void require_length(std::string_view where, std::string_view field, SeqView<const S> v, Index b,
                    std::string_view because) {
  if (b == 0) return;
  require_present(where, field, v, because);
  check_finite(where, field, v);
  for (Index i = 0; i < v.size(); ++i) {
    if (static_cast<double>(v[i]) < 0.0) {
      fail_argument(where, fmt::format("{}[{}]", field, i), ">= 0 (a token count)",
                    static_cast<double>(v[i]));
    }
  }
}

/// The token count of a completion, at least 1 (TRL's clamp(min=1)).
template <class S>
double length_at(SeqView<const S> v, Index i) {
  return std::max(1.0, static_cast<double>(v[i]));
}

/// A `[b]` gradient output.
template <class S>
void require_grad_output(std::string_view where, std::string_view field, SeqView<S> v, Index b) {
  require_shape(where, field, v, b);
  if (b > 1 && v.stride() == 0) {
    fail_argument(where, fmt::format("{} stride", field), "> 0 (an output cannot broadcast)", 0);
  }
}

/// Sums behind PreferenceMetrics: rewards are beta times a log-ratio (reference-free losses pass
/// 0 for the reference and their own log-probs).
struct MetricSums {
  double chosen = 0.0, rejected = 0.0, wins = 0.0, logp_chosen = 0.0, logp_rejected = 0.0;

  void add(double beta, double cw, double cl, double rw, double rl) {
    const double reward_w = beta * (cw - rw);
    const double reward_l = beta * (cl - rl);
    chosen += reward_w;
    rejected += reward_l;
    wins += reward_w > reward_l ? 1.0 : 0.0;  // strict: a tie is not a win (TRL)
    logp_chosen += cw;
    logp_rejected += cl;
  }

  [[nodiscard]] PreferenceMetrics finish(Index b) const {
    PreferenceMetrics m;
    if (b == 0) return m;
    const double n = static_cast<double>(b);
    m.rewards_chosen = chosen / n;
    m.rewards_rejected = rejected / n;
    m.rewards_accuracies = wins / n;
    m.rewards_margins = (chosen - rejected) / n;
    m.logps_chosen = logp_chosen / n;
    m.logps_rejected = logp_rejected / n;
    return m;
  }
};

/// Whether the value and every gradient entry are finite (one cheap pass).
template <class S>
bool all_finite(double value, SeqView<S> a, SeqView<S> b) {
  double sum = value * 0.0;
  for (Index i = 0; i < a.size(); ++i)
    sum += static_cast<double>(a[i]) * 0.0 + static_cast<double>(b[i]) * 0.0;
  return std::isfinite(value) && std::isfinite(sum);
}

/// Called only when a loss came out non-finite: names the first input holding NaN/inf, else says
/// the finite inputs overflowed (`hint` says where).
template <class S>
[[noreturn]] void fail_nonfinite(std::string_view where, const PreferenceInputs<S>& in,
                                 bool uses_ref, double value, std::string_view hint) {
  check_finite(where, "chosen_logp", in.chosen_logp);
  check_finite(where, "rejected_logp", in.rejected_logp);
  if (uses_ref) {
    check_finite(where, "ref_chosen_logp", in.ref_chosen_logp);
    check_finite(where, "ref_rejected_logp", in.ref_rejected_logp);
  }
  check_finite(where, "chosen_length", in.chosen_length);
  check_finite(where, "rejected_length", in.rejected_length);
  check_finite(where, "weights", in.weights);
  fail_argument(where, "the loss", fmt::format("finite for finite inputs ({})", hint), value);
}

/// The owning form of a preference loss: sizes the result's arrays to `b`, runs the
/// zero-allocation kernel `run(grad_chosen, grad_rejected, per_pair)` into them and keeps its value
/// and metrics.
template <class Result, class S, class Run>
Result owning_pair_call(Index b, Run&& run) {
  Result out;
  out.grad_chosen_logp.resize(b);
  out.grad_rejected_logp.resize(b);
  out.per_pair.resize(b);
  const auto v =
      std::forward<Run>(run)(SeqView<S>(out.grad_chosen_logp), SeqView<S>(out.grad_rejected_logp),
                             SeqView<S>(out.per_pair));
  out.value = v.value;
  out.metrics = v.metrics;
  return out;
}

}  // namespace polo::detail

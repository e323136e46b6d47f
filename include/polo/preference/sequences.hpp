#pragma once
// From [B, T] token log-probs to the [B] per-sequence inputs of a preference loss and back: sums
// the valid tokens with core/reduce.hpp's reducer, counts them for the losses that average per
// token, and chains a loss's [B] gradients to the tokens with the reducer's backward.
// ALGORITHMS preference.md §0 "Token-level chain rule".

#include <string_view>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/reduce.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/preference/inputs.hpp"

namespace polo {

/// A preference batch as token log-probs. Chosen and rejected completions may have different
/// widths; the reference shares the mask of its side (same tokenization). Padding may hold NaN.
template <class S>
struct TokenPreferenceInputs {
  TokenView<const S> chosen_logp{};        ///< [B, T_w], differentiable
  TokenView<const S> rejected_logp{};      ///< [B, T_l], differentiable
  TokenView<const S> ref_chosen_logp{};    ///< [B, T_w]; absent for reference-free losses
  TokenView<const S> ref_rejected_logp{};  ///< [B, T_l]
  MaskView chosen_mask{};                  ///< [B, T_w], nonzero on completion tokens
  MaskView rejected_mask{};                ///< [B, T_l]
  SeqView<const S> weights{};              ///< optional per-pair weights [B], passed through
};

/// The owning per-sequence form: summed log-probs and completion lengths. `inputs()` views it.
template <class S>
struct SequencePreferences {
  SeqArray<S> chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp;
  SeqArray<S> chosen_length, rejected_length;
  SeqView<const S> weights{};
  bool has_reference = false;  ///< whether the reference arrays were filled

  /// The loss inputs; the reference views are null when no reference was given.
  [[nodiscard]] PreferenceInputs<S> inputs() const {
    PreferenceInputs<S> in;
    in.chosen_logp = chosen_logp;
    in.rejected_logp = rejected_logp;
    if (has_reference) {
      in.ref_chosen_logp = ref_chosen_logp;
      in.ref_rejected_logp = ref_rejected_logp;
    }
    in.chosen_length = chosen_length;
    in.rejected_length = rejected_length;
    in.weights = weights;
    return in;
  }
};

/// The token gradients of a preference loss.
template <class S>
struct TokenPreferenceGrads {
  TokenArray<S> chosen_logp;    ///< d value / d chosen token log-probs, [B, T_w], 0 on padding
  TokenArray<S> rejected_logp;  ///< [B, T_l]
};

namespace detail {

inline constexpr std::string_view kReducePreferences = "polo::reduce_preferences";

/// Valid tokens per row, as the mask's row sums.
template <class S>
void count_tokens(const MaskView& mask, Index rows, Index cols, SeqArray<S>& out) {
  out.resize(rows);
  mask.visit([&](auto valid) {
    for (Index i = 0; i < rows; ++i) {
      double n = 0.0;
      for (Index t = 0; t < cols; ++t)
        n += valid(i, t) ? 1.0 : 0.0;
      out[i] = static_cast<S>(n);
    }
  });
}

template <class S>
void require_token_pairs(std::string_view where, const TokenPreferenceInputs<S>& in) {
  const Index b = in.chosen_logp.rows();
  if (in.rejected_logp.rows() != b) {
    fail_argument(where, "rejected_logp rows", fmt::format("{} (the rows of chosen_logp)", b),
                  in.rejected_logp.rows());
  }
  const bool ref_w = !in.ref_chosen_logp.is_null();
  const bool ref_l = !in.ref_rejected_logp.is_null();
  if (ref_w != ref_l) {
    fail_argument(where, "ref_chosen_logp and ref_rejected_logp", "both given or both absent",
                  ref_w ? "only ref_chosen_logp" : "only ref_rejected_logp");
  }
  if (ref_w) {
    require_shape(where, "ref_chosen_logp", in.ref_chosen_logp, b, in.chosen_logp.cols());
    require_shape(where, "ref_rejected_logp", in.ref_rejected_logp, b, in.rejected_logp.cols());
  }
  if (!in.chosen_mask.is_null()) {
    require_mask_shape(where, in.chosen_mask, b, in.chosen_logp.cols());
  }
  if (!in.rejected_mask.is_null()) {
    require_mask_shape(where, in.rejected_mask, b, in.rejected_logp.cols());
  }
  if (!in.weights.is_null()) require_shape(where, "weights", in.weights, b);
}

}  // namespace detail

/// Sums each completion's valid token log-probs (policy and reference) and counts its tokens.
template <class S>
SequencePreferences<S> reduce_preferences(const TokenPreferenceInputs<S>& in) {
  detail::require_token_pairs(detail::kReducePreferences, in);
  SequencePreferences<S> out;
  out.chosen_logp = reduce_tokens(in.chosen_logp, in.chosen_mask, SeqReduce::sum);
  out.rejected_logp = reduce_tokens(in.rejected_logp, in.rejected_mask, SeqReduce::sum);
  if (!in.ref_chosen_logp.is_null()) {
    out.ref_chosen_logp = reduce_tokens(in.ref_chosen_logp, in.chosen_mask, SeqReduce::sum);
    out.ref_rejected_logp = reduce_tokens(in.ref_rejected_logp, in.rejected_mask, SeqReduce::sum);
    out.has_reference = true;
  }
  detail::count_tokens(in.chosen_mask, in.chosen_logp.rows(), in.chosen_logp.cols(),
                       out.chosen_length);
  detail::count_tokens(in.rejected_mask, in.rejected_logp.rows(), in.rejected_logp.cols(),
                       out.rejected_length);
  out.weights = in.weights;
  return out;
}

/// Chains a loss's gradients with respect to the summed log-probs ([B] each) to the token
/// log-probs: d value / d logp(i, t) = mask(i, t) * grad[i], exactly 0 on padding.
template <class S>
TokenPreferenceGrads<S> preference_token_grads(const TokenPreferenceInputs<S>& in,
                                               SeqView<const S> grad_chosen,
                                               SeqView<const S> grad_rejected) {
  TokenPreferenceGrads<S> out;
  out.chosen_logp.resize(in.chosen_logp.rows(), in.chosen_logp.cols());
  out.rejected_logp.resize(in.rejected_logp.rows(), in.rejected_logp.cols());
  reduce_tokens_backward<S, S>(grad_chosen, in.chosen_mask, SeqReduce::sum,
                               TokenView<S>(out.chosen_logp));
  reduce_tokens_backward<S, S>(grad_rejected, in.rejected_mask, SeqReduce::sum,
                               TokenView<S>(out.rejected_logp));
  return out;
}

/// The same from a loss result's `grad_chosen_logp` and `grad_rejected_logp`.
template <class S, class Result>
requires requires(const Result& r) {
  SeqView<const S>(r.grad_chosen_logp);
  SeqView<const S>(r.grad_rejected_logp);
}
TokenPreferenceGrads<S> preference_token_grads(const TokenPreferenceInputs<S>& in,
                                               const Result& result) {
  return preference_token_grads(in, SeqView<const S>(result.grad_chosen_logp),
                                SeqView<const S>(result.grad_rejected_logp));
}

}  // namespace polo

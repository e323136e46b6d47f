#pragma once
// The token -> sequence reducer: per-sequence sum or mean of [B, T] log-probs under a mask, and its
// backward. Preference losses take per-sequence log-probs; models produce per-token ones.

#include <string_view>

#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

enum class SeqReduce {
  sum,   ///< sum of valid tokens (DPO's log-probability of the response)
  mean,  ///< mean of valid tokens (SimPO, IPO's averaged form); 0 for a row with none
};

/// out[i] = sum or mean over valid t of x(i, t). Accumulates in double.
template <class S, class O>
void reduce_tokens(TokenView<const S> x, const MaskView& mask, SeqReduce mode, SeqView<O> out) {
  constexpr std::string_view where = "polo::reduce_tokens";
  detail::require_mask_shape(where, mask, x.rows(), x.cols());
  detail::require_shape(where, "out", out, x.rows());
  mask.visit([&](auto valid) {
    for (Index i = 0; i < x.rows(); ++i) {
      const S* row = x.row(i);
      double sum = 0.0;
      double n = 0.0;
      for (Index t = 0; t < x.cols(); ++t) {
        if (valid(i, t)) {
          sum += static_cast<double>(row[t]);
          n += 1.0;
        }
      }
      const double value = mode == SeqReduce::sum ? sum : (n > 0.0 ? sum / n : 0.0);
      out[i] = static_cast<O>(value);
    }
  });
}

/// Owning form.
template <class S>
SeqArray<std::remove_const_t<S>> reduce_tokens(TokenView<S> x, const MaskView& mask,
                                               SeqReduce mode) {
  using T = std::remove_const_t<S>;
  SeqArray<T> out(x.rows());
  reduce_tokens<T, T>(TokenView<const T>(x), mask, mode, SeqView<T>(out));
  return out;
}

/// Backward: grad_tokens(i, t) = d value / d x(i, t) given grad_seq[i] = d value / d out[i].
/// Writes every position; masked positions get exactly 0.
template <class S, class O>
void reduce_tokens_backward(SeqView<const S> grad_seq, const MaskView& mask, SeqReduce mode,
                            TokenView<O> grad_tokens) {
  constexpr std::string_view where = "polo::reduce_tokens_backward";
  detail::require_shape(where, "grad_seq", grad_seq, grad_tokens.rows());
  detail::require_mask_shape(where, mask, grad_tokens.rows(), grad_tokens.cols());
  mask.visit([&](auto valid) {
    for (Index i = 0; i < grad_tokens.rows(); ++i) {
      double scale = static_cast<double>(grad_seq[i]);
      if (mode == SeqReduce::mean) {
        double n = 0.0;
        for (Index t = 0; t < grad_tokens.cols(); ++t)
          n += valid(i, t) ? 1.0 : 0.0;
        scale = n > 0.0 ? scale / n : 0.0;
      }
      O* row = grad_tokens.row(i);
      for (Index t = 0; t < grad_tokens.cols(); ++t) {
        row[t] = valid(i, t) ? static_cast<O>(scale) : O{0};
      }
    }
  });
}

}  // namespace polo

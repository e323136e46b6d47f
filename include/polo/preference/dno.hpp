#pragma once
// DNO, Direct Nash Optimization (Rosset et al. 2024, arXiv 2404.03715), preference.md §3.
//
// Algorithm 1 (batched on-policy, regression-based): each iteration regresses the policy's
// internal reward eta log pi / pi_t onto the expected win rates r_t(y) = P(y > pi_t) with a soft
// binary cross-entropy,
//
//   D_i = eta [(c1 - p1) - (c2 - p2)],   q_i = sigmoid(r_t(y1) - r_t(y2))  (or given)
//   l_i = -[q_i log sigmoid(D_i) + (1 - q_i) log sigmoid(-D_i)],   value = mean_i w_i l_i
//
// whose minimizer is soft policy iteration pi_{t+1} ∝ pi_t exp(r_t / eta). Algorithm 1 returns
// the average of the iterates; the last one may cycle.
//
// Algorithm 2 (DNO-Prct) is DPO with beta = eta against the previous iterate, on the pairs that
// `DNOPairRule` keeps from annotated on-policy samples: `dno_prct` builds that polo::DPO.

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
#include "polo/losses/result.hpp"
#include "polo/preference/detail/pair_loss.hpp"
#include "polo/preference/dpo.hpp"
#include "polo/preference/inputs.hpp"

namespace polo {

/// Per-pair sequence log-probs `[B]` of one DNO regression step. "chosen" is y1, the response
/// whose win probability the target is (it need not be the better one). Give the soft target
/// either as `target` (q = P(y1 > y2)) or as the win rates `win_rate_chosen` = r_t(y1) and
/// `win_rate_rejected` = r_t(y2), from which q = sigmoid(r_t(y1) - r_t(y2)).
template <class S>
struct DNOInputs {
  SeqView<const S> chosen_logp{};         ///< log pi(y1 | x), differentiable
  SeqView<const S> rejected_logp{};       ///< log pi(y2 | x), differentiable
  SeqView<const S> prev_chosen_logp{};    ///< log pi_t(y1 | x), the previous iterate (constant)
  SeqView<const S> prev_rejected_logp{};  ///< log pi_t(y2 | x)
  SeqView<const S> target{};              ///< q in [0, 1]; or null, with the two win rates
  SeqView<const S> win_rate_chosen{};     ///< r_t(y1) = E_{y' ~ pi_t} P(y1 > y')
  SeqView<const S> win_rate_rejected{};   ///< r_t(y2)
  SeqView<const S> weights{};             ///< optional per-pair weights, >= 0
};

/// What a DNO step logs (batch means).
struct DNOMetrics {
  double target = 0.0;     ///< mean q
  double predicted = 0.0;  ///< mean sigmoid(D): the policy's implied P(y1 > y2)
  double margin = 0.0;     ///< mean D = eta (log-ratio of y1 - log-ratio of y2)
  double agreement = 0.0;  ///< share of pairs where D and q - 1/2 have the same strict sign
};

template <class S>
using DNOResult = PreferenceResult<S, DNOMetrics>;

/// DNO's regression loss (Algorithm 1), to minimize. `eta` scales the internal reward: the step
/// is soft policy iteration with temperature eta (the paper uses beta = eta = 0.1 or 0.05).
struct DNO {
  double eta = 0.1;

  static constexpr std::string_view name = "polo::DNO";

  void validate() const { detail::require_positive(name, "eta", eta); }

  /// Zero-allocation call: writes the gradients into the caller's `[B]` views.
  template <class S>
  LossValue<DNOMetrics> compute(const DNOInputs<S>& in, SeqView<S> grad_chosen,
                                SeqView<S> grad_rejected) const {
    return run(in, grad_chosen, grad_rejected, SeqView<S>{});
  }

  template <class S>
  DNOResult<S> operator()(const DNOInputs<S>& in) const {
    return call<S>(in);
  }
  DNOResult<double> operator()(const DNOInputs<double>& in) const { return call<double>(in); }
  DNOResult<float> operator()(const DNOInputs<float>& in) const { return call<float>(in); }

 private:
  template <class S>
  DNOResult<S> call(const DNOInputs<S>& in) const {
    return detail::owning_pair_call<DNOResult<S>, S>(
        in.chosen_logp.size(), [&](SeqView<S> gc, SeqView<S> gr, SeqView<S> per_pair) {
          return run(in, gc, gr, per_pair);
        });
  }

  template <class S>
  LossValue<DNOMetrics> run(const DNOInputs<S>& in, SeqView<S> gc, SeqView<S> gr,
                            SeqView<S> per_pair) const {
    validate();
    const Index b = in.chosen_logp.size();
    detail::require_shape(name, "rejected_logp", in.rejected_logp, b);
    detail::require_shape(name, "prev_chosen_logp", in.prev_chosen_logp, b);
    detail::require_shape(name, "prev_rejected_logp", in.prev_rejected_logp, b);
    const bool direct = !in.target.is_null();
    if (direct) {
      if (!in.win_rate_chosen.is_null() || !in.win_rate_rejected.is_null()) {
        detail::fail_argument(name, "win_rate_chosen / win_rate_rejected",
                              "null when target is given (one soft target per pair)", "given");
      }
      detail::require_shape(name, "target", in.target, b);
    } else {
      if (in.win_rate_chosen.is_null() || in.win_rate_rejected.is_null()) {
        detail::fail_argument(name, "target",
                              "given (or both win_rate_chosen and "
                              "win_rate_rejected)",
                              "none");
      }
      detail::require_shape(name, "win_rate_chosen", in.win_rate_chosen, b);
      detail::require_shape(name, "win_rate_rejected", in.win_rate_rejected, b);
    }
    const bool weighted = !in.weights.is_null();
    if (weighted) detail::require_shape(name, "weights", in.weights, b);
    detail::require_grad_output(name, "grad_chosen_logp", gc, b);
    detail::require_grad_output(name, "grad_rejected_logp", gr, b);
    const bool keep = !per_pair.is_null();

    const double scale = b > 0 ? 1.0 / static_cast<double>(b) : 0.0;
    double value = 0.0;
    double grad_sum = 0.0;
    double q_sum = 0.0;
    double p_sum = 0.0;
    double d_sum = 0.0;
    double agree = 0.0;
    for (Index i = 0; i < b; ++i) {
      const double d =
          eta * ((static_cast<double>(in.chosen_logp[i]) - in.prev_chosen_logp[i]) -
                 (static_cast<double>(in.rejected_logp[i]) - in.prev_rejected_logp[i]));
      const double q =
          direct ? static_cast<double>(in.target[i])
                 : sigmoid(static_cast<double>(in.win_rate_chosen[i]) - in.win_rate_rejected[i]);
      if (q < 0.0 || q > 1.0)
        detail::fail_argument(name, fmt::format("target[{}]", i), "in [0, 1]", q);
      const double w = weighted ? static_cast<double>(in.weights[i]) : 1.0;
      if (w < 0.0) detail::fail_argument(name, fmt::format("weights[{}]", i), ">= 0", w);
      // Both log-sigmoids are stable at any margin; q = 0 or 1 leaves one term exactly 0.
      const double loss = -(q * log_sigmoid(d) + (1.0 - q) * log_sigmoid(-d));
      const double sd = sigmoid(d);
      const double g = scale * w * eta * (sd - q);
      value += scale * w * loss;
      gc[i] = static_cast<S>(g);
      gr[i] = static_cast<S>(-g);
      grad_sum += g;
      if (keep) per_pair[i] = static_cast<S>(loss);
      q_sum += q;
      p_sum += sd;
      d_sum += d;
      agree += (d > 0.0 && q > 0.5) || (d < 0.0 && q < 0.5) ? 1.0 : 0.0;
    }
    if (!std::isfinite(value) || !std::isfinite(grad_sum)) {
      detail::check_finite(name, "chosen_logp", in.chosen_logp);
      detail::check_finite(name, "rejected_logp", in.rejected_logp);
      detail::check_finite(name, "prev_chosen_logp", in.prev_chosen_logp);
      detail::check_finite(name, "prev_rejected_logp", in.prev_rejected_logp);
      detail::check_finite(name, "target", in.target);
      detail::check_finite(name, "win_rate_chosen", in.win_rate_chosen);
      detail::check_finite(name, "win_rate_rejected", in.win_rate_rejected);
      detail::check_finite(name, "weights", in.weights);
      detail::fail_argument(name, "the loss", "finite for finite inputs", value);
    }
    LossValue<DNOMetrics> out;
    out.value = value;
    out.metrics.target = scale * q_sum;
    out.metrics.predicted = scale * p_sum;
    out.metrics.margin = scale * d_sum;
    out.metrics.agreement = scale * agree;
    return out;
  }
};

static_assert(PreferenceLoss<DNO, DNOInputs<double>>);
static_assert(PreferenceLoss<DNO, DNOInputs<float>>);

/// One kept training pair: indices into the batch of scored responses.
struct PreferencePair {
  Index chosen = 0;
  Index rejected = 0;
};

/// DNO-Prct's pair filter (paper §5): among the responses of one prompt (the student's samples
/// and, optionally, the teacher's gold output) scored by an annotator, keep (positive, negative)
/// when the positive scores at least `min_chosen_score` and the negative at least `margin` below
/// it; the margin is relaxed to `student_margin` when the positive is a student sample, because
/// the annotator rarely scores the teacher below 5. Defaults: the paper's 6-point rubric.
struct DNOPairRule {
  double min_chosen_score = 5.0;
  double margin = 2.0;             ///< gap required when the positive is the teacher's output
  double student_margin = 1.0;     ///< gap required when the positive is a student sample
  Index max_pairs_per_prompt = 0;  ///< 0 keeps every qualifying pair; else the largest gaps

  static constexpr std::string_view name = "polo::DNOPairRule";

  void validate() const {
    detail::require(std::isfinite(min_chosen_score), name, "min_chosen_score", "finite",
                    min_chosen_score);
    detail::require_positive(name, "margin", margin);
    detail::require_positive(name, "student_margin", student_margin);
    detail::require_nonnegative(name, "max_pairs_per_prompt",
                                static_cast<double>(max_pairs_per_prompt));
  }

  /// The kept pairs, prompt by prompt. `scores` `[N]` are the annotator's scores of the
  /// responses, grouped by prompt with `groups`; `is_teacher` `[N]` (optional, nonzero = the
  /// teacher's output; null = all are student samples). Within a prompt pairs come in order of
  /// decreasing gap, ties by position.
  template <class S>
  std::vector<PreferencePair> select(SeqView<const S> scores, const Groups& groups,
                                     SeqView<const unsigned char> is_teacher = {}) const {
    validate();
    const Index n = scores.size();
    if (groups.batch_size() != n) {
      detail::fail_argument(name, "groups batch size", fmt::format("the number of scores ({})", n),
                            groups.batch_size());
    }
    if (!is_teacher.is_null()) detail::require_shape(name, "is_teacher", is_teacher, n);
    detail::check_finite(name, "scores", scores);
    std::vector<PreferencePair> kept;
    std::vector<std::pair<double, PreferencePair>> prompt;
    for (Index g = 0; g < groups.count(); ++g) {
      prompt.clear();
      for (Index i = groups.begin(g); i < groups.end(g); ++i) {
        const double si = static_cast<double>(scores[i]);
        if (si < min_chosen_score) continue;
        const bool teacher = !is_teacher.is_null() && is_teacher[i] != 0;
        const double need = teacher ? margin : student_margin;
        for (Index j = groups.begin(g); j < groups.end(g); ++j) {
          const double gap = si - static_cast<double>(scores[j]);
          if (j != i && gap >= need) prompt.push_back({gap, PreferencePair{i, j}});
        }
      }
      std::stable_sort(prompt.begin(), prompt.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      const auto keep =
          max_pairs_per_prompt > 0
              ? std::min<std::size_t>(prompt.size(), static_cast<std::size_t>(max_pairs_per_prompt))
              : prompt.size();
      for (std::size_t k = 0; k < keep; ++k)
        kept.push_back(prompt[k].second);
    }
    return kept;
  }
  /// Arrays of scores convert to a view here (a template parameter deduces no conversion).
  std::vector<PreferencePair> select(SeqView<const double> scores, const Groups& groups,
                                     SeqView<const unsigned char> is_teacher = {}) const {
    return select<double>(scores, groups, is_teacher);
  }
  std::vector<PreferencePair> select(SeqView<const float> scores, const Groups& groups,
                                     SeqView<const unsigned char> is_teacher = {}) const {
    return select<float>(scores, groups, is_teacher);
  }
};

/// DNO-Prct's per-iteration objective (Algorithm 2): DPO's sigmoid loss with beta = eta, called
/// with the previous iterate pi_t's log-probs as `ref_chosen_logp` / `ref_rejected_logp`, on the
/// pairs `DNOPairRule` keeps. It is DNO's regression with the hard target q = 1.
inline DPO dno_prct(double eta = 0.1) {
  return DPO{.beta = eta, .loss_type = DpoLossType::sigmoid};
}

}  // namespace polo

#pragma once
// The ranking-accuracy diagnostics of Chen et al. 2024, "Preference Learning Algorithms Do Not
// Learn Preference Rankings" (arXiv 2405.19534), on per-sequence log-probs of preference pairs:
//
//   ranking accuracy (Def. 2.3)    R  = mean_i 1[log pi(y_w) >= log pi(y_l)]
//   length-normalized              R~ = mean_i 1[log pi(y_w) / |y_w| >= log pi(y_l) / |y_l|]
//   idealized (Cor. 3.3)           R* = mean_i 1[log pi_ref(y_w) - log pi_ref(y_l)
//                                               + (1 / beta) log(alpha_i / (1 - alpha_i)) > 0]
//   flip threshold (Thm. 4.1)      -log sigmoid(beta c_i),  c_i = log pi_ref(y_l) - log pi_ref(y_w)
//
// R* is what a perfectly optimized DPO/RLHF policy reaches with the true preference
// probabilities alpha (the fraction of raters preferring y_w); the gap R* - R is the paper's
// alignment gap. A pair is ranked correctly if and only if its DPO loss is at most its flip
// threshold, which shrinks exponentially with how badly the reference mis-ranks it (c > 0).
// Not the DPO reward accuracy 1[beta rho_w > beta rho_l] (Remark 2.5): that is in the DPO metrics.

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// alpha = 0 or 1 (unanimous raters) makes log(alpha / (1 - alpha)) infinite; the paper replaces
/// alpha = 1 by 1 - epsilon (App. C.4), and polo clamps alpha = 0 to epsilon the same way.
inline constexpr double kIdealizedAlphaEpsilon = 1e-3;

/// Min, median and max of R* over several betas (the paper reports them for the betas
/// {0.01, 0.1, 1, 5, 10}, `kIdealizedBetas`).
struct IdealizedRankingRange {
  double min = 0.0;
  double median = 0.0;
  double max = 0.0;
};

inline constexpr double kIdealizedBetas[] = {0.01, 0.1, 1.0, 5.0, 10.0};

namespace detail {

template <class S>
void require_pairs(std::string_view where, std::string_view first, SeqView<const S> a,
                   std::string_view second, SeqView<const S> b) {
  detail::require_shape(where, second, b, a.size());
  if (a.size() < 1) fail_argument(where, fmt::format("{} size", first), ">= 1 pair", a.size());
}

template <class S>
void require_finite_entry(std::string_view where, std::string_view field, SeqView<const S> x,
                          Index i) {
  const auto v = static_cast<double>(x[i]);
  if (!std::isfinite(v)) throw nonfinite_error(std::string(where), std::string(field), i, 0, v);
}

inline void require_beta(std::string_view where, double beta) {
  if (!(beta > 0.0 && std::isfinite(beta))) fail_argument(where, "beta", "finite and > 0", beta);
}

inline void require_alpha_epsilon(std::string_view where, double epsilon) {
  if (!(epsilon > 0.0 && epsilon < 0.5)) {
    fail_argument(where, "epsilon", "in (0, 0.5)", epsilon);
  }
}

template <class S>
double ranking_accuracy_of(SeqView<const S> chosen_logp, SeqView<const S> rejected_logp) {
  constexpr std::string_view where = "polo::ranking_accuracy";
  require_pairs(where, "chosen_logp", chosen_logp, "rejected_logp", rejected_logp);
  double correct = 0.0;
  for (Index i = 0; i < chosen_logp.size(); ++i) {
    require_finite_entry(where, "chosen_logp", chosen_logp, i);
    require_finite_entry(where, "rejected_logp", rejected_logp, i);
    correct += chosen_logp[i] >= rejected_logp[i] ? 1.0 : 0.0;
  }
  return correct / static_cast<double>(chosen_logp.size());
}

template <class S>
double length_normalized_ranking_accuracy_of(SeqView<const S> chosen_logp,
                                             SeqView<const S> rejected_logp,
                                             SeqView<const S> chosen_length,
                                             SeqView<const S> rejected_length) {
  constexpr std::string_view where = "polo::length_normalized_ranking_accuracy";
  require_pairs(where, "chosen_logp", chosen_logp, "rejected_logp", rejected_logp);
  require_shape(where, "chosen_length", chosen_length, chosen_logp.size());
  require_shape(where, "rejected_length", rejected_length, chosen_logp.size());
  double correct = 0.0;
  for (Index i = 0; i < chosen_logp.size(); ++i) {
    require_finite_entry(where, "chosen_logp", chosen_logp, i);
    require_finite_entry(where, "rejected_logp", rejected_logp, i);
    const auto nw = static_cast<double>(chosen_length[i]);
    const auto nl = static_cast<double>(rejected_length[i]);
    if (!(nw > 0.0 && std::isfinite(nw))) {
      fail_argument(where, fmt::format("chosen_length[{}]", i), "finite and > 0", nw);
    }
    if (!(nl > 0.0 && std::isfinite(nl))) {
      fail_argument(where, fmt::format("rejected_length[{}]", i), "finite and > 0", nl);
    }
    // Cross-multiplied: no rounding of the two divisions can turn a tie into a loss.
    correct +=
        static_cast<double>(chosen_logp[i]) * nl >= static_cast<double>(rejected_logp[i]) * nw
            ? 1.0
            : 0.0;
  }
  return correct / static_cast<double>(chosen_logp.size());
}

template <class S, class O>
void idealized_log_ratio_of(SeqView<const S> ref_chosen_logp, SeqView<const S> ref_rejected_logp,
                            SeqView<const S> alpha, double beta, double epsilon, SeqView<O> out) {
  constexpr std::string_view where = "polo::idealized_log_ratio";
  require_beta(where, beta);
  require_alpha_epsilon(where, epsilon);
  require_pairs(where, "ref_chosen_logp", ref_chosen_logp, "ref_rejected_logp", ref_rejected_logp);
  require_shape(where, "alpha", alpha, ref_chosen_logp.size());
  require_shape(where, "out", out, ref_chosen_logp.size());
  for (Index i = 0; i < ref_chosen_logp.size(); ++i) {
    require_finite_entry(where, "ref_chosen_logp", ref_chosen_logp, i);
    require_finite_entry(where, "ref_rejected_logp", ref_rejected_logp, i);
    const auto a = static_cast<double>(alpha[i]);
    if (!(a >= 0.0 && a <= 1.0)) fail_argument(where, fmt::format("alpha[{}]", i), "in [0, 1]", a);
    const double clamped = std::clamp(a, epsilon, 1.0 - epsilon);
    const double ref_gap =
        static_cast<double>(ref_chosen_logp[i]) - static_cast<double>(ref_rejected_logp[i]);
    out[i] = static_cast<O>(ref_gap + std::log(clamped / (1.0 - clamped)) / beta);
  }
}

template <class S>
double idealized_ranking_accuracy_of(SeqView<const S> ref_chosen_logp,
                                     SeqView<const S> ref_rejected_logp, SeqView<const S> alpha,
                                     double beta, double epsilon) {
  std::vector<double> ratio(static_cast<std::size_t>(std::max<Index>(ref_chosen_logp.size(), 0)));
  idealized_log_ratio_of<S, double>(ref_chosen_logp, ref_rejected_logp, alpha, beta, epsilon,
                                    SeqView<double>(ratio.data(), ref_chosen_logp.size()));
  double correct = 0.0;
  for (const double r : ratio)
    correct += r > 0.0 ? 1.0 : 0.0;
  return correct / static_cast<double>(ratio.size());
}

template <class S>
IdealizedRankingRange idealized_range_of(SeqView<const S> ref_chosen_logp,
                                         SeqView<const S> ref_rejected_logp, SeqView<const S> alpha,
                                         std::span<const double> betas, double epsilon) {
  if (betas.empty()) {
    fail_argument("polo::idealized_ranking_accuracy_range", "betas", "at least one beta", "none");
  }
  std::vector<double> r;
  r.reserve(betas.size());
  for (const double beta : betas) {
    r.push_back(
        idealized_ranking_accuracy_of(ref_chosen_logp, ref_rejected_logp, alpha, beta, epsilon));
  }
  std::sort(r.begin(), r.end());
  const std::size_t m = r.size() / 2;
  return {r.front(), r.size() % 2 == 1 ? r[m] : 0.5 * (r[m - 1] + r[m]), r.back()};
}

template <class S, class O>
void flip_threshold_of(SeqView<const S> ref_chosen_logp, SeqView<const S> ref_rejected_logp,
                       double beta, SeqView<O> out) {
  constexpr std::string_view where = "polo::flip_threshold";
  require_beta(where, beta);
  require_pairs(where, "ref_chosen_logp", ref_chosen_logp, "ref_rejected_logp", ref_rejected_logp);
  require_shape(where, "out", out, ref_chosen_logp.size());
  for (Index i = 0; i < ref_chosen_logp.size(); ++i) {
    require_finite_entry(where, "ref_chosen_logp", ref_chosen_logp, i);
    require_finite_entry(where, "ref_rejected_logp", ref_rejected_logp, i);
    const double c =
        static_cast<double>(ref_rejected_logp[i]) - static_cast<double>(ref_chosen_logp[i]);
    out[i] = static_cast<O>(-log_sigmoid(beta * c));
  }
}

}  // namespace detail

/// Ranking accuracy R (Def. 2.3): the share of pairs with log pi(y_w|x) >= log pi(y_l|x), from
/// summed per-sequence log-probs `[B]` (a tie counts as correct, as the paper's >= says).
inline double ranking_accuracy(SeqView<const double> chosen_logp,
                               SeqView<const double> rejected_logp) {
  return detail::ranking_accuracy_of(chosen_logp, rejected_logp);
}
inline double ranking_accuracy(SeqView<const float> chosen_logp,
                               SeqView<const float> rejected_logp) {
  return detail::ranking_accuracy_of(chosen_logp, rejected_logp);
}

/// Length-normalized ranking accuracy R~: compares the per-token means log pi(y) / |y|; the
/// lengths `[B]` (token counts, > 0) come in the log-probs' scalar.
inline double length_normalized_ranking_accuracy(SeqView<const double> chosen_logp,
                                                 SeqView<const double> rejected_logp,
                                                 SeqView<const double> chosen_length,
                                                 SeqView<const double> rejected_length) {
  return detail::length_normalized_ranking_accuracy_of(chosen_logp, rejected_logp, chosen_length,
                                                       rejected_length);
}
inline double length_normalized_ranking_accuracy(SeqView<const float> chosen_logp,
                                                 SeqView<const float> rejected_logp,
                                                 SeqView<const float> chosen_length,
                                                 SeqView<const float> rejected_length) {
  return detail::length_normalized_ranking_accuracy_of(chosen_logp, rejected_logp, chosen_length,
                                                       rejected_length);
}

/// Per pair, the log-odds log pi*(y_w) / pi*(y_l) of the optimal DPO/RLHF policy under
/// Bradley-Terry with the true preference probability alpha_i (Thm. 3.1):
/// log pi_ref(y_w) - log pi_ref(y_l) + (1 / beta) log(alpha / (1 - alpha)), alpha clamped to
/// [epsilon, 1 - epsilon]. Positive: the ideal policy ranks the pair correctly.
template <class O>
void idealized_log_ratio(SeqView<const double> ref_chosen_logp,
                         SeqView<const double> ref_rejected_logp, SeqView<const double> alpha,
                         double beta, SeqView<O> out, double epsilon = kIdealizedAlphaEpsilon) {
  detail::idealized_log_ratio_of(ref_chosen_logp, ref_rejected_logp, alpha, beta, epsilon, out);
}
template <class O>
void idealized_log_ratio(SeqView<const float> ref_chosen_logp,
                         SeqView<const float> ref_rejected_logp, SeqView<const float> alpha,
                         double beta, SeqView<O> out, double epsilon = kIdealizedAlphaEpsilon) {
  detail::idealized_log_ratio_of(ref_chosen_logp, ref_rejected_logp, alpha, beta, epsilon, out);
}

/// Idealized ranking accuracy R* (Cor. 3.3): the share of pairs whose idealized log-ratio is > 0.
inline double idealized_ranking_accuracy(SeqView<const double> ref_chosen_logp,
                                         SeqView<const double> ref_rejected_logp,
                                         SeqView<const double> alpha, double beta,
                                         double epsilon = kIdealizedAlphaEpsilon) {
  return detail::idealized_ranking_accuracy_of(ref_chosen_logp, ref_rejected_logp, alpha, beta,
                                               epsilon);
}
inline double idealized_ranking_accuracy(SeqView<const float> ref_chosen_logp,
                                         SeqView<const float> ref_rejected_logp,
                                         SeqView<const float> alpha, double beta,
                                         double epsilon = kIdealizedAlphaEpsilon) {
  return detail::idealized_ranking_accuracy_of(ref_chosen_logp, ref_rejected_logp, alpha, beta,
                                               epsilon);
}

/// Min, median (mean of the middle two for an even count) and max of R* over `betas` (>= 1).
inline IdealizedRankingRange idealized_ranking_accuracy_range(
    SeqView<const double> ref_chosen_logp, SeqView<const double> ref_rejected_logp,
    SeqView<const double> alpha, std::span<const double> betas = kIdealizedBetas,
    double epsilon = kIdealizedAlphaEpsilon) {
  return detail::idealized_range_of(ref_chosen_logp, ref_rejected_logp, alpha, betas, epsilon);
}
inline IdealizedRankingRange idealized_ranking_accuracy_range(
    SeqView<const float> ref_chosen_logp, SeqView<const float> ref_rejected_logp,
    SeqView<const float> alpha, std::span<const double> betas = kIdealizedBetas,
    double epsilon = kIdealizedAlphaEpsilon) {
  return detail::idealized_range_of(ref_chosen_logp, ref_rejected_logp, alpha, betas, epsilon);
}

/// Per pair, the DPO loss below which the pair is ranked correctly (Thm. 4.1):
/// -log sigmoid(beta c) with c = log pi_ref(y_l) - log pi_ref(y_w). R = 1 if and only if
/// L_DPO <= this threshold; for a pair the reference mis-ranks by c nats it is about e^{-beta c},
/// the "how hard to flip" of the paper.
template <class O>
void flip_threshold(SeqView<const double> ref_chosen_logp, SeqView<const double> ref_rejected_logp,
                    double beta, SeqView<O> out) {
  detail::flip_threshold_of(ref_chosen_logp, ref_rejected_logp, beta, out);
}
template <class O>
void flip_threshold(SeqView<const float> ref_chosen_logp, SeqView<const float> ref_rejected_logp,
                    double beta, SeqView<O> out) {
  detail::flip_threshold_of(ref_chosen_logp, ref_rejected_logp, beta, out);
}

/// Owning form.
inline SeqArrayd flip_threshold(SeqView<const double> ref_chosen_logp,
                                SeqView<const double> ref_rejected_logp, double beta) {
  SeqArrayd out(ref_chosen_logp.size());
  detail::flip_threshold_of(ref_chosen_logp, ref_rejected_logp, beta, SeqView<double>(out));
  return out;
}

}  // namespace polo

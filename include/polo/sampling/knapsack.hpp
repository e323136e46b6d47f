#pragma once
// Knapsack RL (Li et al. 2025, arXiv 2509.25849): a total rollout budget spread over the prompts of
// a batch from their estimated success rates, so that rollouts move from prompts that are always
// or never solved (whose GRPO groups carry no gradient) to prompts where a group is likely to be
// mixed. Restated from liziniu/KnapsackRL verl/trainer/ppo/exploration_utils.py
// (`sampling_budget_by_knapsack`, `solve_by_dp`); the result is a polo::Groups for the next batch.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/types.hpp"
#include "polo/sampling/success_rate.hpp"

namespace polo {

namespace detail {

inline void require_probability(std::string_view where, double p) {
  require_in(where, "p", p, 0.0, 1.0);
}

}  // namespace detail

/// P_nz(n, p) = 1 - p^n - (1 - p)^n: the probability that n Bernoulli(p) rollouts are not all
/// equal, i.e. that their GRPO group has a non-zero advantage. 0 for n = 0 (no rollouts).
inline double nonzero_gradient_probability(Index n, double p) {
  constexpr std::string_view where = "polo::nonzero_gradient_probability";
  if (n < 0) detail::fail_argument(where, "n", ">= 0", n);
  detail::require_probability(where, p);
  if (n == 0) return 0.0;
  const double lo = std::min(p, 1.0 - p);
  // 1 - (1 - lo)^n as -expm1(n log1p(-lo)) keeps its digits when lo is tiny.
  const double v =
      -std::expm1(static_cast<double>(n) * std::log1p(-lo)) - std::pow(lo, static_cast<double>(n));
  return std::max(v, 0.0);  // n = 1 is 0 up to rounding
}

/// IG(p) = p (1 - p)^2: the paper's value of improving a prompt solved with probability p
/// (largest at p = 1/3, so harder-than-even prompts are preferred).
inline double information_gain(double p) {
  detail::require_probability("polo::information_gain", p);
  return p * (1.0 - p) * (1.0 - p);
}

/// Value(n, p) = P_nz(n, p) IG(p): what Knapsack RL maximizes, summed over prompts.
inline double knapsack_value(Index n, double p) {
  return nonzero_gradient_probability(n, p) * information_gain(p);
}

/// E[P_nz(n, p)] for p ~ Beta(c m, c (1 - m)) of mean m and concentration c = a + b:
/// 1 - E[p^n] - E[(1 - p)^n] with E[p^n] = prod_{k < n} (a + k) / (a + b + k). The chance that n
/// rollouts mix when p is only known through c rewards (and pseudo-counts); an infinite c gives
/// nonzero_gradient_probability(n, m).
inline double posterior_nonzero_gradient_probability(Index n, double mean, double concentration) {
  constexpr std::string_view where = "polo::posterior_nonzero_gradient_probability";
  if (n < 0) detail::fail_argument(where, "n", ">= 0", n);
  detail::require_in(where, "mean", mean, 0.0, 1.0);
  if (!(concentration > 0.0)) detail::fail_argument(where, "concentration", "> 0", concentration);
  if (std::isinf(concentration) || mean == 0.0 || mean == 1.0) {
    return nonzero_gradient_probability(n, mean);
  }
  if (n == 0) return 0.0;
  const double a = concentration * mean;
  const double b = concentration * (1.0 - mean);
  double moment_p = 1.0;  // E[p^k]
  double moment_q = 1.0;  // E[(1 - p)^k]
  for (Index k = 0; k < n; ++k) {
    const auto j = static_cast<double>(k);
    moment_p *= (a + j) / (concentration + j);
    moment_q *= (b + j) / (concentration + j);
  }
  return std::max(1.0 - moment_p - moment_q, 0.0);
}

/// Expected rollouts until the first non-zero gradient, 1 / (p (1 - p)) - 1; +inf for p in {0, 1}.
inline double expected_rollouts_to_nonzero(double p) {
  detail::require_probability("polo::expected_rollouts_to_nonzero", p);
  if (p == 0.0 || p == 1.0) return std::numeric_limits<double>::infinity();
  return 1.0 / (p * (1.0 - p)) - 1.0;
}

/// Rollouts for a non-zero gradient with probability `alpha`, log(1 - alpha) / log(max(p, 1 - p))
/// (the official "probability" cost); +inf for p in {0, 1}.
inline double rollouts_for_nonzero_probability(double p, double alpha) {
  constexpr std::string_view where = "polo::rollouts_for_nonzero_probability";
  detail::require_probability(where, p);
  if (!(alpha > 0.0 && alpha < 1.0)) detail::fail_argument(where, "alpha", "in (0, 1)", alpha);
  if (p == 0.0 || p == 1.0) return std::numeric_limits<double>::infinity();
  return std::log1p(-alpha) / std::log(std::max(p, 1.0 - p));
}

/// What the allocation maximizes, summed over the effective prompts.
enum class KnapsackObjective {
  paper_value,   ///< knapsack_value(N, p) = P_nz(N, p) p (1 - p)^2, the paper's
  mixed_groups,  ///< P_nz(N, p): the expected number of prompts whose group carries a gradient
  /// posterior_nonzero_gradient_probability(N, p, c): the same expectation when p is known only
  /// through c rewards (the tracker's concentrations); needs a concentration per prompt
  posterior_mixed_groups,
};

/// How the extra rollouts of the effective prompts are chosen.
enum class KnapsackSolver {
  exact,  ///< the official dynamic program over (prompt, rollouts used): O(prompts * B * max_n)
  fast,   ///< greedy by marginal value with a heap: O(B log prompts), the same optimum (see docs)
};

/// The per-prompt cost the fallback test sums (official `cost_estimation`).
enum class KnapsackCost {
  probability,  ///< rollouts_for_nonzero_probability(p, alpha)
  expectation,  ///< expected_rollouts_to_nonzero(p)
};

/// What the allocation did besides the rollouts.
struct KnapsackInfo {
  Index effective_prompts = 0;            ///< prompts with a valid estimate strictly inside (0, 1)
  Index initial_budget = 0;               ///< rollouts of the initial allocation
  Index remaining_budget = 0;             ///< total budget minus the initial allocation
  Index estimated_cost = 0;               ///< sum over effective prompts of floor(min(max_n, cost))
  bool fallback = false;                  ///< the estimated cost was below the remaining budget
  double fallback_effective_ratio = 1.0;  ///< estimated_cost / remaining_budget when fallback
  Index surplus = 0;   ///< rollouts given to non-effective prompts (fallback or no effective)
  Index overflow = 0;  ///< rollouts the effective prompts could not take within max_n
};

/// The allocation for the next batch: `rollouts[i]` completions of prompt i, laid out as
/// consecutive groups in `groups`.
struct RolloutBudget {
  std::vector<Index> rollouts;
  Groups groups;
  double value = 0.0;  ///< sum of knapsack_value(rollouts[i], p_i) over the effective prompts
  /// sum of nonzero_gradient_probability(rollouts[i], p_i) over the effective prompts: the
  /// expected number of them whose group is mixed (if the estimates were exact)
  double mixed_groups = 0.0;
  KnapsackInfo info;
};

/// Knapsack RL's hyper-parameters (defaults of run_knapsack_grpo_7b.sh) and its allocation.
struct KnapsackBudget {
  Index uniform_n =
      8;              ///< rollouts of a prompt without a valid estimate; default budget per prompt
  Index min_n = 2;    ///< initial rollouts of an effective prompt (0 < p < 1)
  Index max_n = 128;  ///< most rollouts the solver gives an effective prompt
  Index negative_n = 2;  ///< rollouts of a prompt never solved (p = 0)
  Index positive_n = 2;  ///< rollouts of a prompt always solved (p = 1)
  double alpha = 0.9;    ///< confidence of the "probability" cost
  KnapsackCost cost = KnapsackCost::probability;
  bool fallback = true;  ///< move the budget effective prompts do not need to p = 0 prompts
  KnapsackSolver solver = KnapsackSolver::exact;
  KnapsackObjective objective = KnapsackObjective::paper_value;
  /// true: as the official DP, an effective prompt given no rollout beyond min_n scores 0 instead
  /// of its objective at min_n; false: the solver maximizes the objective's sum exactly.
  bool official_zero_extra = true;

  void validate() const {
    constexpr std::string_view where = "polo::KnapsackBudget";
    if (uniform_n < 1) detail::fail_argument(where, "uniform_n", ">= 1", uniform_n);
    if (min_n < 1) detail::fail_argument(where, "min_n", ">= 1", min_n);
    if (max_n < min_n) {
      detail::fail_argument(where, "max_n", fmt::format(">= min_n ({})", min_n), max_n);
    }
    if (negative_n < 1) detail::fail_argument(where, "negative_n", ">= 1", negative_n);
    if (positive_n < 1) detail::fail_argument(where, "positive_n", ">= 1", positive_n);
    if (!(alpha > 0.0 && alpha < 1.0)) detail::fail_argument(where, "alpha", "in (0, 1)", alpha);
  }

  /// Allocates `total_budget` rollouts (0: `size * uniform_n`) over the prompts whose estimates
  /// are `success_rate` (read only where `valid` is nonzero; elsewhere it may be anything).
  /// `concentration` (the evidence behind each estimate, SuccessRateTracker::concentrations) is
  /// read by the posterior_mixed_groups objective only, which needs it.
  [[nodiscard]] RolloutBudget allocate(std::span<const double> success_rate,
                                       std::span<const std::uint8_t> valid, Index total_budget = 0,
                                       std::span<const double> concentration = {}) const;

  /// Over every prompt of the tracker.
  [[nodiscard]] RolloutBudget allocate(const SuccessRateTracker& tracker,
                                       Index total_budget = 0) const {
    return allocate(tracker.estimates(), tracker.validity(), total_budget,
                    tracker.concentrations());
  }

  /// Over a batch of the tracker's prompts (`prompts[i]` is the tracker index of batch prompt i).
  [[nodiscard]] RolloutBudget allocate(const SuccessRateTracker& tracker,
                                       std::span<const Index> prompts,
                                       Index total_budget = 0) const {
    std::vector<double> rate(prompts.size());
    std::vector<double> evidence(prompts.size());
    std::vector<std::uint8_t> ok(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      if (prompts[i] < 0 || prompts[i] >= tracker.size()) {
        detail::fail_argument("polo::KnapsackBudget::allocate", fmt::format("prompts[{}]", i),
                              fmt::format("a tracker prompt in [0, {})", tracker.size()),
                              prompts[i]);
      }
      rate[i] = tracker.estimates()[static_cast<std::size_t>(prompts[i])];
      evidence[i] = tracker.concentrations()[static_cast<std::size_t>(prompts[i])];
      ok[i] = tracker.validity()[static_cast<std::size_t>(prompts[i])];
    }
    return allocate(rate, ok, total_budget, evidence);
  }

 private:
  /// An effective prompt as the solvers see it: its estimate and (posterior objective only) the
  /// concentration of its Beta posterior.
  struct Item {
    double p;
    double concentration;
  };
  /// The objective of n rollouts of one effective prompt.
  [[nodiscard]] double objective_value(Index n, const Item& item) const {
    switch (objective) {
      case KnapsackObjective::paper_value:
        return knapsack_value(n, item.p);
      case KnapsackObjective::mixed_groups:
        return nonzero_gradient_probability(n, item.p);
      case KnapsackObjective::posterior_mixed_groups:
        return posterior_nonzero_gradient_probability(n, item.p, item.concentration);
    }
    return 0.0;
  }
  [[nodiscard]] double score(Index n, const Item& item) const {
    return official_zero_extra && n == min_n ? 0.0 : objective_value(n, item);
  }
  /// score(n + 1) - score(n) for n >= min_n (closed form for the plug-in objectives).
  [[nodiscard]] double increment(Index n, const Item& item) const {
    if (official_zero_extra && n == min_n) return score(n + 1, item);
    if (objective == KnapsackObjective::posterior_mixed_groups) {
      return objective_value(n + 1, item) - objective_value(n, item);
    }
    const double p = item.p;
    const auto e = static_cast<double>(n);
    const double weight = objective == KnapsackObjective::paper_value ? information_gain(p) : 1.0;
    return weight * (std::pow(p, e) * (1.0 - p) + std::pow(1.0 - p, e) * p);
  }
  void solve_exact(std::span<const Item> items, Index budget, std::span<Index> extra) const;
  void solve_fast(std::span<const Item> items, Index budget, std::span<Index> extra) const;
};

namespace detail {

/// Adds `amount` to `rollouts` over `indices`, evenly, the remainder one each to the first ones.
inline void split_evenly(std::vector<Index>& rollouts, std::span<const Index> indices,
                         Index amount) {
  const auto count = static_cast<Index>(indices.size());
  const Index base = amount / count;
  const Index remainder = amount % count;
  for (Index k = 0; k < count; ++k) {
    rollouts[static_cast<std::size_t>(indices[static_cast<std::size_t>(k)])] +=
        base + (k < remainder ? 1 : 0);
  }
}

}  // namespace detail

inline RolloutBudget KnapsackBudget::allocate(std::span<const double> success_rate,
                                              std::span<const std::uint8_t> valid,
                                              Index total_budget,
                                              std::span<const double> concentration) const {
  constexpr std::string_view where = "polo::KnapsackBudget::allocate";
  validate();
  const auto n = static_cast<Index>(success_rate.size());
  if (valid.size() != success_rate.size()) {
    detail::fail_argument(where, "valid", fmt::format("of the size of success_rate ({})", n),
                          valid.size());
  }
  const bool posterior = objective == KnapsackObjective::posterior_mixed_groups;
  if (posterior && concentration.size() != success_rate.size()) {
    detail::fail_argument(
        where, "concentration",
        fmt::format("of the size of success_rate ({}) for the posterior_mixed_groups objective", n),
        concentration.size());
  }
  if (total_budget < 0) detail::fail_argument(where, "total_budget", ">= 0", total_budget);
  const Index budget = total_budget == 0 ? n * uniform_n : total_budget;

  RolloutBudget out;
  KnapsackInfo& info = out.info;
  out.rollouts.assign(static_cast<std::size_t>(n), 0);
  std::vector<Index> effective;    // 0 < p < 1 with a valid estimate
  std::vector<Index> zero;         // p = 0 or no valid estimate (the official `success_rates == 0`)
  std::vector<Index> ineffective;  // every prompt that is not effective
  std::vector<Item> items;         // the effective prompts as the solvers see them
  for (Index i = 0; i < n; ++i) {
    const auto s = static_cast<std::size_t>(i);
    Index& r = out.rollouts[s];
    if (valid[s] == 0) {
      r = uniform_n;
      zero.push_back(i);
      ineffective.push_back(i);
      continue;
    }
    const double p = success_rate[s];
    if (std::isnan(p)) throw nonfinite_error(std::string(where), "success_rate", i, 0, p);
    if (!(p >= 0.0 && p <= 1.0)) {
      detail::fail_argument(where, fmt::format("success_rate[{}]", i), "in [0, 1]", p);
    }
    if (p > 0.0 && p < 1.0) {
      const double c = posterior ? concentration[s] : std::numeric_limits<double>::infinity();
      if (!(c > 0.0)) {
        detail::fail_argument(where, fmt::format("concentration[{}]", i), "> 0", c);
      }
      r = min_n;
      effective.push_back(i);
      items.push_back({p, c});
    } else {
      r = p == 0.0 ? negative_n : positive_n;
      if (p == 0.0) zero.push_back(i);
      ineffective.push_back(i);
    }
  }
  for (const Index r : out.rollouts)
    info.initial_budget += r;
  if (budget < info.initial_budget) {
    detail::fail_argument(
        where, "total_budget",
        fmt::format(">= the initial allocation of {} rollouts (min_n, negative_n or positive_n "
                    "per estimated prompt, uniform_n per other)",
                    info.initial_budget),
        budget);
  }
  if (n == 0 && budget > 0) {
    detail::fail_argument(where, "total_budget", "0 when there are no prompts", budget);
  }
  Index remaining = budget - info.initial_budget;
  info.remaining_budget = remaining;
  info.effective_prompts = static_cast<Index>(effective.size());

  if (remaining > 0 && effective.empty()) {
    info.surplus = remaining;
    if (!zero.empty()) {
      detail::split_evenly(out.rollouts, zero, remaining);
    } else {
      // Every prompt is always solved: nothing to prefer, so the budget is spread uniformly.
      std::fill(out.rollouts.begin(), out.rollouts.end(), 0);
      std::vector<Index> all(static_cast<std::size_t>(n));
      for (Index i = 0; i < n; ++i)
        all[static_cast<std::size_t>(i)] = i;
      detail::split_evenly(out.rollouts, all, budget);
    }
  } else if (!effective.empty()) {
    for (const Item& item : items) {
      const double c = cost == KnapsackCost::probability
                           ? rollouts_for_nonzero_probability(item.p, alpha)
                           : expected_rollouts_to_nonzero(item.p);
      info.estimated_cost +=
          static_cast<Index>(std::floor(std::min(static_cast<double>(max_n), c)));
    }
    // Budget beyond what the effective prompts are estimated to need goes to the prompts never
    // solved (and those without an estimate), else to the other non-effective ones.
    const std::vector<Index>& candidates = zero.empty() ? ineffective : zero;
    if (fallback && info.estimated_cost < remaining && !candidates.empty()) {
      info.fallback = true;
      info.fallback_effective_ratio =
          static_cast<double>(info.estimated_cost) / static_cast<double>(remaining);
      info.surplus = remaining - info.estimated_cost;
      detail::split_evenly(out.rollouts, candidates, info.surplus);
      remaining = info.estimated_cost;
    }
    const Index capacity = static_cast<Index>(effective.size()) * (max_n - min_n);
    const Index placed = std::min(remaining, capacity);
    std::vector<Index> extra(effective.size(), 0);
    if (solver == KnapsackSolver::exact) {
      solve_exact(items, placed, extra);
    } else {
      solve_fast(items, placed, extra);
    }
    for (std::size_t j = 0; j < effective.size(); ++j) {
      out.rollouts[static_cast<std::size_t>(effective[j])] += extra[j];
    }
    // Every effective prompt is at max_n: the rest goes where the fallback puts its surplus, and
    // only without such prompts past max_n (the official code always spreads it there).
    info.overflow = remaining - placed;
    if (info.overflow > 0) {
      detail::split_evenly(out.rollouts, candidates.empty() ? effective : candidates,
                           info.overflow);
    }
  }

  for (std::size_t j = 0; j < effective.size(); ++j) {
    const Index r = out.rollouts[static_cast<std::size_t>(effective[j])];
    out.value += knapsack_value(r, items[j].p);
    out.mixed_groups += nonzero_gradient_probability(r, items[j].p);
  }
  out.groups = Groups::from_sizes(out.rollouts);
  return out;
}

inline void KnapsackBudget::solve_exact(std::span<const Item> effective, Index budget,
                                        std::span<Index> extra) const {
  const auto items = static_cast<Index>(effective.size());
  const Index most = max_n - min_n;  // extra rollouts one prompt can take
  if (budget <= 0 || items == 0) return;
  constexpr double kUnreachable = -std::numeric_limits<double>::infinity();
  const auto width = static_cast<std::size_t>(budget + 1);
  // best[w]: the best score of the prompts so far using exactly w extra rollouts.
  std::vector<double> best(width, kUnreachable);
  std::vector<double> next(width, kUnreachable);
  std::vector<double> gain(static_cast<std::size_t>(most + 1));
  std::vector<Index> choice(static_cast<std::size_t>(items) * width, 0);
  best[0] = 0.0;
  for (Index j = 0; j < items; ++j) {
    const Item& item = effective[static_cast<std::size_t>(j)];
    for (Index k = 0; k <= most; ++k)
      gain[static_cast<std::size_t>(k)] = score(min_n + k, item);
    const Index reach_before = std::min(budget, j * most);
    const Index reach = std::min(budget, (j + 1) * most);
    Index* row = choice.data() + static_cast<std::size_t>(j) * width;
    for (Index w = 0; w <= reach; ++w) {
      // "0 extra" first, then k = 1, 2, ... replacing only on a strict improvement: the
      // official tie-break (the fewest extra rollouts).
      double top = w <= reach_before ? best[static_cast<std::size_t>(w)] + gain[0] : kUnreachable;
      Index pick = 0;
      const Index k_end = std::min(most, w);
      for (Index k = std::max<Index>(1, w - reach_before); k <= k_end; ++k) {
        const double candidate =
            best[static_cast<std::size_t>(w - k)] + gain[static_cast<std::size_t>(k)];
        if (candidate > top) {
          top = candidate;
          pick = k;
        }
      }
      next[static_cast<std::size_t>(w)] = top;
      row[w] = pick;
    }
    std::fill(next.begin() + reach + 1, next.end(), kUnreachable);
    std::swap(best, next);
  }
  // The caller passes budget <= items * most, so every w up to it is reachable.
  Index w = budget;
  for (Index j = items - 1; j >= 0; --j) {
    const Index k = choice[static_cast<std::size_t>(j) * width + static_cast<std::size_t>(w)];
    extra[static_cast<std::size_t>(j)] = k;
    w -= k;
  }
}

inline void KnapsackBudget::solve_fast(std::span<const Item> p, Index budget,
                                       std::span<Index> extra) const {
  const Index most = max_n - min_n;
  if (budget <= 0 || most == 0) return;
  // Max-heap of each prompt's next marginal score; ties go to the lower index. The increments of
  // every objective in n never grow (also with the official "0 extra" score), so taking the largest
  // one budget times reaches the same optimum as the dynamic program.
  struct Step {
    double gain;
    Index item;
  };
  const auto before = [](const Step& a, const Step& b) {
    return a.gain < b.gain || (a.gain == b.gain && a.item > b.item);
  };
  std::vector<Step> heap;
  heap.reserve(p.size());
  for (std::size_t j = 0; j < p.size(); ++j) {
    heap.push_back({increment(min_n, p[j]), static_cast<Index>(j)});
  }
  std::make_heap(heap.begin(), heap.end(), before);
  for (Index placed = 0; placed < budget; ++placed) {
    std::pop_heap(heap.begin(), heap.end(), before);
    Step& top = heap.back();
    const auto j = static_cast<std::size_t>(top.item);
    if (++extra[j] < most) {
      top.gain = increment(min_n + extra[j], p[j]);
      std::push_heap(heap.begin(), heap.end(), before);
    } else {
      heap.pop_back();
    }
  }
}

}  // namespace polo

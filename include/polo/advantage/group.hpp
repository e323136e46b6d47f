#pragma once
// Critic-free advantages from groups of completions that share a prompt: GRPO's group-relative
// advantages (and Dr. GRPO's unscaled ones), RLOO's leave-one-out baseline, REINFORCE++ and
// REINFORCE++-baseline token advantages, and several reward functions per completion combined as
// TRL's `sum_then_normalize` or `normalize_then_sum` (GDPO).
//
// Groups are `polo::Groups` offsets, so uneven groups (rollout-budget allocation) work as a fixed
// G does. Statistics accumulate in double whatever the input scalar. A group whose rewards are
// all equal gets advantages of exactly 0 (never NaN, never a rounding residue of its mean), and
// is counted in `frac_reward_zero_std`.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

/// What the group estimators log (TRL's names where it has one).
struct GroupAdvantageMetrics {
  /// Share of groups whose rewards are all exactly equal (and lone groups when allowed); TRL's
  /// isclose(std, 0) would also count stds below 1e-8.
  double frac_reward_zero_std = 0.0;
  double reward_mean = 0.0;     ///< mean reward over the batch
  double reward_std = 0.0;      ///< unbiased std of the rewards over the batch
  double group_std_mean = 0.0;  ///< mean of the per-group unbiased stds (TRL's `reward_std`)
  Index num_groups = 0;
  Index num_zero_std_groups = 0;
};

template <class S>
struct GroupAdvantageResult {
  SeqArray<S> advantages;           ///< [B]
  std::vector<double> group_means;  ///< [num groups]
  std::vector<double> group_stds;   ///< [num groups], unbiased (0 for a constant or lone group)
  GroupAdvantageMetrics metrics{};
};

namespace detail {

/// Mean and unbiased std of x[begin, end); `constant` when every value equals the first (and is
/// finite), in which case the mean is that value exactly and the std is 0.
struct Moments {
  double mean = 0.0;
  double stddev = 0.0;
  bool constant = true;
};

template <class S>
Moments seq_moments(SeqView<const S> x, Index begin, Index end) {
  const Index n = end - begin;
  if (n <= 0) return {};
  const auto first = static_cast<double>(x[begin]);
  double sum = 0.0;
  bool constant = std::isfinite(first);  // an inf group must reach the non-finite check
  for (Index i = begin; i < end; ++i) {
    const auto v = static_cast<double>(x[i]);
    sum += v;
    constant = constant && v == first;
  }
  if (constant) return {first, 0.0, true};
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (Index i = begin; i < end; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    ss += d * d;
  }
  return {mean, n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0, false};
}

/// Every group must hold at least two completions unless lone ones are allowed.
inline void require_group_sizes(std::string_view where, const Groups& groups,
                                bool allow_singleton) {
  if (allow_singleton) return;
  for (Index g = 0; g < groups.count(); ++g) {
    if (groups.size(g) < 2) {
      fail_argument(where, fmt::format("groups: group {} size", g),
                    ">= 2 (a lone completion has no group baseline; set allow_singleton_groups "
                    "to give it advantage 0)",
                    groups.size(g));
    }
  }
}

/// A caller-provided statistics span must be empty (not wanted) or hold one entry per group.
inline void require_group_span(std::string_view where, std::string_view field, std::span<double> s,
                               Index groups) {
  if (!s.empty() && static_cast<Index>(s.size()) != groups) {
    fail_argument(where, fmt::format("{} size", field),
                  fmt::format("0 (not wanted) or the number of groups ({})", groups), s.size());
  }
}

inline void require_eps(std::string_view where, std::string_view field, double eps) {
  require(eps >= 0.0 && std::isfinite(eps), where, field, "finite and >= 0", eps);
}

/// Batch metrics shared by the group estimators, from the batch moments `all` of the rewards;
/// `zero` groups of `groups.count()` were constant.
inline GroupAdvantageMetrics batch_metrics(const Moments& all, const Groups& groups, Index zero,
                                           double std_sum) {
  GroupAdvantageMetrics m;
  m.reward_mean = all.mean;
  m.reward_std = all.stddev;
  m.num_groups = groups.count();
  m.num_zero_std_groups = zero;
  if (groups.count() > 0) {
    m.frac_reward_zero_std = static_cast<double>(zero) / static_cast<double>(groups.count());
    m.group_std_mean = std_sum / static_cast<double>(groups.count());
  }
  return m;
}

/// (x − mean) / (std + eps) over all of `x` in place, std unbiased (TRL's batch z-score). A
/// constant batch becomes exactly 0. Returns whether every result is finite.
template <class T>
bool batch_zscore(SeqView<T> x, double eps) {
  const Moments m = seq_moments(SeqView<const T>(x), 0, x.size());
  if (m.constant) {
    for (Index i = 0; i < x.size(); ++i)
      x[i] = T{0};
    return true;
  }
  const double denom = m.stddev + eps;
  const double scale = denom > 0.0 ? 1.0 / denom : 0.0;
  double guard = 0.0;
  for (Index i = 0; i < x.size(); ++i) {
    const double a = (static_cast<double>(x[i]) - m.mean) * scale;
    guard += 0.0 * a;
    x[i] = static_cast<T>(a);
  }
  return std::isfinite(guard);
}

}  // namespace detail

/// GRPO group-relative advantages from one reward per completion:
///   Â_i = (R_i − μ_g) / (σ + ε),  μ_g the mean of i's group,
/// σ the unbiased std of the group (`scale = group`, TRL's default), of the whole batch
/// (`scale = batch`, TRL `scale_rewards="batch"`, the mean stays per group), or no division at
/// all (`scale = none`, Dr. GRPO: Â_i = R_i − μ_g). ε defaults to TRL's 1e-4 (verl 1e-6, OpenRLHF
/// 1e-9). A group of one completion is refused unless `allow_singleton_groups`; then its advantage
/// is 0 (verl gives it R_i instead) and it counts as a zero-std group.
struct GroupAdvantage {
  enum class Scale : std::uint8_t { group, batch, none };

  Scale scale = Scale::group;
  double eps = 1e-4;  ///< >= 0, added to the std
  bool allow_singleton_groups = false;

  void validate(std::string_view where) const {
    detail::require_eps(where, "eps", eps);
    if (scale != Scale::group && scale != Scale::batch && scale != Scale::none) {
      detail::fail_argument(where, "scale", "group, batch or none",
                            static_cast<int>(static_cast<std::uint8_t>(scale)));
    }
  }

  /// Zero-allocation form: writes `advantages` [B] (which may be `rewards` itself) and, when
  /// given (non-empty, one entry per group), the group means and unbiased stds.
  template <class S>
  GroupAdvantageMetrics compute(SeqView<S> rewards, const Groups& groups,
                                SeqView<std::remove_const_t<S>> advantages,
                                std::span<double> group_means = {},
                                std::span<double> group_stds = {}) const {
    return compute_at("polo::GroupAdvantage", rewards, groups, advantages, group_means, group_stds);
  }

  /// Owning form: advantages, per-group statistics and metrics.
  template <class S>
  GroupAdvantageResult<std::remove_const_t<S>> operator()(SeqView<S> rewards,
                                                          const Groups& groups) const {
    GroupAdvantageResult<std::remove_const_t<S>> out;
    out.advantages.resize(rewards.size());
    out.group_means.resize(static_cast<std::size_t>(std::max<Index>(groups.count(), 0)));
    out.group_stds.resize(out.group_means.size());
    out.metrics = compute(rewards, groups, SeqView<std::remove_const_t<S>>(out.advantages),
                          std::span<double>(out.group_means), std::span<double>(out.group_stds));
    return out;
  }

  /// Owning form from an Eigen vector.
  template <class D>
  requires detail::EigenDense<D>
  auto operator()(const D& rewards, const Groups& groups) const {
    return (*this)(SeqView(rewards), groups);
  }

  /// The body, with the caller's name in messages (the multi-reward estimator reuses it).
  template <class S>
  GroupAdvantageMetrics compute_at(std::string_view where, SeqView<S> rewards, const Groups& groups,
                                   SeqView<std::remove_const_t<S>> advantages,
                                   std::span<double> group_means,
                                   std::span<double> group_stds) const {
    using T = std::remove_const_t<S>;
    validate(where);
    const SeqView<const T> in(rewards);
    groups.require_covers(where, in.size());
    detail::require_shape(where, "advantages", advantages, in.size());
    detail::require_group_span(where, "group_means", group_means, groups.count());
    detail::require_group_span(where, "group_stds", group_stds, groups.count());
    detail::require_group_sizes(where, groups, allow_singleton_groups);

    // The batch std is needed before any advantage is written (the output may alias the input).
    const detail::Moments batch = detail::seq_moments(in, 0, in.size());
    Index zero = 0;
    double std_sum = 0.0;
    double guard = 0.0;
    for (Index g = 0; g < groups.count(); ++g) {
      const Index b = groups.begin(g);
      const Index e = groups.end(g);
      const detail::Moments m = detail::seq_moments(in, b, e);
      const auto k = static_cast<std::size_t>(g);
      if (!group_means.empty()) group_means[k] = m.mean;
      if (!group_stds.empty()) group_stds[k] = m.stddev;
      std_sum += m.stddev;
      if (m.constant || e - b == 1) {
        // Nothing to tell apart: exactly 0, not a residue of mean rounding or 0/0.
        ++zero;
        for (Index i = b; i < e; ++i)
          advantages[i] = T{0};
        continue;
      }
      double scale_by = 1.0;
      if (scale == Scale::group) scale_by = m.stddev + eps;
      if (scale == Scale::batch) scale_by = batch.stddev + eps;
      const double inv = scale_by > 0.0 ? 1.0 / scale_by : 0.0;
      for (Index i = b; i < e; ++i) {
        const double a = (static_cast<double>(in[i]) - m.mean) * inv;
        guard += 0.0 * a;
        advantages[i] = static_cast<T>(a);
      }
    }
    if (!std::isfinite(guard) || !std::isfinite(batch.stddev)) {
      detail::check_finite(where, "rewards", in);
    }
    return detail::batch_metrics(detail::seq_moments(in, 0, in.size()), groups, zero, std_sum);
  }
};

static_assert(std::is_aggregate_v<GroupAdvantage>, "configured with designated initializers");

template <class S>
struct RLOOResult {
  SeqArray<S> advantages;  ///< [B]
  SeqArray<S> baselines;   ///< [B], b_i
  GroupAdvantageMetrics metrics{};
};

/// RLOO's leave-one-out baseline (TRL RLOOTrainer, verl / OpenRLHF `rloo`):
///   b_i = (Σ_{j∈g} R_j − R_i) / (G − 1),   Â_i = R_i − b_i = G/(G − 1)·(R_i − μ_g),
/// then, with `normalize` (TRL `normalize_advantages`), a batch z-score (Â − mean)/(std + ε), std
/// unbiased. Rewards should already include any KL penalty (TRL: R_i − β Σ_t (old − ref)). A lone
/// completion has no baseline: refused unless `allow_singleton_groups` (then b_i = R_i, Â_i = 0).
struct RLOO {
  bool normalize = false;  ///< TRL normalize_advantages
  double eps = 1e-4;       ///< >= 0, added to the batch std when normalizing
  bool allow_singleton_groups = false;

  void validate(std::string_view where) const { detail::require_eps(where, "eps", eps); }

  /// Zero-allocation form: writes `advantages` [B] (may alias `rewards`) and, when given,
  /// `baselines` [B].
  template <class S>
  GroupAdvantageMetrics compute(SeqView<S> rewards, const Groups& groups,
                                SeqView<std::remove_const_t<S>> advantages,
                                SeqView<std::remove_const_t<S>> baselines = {}) const {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::RLOO";
    validate(where);
    const SeqView<const T> in(rewards);
    groups.require_covers(where, in.size());
    detail::require_shape(where, "advantages", advantages, in.size());
    if (!baselines.is_null()) detail::require_shape(where, "baselines", baselines, in.size());
    detail::require_group_sizes(where, groups, allow_singleton_groups);

    // Batch metrics first: the advantages may overwrite the rewards.
    double std_sum = 0.0;
    Index zero = 0;
    for (Index g = 0; g < groups.count(); ++g) {
      const detail::Moments m = detail::seq_moments(in, groups.begin(g), groups.end(g));
      std_sum += m.stddev;
      if (m.constant || groups.size(g) == 1) ++zero;
    }
    const GroupAdvantageMetrics metrics =
        detail::batch_metrics(detail::seq_moments(in, 0, in.size()), groups, zero, std_sum);

    double guard = 0.0;
    for (Index g = 0; g < groups.count(); ++g) {
      const Index b = groups.begin(g);
      const Index e = groups.end(g);
      const detail::Moments m = detail::seq_moments(in, b, e);
      const auto n = static_cast<double>(e - b);
      double sum = 0.0;
      for (Index i = b; i < e; ++i)
        sum += static_cast<double>(in[i]);
      for (Index i = b; i < e; ++i) {
        const auto r = static_cast<double>(in[i]);
        // A constant or lone group: the baseline is the reward itself, the advantage exactly 0.
        const bool flat = m.constant || e - b == 1;
        const double base = flat ? r : (sum - r) / (n - 1.0);
        const double a = flat ? 0.0 : r - base;
        guard += 0.0 * a;
        if (!baselines.is_null()) baselines[i] = static_cast<T>(base);
        advantages[i] = static_cast<T>(a);
      }
    }
    if (!std::isfinite(guard)) detail::check_finite(where, "rewards", in);
    if (normalize && !detail::batch_zscore(advantages, eps)) {
      detail::check_finite(where, "rewards", in);  // unreachable for finite rewards
    }
    return metrics;
  }

  /// Owning form.
  template <class S>
  RLOOResult<std::remove_const_t<S>> operator()(SeqView<S> rewards, const Groups& groups) const {
    using T = std::remove_const_t<S>;
    RLOOResult<T> out{SeqArray<T>(rewards.size()), SeqArray<T>(rewards.size()), {}};
    out.metrics = compute(rewards, groups, SeqView<T>(out.advantages), SeqView<T>(out.baselines));
    return out;
  }

  template <class D>
  requires detail::EigenDense<D>
  auto operator()(const D& rewards, const Groups& groups) const {
    return (*this)(SeqView(rewards), groups);
  }
};

static_assert(std::is_aggregate_v<RLOO>, "configured with designated initializers");

/// What REINFORCE++ reads. Token views are `[B, T]`.
template <class S>
struct ReinforcePPInputs {
  /// [B] outcome reward R_i of each completion.
  SeqView<const S> rewards{};
  /// Log-probs of the rollout policy (π_old); needed when beta > 0.
  TokenView<const S> old_logp{};
  /// Log-probs of the reference policy; needed when beta > 0.
  TokenView<const S> ref_logp{};
  /// Valid tokens (null: all). Gives T when beta == 0 and the log-probs are absent.
  MaskView mask{};
};

struct ReinforcePPMetrics {
  double reward_mean = 0.0;  ///< mean R_i (after the baseline, if any)
  double kl_mean = 0.0;      ///< mean k1 = old − ref over valid tokens (0 when beta == 0)
  double return_mean = 0.0;  ///< mean of the returns-to-go over valid tokens
  double return_std = 0.0;   ///< their std used by the whitening (biased or unbiased)
  double count = 0.0;        ///< valid tokens
  double frac_reward_zero_std = 0.0;  ///< baseline variant: share of constant groups
};

template <class S>
struct ReinforcePPResult {
  TokenArray<S> advantages;  ///< [B, T], whitened returns (0 at masked positions)
  TokenArray<S> returns;     ///< [B, T], returns-to-go before whitening (0 at masked positions)
  ReinforcePPMetrics metrics{};
};

/// REINFORCE++ (OpenRLHF `reinforce`, verl `reinforce_plus_plus`) token advantages:
///   u_it = −β·k1_it + [t = last valid token of i]·R_i,   k1_it = old_logp_it − ref_logp_it,
///   G_it = Σ_{valid s ≥ t} γ^(valid steps from t to s) u_is,   Â = whiten(G) over the valid
///   tokens of the whole batch.
/// `baseline` (REINFORCE++-baseline, OpenRLHF `reinforce_baseline`) replaces R_i by R_i − μ_g
/// first and needs the groups. Whitening: `openrlhf` (G − μ)·rsqrt(max(σ²_biased, eps)) (default),
/// `verl` (G − μ)/sqrt(σ²_unbiased + eps) (masked_whiten), or `none` (Â = G). Masked positions are
/// never read; the running return passes through them undiscounted (as polo's GAE skips them).
/// With γ = 1 that is OpenRLHF's sum; verl restarts the return at a masked position, which
/// differs only for masked tokens inside a response. k1 is the plain subtraction old − ref
/// (estimators may include only core, so losses/kl.hpp is not used).
struct ReinforcePP {
  enum class Whitening : std::uint8_t { openrlhf, verl, none };

  double beta = 0.01;     ///< KL coefficient in the reward, >= 0 (OpenRLHF init_kl_coef)
  double gamma = 1.0;     ///< discount in [0, 1]
  bool baseline = false;  ///< subtract the group mean of R (REINFORCE++-baseline)
  Whitening whitening = Whitening::openrlhf;
  double whiten_eps = 1e-8;  ///< >= 0: floor of the variance (openrlhf) or added to it (verl)

  void validate(std::string_view where) const {
    detail::require_nonnegative(where, "beta", beta);
    detail::require_in(where, "gamma", gamma, 0.0, 1.0);
    detail::require_eps(where, "whiten_eps", whiten_eps);
    if (whitening != Whitening::openrlhf && whitening != Whitening::verl &&
        whitening != Whitening::none) {
      detail::fail_argument(where, "whitening", "openrlhf, verl or none",
                            static_cast<int>(static_cast<std::uint8_t>(whitening)));
    }
  }

  /// Zero-allocation form without groups (`baseline` must be false).
  template <class S>
  ReinforcePPMetrics compute(const ReinforcePPInputs<S>& in,
                             TokenView<std::type_identity_t<S>> advantages,
                             TokenView<std::type_identity_t<S>> returns = {}) const {
    return run(in, nullptr, advantages, returns);
  }

  /// Zero-allocation form: writes `advantages` and, when given, `returns` ([B, T]).
  template <class S>
  ReinforcePPMetrics compute(const ReinforcePPInputs<S>& in, const Groups& groups,
                             TokenView<std::type_identity_t<S>> advantages,
                             TokenView<std::type_identity_t<S>> returns = {}) const {
    return run(in, &groups, advantages, returns);
  }

  template <class S>
  ReinforcePPResult<S> operator()(const ReinforcePPInputs<S>& in) const {
    ReinforcePPResult<S> out = allocate(in);
    out.metrics = compute(in, TokenView<S>(out.advantages), TokenView<S>(out.returns));
    return out;
  }

  template <class S>
  ReinforcePPResult<S> operator()(const ReinforcePPInputs<S>& in, const Groups& groups) const {
    ReinforcePPResult<S> out = allocate(in);
    out.metrics = compute(in, groups, TokenView<S>(out.advantages), TokenView<S>(out.returns));
    return out;
  }

 private:
  template <class S>
  static Index width(const ReinforcePPInputs<S>& in) {
    if (!in.old_logp.is_null()) return in.old_logp.cols();
    if (!in.ref_logp.is_null()) return in.ref_logp.cols();
    return in.mask.cols();
  }

  template <class S>
  static ReinforcePPResult<S> allocate(const ReinforcePPInputs<S>& in) {
    const Index b = in.rewards.size();
    const Index t = width(in);
    return {TokenArray<S>::Zero(b, t), TokenArray<S>::Zero(b, t), {}};
  }

  template <class S>
  void check_inputs(std::string_view where, const ReinforcePPInputs<S>& in, const Groups* groups,
                    TokenView<S> advantages, TokenView<S> returns) const {
    const Index b = in.rewards.size();
    if (in.old_logp.is_null() && in.ref_logp.is_null() && in.mask.is_null()) {
      detail::fail_argument(where, "old_logp, ref_logp or mask", "given (they give T)", "none");
    }
    const Index t = width(in);
    if (beta > 0.0) {
      detail::require_present(where, "old_logp", in.old_logp, "beta > 0 puts k1 in the reward");
      detail::require_present(where, "ref_logp", in.ref_logp, "beta > 0 puts k1 in the reward");
    }
    if (!in.old_logp.is_null()) detail::require_shape(where, "old_logp", in.old_logp, b, t);
    if (!in.ref_logp.is_null()) detail::require_shape(where, "ref_logp", in.ref_logp, b, t);
    detail::require_mask_shape(where, in.mask, b, t);
    detail::require_shape(where, "advantages", advantages, b, t);
    if (!returns.is_null()) detail::require_shape(where, "returns", returns, b, t);
    if (baseline) {
      if (groups == nullptr) {
        detail::fail_argument(where, "groups", "given (baseline subtracts the group mean)", "none");
      }
      groups->require_covers(where, b);
    }
  }

  template <class S>
  ReinforcePPMetrics run(const ReinforcePPInputs<S>& in, const Groups* groups,
                         TokenView<S> advantages, TokenView<S> returns) const {
    constexpr std::string_view where = "polo::ReinforcePP";
    validate(where);
    check_inputs(where, in, groups, advantages, returns);
    const Index n = in.rewards.size();
    const Index t_len = advantages.cols();
    const bool shaped = beta > 0.0;
    ReinforcePPMetrics metrics;

    double kl_sum = 0.0;
    double reward_sum = 0.0;
    double count = 0.0;
    double ret_sum = 0.0;
    Index group = 0;
    Index zero = 0;
    detail::Moments moments;
    // Pass 1: returns-to-go into `advantages` (whitened in place in pass 2).
    in.mask.visit([&](auto valid) {
      for (Index i = 0; i < n; ++i) {
        double r = static_cast<double>(in.rewards[i]);
        if (baseline) {
          if (i == groups->begin(group)) {
            moments = detail::seq_moments(in.rewards, groups->begin(group), groups->end(group));
            if (moments.constant) ++zero;
          }
          r = moments.constant ? 0.0 : r - moments.mean;
          if (i + 1 == groups->end(group)) ++group;
        }
        reward_sum += r;
        const S* old_row = shaped ? in.old_logp.row(i) : nullptr;
        const S* ref_row = shaped ? in.ref_logp.row(i) : nullptr;
        S* adv = advantages.row(i);
        double running = 0.0;
        bool last = true;  // the first valid token met walking backwards gets R_i
        for (Index t = t_len - 1; t >= 0; --t) {
          if (!valid(i, t)) {
            adv[t] = S{0};
            continue;
          }
          double u = 0.0;
          if (shaped) {
            const double k1 = static_cast<double>(old_row[t]) - static_cast<double>(ref_row[t]);
            kl_sum += k1;
            u = -beta * k1;
          }
          if (last) {
            u += r;
            last = false;
          }
          running = u + gamma * running;
          ret_sum += running;
          count += 1.0;
          adv[t] = static_cast<S>(running);
        }
      }
    });
    const double mean = count > 0.0 ? ret_sum / count : 0.0;
    double ss = 0.0;
    in.mask.visit([&](auto valid) {
      for (Index i = 0; i < n; ++i) {
        const S* adv = advantages.row(i);
        for (Index t = 0; t < t_len; ++t) {
          if (valid(i, t)) {
            const double d = static_cast<double>(adv[t]) - mean;
            ss += d * d;
          }
        }
      }
    });
    if (!std::isfinite(ss) || !std::isfinite(mean)) report_nonfinite(where, in);

    double scale = 1.0;
    double shift = mean;  // none: keep the returns as they are
    double var = count > 0.0 ? ss / count : 0.0;
    if (whitening == Whitening::openrlhf) {
      const double floor = std::max(var, whiten_eps);
      scale = floor > 0.0 ? 1.0 / std::sqrt(floor) : 0.0;
      shift = 0.0;
    } else if (whitening == Whitening::verl) {
      var = count > 1.0 ? ss / (count - 1.0) : 0.0;
      const double denom = std::sqrt(var + whiten_eps);
      scale = denom > 0.0 ? 1.0 / denom : 0.0;
      shift = 0.0;
    }
    in.mask.visit([&](auto valid) {
      for (Index i = 0; i < n; ++i) {
        S* adv = advantages.row(i);
        S* ret = returns.is_null() ? nullptr : returns.row(i);
        for (Index t = 0; t < t_len; ++t) {
          if (!valid(i, t)) {
            if (ret != nullptr) ret[t] = S{0};
            continue;
          }
          const auto g = static_cast<double>(adv[t]);
          if (ret != nullptr) ret[t] = static_cast<S>(g);
          adv[t] = static_cast<S>((g - mean) * scale + shift);
        }
      }
    });

    metrics.reward_mean = n > 0 ? reward_sum / static_cast<double>(n) : 0.0;
    metrics.kl_mean = count > 0.0 ? kl_sum / count : 0.0;
    metrics.return_mean = mean;
    metrics.return_std = std::sqrt(var);
    metrics.count = count;
    if (baseline && groups->count() > 0) {
      metrics.frac_reward_zero_std =
          static_cast<double>(zero) / static_cast<double>(groups->count());
    }
    return metrics;
  }

  template <class S>
  void report_nonfinite(std::string_view where, const ReinforcePPInputs<S>& in) const {
    detail::check_finite(where, "rewards", in.rewards);
    if (beta > 0.0) {
      detail::check_finite(where, "old_logp", in.old_logp, in.mask);
      detail::check_finite(where, "ref_logp", in.ref_logp, in.mask);
    }
  }
};

static_assert(std::is_aggregate_v<ReinforcePP>, "configured with designated initializers");

/// Several reward functions per completion: rewards `[B, K]` (a row per completion, a column per
/// reward function) with weights `[K]` (null: all 1), as TRL's `multi_objective_aggregation`:
///   sum_then_normalize (default): S_i = Σ_k w_k R_ik, then `group` scaling (GroupAdvantage);
///   normalize_then_sum (GDPO):    z_ik = (R_ik − μ_gk)/(σ_gk + ε) per reward function and group,
///                                 S_i = Σ_k w_k z_ik, Â = (S − mean_B)/(std_B + ε),
/// stds unbiased, ε = `group.eps`. With normalize_then_sum a group in which every reward function
/// is constant gets exactly 0 and counts in `frac_reward_zero_std`; `group.scale` is not used.
/// The weighted sums are accumulated in the output's scalar.
struct MultiRewardAdvantage {
  enum class Aggregation : std::uint8_t { sum_then_normalize, normalize_then_sum };

  Aggregation aggregation = Aggregation::sum_then_normalize;
  GroupAdvantage group{};  ///< scaling, eps and singleton policy

  void validate(std::string_view where) const {
    group.validate(where);
    if (aggregation != Aggregation::sum_then_normalize &&
        aggregation != Aggregation::normalize_then_sum) {
      detail::fail_argument(where, "aggregation", "sum_then_normalize or normalize_then_sum",
                            static_cast<int>(static_cast<std::uint8_t>(aggregation)));
    }
  }

  /// Zero-allocation form: writes `advantages` [B] and, when given, the group means and unbiased
  /// stds of the weighted sums S_i (the metrics too are over S_i).
  template <class S>
  GroupAdvantageMetrics compute(TokenView<S> rewards, SeqView<const double> weights,
                                const Groups& groups, SeqView<std::remove_const_t<S>> advantages,
                                std::span<double> group_means = {},
                                std::span<double> group_stds = {}) const {
    using T = std::remove_const_t<S>;
    constexpr std::string_view where = "polo::MultiRewardAdvantage";
    validate(where);
    const TokenView<const T> in(rewards);
    const Index n = in.rows();
    const Index k_len = in.cols();
    if (k_len < 1) detail::fail_argument(where, "rewards columns", ">= 1 reward function", k_len);
    if (!weights.is_null()) {
      detail::require_shape(where, "weights", weights, k_len);
      for (Index k = 0; k < k_len; ++k) {
        if (!std::isfinite(weights[k])) {
          detail::fail_argument(where, fmt::format("weights[{}]", k), "finite", weights[k]);
        }
      }
    }
    groups.require_covers(where, n);
    detail::require_shape(where, "advantages", advantages, n);
    const auto weight = [&](Index k) { return weights.is_null() ? 1.0 : weights[k]; };

    if (aggregation == Aggregation::sum_then_normalize) {
      for (Index i = 0; i < n; ++i) {
        const T* row = in.row(i);
        double s = 0.0;
        for (Index k = 0; k < k_len; ++k)
          s += weight(k) * static_cast<double>(row[k]);
        advantages[i] = static_cast<T>(s);
      }
      if (!all_finite(advantages)) detail::check_finite(where, "rewards", in, MaskView{});
      return group.compute_at(where, SeqView<const T>(advantages), groups, advantages, group_means,
                              group_stds);
    }

    detail::require_group_sizes(where, groups, group.allow_singleton_groups);
    detail::require_group_span(where, "group_means", group_means, groups.count());
    detail::require_group_span(where, "group_stds", group_stds, groups.count());
    Index zero = 0;
    for (Index g = 0; g < groups.count(); ++g) {
      const Index b = groups.begin(g);
      const Index e = groups.end(g);
      bool flat = true;
      for (Index i = b; i < e; ++i)
        advantages[i] = T{0};
      for (Index k = 0; k < k_len; ++k) {
        const SeqView<const T> column(in.data() + k, n, in.stride());
        const detail::Moments m = detail::seq_moments(column, b, e);
        if (m.constant || e - b == 1) continue;  // contributes exactly 0
        flat = false;
        const double inv = 1.0 / (m.stddev + group.eps);  // stddev > 0 here
        for (Index i = b; i < e; ++i) {
          const double z = (static_cast<double>(column[i]) - m.mean) * inv;
          advantages[i] = static_cast<T>(static_cast<double>(advantages[i]) + weight(k) * z);
        }
      }
      if (flat) ++zero;
    }
    if (!all_finite(advantages)) detail::check_finite(where, "rewards", in, MaskView{});
    // The batch z-score, keeping flat groups at exactly 0 (their sums are 0 and the batch mean is
    // 0 up to rounding).
    const detail::Moments m = detail::seq_moments(SeqView<const T>(advantages), 0, n);
    if (!m.constant) {
      const double denom = m.stddev + group.eps;
      const double inv = denom > 0.0 ? 1.0 / denom : 0.0;
      for (Index g = 0; g < groups.count(); ++g) {
        if (group_is_flat(in, groups.begin(g), groups.end(g))) continue;
        for (Index i = groups.begin(g); i < groups.end(g); ++i) {
          advantages[i] = static_cast<T>((static_cast<double>(advantages[i]) - m.mean) * inv);
        }
      }
    }
    return sum_metrics(in, weight, groups, zero, group_means, group_stds);
  }

  /// Owning form.
  template <class S>
  GroupAdvantageResult<std::remove_const_t<S>> operator()(TokenView<S> rewards,
                                                          SeqView<const double> weights,
                                                          const Groups& groups) const {
    GroupAdvantageResult<std::remove_const_t<S>> out;
    out.advantages.resize(rewards.rows());
    out.group_means.resize(static_cast<std::size_t>(std::max<Index>(groups.count(), 0)));
    out.group_stds.resize(out.group_means.size());
    out.metrics = compute(rewards, weights, groups, SeqView<std::remove_const_t<S>>(out.advantages),
                          std::span<double>(out.group_means), std::span<double>(out.group_stds));
    return out;
  }

  /// Owning form from an Eigen `[B, K]` row-major array.
  template <class D>
  requires detail::EigenDense<D>
  auto operator()(const D& rewards, SeqView<const double> weights, const Groups& groups) const {
    return (*this)(TokenView(rewards), weights, groups);
  }

 private:
  /// Metrics and group statistics of the weighted sums, recomputed per row (no storage).
  template <class T, class W>
  static GroupAdvantageMetrics sum_metrics(TokenView<const T> in, const W& weight,
                                           const Groups& groups, Index zero,
                                           std::span<double> group_means,
                                           std::span<double> group_stds) {
    const auto sum_of = [&](Index i) {
      double s = 0.0;
      for (Index k = 0; k < in.cols(); ++k)
        s += weight(k) * static_cast<double>(in(i, k));
      return s;
    };
    const auto moments = [&](Index b, Index e) {
      double sum = 0.0;
      for (Index i = b; i < e; ++i)
        sum += sum_of(i);
      const double mean = e > b ? sum / static_cast<double>(e - b) : 0.0;
      double ss = 0.0;
      for (Index i = b; i < e; ++i)
        ss += (sum_of(i) - mean) * (sum_of(i) - mean);
      const double sd = e - b > 1 ? std::sqrt(ss / static_cast<double>(e - b - 1)) : 0.0;
      return detail::Moments{mean, sd, false};
    };
    const detail::Moments all = moments(0, in.rows());
    double std_sum = 0.0;
    for (Index g = 0; g < groups.count(); ++g) {
      const detail::Moments gm = moments(groups.begin(g), groups.end(g));
      const auto k = static_cast<std::size_t>(g);
      if (!group_means.empty()) group_means[k] = gm.mean;
      if (!group_stds.empty()) group_stds[k] = gm.stddev;
      std_sum += gm.stddev;
    }
    return detail::batch_metrics(all, groups, zero, std_sum);
  }

  template <class T>
  static bool all_finite(SeqView<T> x) {
    double guard = 0.0;
    for (Index i = 0; i < x.size(); ++i)
      guard += 0.0 * static_cast<double>(x[i]);
    return std::isfinite(guard);
  }

  template <class T>
  static bool group_is_flat(TokenView<const T> in, Index b, Index e) {
    if (e - b == 1) return true;
    for (Index k = 0; k < in.cols(); ++k) {
      const SeqView<const T> column(in.data() + k, in.rows(), in.stride());
      if (!detail::seq_moments(column, b, e).constant) return false;
    }
    return true;
  }
};

static_assert(std::is_aggregate_v<MultiRewardAdvantage>, "configured with designated initializers");

}  // namespace polo

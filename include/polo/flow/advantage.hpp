#pragma once
// The advantages AWM and Flow-GRPO train on: group-relative rewards (polo::GroupAdvantage; the AWM
// code divides by the batch std, `global_std = True`), clipped to [-clip, clip] and rescaled so
// that the bound becomes `max` (AWM: clip 5, max 1, so A in [-1, 1]; Flow-GRPO: max = clip, the
// clip alone). ALGORITHMS ranking_flow_offline_meta.md §2(b).

#include <algorithm>
#include <cmath>
#include <string_view>
#include <type_traits>

#include "polo/advantage/group.hpp"
#include "polo/core/error.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo {

struct ClippedGroupAdvantage {
  /// Per-group mean, batch std, eps 1e-4 (AWM's PerPromptStatTracker with global_std).
  GroupAdvantage group{.scale = GroupAdvantage::Scale::batch};
  double clip = 5.0;  ///< adv_clip_max (> 0)
  double max = 1.0;   ///< advantage_max: the clipped value c maps to max (> 0)

  static constexpr std::string_view name = "polo::ClippedGroupAdvantage";

  void validate() const {
    detail::require_positive(name, "clip", clip);
    detail::require_positive(name, "max", max);
    group.validate(name);
  }

  /// Writes A [B] (which may alias `rewards`).
  template <class S>
  GroupAdvantageMetrics compute(SeqView<S> rewards, const Groups& groups,
                                SeqView<std::remove_const_t<S>> advantages) const {
    validate();
    const GroupAdvantageMetrics m = group.compute_at(name, rewards, groups, advantages, {}, {});
    const double scale = max / clip;
    for (Index i = 0; i < advantages.size(); ++i) {
      const double a = std::clamp(static_cast<double>(advantages[i]), -clip, clip);
      advantages[i] = static_cast<std::remove_const_t<S>>(a * scale);
    }
    return m;
  }

  /// Owning form.
  template <class S>
  GroupAdvantageResult<std::remove_const_t<S>> operator()(SeqView<S> rewards,
                                                          const Groups& groups) const {
    GroupAdvantageResult<std::remove_const_t<S>> out;
    out.advantages.resize(rewards.size());
    out.metrics = compute(rewards, groups, SeqView<std::remove_const_t<S>>(out.advantages));
    return out;
  }
  template <class D>
  requires detail::EigenDense<D>
  auto operator()(const D& rewards, const Groups& groups) const {
    return (*this)(SeqView(rewards), groups);
  }
};

/// AWM's defaults: batch std, clip 5, rescaled to [-1, 1].
inline ClippedGroupAdvantage awm_advantage() {
  return {};
}

/// Flow-GRPO's clip to [-5, 5] without the rescale (its per-prompt tracker may use the group std:
/// set `group.scale` to match).
inline ClippedGroupAdvantage flow_grpo_advantage() {
  return {.clip = 5.0, .max = 5.0};
}

}  // namespace polo

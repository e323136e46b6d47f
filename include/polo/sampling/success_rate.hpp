#pragma once
// Online per-prompt success-rate estimate that Knapsack RL allocates rollouts from (the official
// code's sample state, liziniu/KnapsackRL verl/utils/dataset/rl_dataset.py): after each visit the
// estimate is that visit's success rate, or, when the visit had fewer rewards than the buffer, the
// mean of the most recent `reward_buffer_length` rewards across visits; it becomes valid once
// `min_buffer_length` rewards were seen. Optional Beta pseudo-counts (0 by default, as the
// reference) shrink the estimate towards a prior so that a prompt solved 2 times out of 2 is not
// taken for one that is always solved.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// Caller-owned state: one estimate per prompt of a data set (or of any fixed prompt pool).
class SuccessRateTracker {
 public:
  /// A tracker of no prompts.
  SuccessRateTracker() = default;

  /// `n_prompts` prompts, none seen yet; the official defaults are 16 and 8. With pseudo-counts
  /// a = `prior_successes` and b = `prior_failures` the estimate is the mean of the Beta(a + s,
  /// b + f) posterior of the rewards it averages, (s + a) / (s + f + a + b); a = b = 1 is
  /// Laplace's rule of succession, a = b = 0 the reference's plain rate.
  explicit SuccessRateTracker(Index n_prompts, Index reward_buffer_length = 16,
                              Index min_buffer_length = 8, double prior_successes = 0.0,
                              double prior_failures = 0.0)
      : buffer_length_(reward_buffer_length),
        min_buffer_length_(min_buffer_length),
        prior_successes_(prior_successes),
        prior_failures_(prior_failures) {
    constexpr std::string_view where = "polo::SuccessRateTracker";
    if (n_prompts < 0) detail::fail_argument(where, "n_prompts", ">= 0", n_prompts);
    if (reward_buffer_length < 1) {
      detail::fail_argument(where, "reward_buffer_length", ">= 1", reward_buffer_length);
    }
    if (min_buffer_length < 0) {
      detail::fail_argument(where, "min_buffer_length", ">= 0", min_buffer_length);
    }
    if (!(prior_successes >= 0.0 && std::isfinite(prior_successes))) {
      detail::fail_argument(where, "prior_successes", "finite and >= 0", prior_successes);
    }
    if (!(prior_failures >= 0.0 && std::isfinite(prior_failures))) {
      detail::fail_argument(where, "prior_failures", "finite and >= 0", prior_failures);
    }
    const auto n = static_cast<std::size_t>(n_prompts);
    // With no reward yet the posterior mean is the prior's; the reference's plain rate says 0.
    const double prior = prior_successes + prior_failures;
    estimate_.assign(n, prior > 0.0 ? prior_successes / prior : 0.0);
    concentration_.assign(n, prior);
    // As the reference: an unseen prompt is valid only when no minimum is asked for.
    valid_.assign(n, min_buffer_length == 0 ? 1 : 0);
    count_.assign(n, 0);
    head_.assign(n, 0);
    buffer_.assign(n * static_cast<std::size_t>(reward_buffer_length), 0);
  }

  /// Records one visit of `prompt`: its rewards, each mapped to 1 when > 0 and to 0 otherwise (the
  /// reference maps -1 and 0 to 0). A visit must have at least one reward; NaN is refused.
  void record(Index prompt, std::span<const double> rewards) { record_visit(prompt, rewards); }
  void record(Index prompt, std::span<const float> rewards) { record_visit(prompt, rewards); }

  void record(Index prompt, std::initializer_list<double> rewards) {
    record(prompt, std::span<const double>(rewards.begin(), rewards.size()));
  }

  /// The current estimate p̂ in [0, 1] (for a prompt never seen: 0 as the reference, or the
  /// prior mean a / (a + b) when pseudo-counts are set).
  [[nodiscard]] double estimate(Index prompt) const {
    check_prompt("polo::SuccessRateTracker::estimate", prompt);
    return estimate_[static_cast<std::size_t>(prompt)];
  }

  /// Whether at least `min_buffer_length` rewards were recorded for `prompt`.
  [[nodiscard]] bool valid(Index prompt) const {
    check_prompt("polo::SuccessRateTracker::valid", prompt);
    return valid_[static_cast<std::size_t>(prompt)] != 0;
  }

  /// Rewards recorded for `prompt` over all visits.
  [[nodiscard]] Index count(Index prompt) const {
    check_prompt("polo::SuccessRateTracker::count", prompt);
    return count_[static_cast<std::size_t>(prompt)];
  }

  /// The concentration a + b + m of the estimate's Beta posterior: the m rewards it averages
  /// plus the pseudo-counts (what the posterior_mixed_groups knapsack objective reads).
  [[nodiscard]] double concentration(Index prompt) const {
    check_prompt("polo::SuccessRateTracker::concentration", prompt);
    return concentration_[static_cast<std::size_t>(prompt)];
  }

  /// Every prompt's estimate, validity and concentration, in the layout
  /// `KnapsackBudget::allocate` takes.
  [[nodiscard]] std::span<const double> estimates() const noexcept { return estimate_; }
  [[nodiscard]] std::span<const double> concentrations() const noexcept { return concentration_; }
  [[nodiscard]] std::span<const std::uint8_t> validity() const noexcept { return valid_; }

  [[nodiscard]] Index size() const noexcept { return static_cast<Index>(estimate_.size()); }
  [[nodiscard]] Index reward_buffer_length() const noexcept { return buffer_length_; }
  [[nodiscard]] Index min_buffer_length() const noexcept { return min_buffer_length_; }
  [[nodiscard]] double prior_successes() const noexcept { return prior_successes_; }
  [[nodiscard]] double prior_failures() const noexcept { return prior_failures_; }

 private:
  template <class Scalar>
  void record_visit(Index prompt, std::span<const Scalar> rewards) {
    constexpr std::string_view where = "polo::SuccessRateTracker::record";
    check_prompt(where, prompt);
    if (rewards.empty()) detail::fail_argument(where, "rewards", "non-empty", "an empty span");
    const auto p = static_cast<std::size_t>(prompt);
    const auto length = static_cast<std::size_t>(buffer_length_);
    std::uint8_t* ring = buffer_.data() + p * length;
    // Check first so that a refused visit leaves the state as it was.
    for (std::size_t k = 0; k < rewards.size(); ++k) {
      const auto r = static_cast<double>(rewards[k]);
      if (std::isnan(r)) {
        throw nonfinite_error(std::string(where), "rewards", prompt, static_cast<Index>(k), r);
      }
    }
    Index successes = 0;
    for (const Scalar reward : rewards) {
      const std::uint8_t success = static_cast<double>(reward) > 0.0 ? 1 : 0;
      successes += success;
      ring[static_cast<std::size_t>(head_[p])] = success;
      head_[p] = (head_[p] + 1) % buffer_length_;
    }
    const auto visit = static_cast<Index>(rewards.size());
    count_[p] += visit;
    const double prior = prior_successes_ + prior_failures_;
    if (visit >= buffer_length_) {
      estimate_[p] = posterior_mean(successes, visit);
      concentration_[p] = static_cast<double>(visit) + prior;
    } else {
      // A short visit is noisy: use the most recent rewards across visits, up to the buffer.
      const Index filled = std::min(count_[p], buffer_length_);
      Index recent = 0;
      for (Index k = 0; k < filled; ++k) {
        recent += ring[static_cast<std::size_t>(k)];
      }
      estimate_[p] = posterior_mean(recent, filled);
      concentration_[p] = static_cast<double>(filled) + prior;
    }
    valid_[p] = count_[p] >= min_buffer_length_ ? 1 : 0;
  }

  [[nodiscard]] double posterior_mean(Index successes, Index rewards) const {
    return (static_cast<double>(successes) + prior_successes_) /
           (static_cast<double>(rewards) + prior_successes_ + prior_failures_);
  }

  void check_prompt(std::string_view where, Index prompt) const {
    if (prompt < 0 || prompt >= size()) {
      detail::fail_argument(where, "prompt", fmt::format("in [0, {})", size()), prompt);
    }
  }

  Index buffer_length_ = 16;
  Index min_buffer_length_ = 8;
  double prior_successes_ = 0.0;
  double prior_failures_ = 0.0;
  std::vector<double> estimate_;
  std::vector<double> concentration_;  // rewards behind the estimate plus the pseudo-counts
  std::vector<std::uint8_t> valid_;
  std::vector<Index> count_;
  std::vector<Index> head_;           // next write position in the prompt's ring of rewards
  std::vector<std::uint8_t> buffer_;  // [n_prompts, reward_buffer_length] most recent rewards
};

}  // namespace polo

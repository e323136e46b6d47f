#pragma once
// N copies of one environment stepped together, with auto-reset.
//
// Auto-reset convention (Gymnasium's same-step autoreset, as Stable-Baselines3 does it): when an
// environment's episode ends on a step, it is reset within that same step, so
//   - `observations[i]` is the FIRST observation of its new episode (what the policy acts on
//     next),
//   - `final_observations[i]` is the LAST observation of the episode that ended (for a truncated
//     episode, bootstrap from V(final_observations[i]); for a terminated one, do not bootstrap),
//   - `rewards[i]`, `terminated[i]` and `truncated[i]` belong to the step that ended it.
// For an environment that did not finish, `final_observations[i] == observations[i]`: it always
// holds the observation the step reached before any reset. Every step also lists the episodes
// it finished (environment, return, length), so trainers can report recent episode statistics.
// Environments are stepped and reset in index order from one generator, so a seed fixes a run.
// If an environment throws (say, on a bad action), the batch is left mid-step: reset it.

#include <cstddef>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo {

/// An episode that finished: which environment, its undiscounted return and its length.
struct EpisodeRecord {
  Index env = 0;
  double episode_return = 0.0;
  Index length = 0;
  bool terminated = false;  ///< false: truncated by a time limit
};

/// What one step of a `VectorEnv` produced, one entry per environment (see the header comment).
template <class Observation>
struct VectorStep {
  std::vector<Observation> observations;        ///< next observations (new episode's first)
  std::vector<Observation> final_observations;  ///< observations reached before any reset
  std::vector<double> rewards;
  std::vector<unsigned char> terminated;  ///< 1 where a terminal state was reached
  std::vector<unsigned char> truncated;   ///< 1 where a time limit cut the episode
  std::vector<EpisodeRecord> finished;    ///< episodes that ended on this step, by env index

  /// True where the episode ended on this step (terminated or truncated).
  [[nodiscard]] bool done(Index i) const noexcept {
    const auto k = static_cast<std::size_t>(i);
    return terminated[k] != 0 || truncated[k] != 0;
  }

  /// Sizes every buffer for `n` environments (allocates only when `n` grows).
  void resize(Index n) {
    const auto k = static_cast<std::size_t>(n);
    observations.resize(k);
    final_observations.resize(k);
    rewards.resize(k);
    terminated.resize(k);
    truncated.resize(k);
    finished.reserve(k);
    finished.clear();
  }
};

/// `n` copies of environment `E`, stepped in lockstep and reset automatically when an episode
/// ends. Steps allocate nothing once constructed.
template <Environment E>
class VectorEnv {
 public:
  using Env = E;
  using Observation = typename E::Observation;
  using Action = typename E::Action;
  using Step = VectorStep<Observation>;

  /// `n` copies of `prototype` (copied with its settings, e.g. `max_episode_steps`).
  explicit VectorEnv(Index n, const E& prototype = E{}) : n_(n) {
    if (n <= 0) detail::fail_argument("polo::VectorEnv", "n", "> 0", n);
    envs_.assign(static_cast<std::size_t>(n), prototype);
    returns_.assign(static_cast<std::size_t>(n), 0.0);
    lengths_.assign(static_cast<std::size_t>(n), 0);
    step_.resize(n);
  }

  /// Resets every environment (in index order) and returns the first observations.
  template <std::uniform_random_bit_generator G>
  const std::vector<Observation>& reset(G& gen) {
    for (std::size_t i = 0; i < envs_.size(); ++i) {
      step_.observations[i] = envs_[i].reset(gen);
      returns_[i] = 0.0;
      lengths_[i] = 0;
    }
    step_.final_observations = step_.observations;
    step_.finished.clear();
    started_ = true;
    return step_.observations;
  }

  /// Steps every environment with its action; finished ones are reset from `gen`. Returns the
  /// member buffers, valid until the next step or reset.
  template <std::uniform_random_bit_generator G>
  const Step& step(std::span<const Action> actions, G& gen) {
    step(actions, gen, step_);
    return step_;
  }

  /// As above, writing into a caller-owned `out` (resized to `size()` when it differs).
  template <std::uniform_random_bit_generator G>
  void step(std::span<const Action> actions, G& gen, Step& out) {
    if (!started_) {
      throw invalid_argument("polo::VectorEnv::step: call reset() before the first step");
    }
    if (static_cast<Index>(actions.size()) != n_) {
      detail::fail_argument("polo::VectorEnv::step", "actions.size()",
                            fmt::format("the number of environments ({})", n_), actions.size());
    }
    if (static_cast<Index>(out.observations.size()) != n_ ||
        static_cast<Index>(out.finished.capacity()) < n_) {
      out.resize(n_);
    }
    out.finished.clear();
    for (std::size_t i = 0; i < envs_.size(); ++i) {
      auto result = envs_[i].step(actions[i]);
      returns_[i] += static_cast<double>(result.reward);
      ++lengths_[i];
      out.rewards[i] = static_cast<double>(result.reward);
      out.terminated[i] = result.terminated ? 1 : 0;
      out.truncated[i] = result.truncated ? 1 : 0;
      out.final_observations[i] = std::move(result.observation);
      if (result.terminated || result.truncated) {
        out.finished.push_back({static_cast<Index>(i), returns_[i], lengths_[i],
                                static_cast<bool>(result.terminated)});
        returns_[i] = 0.0;
        lengths_[i] = 0;
        out.observations[i] = envs_[i].reset(gen);
      } else {
        out.observations[i] = out.final_observations[i];
      }
    }
  }

  [[nodiscard]] Index size() const noexcept { return n_; }
  [[nodiscard]] E& env(Index i) { return envs_[static_cast<std::size_t>(i)]; }
  [[nodiscard]] const E& env(Index i) const { return envs_[static_cast<std::size_t>(i)]; }
  /// Return and length so far of each environment's current episode.
  [[nodiscard]] double episode_return(Index i) const {
    return returns_[static_cast<std::size_t>(i)];
  }
  [[nodiscard]] Index episode_length(Index i) const {
    return lengths_[static_cast<std::size_t>(i)];
  }

 private:
  Index n_;
  std::vector<E> envs_;
  std::vector<double> returns_;
  std::vector<Index> lengths_;
  Step step_;
  bool started_ = false;
};

/// The last `capacity` finished episodes (a ring buffer), for "mean return of the last 20".
class RecentEpisodes {
 public:
  explicit RecentEpisodes(Index capacity = 20) : capacity_(capacity) {
    if (capacity <= 0) detail::fail_argument("polo::RecentEpisodes", "capacity", "> 0", capacity);
    records_.reserve(static_cast<std::size_t>(capacity));
  }

  void add(const EpisodeRecord& record) {
    if (static_cast<Index>(records_.size()) < capacity_) {
      records_.push_back(record);
    } else {
      records_[static_cast<std::size_t>(next_)] = record;
    }
    next_ = (next_ + 1) % capacity_;
    ++total_;
  }
  void add(std::span<const EpisodeRecord> records) {
    for (const auto& r : records) {
      add(r);
    }
  }

  /// Episodes held (at most `capacity`).
  [[nodiscard]] Index size() const noexcept { return static_cast<Index>(records_.size()); }
  [[nodiscard]] bool empty() const noexcept { return records_.empty(); }
  /// Episodes ever added.
  [[nodiscard]] Index total() const noexcept { return total_; }
  /// Mean return of the held episodes; NaN when there are none.
  [[nodiscard]] double mean_return() const noexcept {
    if (records_.empty()) return std::numeric_limits<double>::quiet_NaN();
    double sum = 0.0;
    for (const auto& r : records_) {
      sum += r.episode_return;
    }
    return sum / static_cast<double>(records_.size());
  }
  /// Mean length of the held episodes; NaN when there are none.
  [[nodiscard]] double mean_length() const noexcept {
    if (records_.empty()) return std::numeric_limits<double>::quiet_NaN();
    double sum = 0.0;
    for (const auto& r : records_) {
      sum += static_cast<double>(r.length);
    }
    return sum / static_cast<double>(records_.size());
  }

 private:
  Index capacity_;
  Index next_ = 0;
  Index total_ = 0;
  std::vector<EpisodeRecord> records_;
};

}  // namespace polo

#include "polo/envs/vector_env.hpp"

#include <cmath>
#include <vector>

#include "polo/envs/cartpole.hpp"
#include "test_support.hpp"

namespace vector_env_test {

using polo_test::Contains;

/// Observation = steps taken in the episode plus the reset draw's fraction; terminates after
/// `terminal_at` steps (when positive) and truncates after `limit`. Reward = 10 * action + 1.
struct CountingEnv {
  using Observation = double;
  using Action = int;
  int terminal_at = 0;
  int limit = 1000;
  int count = 0;
  double start = 0.0;

  Observation reset(polo::Rng& gen) {
    count = 0;
    start = polo::uniform(gen);
    return start;
  }
  polo::StepResult<Observation> step(const Action& action) {
    ++count;
    polo::StepResult<Observation> r;
    r.observation = start + count;
    r.reward = 10.0 * action + 1.0;
    r.terminated = terminal_at > 0 && count >= terminal_at;
    r.truncated = count >= limit;
    return r;
  }
};
static_assert(polo::Environment<CountingEnv>);

TEST_CASE("VectorEnv: auto-reset keeps the final observation", "[envs]") {
  CountingEnv proto;
  proto.terminal_at = 2;
  polo::VectorEnv<CountingEnv> envs(2, proto);
  envs.env(1).terminal_at = 0;  // env 1 only truncates ...
  envs.env(1).limit = 3;        // ... after 3 steps

  polo::Rng gen(7);
  polo::Rng ref(7);
  const auto& first = envs.reset(gen);
  REQUIRE(first.size() == 2);
  const double start0 = polo::uniform(ref);
  const double start1 = polo::uniform(ref);
  CHECK(first[0] == start0);
  CHECK(first[1] == start1);

  const std::vector<int> actions{1, 0};
  // Step 1: nothing ends.
  const auto* s = &envs.step(actions, gen);
  CHECK(s->observations[0] == start0 + 1);
  CHECK(s->final_observations[0] == start0 + 1);
  CHECK(s->rewards[0] == 11.0);
  CHECK(s->rewards[1] == 1.0);
  CHECK_FALSE(s->done(0));
  CHECK(s->finished.empty());

  // Step 2: env 0 terminates and is reset within the step.
  s = &envs.step(actions, gen);
  const double restart0 = polo::uniform(ref);
  CHECK(s->terminated[0] == 1);
  CHECK(s->truncated[0] == 0);
  CHECK(s->final_observations[0] == start0 + 2);  // the last observation of the episode
  CHECK(s->observations[0] == restart0);          // the first of the next one
  CHECK(s->rewards[0] == 11.0);                   // the reward of the terminating step
  REQUIRE(s->finished.size() == 1);
  CHECK(s->finished[0].env == 0);
  CHECK(s->finished[0].episode_return == 22.0);
  CHECK(s->finished[0].length == 2);
  CHECK(s->finished[0].terminated);
  CHECK(envs.episode_length(0) == 0);
  CHECK(envs.episode_return(0) == 0.0);
  CHECK(s->observations[1] == start1 + 2);

  // Step 3: env 1 is truncated (bootstrap from its final observation), env 0 runs on.
  s = &envs.step(actions, gen);
  const double restart1 = polo::uniform(ref);
  CHECK(s->observations[0] == restart0 + 1);
  CHECK(s->truncated[1] == 1);
  CHECK(s->terminated[1] == 0);
  CHECK(s->done(1));
  CHECK(s->final_observations[1] == start1 + 3);
  CHECK(s->observations[1] == restart1);
  REQUIRE(s->finished.size() == 1);
  CHECK(s->finished[0].env == 1);
  CHECK(s->finished[0].episode_return == 3.0);
  CHECK(s->finished[0].length == 3);
  CHECK_FALSE(s->finished[0].terminated);
  CHECK(envs.episode_length(0) == 1);
}

TEST_CASE("VectorEnv: matches CartPoles stepped one by one", "[envs]") {
  constexpr polo::Index n = 3;
  polo::VectorEnv<polo::CartPole> envs(n);
  std::vector<polo::CartPole> manual(n);
  polo::Rng gen(11);
  polo::Rng ref(11);
  envs.reset(gen);
  for (auto& e : manual)
    e.reset(ref);

  polo::RecentEpisodes recent(4);
  std::vector<int> actions(n);
  std::vector<double> manual_returns(n, 0.0);
  polo::Index finished = 0;
  for (int t = 0; t < 200; ++t) {
    for (polo::Index i = 0; i < n; ++i)
      actions[i] = (t + i) % 3 == 0 ? 0 : 1;
    const auto& s = envs.step(actions, gen);
    polo::Index finished_here = 0;
    for (polo::Index i = 0; i < n; ++i) {
      const auto r = manual[i].step(actions[i]);
      manual_returns[i] += r.reward;
      CHECK(s.final_observations[i] == r.observation);
      CHECK(static_cast<bool>(s.terminated[i]) == r.terminated);
      CHECK(static_cast<bool>(s.truncated[i]) == r.truncated);
      if (r.terminated || r.truncated) {
        REQUIRE(finished_here < static_cast<polo::Index>(s.finished.size()));
        const auto& rec = s.finished[finished_here++];
        CHECK(rec.env == i);
        CHECK(rec.episode_return == manual_returns[i]);
        CHECK(rec.length == manual[i].elapsed_steps());
        manual_returns[i] = 0.0;
        CHECK(s.observations[i] == manual[i].reset(ref));
      } else {
        CHECK(s.observations[i] == r.observation);
      }
    }
    CHECK(finished_here == static_cast<polo::Index>(s.finished.size()));
    recent.add(s.finished);
    finished += finished_here;
  }
  CHECK(finished > 4);  // a mostly-right pushing policy falls within a few dozen steps
  CHECK(recent.total() == finished);
  CHECK(recent.size() == 4);
  CHECK(recent.mean_return() > 0.0);
  CHECK(recent.mean_return() == recent.mean_length());  // reward 1 per step
}

TEST_CASE("VectorEnv: same seed, same rollout; caller-owned buffers", "[envs]") {
  auto rollout = [](std::uint64_t seed) {
    polo::VectorEnv<polo::CartPole> envs(4);
    polo::Rng gen(seed);
    envs.reset(gen);
    polo::VectorEnv<polo::CartPole>::Step out;
    std::vector<polo::CartPole::Observation> trace;
    std::vector<int> actions(4);
    for (int t = 0; t < 100; ++t) {
      for (int i = 0; i < 4; ++i)
        actions[i] = static_cast<int>(polo::uniform_int(gen, 2));
      envs.step(actions, gen, out);
      trace.insert(trace.end(), out.observations.begin(), out.observations.end());
    }
    return trace;
  };
  CHECK(rollout(5) == rollout(5));
  CHECK(rollout(5) != rollout(6));
}

TEST_CASE("VectorEnv and RecentEpisodes: errors and edge cases", "[envs]") {
  CHECK_THROWS_WITH(polo::VectorEnv<polo::CartPole>(0), Contains("n must be > 0"));
  polo::VectorEnv<polo::CartPole> envs(2);
  polo::Rng gen(1);
  const std::vector<int> two{0, 1};
  CHECK_THROWS_WITH(envs.step(two, gen), Contains("reset"));
  envs.reset(gen);
  const std::vector<int> three{0, 1, 0};
  CHECK_THROWS_WITH(envs.step(three, gen), Contains("actions.size()") && Contains("got 3"));
  const std::vector<int> bad{0, 5};
  CHECK_THROWS_WITH(envs.step(bad, gen), Contains("action") && Contains("got 5"));

  polo::RecentEpisodes recent(2);
  CHECK(recent.empty());
  CHECK(std::isnan(recent.mean_return()));
  recent.add({0, 1.0, 1, true});
  recent.add({0, 2.0, 2, true});
  recent.add({0, 6.0, 6, false});  // drops the oldest
  CHECK(recent.mean_return() == 4.0);
  CHECK(recent.mean_length() == 4.0);
  CHECK(recent.total() == 3);
  CHECK_THROWS_WITH(polo::RecentEpisodes(0), Contains("capacity"));
}

}  // namespace vector_env_test

// [smoke] The srpo_pit trainer: SRPO's self-improvement policy and PIT's gap reward, trained on
// the same offline pairs, each revise a reference response into a better one. The reference
// improver (and any learner that does not learn) wins exactly half the time.

#include "test_support.hpp"
#include "trainers/srpo_pit_tabular.hpp"

namespace srpo_pit_test {

TEST_CASE("SRPO and PIT each learn to improve a reference response", "[smoke][srpo][pit]") {
  for (const std::uint64_t seed : {1U, 2U, 3U}) {
    polo::examples::SelfImproveConfig config;
    config.seed = seed;
    const auto s = polo::examples::run_self_improvement(config);
    INFO("seed " << seed << ": before " << s.reference_win_rate << ", srpo " << s.srpo_win_rate
                 << ", pit " << s.pit_win_rate);
    CHECK(s.reference_win_rate == Approx(0.5).margin(1e-12));
    CHECK(s.srpo_win_rate > 0.58);
    CHECK(s.pit_win_rate > 0.58);
    CHECK(s.generative_win_rate > 0.55);  // SRPO's generative policy beats pi_ref too
    CHECK(s.final.pit_gap_ordering == 1.0);
    // revising the revision helps further
    CHECK(s.srpo_revisions.back() > s.srpo_revisions.front());
    CHECK(s.pit_revisions.back() > s.pit_revisions.front());
  }
}

TEST_CASE("The srpo_pit trainer is deterministic under a seed", "[smoke][srpo][pit]") {
  polo::examples::SelfImproveConfig config;
  config.steps = 50;
  config.seed = 4;
  const auto a = polo::examples::run_self_improvement(config);
  const auto b = polo::examples::run_self_improvement(config);
  CHECK(a.srpo_win_rate == b.srpo_win_rate);
  CHECK(a.pit_win_rate == b.pit_win_rate);
}

}  // namespace srpo_pit_test

// SuccessRateTracker: the official estimate (a full visit's own rate, else the most recent
// rewards across visits up to the buffer), validity after min_buffer_length rewards, reward
// mapping, and the refusals with their messages.

#include "polo/sampling/success_rate.hpp"

#include <cstdint>
#include <vector>

#include "test_support.hpp"

namespace success_rate_test {

using polo::Index;
using polo::SuccessRateTracker;
using polo_test::Contains;
using polo_test::kInf;
using polo_test::kNaN;
using polo_test::message_of;

TEST_CASE("SuccessRateTracker starts with no valid estimate", "[sampling][success_rate]") {
  const SuccessRateTracker tracker(3);
  CHECK(tracker.size() == 3);
  CHECK(tracker.reward_buffer_length() == 16);
  CHECK(tracker.min_buffer_length() == 8);
  for (Index i = 0; i < 3; ++i) {
    CHECK(tracker.estimate(i) == 0.0);
    CHECK_FALSE(tracker.valid(i));
    CHECK(tracker.count(i) == 0);
  }
  CHECK(tracker.estimates().size() == 3);
  CHECK(tracker.validity().size() == 3);
  // As the reference, an unseen prompt is valid when no minimum is asked for.
  const SuccessRateTracker no_minimum(2, 16, 0);
  CHECK(no_minimum.valid(0));
  CHECK(SuccessRateTracker().size() == 0);
}

TEST_CASE("SuccessRateTracker is valid after min_buffer_length rewards",
          "[sampling][success_rate]") {
  SuccessRateTracker tracker(2);
  tracker.record(0, {1.0, 0.0, 0.0, 0.0});
  CHECK_FALSE(tracker.valid(0));
  CHECK(tracker.count(0) == 4);
  CHECK(tracker.estimate(0) == 0.25);
  tracker.record(0, {1.0, 1.0, 0.0});
  CHECK_FALSE(tracker.valid(0));  // 7 rewards
  tracker.record(0, {0.0});
  CHECK(tracker.valid(0));  // 8 rewards
  CHECK(tracker.validity()[0] == 1);
  CHECK(tracker.validity()[1] == 0);
  CHECK(tracker.estimate(0) == 3.0 / 8.0);
  CHECK_FALSE(tracker.valid(1));
}

TEST_CASE("SuccessRateTracker: a full visit is its own estimate, short ones use the buffer",
          "[sampling][success_rate]") {
  SuccessRateTracker tracker(1, 4, 2);
  // Visit of 4 >= buffer: its own rate, whatever came before.
  tracker.record(0, {1.0, 1.0, 1.0, 1.0});
  CHECK(tracker.estimate(0) == 1.0);
  tracker.record(0, {0.0, 0.0, 0.0, 1.0, 0.0, 0.0});
  CHECK(tracker.estimate(0) == 1.0 / 6.0);
  // A short visit: the 4 most recent rewards across visits, 1, 0, 0 of the last visit and the
  // new 1.
  tracker.record(0, {1.0});
  CHECK(tracker.estimate(0) == 0.5);
  tracker.record(0, {1.0, 1.0});  // most recent four: 0, 1, 1, 1
  CHECK(tracker.estimate(0) == 0.75);
  CHECK(tracker.count(0) == 13);
  // Before the buffer fills, a short visit averages everything seen.
  SuccessRateTracker fresh(1, 16, 1);
  fresh.record(0, {1.0, 0.0, 0.0});
  CHECK(fresh.estimate(0) == 1.0 / 3.0);
  fresh.record(0, {1.0});
  CHECK(fresh.estimate(0) == 0.5);
  CHECK(fresh.valid(0));
}

TEST_CASE("SuccessRateTracker matches the official estimate on random visits",
          "[sampling][success_rate]") {
  // The reference keeps every visit and rebuilds the recent rewards from them; the tracker keeps
  // a ring of the last `reward_buffer_length`. Compare with that literal restatement.
  polo::Rng gen(7);
  constexpr Index kBuffer = 16;
  SuccessRateTracker tracker(1, kBuffer, 8);
  // The same rewards with Beta(0.5, 2) pseudo-counts: (s + a) / (n + a + b) of the same rewards.
  constexpr double kA = 0.5;
  constexpr double kB = 2.0;
  SuccessRateTracker shrunk(1, kBuffer, 8, kA, kB);
  std::vector<std::vector<int>> visits;
  for (int v = 0; v < 60; ++v) {
    const Index size = 1 + polo::uniform_int(gen, 24);
    std::vector<double> rewards(static_cast<std::size_t>(size));
    std::vector<int> mapped(rewards.size());
    for (std::size_t k = 0; k < rewards.size(); ++k) {
      const Index kind = polo::uniform_int(gen, 3);  // -1, 0 or 1 as the reference allows
      rewards[k] = static_cast<double>(kind - 1);
      mapped[k] = kind == 2 ? 1 : 0;
    }
    visits.push_back(mapped);
    tracker.record(0, rewards);
    shrunk.record(0, rewards);
    double expected = 0.0;
    double averaged = 0.0;  // rewards behind the estimate
    if (size >= kBuffer) {
      for (const int r : mapped)
        expected += r;
      averaged = static_cast<double>(size);
      expected /= averaged;
    } else {
      std::vector<int> recent;
      for (auto it = visits.rbegin(); it != visits.rend() && recent.size() < kBuffer; ++it) {
        for (auto r = it->rbegin(); r != it->rend(); ++r)
          recent.push_back(*r);
      }
      if (recent.size() > kBuffer) recent.resize(kBuffer);
      for (const int r : recent)
        expected += r;
      averaged = static_cast<double>(recent.size());
      expected /= averaged;
    }
    INFO("visit " << v << " of size " << size);
    CHECK(tracker.estimate(0) == Approx(expected).epsilon(1e-15));
    CHECK(shrunk.estimate(0) ==
          Approx((expected * averaged + kA) / (averaged + kA + kB)).epsilon(1e-14));
    CHECK(shrunk.valid(0) == tracker.valid(0));
    CHECK(tracker.concentration(0) == averaged);
    CHECK(shrunk.concentration(0) == averaged + kA + kB);
  }
}

TEST_CASE("SuccessRateTracker with pseudo-counts: the Beta posterior mean",
          "[sampling][success_rate]") {
  // Laplace's rule: 2 of 2 solved is 3/4, not 1; 0 of 8 is 1/10, not 0.
  SuccessRateTracker laplace(3, 4, 2, 1.0, 1.0);
  CHECK(laplace.prior_successes() == 1.0);
  CHECK(laplace.prior_failures() == 1.0);
  CHECK(laplace.estimate(0) == 0.5);  // no reward yet: the prior mean
  CHECK(laplace.concentration(0) == 2.0);
  CHECK_FALSE(laplace.valid(0));
  laplace.record(0, {1.0, 1.0});
  CHECK(laplace.estimate(0) == 0.75);
  CHECK(laplace.concentration(0) == 4.0);
  CHECK(laplace.valid(0));
  laplace.record(1, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0});  // a full visit: its own rate
  CHECK(laplace.estimate(1) == 0.1);
  CHECK(laplace.concentration(1) == 10.0);
  laplace.record(1, {1.0});  // short: the 4 most recent rewards, 0, 0, 0, 1
  CHECK(laplace.estimate(1) == 2.0 / 6.0);
  CHECK(laplace.concentration(1) == 6.0);
  CHECK(laplace.concentrations().size() == 3);
  CHECK(laplace.concentrations()[2] == 2.0);
  // Uneven pseudo-counts move the prior mean and every estimate.
  SuccessRateTracker skewed(1, 16, 0, 1.0, 3.0);
  CHECK(skewed.estimate(0) == 0.25);
  CHECK(skewed.valid(0));
  skewed.record(0, {1.0, 1.0, 1.0, 1.0});
  CHECK(skewed.estimate(0) == 5.0 / 8.0);
  // A one-sided prior still leaves the other end reachable.
  SuccessRateTracker optimist(1, 16, 1, 2.0, 0.0);
  optimist.record(0, {1.0});
  CHECK(optimist.estimate(0) == 1.0);
  optimist.record(0, {0.0});
  CHECK(optimist.estimate(0) == 0.75);
}

TEST_CASE("SuccessRateTracker maps rewards > 0 to success, takes float rewards",
          "[sampling][success_rate]") {
  SuccessRateTracker tracker(2, 4, 1);
  tracker.record(0, {0.3, -1.0, 0.0, kInf});
  CHECK(tracker.estimate(0) == 0.5);
  const std::vector<float> rewards{1.0F, 0.0F, 2.0F, -0.5F};
  tracker.record(1, rewards);
  CHECK(tracker.estimate(1) == 0.5);
  CHECK(tracker.estimate(0) == 0.5);  // other prompts untouched
}

TEST_CASE("SuccessRateTracker refuses bad arguments, with messages", "[sampling][success_rate]") {
  CHECK_THAT(message_of<polo::invalid_argument>([] { SuccessRateTracker t(-1); }),
             Contains("polo::SuccessRateTracker: n_prompts must be >= 0, got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { SuccessRateTracker t(2, 0); }),
             Contains("polo::SuccessRateTracker: reward_buffer_length must be >= 1, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { SuccessRateTracker t(2, 16, -1); }),
             Contains("polo::SuccessRateTracker: min_buffer_length must be >= 0, got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { SuccessRateTracker t(2, 16, 8, -1.0); }),
             Contains("polo::SuccessRateTracker: prior_successes must be finite and >= 0, got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { SuccessRateTracker t(2, 16, 8, 1.0, kNaN); }),
             Contains("polo::SuccessRateTracker: prior_failures must be finite and >= 0, got nan"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { SuccessRateTracker t(2, 16, 8, kInf, 1.0); }),
             Contains("prior_successes must be finite and >= 0, got inf"));
  SuccessRateTracker tracker(2);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { tracker.record(2, {1.0}); }),
             Contains("polo::SuccessRateTracker::record: prompt must be in [0, 2), got 2"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { tracker.record(-1, {1.0}); }),
             Contains("prompt must be in [0, 2), got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { tracker.record(0, std::vector<double>{}); }),
             Contains("polo::SuccessRateTracker::record: rewards must be non-empty"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)tracker.estimate(5); }),
             Contains("polo::SuccessRateTracker::estimate: prompt must be in [0, 2), got 5"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)tracker.valid(2); }),
             Contains("polo::SuccessRateTracker::valid: prompt must be in [0, 2)"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)tracker.concentration(2); }),
             Contains("polo::SuccessRateTracker::concentration: prompt must be in [0, 2)"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { (void)tracker.count(3); }),
             Contains("polo::SuccessRateTracker::count: prompt must be in [0, 2)"));
  try {
    tracker.record(1, {1.0, kNaN});
    FAIL("no exception");
  } catch (const polo::nonfinite_error& e) {
    CHECK(e.field() == "rewards");
    CHECK(e.row() == 1);
    CHECK(e.col() == 1);
  }
  CHECK(tracker.count(1) == 0);  // a refused visit records nothing
  tracker.record(1, {1.0});
  CHECK(tracker.estimate(1) == 1.0);
}

}  // namespace success_rate_test

#include "benchmarks/common/timing.hpp"

#include <chrono>
#include <vector>

#include "benchmarks/common/bandwidth.hpp"
#include "test_support.hpp"

namespace timing_test {

/// A clock that advances by the next scripted duration at every second call (stop after start),
/// so each timed run "takes" exactly the scripted time.
struct ScriptedClock {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<ScriptedClock, duration>;
  static inline std::vector<long> durations_ns;
  static inline std::size_t calls = 0;
  static inline long now_ns = 0;
  static time_point now() {
    if (calls % 2 == 1) now_ns += durations_ns[(calls / 2) % durations_ns.size()];
    ++calls;
    return time_point(duration(now_ns));
  }
};

TEST_CASE("stats_of: median, min and max", "[programs]") {
  const auto odd = polo::bench::stats_of({5.0, 1.0, 3.0});
  CHECK(odd.median == 3.0);
  CHECK(odd.min == 1.0);
  CHECK(odd.max == 5.0);
  const auto even = polo::bench::stats_of({4.0, 1.0, 3.0, 2.0});
  CHECK(even.median == 2.5);
  CHECK(polo::bench::stats_of({7.0}).median == 7.0);
  CHECK_THROWS_AS(polo::bench::stats_of({}), polo::invalid_argument);
}

TEST_CASE("time_stats: warm-up runs untimed, the median of the timed runs", "[programs]") {
  ScriptedClock::durations_ns = {30, 10, 20, 50, 40};
  ScriptedClock::calls = 0;
  int runs = 0;
  const auto s = polo::bench::time_stats<ScriptedClock>([&] { ++runs; }, 5, 2);
  CHECK(runs == 7);
  CHECK(s.median == Approx(30e-9));
  CHECK(s.min == Approx(10e-9));
  CHECK(s.max == Approx(50e-9));
  CHECK_THROWS_AS(polo::bench::time_stats([] {}, 0, 0), polo::invalid_argument);
  CHECK_THROWS_AS(polo::bench::time_stats([] {}, 1, -1), polo::invalid_argument);
}

TEST_CASE("median_seconds and the triad probe run (sanity only, no time asserted)", "[programs]") {
  int runs = 0;
  const double t = polo::bench::median_seconds([&] { ++runs; }, 3, 1);
  CHECK(runs == 4);
  CHECK(t >= 0.0);
  // A tiny array only: the real probe uses >= 1 GiB per array and never runs in tests.
  const double gbs = polo::bench::triad_bandwidth_gbs({.bytes_per_array = 1 << 16, .passes = 3});
  CHECK(gbs > 0.0);
  CHECK_THROWS_AS(polo::bench::triad_bandwidth_gbs({.bytes_per_array = 4}), polo::invalid_argument);
}

}  // namespace timing_test

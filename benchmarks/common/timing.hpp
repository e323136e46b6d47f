#pragma once
// Timing for the benchmark suite: the median of repeated runs on the steady clock.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include "polo/core/error.hpp"

namespace polo::bench {

/// Summary of repeated timings, in seconds.
struct Stats {
  double median = 0.0;
  double min = 0.0;
  double max = 0.0;
};

/// Median (the mean of the two middle values for an even count), minimum and maximum.
inline Stats stats_of(std::vector<double> samples) {
  if (samples.empty()) throw invalid_argument("polo::bench::stats_of: samples must not be empty");
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  const double median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return {median, samples.front(), samples.back()};
}

/// Runs `fn` `warmup` times untimed, then `repeats` times timed one by one with `Clock`
/// (anything with a static `now()`, steady_clock by default).
template <class Clock = std::chrono::steady_clock, class Fn>
Stats time_stats(Fn&& fn, int repeats = 5, int warmup = 1) {
  if (repeats < 1)
    polo::detail::fail_argument("polo::bench::time_stats", "repeats", ">= 1", repeats);
  if (warmup < 0) polo::detail::fail_argument("polo::bench::time_stats", "warmup", ">= 0", warmup);
  for (int k = 0; k < warmup; ++k)
    fn();
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(repeats));
  for (int k = 0; k < repeats; ++k) {
    const auto start = Clock::now();
    fn();
    const auto stop = Clock::now();
    samples.push_back(std::chrono::duration<double>(stop - start).count());
  }
  return stats_of(std::move(samples));
}

/// The median time of one call of `fn`, in seconds.
template <class Clock = std::chrono::steady_clock, class Fn>
double median_seconds(Fn&& fn, int repeats = 5, int warmup = 1) {
  return time_stats<Clock>(std::forward<Fn>(fn), repeats, warmup).median;
}

/// Keeps the compiler from discarding a benchmarked result.
template <class T>
void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

}  // namespace polo::bench

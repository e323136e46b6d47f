#pragma once
// A STREAM-triad probe of the machine's DRAM bandwidth: the roof a memory-bound kernel can
// reach, against which the benchmark suite reports each hot path.

#include <cstddef>
#include <memory>

#include "polo/core/error.hpp"
#include "timing.hpp"

namespace polo::bench {

/// Settings of the triad probe. The arrays must be much larger than the last-level cache
/// (300 MiB on the reference machine), hence 1 GiB each by default.
struct TriadOptions {
  std::size_t bytes_per_array = std::size_t{1} << 30U;
  int passes = 5;  ///< timed passes; the median counts
  int warmup = 1;
};

/// Measured DRAM bandwidth in GB/s (1e9 bytes per second): the median pass of
/// `a[i] = b[i] + s * c[i]` over three double arrays, counting 3 arrays x 8 bytes per element
/// (STREAM's convention: the write-allocate read of `a` is not counted).
inline double triad_bandwidth_gbs(const TriadOptions& options = {}) {
  const std::size_t n = options.bytes_per_array / sizeof(double);
  if (n == 0) {
    polo::detail::fail_argument("polo::bench::triad_bandwidth_gbs", "bytes_per_array", ">= 8",
                                options.bytes_per_array);
  }
  // new[] without initialization, then a first touch by the same thread that runs the triad,
  // so page faults are not timed.
  const std::unique_ptr<double[]> a(new double[n]);
  const std::unique_ptr<double[]> b(new double[n]);
  const std::unique_ptr<double[]> c(new double[n]);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
  const double s = 3.0;
  double* pa = a.get();
  const double* pb = b.get();
  const double* pc = c.get();
  const double seconds = median_seconds(
      [&] {
        for (std::size_t i = 0; i < n; ++i)
          pa[i] = pb[i] + s * pc[i];
        do_not_optimize(pa[n / 2]);
      },
      options.passes, options.warmup);
  const double bytes = 3.0 * static_cast<double>(n) * sizeof(double);
  return bytes / seconds * 1e-9;
}

}  // namespace polo::bench

#pragma once
// What a benchmark report says about where it ran.

#include <ctime>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace polo::bench {

/// The CPU model from /proc/cpuinfo ("model name"), or "unknown".
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto first = line.find_first_not_of(" \t", colon + 1);
    return first == std::string::npos ? std::string{} : line.substr(first);
  }
  return "unknown";
}

/// The current UTC time as ISO 8601, e.g. 2026-12-01T19:30:00Z.
inline std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  const auto size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {text, size};
}

/// The "machine" object of a report: CPU, logical cores, compiler, build flags and date.
/// `build_flags` defaults to the POLO_BENCH_BUILD_FLAGS macro when the build defines it.
inline nlohmann::json machine_info(std::string_view build_flags =
#ifdef POLO_BENCH_BUILD_FLAGS
                                       POLO_BENCH_BUILD_FLAGS
#else
                                       ""
#endif
) {
  nlohmann::json info;
  info["cpu"] = cpu_model();
  info["logical_cores"] = std::thread::hardware_concurrency();
#if defined(__clang__)
  info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  info["compiler"] = std::string("gcc ") + __VERSION__;
#else
  info["compiler"] = "unknown";
#endif
  info["build_flags"] = std::string(build_flags);
  info["date"] = utc_timestamp();
  return info;
}

}  // namespace polo::bench

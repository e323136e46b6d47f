#pragma once
// The flags every example trainer accepts, on top of CLI11 (programs only, never the library).

#include <cstdint>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

namespace polo::examples {

/// The common options, holding their defaults until parsed.
struct CommonOptions {
  /// `default_steps`: the trainer's default for `--steps`.
  explicit CommonOptions(std::int64_t default_steps) : steps(default_steps) {}

  std::uint64_t seed = 1;
  std::int64_t steps;
  std::string out;  ///< empty: write no files
  bool quiet = false;
};

/// Adds `--seed`, `--steps`, `--out` and `--quiet` to `app`, bound to `options` (whose current
/// values are the defaults shown by `--help`). `steps_help` says what one step is for this
/// trainer ("environment steps", "updates" ...).
inline void add_common_options(CLI::App& app, CommonOptions& options,
                               const std::string& steps_help = "training steps") {
  app.add_option("--seed", options.seed, "random seed (runs are reproducible)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);  // CLI11 would wrap "-3" around to 2^64 - 3
  app.add_option("--steps", options.steps, steps_help)
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--out", options.out, "write DIR/log.csv and DIR/summary.json")->type_name("DIR");
  app.add_flag("--quiet", options.quiet, "no progress display");
}

/// Parses the command line; on `--help` prints the help and exits 0, on a bad flag prints the
/// error and exits non-zero (CLI11's own codes).
inline void parse_or_exit(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
}

inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  parse_or_exit(app, argc, static_cast<const char* const*>(argv));
}

}  // namespace polo::examples

#include "common/cli.hpp"

#include <vector>

#include "test_support.hpp"

namespace cli_test {

void parse(CLI::App& app, std::vector<const char*> args) {
  args.insert(args.begin(), "trainer");
  app.parse(static_cast<int>(args.size()), args.data());
}

TEST_CASE("common flags: defaults and parsing", "[programs]") {
  polo::examples::CommonOptions options(50000);
  CLI::App app{"test trainer"};
  polo::examples::add_common_options(app, options, "environment steps");

  SECTION("defaults") {
    polo::examples::parse_or_exit(app, 1, std::vector<const char*>{"trainer"}.data());
    CHECK(options.seed == 1);
    CHECK(options.steps == 50000);
    CHECK(options.out.empty());
    CHECK_FALSE(options.quiet);
    CHECK_THAT(app.help(), polo_test::Contains("--seed") && polo_test::Contains("--steps") &&
                               polo_test::Contains("environment steps") &&
                               polo_test::Contains("50000") && polo_test::Contains("--out"));
  }
  SECTION("given") {
    parse(app, {"--seed", "18446744073709551615", "--steps", "7", "--out", "runs/a", "--quiet"});
    CHECK(options.seed == 18446744073709551615ULL);
    CHECK(options.steps == 7);
    CHECK(options.out == "runs/a");
    CHECK(options.quiet);
  }
  SECTION("bad values are refused") {
    CHECK_THROWS_AS(parse(app, {"--steps", "0"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse(app, {"--seed", "-3"}), CLI::ParseError);
    CHECK_THROWS_AS(parse(app, {"--nope"}), CLI::ParseError);
  }
}

}  // namespace cli_test

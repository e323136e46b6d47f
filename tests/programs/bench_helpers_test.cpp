#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <unistd.h>

#include "benchmarks/common/machine.hpp"
#include "benchmarks/common/python.hpp"
#include "benchmarks/common/report.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using polo_test::Contains;

TEST_CASE("machine_info names the CPU, cores, compiler, flags and date", "[programs]") {
  const auto m = polo::bench::machine_info("-O2 -march=native");
  CHECK_FALSE(m["cpu"].get<std::string>().empty());
  CHECK(m["logical_cores"].get<unsigned>() >= 1);
  CHECK_THAT(m["compiler"].get<std::string>(), Contains(__VERSION__));
  CHECK(m["build_flags"] == "-O2 -march=native");
  CHECK(m["date"].get<std::string>().size() == 20);  // 2026-12-01T19:30:00Z
}

TEST_CASE("Report prints a table and writes machine + cases", "[programs]") {
  polo::bench::Report report("losses");
  report.add("grpo/B=64", {{"seconds", 1.5e-5}, {"gb_per_s", 12.25}});
  report.add("dpo", {{"n", 3}, {"torch_seconds", std::numeric_limits<double>::quiet_NaN()}});
  report.add("ppo", {{"steps_per_second", 68042.7}});
  CHECK(report.columns() == std::vector<std::string>{"name", "seconds", "gb_per_s", "n",
                                                     "torch_seconds", "steps_per_second"});
  const auto table = report.table();
  CHECK_THAT(table, Contains("losses\n") && Contains("grpo/B=64") && Contains("1.5e-05") &&
                        Contains("12.25") && Contains("68043"));
  CHECK_THROWS_AS(report.add("bad", nlohmann::ordered_json::array({1, 2})), polo::invalid_argument);

  const auto path = fs::temp_directory_path() / fmt::format("polo-report-{}.json", ::getpid());
  report.write_json(path, nlohmann::json{{"cpu", "test"}});
  std::ifstream in(path);
  const auto back = nlohmann::json::parse(in);
  fs::remove(path);
  CHECK(back["machine"]["cpu"] == "test");
  REQUIRE(back["cases"].size() == 3);
  CHECK(back["cases"][0]["name"] == "grpo/B=64");
  CHECK(back["cases"][0]["seconds"].get<double>() == 1.5e-5);
  CHECK(back["cases"][1]["torch_seconds"].is_null());  // NaN as null
}

TEST_CASE("run_python quotes arguments and reads back the JSON", "[programs]") {
  CHECK(polo::bench::detail::shell_quote("it's") == "'it'\\''s'");
  if (::access(polo::bench::python_interpreter, X_OK) != 0) {
    WARN("no /usr/bin/python3; skipping the run");
    return;
  }
  const auto script = fs::temp_directory_path() / fmt::format("polo-echo-{}.py", ::getpid());
  {
    std::ofstream out(script);
    out << "import json, sys\n"
           "args = sys.argv[1:]\n"
           "i = args.index('--json')\n"
           "if args[0] == 'fail':\n"
           "    sys.stderr.write('boom\\n')\n"
           "    sys.exit(3)\n"
           "json.dump({'args': args[:i]}, open(args[i + 1], 'w'))\n";
  }
  const auto j = polo::bench::run_python(script, {"a b", "it's", "$HOME;`x`"});
  CHECK(j["args"] == nlohmann::json::array({"a b", "it's", "$HOME;`x`"}));
  CHECK_THROWS_WITH(polo::bench::run_python(script, {"fail"}),
                    Contains("exited with code 3") && Contains("boom"));
  fs::remove(script);
  CHECK_THROWS_WITH(polo::bench::run_python(script), Contains("not found"));
}

#include "common/output.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <unistd.h>

#include "test_support.hpp"

namespace output_test {

namespace fs = std::filesystem;
using polo_test::Contains;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A fresh directory under the system temp dir, removed at the end of the test.
struct ScratchDir {
  fs::path path;
  explicit ScratchDir(const std::string& name)
      : path(fs::temp_directory_path() / fmt::format("polo-{}-{}", name, ::getpid())) {
    fs::remove_all(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  /// Files in the directory whose name contains ".tmp".
  [[nodiscard]] int temp_files() const {
    int count = 0;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.path().filename().string().find(".tmp") != std::string::npos) ++count;
    }
    return count;
  }
};

using polo_test::kInf;
using polo_test::kNaN;

TEST_CASE("RunOutput: log.csv has a header and one row per step", "[programs]") {
  ScratchDir scratch("run-output");
  const auto dir = scratch.path / "nested" / "run";  // parents are created too
  {
    polo::examples::RunOutput out(dir);
    CHECK(out.enabled());
    CHECK(fs::is_directory(dir));
    auto& log = out.log({"step", "return", "loss"});
    CHECK(read_text(dir / "log.csv") == "step,return,loss\n");  // header at once
    log.row({1, 0.1, 2.5});
    log.row({2, kNaN, -kInf});
    log.row({3, 1.0 / 3.0, 1e-300});
    CHECK(log.rows() == 3);
    log.flush();
    CHECK(scratch.temp_files() == 0);
  }  // the destructor flushes what is left
  const auto text = read_text(dir / "log.csv");
  CHECK(text ==
        "step,return,loss\n"
        "1,0.1,2.5\n"
        "2,,\n"
        "3,0.3333333333333333,1e-300\n");
  // Shortest round-trip form: reading the field back gives the same double.
  CHECK(std::stod("0.3333333333333333") == 1.0 / 3.0);
}

TEST_CASE("CsvLog: quoting, wrong row width, in-memory mode", "[programs]") {
  polo::examples::CsvLog log({}, {"a,b", "say \"hi\"", "plain"});
  CHECK(log.text() == "\"a,b\",\"say \"\"hi\"\"\",plain\n");
  CHECK_THROWS_AS(log.row({1.0, 2.0}), polo::invalid_argument);
  CHECK_THROWS_WITH(log.row({1.0, 2.0}), Contains("number of columns (3)") && Contains("got 2"));
  log.row({1.0, 2.0, 3.0});
  CHECK(log.text() == "\"a,b\",\"say \"\"hi\"\"\",plain\n1,2,3\n");
  CHECK_THROWS_AS(polo::examples::CsvLog({}, {}), polo::invalid_argument);

  polo::examples::RunOutput none{fs::path{}};  // no --out: nothing is written
  CHECK_FALSE(none.enabled());
  auto& mem = none.log({"x"});
  mem.row({4.0});
  CHECK(mem.text() == "x\n4\n");
  CHECK_NOTHROW(none.write_summary(nlohmann::json{{"x", 1}}));
}

TEST_CASE("RunOutput: summary.json writes NaN and infinities as null", "[programs]") {
  ScratchDir scratch("summary");
  polo::examples::RunOutput out(scratch.path);
  nlohmann::json summary;
  summary["seed"] = 7;
  summary["final_return"] = 499.5;
  summary["kl"] = kNaN;
  summary["ratio"] = kInf;
  summary["hyper"] = {{"lr", 3e-4}};
  // nlohmann-json's own dump already maps NaN and kInf to null.
  CHECK(nlohmann::json(kNaN).dump() == "null");
  CHECK(nlohmann::json(-kInf).dump() == "null");
  out.write_summary(summary);
  CHECK(scratch.temp_files() == 0);
  const auto text = read_text(scratch.path / "summary.json");
  CHECK_THAT(text, Contains("\"kl\": null") && Contains("\"ratio\": null"));
  CHECK(text.back() == '\n');
  const auto back = nlohmann::json::parse(text);
  CHECK(back["seed"] == 7);
  CHECK(back["final_return"].get<double>() == 499.5);
  CHECK(back["kl"].is_null());
  CHECK(back["hyper"]["lr"].get<double>() == 3e-4);
}

TEST_CASE("write_file_atomic replaces the file whole and leaves no temporary", "[programs]") {
  ScratchDir scratch("atomic");
  fs::create_directories(scratch.path);
  const auto file = scratch.path / "a.txt";
  polo::examples::write_file_atomic(file, "first version\n");
  polo::examples::write_file_atomic(file, "second\n");
  CHECK(read_text(file) == "second\n");
  CHECK(scratch.temp_files() == 0);
  polo::examples::write_json(scratch.path / "b.json", nlohmann::ordered_json{{"z", 1}, {"a", 2}});
  CHECK(read_text(scratch.path / "b.json") == "{\n  \"z\": 1,\n  \"a\": 2\n}\n");

  // A failed write (the target is a directory: rename refuses) leaves the old file and no
  // temporary behind.
  fs::create_directories(scratch.path / "dir_target");
  CHECK_THROWS_AS(polo::examples::write_file_atomic(scratch.path / "dir_target", "x"),
                  polo::io_error);
  CHECK(fs::is_directory(scratch.path / "dir_target"));
  CHECK(scratch.temp_files() == 0);
}

TEST_CASE("io_error names the path that cannot be written", "[programs]") {
  try {
    polo::examples::RunOutput out("/proc/forbidden");
    FAIL("expected polo::io_error");
  } catch (const polo::io_error& e) {
    CHECK(e.path() == "/proc/forbidden");
    CHECK_THAT(std::string(e.what()), Contains("/proc/forbidden") && Contains("cannot create"));
  }
  try {
    polo::examples::write_file_atomic("/proc/forbidden/summary.json", "{}");
    FAIL("expected polo::io_error");
  } catch (const polo::io_error& e) {
    CHECK_THAT(std::string(e.what()), Contains("/proc/forbidden/summary.json"));
    CHECK_FALSE(e.reason().empty());
  }
  ScratchDir scratch("not-a-dir");
  fs::create_directories(scratch.path);
  polo::examples::write_file_atomic(scratch.path / "file", "x");
  CHECK_THROWS_AS(polo::examples::RunOutput(scratch.path / "file"), polo::io_error);
}

TEST_CASE("Stopwatch counts up", "[programs]") {
  polo::examples::Stopwatch watch;
  const double a = watch.seconds();
  const double b = watch.seconds();
  CHECK(a >= 0.0);
  CHECK(b >= a);  // monotonic; no duration is asserted
}

}  // namespace output_test

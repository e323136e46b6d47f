#include "common/progress.hpp"

#include <cstdio>
#include <string>

#include "test_support.hpp"

namespace progress_test {

/// Everything written to `f` so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  const long size = std::ftell(f);
  std::rewind(f);
  std::string text(static_cast<std::size_t>(size), '\0');
  const auto got = std::fread(text.data(), 1, text.size(), f);
  text.resize(got);
  std::fseek(f, 0, SEEK_END);
  return text;
}

struct TmpFile {
  std::FILE* f = std::tmpfile();
  ~TmpFile() {
    if (f != nullptr) std::fclose(f);
  }
};

TEST_CASE("ProgressLine: plain lines when the stream is not a terminal", "[programs]") {
  TmpFile tmp;
  REQUIRE(tmp.f != nullptr);
  SECTION("no throttling") {
    {
      polo::examples::ProgressLine progress(tmp.f, 0.0);
      CHECK_FALSE(progress.is_terminal());  // a tmpfile is no tty
      progress.update("step 1");
      progress.update("step 2");
      progress.finish("done");
    }
    CHECK(contents(tmp.f) == "step 1\nstep 2\ndone\n");
  }
  SECTION("throttled: the first update, then none within the interval, and the final line") {
    {
      polo::examples::ProgressLine progress(tmp.f, 3600.0);
      for (int k = 0; k < 100; ++k)
        progress.update("step " + std::to_string(k));
      progress.finish("done");
    }
    CHECK(contents(tmp.f) == "step 0\ndone\n");
  }
}

TEST_CASE("ProgressLine: in place on a terminal, nothing on a null stream", "[programs]") {
  TmpFile tmp;
  REQUIRE(tmp.f != nullptr);
  SECTION("terminal mode rewrites one line") {
    {
      polo::examples::ProgressLine progress(tmp.f, 2.0,
                                            polo::examples::ProgressLine::Mode::terminal);
      CHECK(progress.is_terminal());
      progress.update("a long line");
      progress.update("short");
      progress.finish("end");
    }
    CHECK(contents(tmp.f) == "\ra long line\x1b[K\rshort\x1b[K\rend\x1b[K\n");
  }
  SECTION("an unfinished terminal line is ended by the destructor") {
    {
      polo::examples::ProgressLine progress(tmp.f, 2.0,
                                            polo::examples::ProgressLine::Mode::terminal);
      progress.update("x");
    }
    CHECK(contents(tmp.f) == "\rx\x1b[K\n");
  }
  SECTION("a null stream is quiet") {
    polo::examples::ProgressLine progress(nullptr);
    progress.update("x");
    progress.finish("y");
    CHECK_FALSE(progress.is_terminal());
  }
}

}  // namespace progress_test

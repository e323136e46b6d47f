#pragma once
// Runs a PyTorch reference script beside a C++ benchmark: `/usr/bin/python3 SCRIPT ARGS --json
// TMPFILE`, then reads back the JSON the script wrote. Programs only (uses nlohmann-json).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <stdlib.h>  // mkstemp
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

namespace polo::bench {

/// The interpreter the references run with (Debian's, where python3-torch installs).
inline constexpr const char* python_interpreter = "/usr/bin/python3";

/// A reference run that could not start or failed; the message says why and what to install.
class python_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// `arg` in single quotes for /bin/sh, with each ' written as '\''.
inline std::string shell_quote(std::string_view arg) {
  std::string out = "'";
  for (const char ch : arg) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  out += '\'';
  return out;
}

/// A fresh empty file in the temporary directory (removed by the destructor).
class TempFile {
 public:
  explicit TempFile(std::string_view stem) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / fmt::format("{}-XXXXXX", stem)).string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) {
      throw python_error(fmt::format("polo::bench: cannot create a temporary file {}", pattern));
    }
    ::close(fd);
    path_ = pattern;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::string read() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string path_;
};

/// Exit status of a std::system call, or -1 when the command did not exit normally.
inline int exit_code(int status) {
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace detail

/// True when /usr/bin/python3 exists and imports torch (takes about a second: call once).
inline bool python_torch_available() {
  if (::access(python_interpreter, X_OK) != 0) return false;
  const std::string command =
      fmt::format("{} -c 'import torch' >/dev/null 2>&1", python_interpreter);
  return detail::exit_code(std::system(command.c_str())) == 0;
}

/// Runs `/usr/bin/python3 script args... --json TMPFILE` and returns the JSON the script wrote
/// to TMPFILE. The script's stdout passes through; its stderr is captured and, on failure,
/// quoted in the python_error, which says to install python3-torch when torch is missing.
inline nlohmann::json run_python(const std::filesystem::path& script,
                                 const std::vector<std::string>& args = {}) {
  if (::access(python_interpreter, X_OK) != 0) {
    throw python_error(fmt::format(
        "polo::bench: {} not found; install Debian's python3 and python3-torch (scripts/setup "
        "--bench) to run the PyTorch references",
        python_interpreter));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(script, ec)) {
    throw python_error(fmt::format("polo::bench: reference script {} not found", script.string()));
  }
  const detail::TempFile json_file("polo-bench-json");
  const detail::TempFile stderr_file("polo-bench-stderr");
  std::string command =
      fmt::format("{} {}", python_interpreter, detail::shell_quote(script.string()));
  // Appended piecewise: `" " + std::string` trips GCC 12's false -Wrestrict (PR 105329).
  for (const auto& arg : args) {
    command += ' ';
    command += detail::shell_quote(arg);
  }
  command += " --json ";
  command += detail::shell_quote(json_file.path());
  command += " 2>";
  command += detail::shell_quote(stderr_file.path());

  std::fflush(nullptr);  // keep the order of our output and the script's
  const int code = detail::exit_code(std::system(command.c_str()));
  if (code != 0) {
    const std::string err = stderr_file.read();
    if (err.find("No module named 'torch'") != std::string::npos) {
      throw python_error(fmt::format(
          "polo::bench: {} has no torch; install python3-torch (scripts/setup --bench) to run "
          "the PyTorch reference {}",
          python_interpreter, script.string()));
    }
    throw python_error(fmt::format("polo::bench: {} {} exited with code {}{}{}", python_interpreter,
                                   script.string(), code, err.empty() ? "" : ":\n", err));
  }
  const std::string text = json_file.read();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw python_error(fmt::format("polo::bench: {} wrote no valid JSON to --json: {}",
                                   script.string(), e.what()));
  }
}

}  // namespace polo::bench

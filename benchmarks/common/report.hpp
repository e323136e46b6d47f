#pragma once
// A benchmark's results: printed as a table, and written as
// {"machine": {...}, "cases": [{"name": ..., ...}]} for `--json FILE`.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../../examples/common/output.hpp"  // write_json: atomic, NaN as null
#include "machine.hpp"

namespace polo::bench {

/// The cases of one benchmark run. Columns are the union of the cases' fields, in the order
/// they first appear; a case without a field shows "-" there.
class Report {
 public:
  using Json = nlohmann::ordered_json;  // keeps the fields in the order they were given

  explicit Report(std::string title = {}) : title_(std::move(title)) {}

  /// Adds a case named `name` with `fields`, e.g. `{{"seconds", t}, {"gb_per_s", g}}`.
  void add(const std::string& name, const Json& fields = Json::object()) {
    Json c = Json::object();
    c["name"] = name;
    if (!fields.is_null()) {
      if (!fields.is_object()) {
        throw invalid_argument("polo::bench::Report::add: fields must be a JSON object");
      }
      for (const auto& [key, value] : fields.items())
        c[key] = value;
    }
    cases_.push_back(std::move(c));
  }

  [[nodiscard]] const std::vector<Json>& cases() const noexcept { return cases_; }

  /// The column names: "name", then every other field in first-seen order.
  [[nodiscard]] std::vector<std::string> columns() const {
    std::vector<std::string> out{"name"};
    for (const auto& c : cases_) {
      for (const auto& [key, value] : c.items()) {
        if (std::find(out.begin(), out.end(), key) == out.end()) out.push_back(key);
      }
    }
    return out;
  }

  /// The table as text: a title line, a header, a rule, one row per case.
  [[nodiscard]] std::string table() const {
    const auto cols = columns();
    std::vector<std::vector<std::string>> cells;
    std::vector<std::size_t> width(cols.size());
    for (std::size_t k = 0; k < cols.size(); ++k)
      width[k] = cols[k].size();
    for (const auto& c : cases_) {
      auto& row = cells.emplace_back();
      for (std::size_t k = 0; k < cols.size(); ++k) {
        row.push_back(c.contains(cols[k]) ? cell(c[cols[k]]) : "-");
        width[k] = std::max(width[k], row.back().size());
      }
    }
    std::string out;
    if (!title_.empty()) out += title_ + "\n";
    auto append_row = [&](const std::vector<std::string>& row) {
      for (std::size_t k = 0; k < row.size(); ++k) {
        if (k > 0) out += "  ";
        out += k == 0 ? fmt::format("{:<{}}", row[k], width[k])
                      : fmt::format("{:>{}}", row[k], width[k]);
      }
      out += '\n';
    };
    append_row(cols);
    std::size_t total = 0;
    for (const auto w : width)
      total += w;
    out += std::string(total + 2 * (width.size() - 1), '-') + "\n";
    for (const auto& row : cells)
      append_row(row);
    return out;
  }

  void print(std::FILE* stream = stdout) const {
    const auto text = table();
    std::fwrite(text.data(), 1, text.size(), stream);
    std::fflush(stream);
  }

  /// {"machine": machine, "cases": [...]}.
  [[nodiscard]] Json to_json(const nlohmann::json& machine = machine_info()) const {
    Json out = Json::object();
    out["machine"] = Json::parse(machine.dump());
    out["cases"] = cases_;
    return out;
  }

  /// Writes `to_json(machine)` to `path` atomically (NaN as null).
  void write_json(const std::filesystem::path& path,
                  const nlohmann::json& machine = machine_info()) const {
    polo::examples::write_json(path, to_json(machine));
  }

 private:
  // Numbers with 4 significant digits (whole from 10^4 up), integers whole, strings bare, null as
  // "-".
  static std::string cell(const Json& v) {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return v.dump();
    if (v.is_number_float()) {
      const double x = v.get<double>();
      // Rates in the thousands read better whole than as 6.804e+04.
      return std::abs(x) >= 1e4 ? fmt::format("{:.0f}", x) : fmt::format("{:.4g}", x);
    }
    return v.dump();
  }

  std::string title_;
  std::vector<Json> cases_;
};

}  // namespace polo::bench

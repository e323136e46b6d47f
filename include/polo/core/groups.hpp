#pragma once
// Groups of completions that share a prompt, as offsets into the batch. Uneven groups (as rollout
// budget allocation produces) work everywhere a fixed group size does.

#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

class Groups {
 public:
  /// An empty partition (no groups, batch size 0).
  Groups() : offsets_{0} {}

  /// Consecutive groups of the given sizes; each size must be >= 1.
  static Groups from_sizes(std::span<const Index> sizes) {
    std::vector<Index> offsets{0};
    offsets.reserve(sizes.size() + 1);
    for (std::size_t g = 0; g < sizes.size(); ++g) {
      if (sizes[g] < 1) {
        detail::fail_argument("polo::Groups::from_sizes", fmt::format("sizes[{}]", g), ">= 1",
                              sizes[g]);
      }
      offsets.push_back(offsets.back() + sizes[g]);
    }
    return Groups(std::move(offsets));
  }

  static Groups from_sizes(std::initializer_list<Index> sizes) {
    return from_sizes(std::span<const Index>(sizes.begin(), sizes.size()));
  }

  /// `batch_size / group_size` groups of `group_size` consecutive rows.
  static Groups uniform(Index batch_size, Index group_size) {
    constexpr std::string_view where = "polo::Groups::uniform";
    if (group_size < 1) detail::fail_argument(where, "group_size", ">= 1", group_size);
    if (batch_size < 0 || batch_size % group_size != 0) {
      detail::fail_argument(where, "batch_size",
                            fmt::format("a non-negative multiple of group_size ({})", group_size),
                            batch_size);
    }
    std::vector<Index> offsets;
    offsets.reserve(static_cast<std::size_t>(batch_size / group_size + 1));
    for (Index o = 0; o <= batch_size; o += group_size) {
      offsets.push_back(o);
    }
    return Groups(std::move(offsets));
  }

  /// From offsets [0, o_1, ..., B]: strictly increasing, starting at 0.
  static Groups from_offsets(std::vector<Index> offsets) {
    constexpr std::string_view where = "polo::Groups::from_offsets";
    if (offsets.empty() || offsets.front() != 0) {
      detail::fail_argument(where, "offsets", "a list starting at 0", fmt::format("{}", offsets));
    }
    for (std::size_t g = 1; g < offsets.size(); ++g) {
      if (offsets[g] <= offsets[g - 1]) {
        detail::fail_argument(where, "offsets", "strictly increasing (every group non-empty)",
                              fmt::format("{}", offsets));
      }
    }
    return Groups(std::move(offsets));
  }

  [[nodiscard]] Index count() const noexcept { return static_cast<Index>(offsets_.size()) - 1; }
  [[nodiscard]] Index batch_size() const noexcept { return offsets_.back(); }
  [[nodiscard]] Index begin(Index g) const noexcept {
    return offsets_[static_cast<std::size_t>(g)];
  }
  [[nodiscard]] Index end(Index g) const noexcept {
    return offsets_[static_cast<std::size_t>(g) + 1];
  }
  [[nodiscard]] Index size(Index g) const noexcept { return end(g) - begin(g); }
  [[nodiscard]] std::span<const Index> offsets() const noexcept { return offsets_; }

  [[nodiscard]] Index min_size() const noexcept {
    Index m = count() > 0 ? size(0) : 0;
    for (Index g = 1; g < count(); ++g) {
      m = std::min(m, size(g));
    }
    return m;
  }
  [[nodiscard]] Index max_size() const noexcept {
    Index m = 0;
    for (Index g = 0; g < count(); ++g) {
      m = std::max(m, size(g));
    }
    return m;
  }

  /// Throws unless the groups cover exactly `batch` rows.
  void require_covers(std::string_view where, Index batch) const {
    if (batch_size() != batch) {
      detail::fail_argument(where, "groups",
                            fmt::format("offsets covering the batch of {} rows", batch),
                            fmt::format("offsets ending at {}", batch_size()));
    }
  }

  friend bool operator==(const Groups&, const Groups&) = default;

 private:
  explicit Groups(std::vector<Index> offsets) : offsets_(std::move(offsets)) {}
  std::vector<Index> offsets_;
};

}  // namespace polo

// MaskView over uint8 / bool / float / double, the null mask, micro-batches and shape checks.

#include "polo/core/mask.hpp"

#include <type_traits>
#include <vector>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Index;
using polo::MaskView;
using polo_core_test::message_of;
using polo_test::Contains;

namespace mask_test {

// The pattern every typed mask below encodes (1 = the token counts).
constexpr int kPattern[4][3] = {{1, 0, 1}, {0, 0, 0}, {1, 1, 1}, {0, 1, 0}};

template <class T>
Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> pattern_mask(T on) {
  Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(4, 3);
  for (Index i = 0; i < 4; ++i) {
    for (Index t = 0; t < 3; ++t)
      m(i, t) = kPattern[i][t] != 0 ? on : T{};
  }
  return m;
}

/// Checks operator() and visit() against kPattern, rows [first, first + rows).
void check_pattern(const MaskView& m, Index first = 0) {
  for (Index i = 0; i < m.rows(); ++i) {
    for (Index t = 0; t < 3; ++t) {
      INFO("row " << i << ", col " << t);
      CHECK(m(i, t) == (kPattern[first + i][t] != 0));
    }
  }
  const int from_visit = m.visit([&](auto valid) {
    int agree = 0;
    for (Index i = 0; i < m.rows(); ++i) {
      for (Index t = 0; t < 3; ++t)
        agree += valid(i, t) == (kPattern[first + i][t] != 0) ? 1 : 0;
    }
    return agree;
  });
  CHECK(from_visit == m.rows() * 3);
}

template <class T>
void check_kind(T on, MaskView::Kind kind) {
  const auto storage = pattern_mask<T>(on);
  const MaskView m(storage);
  CHECK(m.kind() == kind);
  CHECK_FALSE(m.is_null());
  CHECK(static_cast<bool>(m));
  CHECK(m.rows() == 4);
  CHECK(m.cols() == 3);
  check_pattern(m);
  // visit instantiates the callable for every kind; only the stored one runs.
  CHECK(m.visit([](auto valid) { return std::is_same_v<decltype(valid), MaskView::Typed<T>>; }));
  const MaskView mid = m.middle_rows(1, 3);
  CHECK(mid.kind() == kind);
  CHECK(mid.rows() == 3);
  CHECK(mid.cols() == 3);
  check_pattern(mid, 1);
  check_pattern(m.middle_rows(3, 1), 3);
}

TEST_CASE("MaskView reads every element type the same way", "[core][mask]") {
  SECTION("uint8") {
    check_kind<unsigned char>(1, MaskView::Kind::u8);
  }
  SECTION("uint8, any nonzero value") {
    check_kind<unsigned char>(255, MaskView::Kind::u8);
  }
  SECTION("bool") {
    check_kind<bool>(true, MaskView::Kind::boolean);
  }
  SECTION("float") {
    check_kind<float>(1.0F, MaskView::Kind::f32);
  }
  SECTION("float, fractional weights count") {
    check_kind<float>(0.25F, MaskView::Kind::f32);
  }
  SECTION("double") {
    check_kind<double>(1.0, MaskView::Kind::f64);
  }
  SECTION("double, negative values count") {
    check_kind<double>(-2.0, MaskView::Kind::f64);
  }
}

TEST_CASE("MaskView treats -0.0 as padding", "[core][mask]") {
  polo::TokenArrayf m(1, 2);
  m << -0.0F, 1.0F;
  const MaskView v(m);
  CHECK_FALSE(v(0, 0));
  CHECK(v(0, 1));
}

TEST_CASE("MaskView from a typed TokenView, a block and a broadcast row", "[core][mask]") {
  const polo::MaskArray full = pattern_mask<unsigned char>(1);
  const MaskView from_view{polo::TokenView<const unsigned char>(full)};
  check_pattern(from_view);

  // A block with an outer stride: rows 1..3 of a wider buffer, columns 1..3.
  polo::MaskArray wide = polo::MaskArray::Zero(4, 5);
  wide.block(0, 1, 4, 3) = full;
  const MaskView block(wide.block(0, 1, 4, 3));
  check_pattern(block);
  check_pattern(block.middle_rows(2, 2), 2);

  const std::vector<unsigned char> row{0, 1, 1};
  const MaskView broadcast(polo::TokenView<const unsigned char>(row.data(), 6, 3, 0));
  CHECK(broadcast.rows() == 6);
  for (Index i = 0; i < 6; ++i) {
    CHECK_FALSE(broadcast(i, 0));
    CHECK(broadcast(i, 1));
    CHECK(broadcast(i, 2));
  }
  const MaskView tail = broadcast.middle_rows(4, 2);
  CHECK(tail.rows() == 2);
  CHECK(tail(1, 2));
  CHECK_FALSE(tail(1, 0));
}

TEST_CASE("A null MaskView counts every position", "[core][mask]") {
  const MaskView none;
  CHECK(none.is_null());
  CHECK_FALSE(static_cast<bool>(none));
  CHECK(none.kind() == MaskView::Kind::none);
  CHECK(none(0, 0));
  CHECK(none(123, 456));
  CHECK(none.visit([](auto valid) {
    return std::is_same_v<decltype(valid), MaskView::AllValid> && valid(7, 9);
  }));
  CHECK(none.middle_rows(2, 3).is_null());
  // A null typed view also makes a null mask.
  CHECK(MaskView(polo::TokenView<const float>()).is_null());
}

TEST_CASE("MaskView refuses column-major storage", "[core][mask]") {
  Eigen::ArrayXXf cm = Eigen::ArrayXXf::Ones(2, 3);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { const MaskView m(cm); }),
             Contains("column-major 2x3"));
}

TEST_CASE("require_mask_shape names the expected and the actual shape", "[core][mask]") {
  const polo::MaskArray m = polo::MaskArray::Ones(2, 3);
  CHECK_NOTHROW(polo::detail::require_mask_shape("polo::f", MaskView(m), 2, 3));
  CHECK_NOTHROW(polo::detail::require_mask_shape("polo::f", MaskView(), 7, 9));
  CHECK_THAT(message_of<polo::invalid_argument>(
                 [&] { polo::detail::require_mask_shape("polo::f", MaskView(m), 3, 3); }),
             Contains("polo::f: mask shape must be [3, 3], got [2, 3]"));
  CHECK_THROWS_AS(polo::detail::require_mask_shape("polo::f", MaskView(m), 2, 4),
                  polo::invalid_argument);
}

}  // namespace mask_test

// TokenView / SeqView: construction from Eigen objects and raw pointers, strides, broadcasting,
// const conversion, null views and the refusals.

#include "polo/core/view.hpp"

#include <type_traits>
#include <utility>
#include <vector>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Index;
using polo::SeqView;
using polo::TokenView;
using polo_core_test::message_of;
using polo_test::Contains;

namespace view_test {

/// a(i, t) = 10 i + t, so every element names its own position.
polo::TokenArrayd positions(Index rows, Index cols) {
  polo::TokenArrayd a(rows, cols);
  for (Index i = 0; i < rows; ++i) {
    for (Index t = 0; t < cols; ++t)
      a(i, t) = 10.0 * static_cast<double>(i) + static_cast<double>(t);
  }
  return a;
}

TEST_CASE("TokenView of a row-major array sees its memory", "[core][view]") {
  polo::TokenArrayd a = positions(3, 4);
  TokenView<double> v(a);
  CHECK(v.data() == a.data());
  CHECK(v.rows() == 3);
  CHECK(v.cols() == 4);
  CHECK(v.stride() == 4);
  CHECK(v.size() == 12);
  CHECK_FALSE(v.is_null());
  CHECK(static_cast<bool>(v));
  CHECK(v(2, 3) == 23.0);
  CHECK(v.row(1)[2] == 12.0);
  v(1, 1) = -1.0;  // a mutable view writes through
  CHECK(a(1, 1) == -1.0);
}

TEST_CASE("TokenView deduces its scalar and constness", "[core][view]") {
  polo::TokenArrayd a = positions(2, 3);
  const polo::TokenArrayd& ca = a;
  polo::TokenArrayf f(2, 3);
  TokenView mutable_view(a);
  TokenView const_view(ca);
  TokenView float_view(f);
  STATIC_REQUIRE(std::is_same_v<decltype(mutable_view), TokenView<double>>);
  STATIC_REQUIRE(std::is_same_v<decltype(const_view), TokenView<const double>>);
  STATIC_REQUIRE(std::is_same_v<decltype(float_view), TokenView<float>>);
  // A const array never yields a mutable view, and scalars never convert.
  STATIC_REQUIRE_FALSE(std::is_constructible_v<TokenView<double>, const polo::TokenArrayd&>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<TokenView<const double>, polo::TokenArrayf&>);
  CHECK(const_view(1, 2) == 12.0);
}

TEST_CASE("TokenView of maps, middleRows and blocks keeps the outer stride", "[core][view]") {
  polo::TokenArrayd a = positions(4, 5);

  SECTION("a contiguous map") {
    std::vector<double> buf{0, 1, 2, 3, 4, 5};
    Eigen::Map<polo::TokenArrayd> m(buf.data(), 2, 3);
    TokenView<const double> v(m);
    CHECK(v.data() == buf.data());
    CHECK(v.stride() == 3);
    CHECK(v(1, 2) == 5.0);
  }
  SECTION("a map with an outer stride") {
    std::vector<double> buf(10);
    for (std::size_t k = 0; k < buf.size(); ++k)
      buf[k] = static_cast<double>(k);
    Eigen::Map<const polo::TokenArrayd, 0, Eigen::OuterStride<>> m(buf.data(), 2, 3,
                                                                   Eigen::OuterStride<>(5));
    TokenView v(m);
    STATIC_REQUIRE(std::is_same_v<decltype(v), TokenView<const double>>);
    CHECK(v.stride() == 5);
    CHECK(v(1, 0) == 5.0);
    CHECK(v(1, 2) == 7.0);
  }
  SECTION("middleRows") {
    TokenView<double> v(a.middleRows(1, 2));
    CHECK(v.data() == &a(1, 0));
    CHECK(v.rows() == 2);
    CHECK(v.cols() == 5);
    CHECK(v.stride() == 5);
    CHECK(v(0, 0) == 10.0);
    CHECK(v(1, 4) == 24.0);
  }
  SECTION("a block narrower than the array") {
    TokenView<const double> v(std::as_const(a).block(1, 2, 3, 2));
    CHECK(v.rows() == 3);
    CHECK(v.cols() == 2);
    CHECK(v.stride() == 5);
    CHECK(v(0, 0) == 12.0);
    CHECK(v(2, 1) == 33.0);
    CHECK(v.row(1) == &a(2, 2));
  }
  SECTION("one row, one column") {
    TokenView<double> row(a.row(2));
    CHECK(row.rows() == 1);
    CHECK(row.cols() == 5);
    CHECK(row(0, 3) == 23.0);
    TokenView<double> col(a.col(3));  // [4, 1]: rows 5 apart
    CHECK(col.rows() == 4);
    CHECK(col.cols() == 1);
    CHECK(col.stride() == 5);
    CHECK(col(2, 0) == 23.0);
  }
  SECTION("middle_rows of a view is the same micro-batch") {
    TokenView<const double> v(a);
    const auto mid = v.middle_rows(1, 2);
    CHECK(mid.rows() == 2);
    CHECK(mid.stride() == 5);
    CHECK(mid(0, 0) == 10.0);
    CHECK(mid(1, 3) == 23.0);
  }
}

TEST_CASE("TokenView accepts column-major storage only when it is a single row or column",
          "[core][view]") {
  Eigen::ArrayXd vec = Eigen::ArrayXd::LinSpaced(4, 0.0, 3.0);
  TokenView<const double> as_column(vec);
  CHECK(as_column.rows() == 4);
  CHECK(as_column.cols() == 1);
  CHECK(as_column(3, 0) == 3.0);

  Eigen::ArrayXXd one_row(1, 3);
  one_row << 1.0, 2.0, 3.0;
  TokenView<const double> r(one_row);
  CHECK(r.rows() == 1);
  CHECK(r(0, 2) == 3.0);
}

TEST_CASE("TokenView refuses a column-major B x T array, naming the layout and shape",
          "[core][view]") {
  Eigen::ArrayXXd cm = Eigen::ArrayXXd::Zero(3, 4);
  CHECK_THROWS_AS(TokenView<const double>(cm), polo::invalid_argument);
  const auto msg = message_of<polo::invalid_argument>([&] { TokenView<const double> v(cm); });
  CHECK_THAT(msg, Contains("polo::TokenView"));
  CHECK_THAT(msg, Contains("row-major"));
  CHECK_THAT(msg, Contains("column-major 3x4"));

  // A column-major block is refused the same way.
  Eigen::ArrayXXd big = Eigen::ArrayXXd::Zero(5, 6);
  CHECK_THAT(
      message_of<polo::invalid_argument>([&] { TokenView<const double> v(big.block(1, 1, 2, 3)); }),
      Contains("column-major 2x3"));
}

TEST_CASE("TokenView refuses a row-major map whose elements are not contiguous", "[core][view]") {
  std::vector<double> buf(12, 0.0);
  using Strided = Eigen::Map<polo::TokenArrayd, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  Strided m(buf.data(), 2, 3, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(6, 2));
  const auto msg = message_of<polo::invalid_argument>([&] { TokenView<double> v(m); });
  CHECK_THAT(msg, Contains("column stride must be 1, got 2"));
  CHECK_THAT(msg, !Contains("column-major"));
}

TEST_CASE("TokenView from a raw pointer with a shape and a row stride", "[core][view]") {
  std::vector<double> buf(12);
  for (std::size_t k = 0; k < buf.size(); ++k)
    buf[k] = static_cast<double>(k);

  TokenView<const double> contiguous(buf.data(), 3, 4);
  CHECK(contiguous.stride() == 4);
  CHECK(contiguous(2, 1) == 9.0);

  TokenView<const double> strided(buf.data(), 3, 3, 4);  // a [3, 3] window of a [3, 4] buffer
  CHECK(strided.stride() == 4);
  CHECK(strided(1, 0) == 4.0);
  CHECK(strided(2, 2) == 10.0);
  CHECK(strided.row(2) == buf.data() + 8);
}

TEST_CASE("A row stride of 0 broadcasts one row over the batch", "[core][view]") {
  const std::vector<double> row{1.5, -2.0, 4.0};
  TokenView<const double> b(row.data(), 5, 3, 0);
  CHECK(b.rows() == 5);
  CHECK(b.cols() == 3);
  CHECK(b.stride() == 0);
  for (Index i = 0; i < 5; ++i) {
    CHECK(b.row(i) == row.data());
    for (Index t = 0; t < 3; ++t)
      CHECK(b(i, t) == row[static_cast<std::size_t>(t)]);
  }
  const auto mid = b.middle_rows(3, 2);
  CHECK(mid.rows() == 2);
  CHECK(mid.stride() == 0);
  CHECK(mid(1, 2) == 4.0);
}

TEST_CASE("TokenView refuses bad raw shapes", "[core][view]") {
  std::vector<double> buf(12, 0.0);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { TokenView<double> v(buf.data(), -1, 3); }),
             Contains("shape must be non-negative, got [-1, 3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { TokenView<double> v(buf.data(), 2, 3, 2); }),
             Contains("row stride must be >= cols (3), got 2"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { TokenView<double> v(nullptr, 2, 3); }),
             Contains("data must be non-null"));
  // One row needs no stride, and an empty shape needs no data.
  CHECK_NOTHROW(TokenView<double>(buf.data(), 1, 3, 1));
  CHECK_NOTHROW(TokenView<double>(nullptr, 0, 3));
}

TEST_CASE("A mutable TokenView converts to a const one, never back", "[core][view]") {
  polo::TokenArrayd a = positions(2, 3);
  TokenView<double> m(a.middleRows(1, 1));
  TokenView<const double> c = m;
  CHECK(c.data() == m.data());
  CHECK(c.rows() == m.rows());
  CHECK(c.cols() == m.cols());
  CHECK(c.stride() == m.stride());
  STATIC_REQUIRE(std::is_convertible_v<TokenView<double>, TokenView<const double>>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<TokenView<const double>, TokenView<double>>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<TokenView<float>, TokenView<const double>>);
}

TEST_CASE("A default TokenView is null and stands for an absent input", "[core][view]") {
  TokenView<const double> n;
  CHECK(n.is_null());
  CHECK_FALSE(static_cast<bool>(n));
  CHECK(n.rows() == 0);
  CHECK(n.cols() == 0);
  CHECK(n.size() == 0);
  CHECK(TokenView<const double>(nullptr, 0, 4).is_null());
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::detail::require_present("polo::PPO", "old_logp", n, "clipping needs it");
             }),
             Contains("polo::PPO: old_logp must be given (clipping needs it), got none"));
}

TEST_CASE("require_shape names the field, the expected and the actual shape", "[core][view]") {
  polo::TokenArrayd a(2, 3);
  polo::SeqArrayd s(4);
  CHECK_NOTHROW(polo::detail::require_shape("polo::f", "logp", TokenView<const double>(a), 2, 3));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::detail::require_shape("polo::f", "logp", TokenView<const double>(a), 3, 3);
             }),
             Contains("polo::f: logp shape must be [3, 3], got [2, 3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] {
               polo::detail::require_shape("polo::f", "rewards", SeqView<const double>(s), 2);
             }),
             Contains("polo::f: rewards size must be [2], got [4]"));
}

TEST_CASE("SeqView from vectors, rows, columns and raw pointers", "[core][view]") {
  SECTION("an Eigen vector") {
    polo::SeqArrayd s(3);
    s << 1.0, 2.0, 3.0;
    SeqView v(s);
    STATIC_REQUIRE(std::is_same_v<decltype(v), SeqView<double>>);
    CHECK(v.size() == 3);
    CHECK(v.stride() == 1);
    CHECK(v[2] == 3.0);
    v(0) = 7.0;
    CHECK(s[0] == 7.0);
    Eigen::RowVectorXd r(2);
    r << 4.0, 5.0;
    SeqView<const double> rv(r);
    CHECK(rv.size() == 2);
    CHECK(rv[1] == 5.0);
  }
  SECTION("a row and a column of a row-major array") {
    polo::TokenArrayd a = positions(3, 4);
    SeqView<const double> row(std::as_const(a).row(1));
    CHECK(row.size() == 4);
    CHECK(row.stride() == 1);
    CHECK(row[3] == 13.0);
    SeqView<double> col(a.col(2));
    CHECK(col.size() == 3);
    CHECK(col.stride() == 4);
    CHECK(col[2] == 22.0);
    Eigen::ArrayXXd cm = Eigen::ArrayXXd::Zero(3, 2);
    cm(2, 1) = 9.0;
    SeqView<const double> cm_row(cm.row(2));  // a row of column-major storage: 3 apart
    CHECK(cm_row.stride() == 3);
    CHECK(cm_row[1] == 9.0);
  }
  SECTION("a raw pointer with a stride, and a segment") {
    const std::vector<double> buf{0, 1, 2, 3, 4, 5, 6, 7};
    SeqView<const double> v(buf.data(), 4, 2);
    CHECK(v[3] == 6.0);
    const auto seg = v.segment(1, 2);
    CHECK(seg.size() == 2);
    CHECK(seg[0] == 2.0);
    CHECK(seg[1] == 4.0);
  }
  SECTION("const conversion and null") {
    polo::SeqArrayd s = polo::SeqArrayd::Zero(2);
    SeqView<double> m(s);
    SeqView<const double> c = m;
    CHECK(c.data() == s.data());
    STATIC_REQUIRE_FALSE(std::is_convertible_v<SeqView<const double>, SeqView<double>>);
    SeqView<const double> n;
    CHECK(n.is_null());
    CHECK_FALSE(static_cast<bool>(n));
    CHECK(n.size() == 0);
  }
}

TEST_CASE("SeqView refuses matrices and bad raw shapes", "[core][view]") {
  polo::TokenArrayd a(2, 3);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { SeqView<double> v(a); }),
             Contains("polo::SeqView: shape must be a vector") && Contains("got [2, 3]"));
  std::vector<double> buf(3);
  CHECK_THAT(message_of<polo::invalid_argument>([&] { SeqView<double> v(buf.data(), -2); }),
             Contains("size must be >= 0, got -2"));
  CHECK_THAT(message_of<polo::invalid_argument>([&] { SeqView<double> v(nullptr, 2); }),
             Contains("data must be non-null"));
}

}  // namespace view_test

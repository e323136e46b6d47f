#pragma once
// Non-owning views of [B, T] token data and [B] per-sequence data.
//
// Views hold a pointer and a shape, never an Eigen::Ref: a copied Ref does not keep its temporary
// alive, while a view is plainly a pointer the caller keeps valid. A default-constructed view is
// null and stands for an absent optional input.

#include <cstdint>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "polo/core/error.hpp"
#include "polo/core/types.hpp"

namespace polo {

namespace detail {

template <class T>
concept EigenDense = requires(T& x) {
  x.data();
  x.rows();
  x.cols();
  x.innerStride();
  x.outerStride();
  { std::remove_cvref_t<T>::IsRowMajor } -> std::convertible_to<bool>;
};

/// Distance between consecutive rows and between consecutive columns of an Eigen expression.
template <class D>
void eigen_steps(const D& x, Index& row_step, Index& col_step) {
  if constexpr (std::remove_cvref_t<D>::IsRowMajor) {
    row_step = x.outerStride();
    col_step = x.innerStride();
  } else {
    row_step = x.innerStride();
    col_step = x.outerStride();
  }
}

}  // namespace detail

/// A `[rows, cols]` row-major view; `Scalar` may be const for inputs. Elements of a row are
/// contiguous; rows are `stride()` elements apart.
template <class Scalar>
class TokenView {
 public:
  using value_type = std::remove_const_t<Scalar>;

  TokenView() = default;

  /// Raw pointer with a shape; `row_stride` defaults to `cols` (contiguous). A row stride of 0
  /// repeats one row for every row (broadcasting a `[T]` row over the batch).
  TokenView(Scalar* data, Index rows, Index cols, Index row_stride = -1)
      : data_(data), rows_(rows), cols_(cols), stride_(row_stride < 0 ? cols : row_stride) {
    if (rows < 0 || cols < 0) {
      detail::fail_argument("polo::TokenView", "shape", "non-negative",
                            fmt::format("[{}, {}]", rows, cols));
    }
    if (stride_ != 0 && stride_ < cols_ && rows_ > 1) {
      detail::fail_argument("polo::TokenView", "row stride", fmt::format(">= cols ({})", cols_),
                            stride_);
    }
    if (data_ == nullptr && rows_ * cols_ > 0) {
      detail::fail_argument("polo::TokenView", "data", "non-null for a non-empty shape", "null");
    }
  }

  /// From an Eigen array, matrix or map. Refuses column-major storage: a [B, T] view needs each
  /// sequence contiguous, and silently copying would hide a slow path.
  template <class D>
  requires detail::EigenDense<D> &&
      std::is_convertible_v<decltype(std::declval<D&>().data()), Scalar*>
      // Implicit, as span's is; the constraint keeps it from hiding the copy constructor.
      // NOLINTNEXTLINE(google-explicit-constructor,bugprone-forwarding-reference-overload)
      TokenView(D&& x) {
    Index row_step = 0;
    Index col_step = 0;
    detail::eigen_steps(x, row_step, col_step);
    if (!std::remove_cvref_t<D>::IsRowMajor && x.cols() > 1 && x.rows() > 1 && col_step != 1) {
      detail::fail_argument("polo::TokenView", "storage",
                            "row-major with contiguous rows ([B, T], one sequence per row; use "
                            "polo::TokenArray or Eigen::RowMajor)",
                            fmt::format("a column-major {}x{} array", x.rows(), x.cols()));
    }
    if (x.cols() > 1 && col_step != 1) {
      detail::fail_argument("polo::TokenView", "column stride", "1", col_step);
    }
    data_ = x.data();
    rows_ = x.rows();
    cols_ = x.cols();
    stride_ = x.rows() > 1 ? row_step : x.cols();
  }

  /// A mutable view converts to a const one.
  template <class Other>
  requires(std::is_const_v<Scalar>&& std::is_same_v<std::remove_const_t<Scalar>, Other>)
      TokenView(TokenView<Other> other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), rows_(other.rows()), cols_(other.cols()), stride_(other.stride()) {}

  [[nodiscard]] Scalar* data() const noexcept { return data_; }
  [[nodiscard]] Index rows() const noexcept { return rows_; }
  [[nodiscard]] Index cols() const noexcept { return cols_; }
  [[nodiscard]] Index stride() const noexcept { return stride_; }
  [[nodiscard]] Index size() const noexcept { return rows_ * cols_; }
  [[nodiscard]] bool is_null() const noexcept { return data_ == nullptr && rows_ == 0; }
  explicit operator bool() const noexcept { return !is_null(); }

  [[nodiscard]] Scalar* row(Index i) const noexcept { return data_ + i * stride_; }
  Scalar& operator()(Index i, Index t) const noexcept { return data_[i * stride_ + t]; }

  /// The rows [first, first + count): a micro-batch of the same data.
  [[nodiscard]] TokenView middle_rows(Index first, Index count) const {
    return TokenView(data_ + first * stride_, count, cols_, stride_);
  }

 private:
  Scalar* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  Index stride_ = 0;
};

template <class D>
requires detail::EigenDense<D> TokenView(D&& x)
->TokenView<std::remove_pointer_t<decltype(x.data())>>;

/// A `[size]` view of per-sequence data, contiguous or with a stride.
template <class Scalar>
class SeqView {
 public:
  using value_type = std::remove_const_t<Scalar>;

  SeqView() = default;

  SeqView(Scalar* data, Index size, Index stride = 1) : data_(data), size_(size), stride_(stride) {
    if (size < 0) detail::fail_argument("polo::SeqView", "size", ">= 0", size);
    if (data_ == nullptr && size_ > 0) {
      detail::fail_argument("polo::SeqView", "data", "non-null for a non-empty view", "null");
    }
  }

  /// From an Eigen vector (any storage order), or a single row or column of an array.
  template <class D>
  requires detail::EigenDense<D> &&
      std::is_convertible_v<decltype(std::declval<D&>().data()), Scalar*>
      // NOLINTNEXTLINE(google-explicit-constructor,bugprone-forwarding-reference-overload)
      SeqView(D&& x) {
    if (x.rows() != 1 && x.cols() != 1 && x.size() != 0) {
      detail::fail_argument("polo::SeqView", "shape", "a vector ([B] or [B, 1] or [1, B])",
                            fmt::format("[{}, {}]", x.rows(), x.cols()));
    }
    Index row_step = 0;
    Index col_step = 0;
    detail::eigen_steps(x, row_step, col_step);
    data_ = x.data();
    size_ = x.size();
    stride_ = x.cols() == 1 ? row_step : col_step;
  }

  template <class Other>
  requires(std::is_const_v<Scalar>&& std::is_same_v<std::remove_const_t<Scalar>, Other>)
      SeqView(SeqView<Other> other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), size_(other.size()), stride_(other.stride()) {}

  [[nodiscard]] Scalar* data() const noexcept { return data_; }
  [[nodiscard]] Index size() const noexcept { return size_; }
  [[nodiscard]] Index stride() const noexcept { return stride_; }
  [[nodiscard]] bool is_null() const noexcept { return data_ == nullptr && size_ == 0; }
  explicit operator bool() const noexcept { return !is_null(); }

  Scalar& operator[](Index i) const noexcept { return data_[i * stride_]; }
  Scalar& operator()(Index i) const noexcept { return data_[i * stride_]; }

  [[nodiscard]] SeqView segment(Index first, Index count) const {
    return SeqView(data_ + first * stride_, count, stride_);
  }

 private:
  Scalar* data_ = nullptr;
  Index size_ = 0;
  Index stride_ = 1;
};

template <class D>
requires detail::EigenDense<D> SeqView(D&& x)
->SeqView<std::remove_pointer_t<decltype(x.data())>>;

namespace detail {

/// "[B, T]" for messages.
template <class S>
std::string shape_of(TokenView<S> v) {
  return fmt::format("[{}, {}]", v.rows(), v.cols());
}

template <class S>
std::string shape_of(SeqView<S> v) {
  return fmt::format("[{}]", v.size());
}

/// Requires `v` to be `[rows, cols]`.
template <class S>
void require_shape(std::string_view where, std::string_view field, TokenView<S> v, Index rows,
                   Index cols) {
  if (v.rows() != rows || v.cols() != cols) {
    fail_argument(where, fmt::format("{} shape", field), fmt::format("[{}, {}]", rows, cols),
                  shape_of(v));
  }
}

template <class S>
void require_shape(std::string_view where, std::string_view field, SeqView<S> v, Index size) {
  if (v.size() != size) {
    fail_argument(where, fmt::format("{} size", field), fmt::format("[{}]", size), shape_of(v));
  }
}

/// Requires an optional input to be present.
template <class V>
void require_present(std::string_view where, std::string_view field, const V& v,
                     std::string_view because) {
  if (v.is_null()) fail_argument(where, field, fmt::format("given ({})", because), "none");
}

}  // namespace detail
}  // namespace polo

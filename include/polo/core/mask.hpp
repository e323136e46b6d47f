#pragma once
// A [B, T] mask that is nonzero where a token counts. Masks come as uint8, bool, float or double;
// MaskView keeps the element type and hands loops a typed view, so the hot loops stay typed.
//
// Values at masked-out positions are never used in arithmetic (frameworks pad with NaN or -inf):
// code selects with the mask, it never multiplies by it.

#include <cstdint>
#include <type_traits>
#include <utility>

#include "polo/core/view.hpp"

namespace polo {

// GCC 12 cannot always prove which element type `kind_` selects and, for a mask buffer smaller than
// 8 bytes, reports the float / double reads of the other branches as out of bounds
// (-Warray-bounds, a false positive that breaks -Werror builds).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

class MaskView {
 public:
  enum class Kind : std::uint8_t { none, u8, boolean, f32, f64 };

  /// A null mask: every position counts.
  MaskView() = default;

  MaskView(TokenView<const unsigned char> v) : MaskView(v, Kind::u8) {}  // NOLINT
  MaskView(TokenView<const bool> v) : MaskView(v, Kind::boolean) {}      // NOLINT
  MaskView(TokenView<const float> v) : MaskView(v, Kind::f32) {}         // NOLINT
  MaskView(TokenView<const double> v) : MaskView(v, Kind::f64) {}        // NOLINT

  /// From any Eigen array / map of a supported element type.
  template <class D>
  requires detail::EigenDense<D> MaskView(const D& x)  // NOLINT(google-explicit-constructor)
      : MaskView(TokenView<const typename std::remove_cvref_t<D>::Scalar>(x)) {}

  [[nodiscard]] bool is_null() const noexcept { return kind_ == Kind::none; }
  explicit operator bool() const noexcept { return !is_null(); }
  [[nodiscard]] Index rows() const noexcept { return rows_; }
  [[nodiscard]] Index cols() const noexcept { return cols_; }
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

  /// True where position (i, t) counts. A null mask counts everywhere.
  [[nodiscard]] bool operator()(Index i, Index t) const noexcept {
    const Index k = i * stride_ + t;
    switch (kind_) {
      case Kind::u8:
        return static_cast<const unsigned char*>(data_)[k] != 0;
      case Kind::boolean:
        return static_cast<const bool*>(data_)[k];
      case Kind::f32:
        return static_cast<const float*>(data_)[k] != 0.0F;
      case Kind::f64:
        return static_cast<const double*>(data_)[k] != 0.0;
      case Kind::none:
        break;
    }
    return true;
  }

  /// Calls `f(typed)` where `typed(i, t)` is true where the token counts. For a null mask the
  /// callable receives `AllValid`, which the optimizer folds away.
  template <class F>
  decltype(auto) visit(F&& f) const {
    switch (kind_) {
      case Kind::u8:
        return std::forward<F>(f)(Typed<unsigned char>{typed<unsigned char>()});
      case Kind::boolean:
        return std::forward<F>(f)(Typed<bool>{typed<bool>()});
      case Kind::f32:
        return std::forward<F>(f)(Typed<float>{typed<float>()});
      case Kind::f64:
        return std::forward<F>(f)(Typed<double>{typed<double>()});
      case Kind::none:
        break;
    }
    return std::forward<F>(f)(AllValid{});
  }

  /// Typed access: nonzero element = valid.
  template <class T>
  struct Typed {
    TokenView<const T> view;
    bool operator()(Index i, Index t) const noexcept { return view(i, t) != T{}; }
    [[nodiscard]] const T* row(Index i) const noexcept { return view.row(i); }
  };
  struct AllValid {
    bool operator()(Index /*i*/, Index /*t*/) const noexcept { return true; }
  };

  [[nodiscard]] MaskView middle_rows(Index first, Index count) const {
    MaskView out = *this;
    if (kind_ != Kind::none) {
      out.data_ = static_cast<const unsigned char*>(data_) + first * stride_ * element_size();
      out.rows_ = count;
    }
    return out;
  }

 private:
  template <class T>
  MaskView(TokenView<const T> v, Kind kind)
      : data_(v.data()), rows_(v.rows()), cols_(v.cols()), stride_(v.stride()), kind_(kind) {
    if (v.is_null()) kind_ = Kind::none;
  }

  template <class T>
  [[nodiscard]] TokenView<const T> typed() const {
    return TokenView<const T>(static_cast<const T*>(data_), rows_, cols_, stride_);
  }

  [[nodiscard]] Index element_size() const noexcept {
    switch (kind_) {
      case Kind::u8:
        return sizeof(unsigned char);
      case Kind::boolean:
        return sizeof(bool);
      case Kind::f32:
        return sizeof(float);
      case Kind::f64:
        return sizeof(double);
      case Kind::none:
        break;
    }
    return 0;
  }

  const void* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  Index stride_ = 0;
  Kind kind_ = Kind::none;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace detail {

/// Requires a non-null mask to be `[rows, cols]`.
inline void require_mask_shape(std::string_view where, const MaskView& mask, Index rows,
                               Index cols) {
  if (!mask.is_null() && (mask.rows() != rows || mask.cols() != cols)) {
    fail_argument(where, "mask shape", fmt::format("[{}, {}]", rows, cols),
                  fmt::format("[{}, {}]", mask.rows(), mask.cols()));
  }
}

}  // namespace detail
}  // namespace polo

#pragma once
// Internals shared by the token losses: eight-token vector blocks for the fused loops, on-the-fly
// aggregation weights (so `compute` allocates nothing), output-view checks and the non-finite
// diagnosis DESIGN.md asks for.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "polo/core/aggregation.hpp"
#include "polo/core/error.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"

namespace polo::detail {

// ---------------------------------------------------------------------------------------------
// Token blocks for the fused token loops. GCC does not vectorize those loops by itself: a
// running double sum may not be reordered without -ffast-math, std::exp is a libm call, and a
// float-to-double conversion under a branch may trap. So the loops are written on GCC / Clang
// vector types (one register of doubles: 8 lanes with AVX-512, 4 with AVX, 2 with SSE2), with
// per-lane partial sums, lane-wise selects and an inline exp. The same templates also run on
// plain double (the per-row work at sequence level).
// ---------------------------------------------------------------------------------------------

// Always inlined: the per-token work must end up in the loop to vectorize with it.
#if defined(__GNUC__)
#define POLO_VEC_INLINE [[gnu::always_inline]] inline
#else
#define POLO_VEC_INLINE inline
#endif

/// Tokens per block: one vector of doubles of the widest the target enables, so that no vector
/// is wider than the target's registers (such vectors change the calling convention, and GCC
/// warns about that in every includer). The block width changes only the order of the partial
/// sums, that is the last bits of a value.
#if defined(__AVX512F__)
inline constexpr Index kBlock = 8;
#elif defined(__AVX__)
inline constexpr Index kBlock = 4;
#else
inline constexpr Index kBlock = 2;
#endif
using VecD = double __attribute__((vector_size(8 * kBlock)));
using VecI = std::int64_t __attribute__((vector_size(8 * kBlock)));  ///< lane masks: -1 or 0

/// The block vector of an element type (the attribute cannot apply to a template parameter).
template <class E>
struct BlockOf;
template <>
struct BlockOf<double> {
  using type = VecD;
};
template <>
struct BlockOf<float> {
  using type = float __attribute__((vector_size(4 * kBlock)));
};
template <>
struct BlockOf<unsigned char> {
  using type = unsigned char __attribute__((vector_size(kBlock)));
};
template <class E>
using BlockVec = typename BlockOf<E>::type;

/// The mask type of a comparison: bool for double, VecI for VecD.
template <class V>
using MaskOf = std::conditional_t<std::is_same_v<V, double>, bool, VecI>;
template <class V>
using BitsOf = std::conditional_t<std::is_same_v<V, double>, std::int64_t, VecI>;

template <class V>
[[nodiscard]] POLO_VEC_INLINE V splat(double x) noexcept {
  if constexpr (std::is_same_v<V, double>) {
    return x;
  } else {
    return V{} + x;
  }
}

/// `c ? x : y` for float or double, both sides evaluated, as bit operations: a ternary lets the
/// compiler move one side's work under a branch, which (floating point may trap) keeps a loop
/// from vectorizing. A NaN on the side not taken vanishes: the select masks need.
template <class T>
[[nodiscard]] POLO_VEC_INLINE T select(bool c, T x, T y) noexcept {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "polo::detail::select: float or double");
  using U = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  const U m = U{0} - static_cast<U>(c);  // all ones or all zeros
  return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(x) & m) | (std::bit_cast<U>(y) & ~m)));
}

/// Lane-wise `m ? x : y`.
[[nodiscard]] POLO_VEC_INLINE VecD select(const VecI& m, const VecD& x, const VecD& y) noexcept {
  return std::bit_cast<VecD>((std::bit_cast<VecI>(x) & m) | (std::bit_cast<VecI>(y) & ~m));
}

/// `m ? x : y` on masks.
[[nodiscard]] POLO_VEC_INLINE bool select_mask(bool m, bool x, bool y) noexcept {
  return m ? x : y;
}
[[nodiscard]] POLO_VEC_INLINE VecI select_mask(const VecI& m, const VecI& x,
                                               const VecI& y) noexcept {
  return (m & x) | (~m & y);
}

/// |x| by clearing the sign bit.
template <class V>
[[nodiscard]] POLO_VEC_INLINE V abs_of(const V& x) noexcept {
  constexpr std::int64_t kMagnitude = 0x7fffffffffffffff;
  return std::bit_cast<V>(std::bit_cast<BitsOf<V>>(x) & kMagnitude);
}

/// |m| with the sign of s.
template <class V>
[[nodiscard]] POLO_VEC_INLINE V copysign_of(const V& m, const V& s) noexcept {
  constexpr std::int64_t kSign = std::numeric_limits<std::int64_t>::min();
  return std::bit_cast<V>((std::bit_cast<BitsOf<V>>(abs_of(m))) |
                          (std::bit_cast<BitsOf<V>>(s) & kSign));
}

template <class V>
struct ExpPair {
  V expm1{};
  V exp{};
};

/// e^x - 1 and e^x in straight-line code: Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, a
/// degree-13 Taylor polynomial for e^r - 1 (truncation below 1e-17) and 2^k applied as two
/// factors (with AVX-512: one vscalefpd, rounded the same), so that k from -1077 to 1025 needs no
/// special case. Within 1 ulp of libm's exp and 4 of its expm1 (tests/losses/
/// token_kernels_test.cpp; a scratch run checked 2e7 points), +inf above 709.78, 0 through the
/// subnormals below -745, NaN for NaN.
template <class V>
[[nodiscard]] POLO_VEC_INLINE ExpPair<V> exp_pair(const V& x) noexcept {
  using I = BitsOf<V>;
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 32 significant bits: k * hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShift = 0x1.8p52;  // adding it rounds to an integer held in the low bits
  // Clamped so that k stays in [-1077, 1025]; a NaN passes both (its comparisons are false).
  V xc;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<V, VecD>) {
    // max / min return their second operand when one is NaN: x goes second. One instruction
    // each instead of a compare and a blend. Zero-masking forms, as below.
    constexpr auto kAll = static_cast<__mmask8>(0xFF);
    const __m512d lo = _mm512_maskz_max_pd(kAll, _mm512_set1_pd(-746.0), std::bit_cast<__m512d>(x));
    xc = std::bit_cast<V>(_mm512_maskz_min_pd(kAll, _mm512_set1_pd(710.0), lo));
  } else
#endif
  {
    const V xlo = select(x < -746.0, splat<V>(-746.0), x);
    xc = select(xlo > 710.0, splat<V>(710.0), xlo);
  }
  const V shifted = xc * kLog2e + kShift;
  const V kd = shifted - kShift;
  const V r = (xc - kd * kLn2Hi) - kd * kLn2Lo;
  // Estrin's scheme: the twelve coefficients 1/2! .. 1/13! of (e^r - 1 - r) / r^2 in pairs,
  // combined by r^2, r^4 and r^8, so that the chain of dependent operations is five deep instead
  // of Horner's twelve (SAPO's gate is an exponential of an exponential: the chains add up).
  const V r2 = r * r;
  const V r4 = r2 * r2;
  const V c01 = r * (1.0 / 6.0) + 0.5;
  const V c23 = r * (1.0 / 120.0) + 1.0 / 24.0;
  const V c45 = r * (1.0 / 5040.0) + 1.0 / 720.0;
  const V c67 = r * (1.0 / 362880.0) + 1.0 / 40320.0;
  const V c89 = r * (1.0 / 39916800.0) + 1.0 / 3628800.0;
  const V c1011 = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
  const V c03 = c23 * r2 + c01;
  const V c47 = c67 * r2 + c45;
  const V c811 = c1011 * r2 + c89;
  const V q = (c811 * r4 + c47) * r4 + c03;
  const V p = (q * r) * r + r;  // e^r - 1
  V e;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<V, VecD>) {
    // (p + 1) 2^k in one instruction, rounded once as the two factors below are.
    e = std::bit_cast<V>(_mm512_maskz_scalef_pd(
        static_cast<__mmask8>(0xFF), std::bit_cast<__m512d>(p + 1.0), std::bit_cast<__m512d>(kd)));
  } else
#endif
  {
    // k = the low 32 bits of `shifted`, sign-extended (C++20 defines both shifts).
    const I k = (std::bit_cast<I>(shifted) << 32) >> 32;
    const I k1 = k >> 1;  // k1 + k2 = k, both normal exponents
    const I k2 = k - k1;
    const V s1 = std::bit_cast<V>((k1 + 1023) << 52);
    const V s2 = std::bit_cast<V>((k2 + 1023) << 52);
    // One factor at a time: 2^k itself overflows at k = 1024 where e^x may still be finite.
    e = ((p + 1.0) * s1) * s2;
  }
  // k = 0 (|x| <= ln2 / 2) keeps e^r - 1 as computed, with no cancellation near x = 0; beyond,
  // e^x - 1 loses at most a bit or two.
  return {select(kd == 0.0, p, e - 1.0), e};
}

template <class V>
struct SigmoidPair {
  V value{};  ///< sigma(x)
  V slope{};  ///< sigma'(x) = sigma(x) (1 - sigma(x))
};

/// sigma(x) and its derivative from one exponential and one division: with e = e^-|x| and
/// d = 1 / (1 + e), sigma = d for x >= 0 and e d below (polo::sigmoid's two formulas), and
/// sigma (1 - sigma) = e d^2 on both sides, with no cancellation in 1 - sigma. NaN stays NaN.
template <class V>
[[nodiscard]] POLO_VEC_INLINE SigmoidPair<V> sigmoid_pair(const V& x) noexcept {
  const V e = exp_pair<V>(-abs_of(x)).exp;
  const V d = 1.0 / (e + 1.0);
  const V ed = e * d;
  return {select(x >= 0.0, d, ed), ed * d};
}

/// `kBlock` elements of type E as one vector: the whole block from `p` when n = kBlock (one
/// load), else the first n with zeros after them (the row's last, partial block).
template <class E>
[[nodiscard]] POLO_VEC_INLINE auto load_raw(const E* p, Index n) noexcept {
  BlockVec<E> v{};
  if (n == kBlock) {
    std::memcpy(&v, p, sizeof v);
  } else {
    E buf[kBlock] = {};
    std::memcpy(buf, p, static_cast<std::size_t>(n) * sizeof(E));
    std::memcpy(&v, buf, sizeof v);
  }
  return v;
}

/// The first `n` (1..kBlock) elements at `p` as doubles; lanes from n on are 0.
template <class S>
[[nodiscard]] POLO_VEC_INLINE VecD load(const S* p, Index n) noexcept {
  if constexpr (std::is_same_v<S, double>) {
    return load_raw(p, n);
  } else {
#if defined(__AVX512F__)
    // One widening conversion: GCC 12 lowers the generic one below as two halves with an
    // extract and an insert (five instructions per load). The zero-masking forms here and in
    // exp_pair: the plain ones start from an "undefined" register (maybe-uninitialized).
    if (n == kBlock) {
      return std::bit_cast<VecD>(
          _mm512_maskz_cvtps_pd(static_cast<__mmask8>(0xFF), _mm256_loadu_ps(p)));
    }
#endif
    return __builtin_convertvector(load_raw(p, n), VecD);
  }
}

/// Stores the first `n` lanes of `v` at `p` as S.
template <class S>
POLO_VEC_INLINE void store(S* p, const VecD& v, Index n) noexcept {
  BlockVec<S> out;
  if constexpr (std::is_same_v<S, double>) {
    out = v;
  } else {
    out = __builtin_convertvector(v, BlockVec<S>);
  }
  if (n == kBlock) {
    std::memcpy(p, &out, sizeof out);
  } else {
    S buf[kBlock];
    std::memcpy(buf, &out, sizeof out);
    std::memcpy(p, buf, static_cast<std::size_t>(n) * sizeof(S));
  }
}

/// Lanes 0..n-1 set, the rest clear.
[[nodiscard]] POLO_VEC_INLINE VecI first_lanes(Index n) noexcept {
  VecI lane{};
  for (Index k = 0; k < kBlock; ++k) {
    lane[k] = k;
  }
  return lane < n;
}

/// The valid lanes of the block of row i starting at column t0, n (1..kBlock) columns long.
[[nodiscard]] POLO_VEC_INLINE VecI valid_lanes(MaskView::AllValid /*valid*/, Index /*i*/,
                                               Index /*t0*/, Index n) noexcept {
  return first_lanes(n);
}

/// The valid lanes of the first `n` (1..kBlock) mask elements at `p` (nonzero = valid).
template <class T>
[[nodiscard]] POLO_VEC_INLINE VecI lanes_at(const T* p, Index n) noexcept {
#if defined(__AVX512F__)
  // uint8 / bool, a full block: one widening load (GCC builds the generic form byte by byte).
  if constexpr (sizeof(T) == 1) {
    if (n == kBlock) {
      // The zero-masking form: the plain one starts from an "undefined" register that GCC 12
      // reports as maybe-uninitialized.
      const __m512i wide = _mm512_maskz_cvtepu8_epi64(
          static_cast<__mmask8>(0xFF), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
      return std::bit_cast<VecI>(wide) != 0;
    }
  }
#endif
  // bool is read as its bytes (0 or 1); lanes past n stay 0, that is invalid.
  using E = std::conditional_t<std::is_same_v<T, bool>, unsigned char, T>;
  static_assert(sizeof(E) == sizeof(T));
  const auto v = load_raw(reinterpret_cast<const E*>(p), n);
  if constexpr (sizeof(E) == 8) {
    return v != E{};
  } else {
    // Widen first: the comparison of narrow lanes would give narrow masks.
    using Wide = std::conditional_t<std::is_floating_point_v<E>, VecD, VecI>;
    return __builtin_convertvector(v, Wide) != 0;
  }
}

template <class T>
[[nodiscard]] POLO_VEC_INLINE VecI valid_lanes(const MaskView::Typed<T>& valid, Index i, Index t0,
                                               Index n) noexcept {
  return lanes_at(valid.row(i) + t0, n);
}

/// A mask read block by block through one switch on its element kind. The switch goes the same
/// way for every block (a predicted branch), so a fused loop written on it is compiled once, not
/// once per mask element type as with `MaskView::visit` (which multiplied compile times).
class MaskLanes {
 public:
  explicit MaskLanes(const MaskView& mask) : kind_(mask.kind()) {
    mask.visit([this](auto typed) {
      if constexpr (!std::is_same_v<decltype(typed), MaskView::AllValid>) {
        data_ = typed.view.data();
        row_bytes_ = typed.view.stride() * static_cast<Index>(sizeof(*typed.view.data()));
      }
    });
  }

  /// The valid lanes of the block of row i starting at column t0, n (1..kBlock) columns long.
  [[nodiscard]] POLO_VEC_INLINE VecI operator()(Index i, Index t0, Index n) const noexcept {
    const unsigned char* row = static_cast<const unsigned char*>(data_) + i * row_bytes_;
    switch (kind_) {
      case MaskView::Kind::u8:
      case MaskView::Kind::boolean:
        return lanes_at(row + t0, n);
      case MaskView::Kind::f32:
        return lanes_at(reinterpret_cast<const float*>(row) + t0, n);
      case MaskView::Kind::f64:
        return lanes_at(reinterpret_cast<const double*>(row) + t0, n);
      case MaskView::Kind::none:
        break;
    }
    return first_lanes(n);
  }

 private:
  MaskView::Kind kind_;
  const void* data_ = nullptr;
  Index row_bytes_ = 0;
};

[[nodiscard]] POLO_VEC_INLINE VecI valid_lanes(const MaskLanes& valid, Index i, Index t0,
                                               Index n) noexcept {
  return valid(i, t0, n);
}

[[nodiscard]] POLO_VEC_INLINE double lane_sum(const VecD& v) noexcept {
  double s = 0.0;
  for (Index k = 0; k < kBlock; ++k) {
    s += v[k];
  }
  return s;
}

/// The number of set lanes summed into `counts` (each set lane is -1).
[[nodiscard]] POLO_VEC_INLINE Index lane_count(const VecI& counts) noexcept {
  Index s = 0;
  for (Index k = 0; k < kBlock; ++k) {
    s -= counts[k];
  }
  return s;
}

/// The per-row weight w_i of `polo::aggregation_weights`, computed row by row inside the fused
/// loop instead of into a buffer. `valid` is the typed mask a `MaskView::visit` hands out.
template <class Valid>
class RowWeights {
 public:
  RowWeights(const Aggregation& agg, Valid valid, Index rows, Index cols)
      : mode_(agg.mode), valid_(valid), cols_(cols) {
    row_norm_ = agg.normalizer > 0.0 ? agg.normalizer : static_cast<double>(rows);
    switch (agg.mode) {
      case AggregationMode::token_mean: {
        double n = agg.normalizer;
        if (n <= 0.0) {
          n = 0.0;
          for (Index i = 0; i < rows; ++i) {
            n += valid_in_row(i);
          }
        }
        constant_ = n > 0.0 ? 1.0 / n : 0.0;
        break;
      }
      case AggregationMode::seq_mean_token_mean:
        break;
      case AggregationMode::seq_mean_token_sum:
        constant_ = rows > 0 ? 1.0 / row_norm_ : 0.0;
        break;
      case AggregationMode::token_sum_over_constant:
        constant_ = 1.0 / agg.normalizer;
        break;
    }
  }

  [[nodiscard]] double operator()(Index i) const {
    if (mode_ != AggregationMode::seq_mean_token_mean) return constant_;
    const double n = valid_in_row(i);
    return n > 0.0 ? 1.0 / (row_norm_ * n) : 0.0;
  }

 private:
  // An integer count: it vectorizes (a double sum would not).
  [[nodiscard]] double valid_in_row(Index i) const {
    if constexpr (std::is_same_v<Valid, MaskLanes>) {
      VecI n{};
      for (Index t0 = 0; t0 < cols_; t0 += kBlock) {
        n += valid_(i, t0, std::min(kBlock, cols_ - t0));
      }
      return static_cast<double>(lane_count(n));
    } else {
      Index n = 0;
      for (Index t = 0; t < cols_; ++t) {
        n += valid_(i, t) ? 1 : 0;
      }
      return static_cast<double>(n);
    }
  }

  AggregationMode mode_;
  Valid valid_;
  Index cols_;
  double row_norm_ = 0.0;
  double constant_ = 0.0;
};

/// A required `[rows, cols]` input.
template <class S>
void require_input(std::string_view where, std::string_view field, TokenView<S> v, Index rows,
                   Index cols) {
  require_shape(where, field, v, rows, cols);
}

/// A `[rows, cols]` output view: right shape, and not a broadcast (stride 0) view, which would
/// make every row write over the same memory.
template <class S>
void require_output(std::string_view where, std::string_view field, TokenView<S> v, Index rows,
                    Index cols) {
  require_shape(where, field, v, rows, cols);
  if (rows > 1 && cols > 0 && v.stride() == 0) {
    fail_argument(where, fmt::format("{} row stride", field), "> 0 (an output cannot broadcast)",
                  0);
  }
}

/// The owning form of a loss call: sizes the result's gradient (the member `grad`) and its
/// per-token losses like the `[rows, cols]` input, runs the zero-allocation kernel
/// `run(grad_view, per_token_view)` into them, and keeps its value and metrics.
template <class Result, class S, class Run>
Result owning_call(Index rows, Index cols, TokenArray<S> Result::*grad, Run&& run) {
  Result out;
  (out.*grad).resize(rows, cols);
  out.per_token.resize(rows, cols);
  const auto v = std::forward<Run>(run)(TokenView<S>(out.*grad), TokenView<S>(out.per_token));
  out.value = v.value;
  out.metrics = v.metrics;
  return out;
}

/// Turns one element of `std::initializer_list` into a named input for `fail_nonfinite`.
template <class S>
using NamedInput = std::pair<std::string_view, TokenView<const S>>;

/// Called only when a loss's value or gradient came out non-finite (so the common path pays
/// nothing): throws `nonfinite_error` for the first input holding NaN/inf at a valid position,
/// else `invalid_argument` saying the finite inputs overflowed (`hint` says how to avoid it).
template <class S>
[[noreturn]] void fail_nonfinite(std::string_view where,
                                 std::initializer_list<NamedInput<S>> inputs, const MaskView& mask,
                                 double value, std::string_view hint) {
  for (const auto& [field, view] : inputs) {
    check_finite(where, field, view, mask);
  }
  fail_argument(where, "the loss", fmt::format("finite for finite inputs ({})", hint), value);
}

}  // namespace polo::detail

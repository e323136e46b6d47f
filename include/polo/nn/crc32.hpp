#pragma once
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: the checksum of zlib, PNG and gzip), table
// driven, for checkpoint integrity.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace polo::detail {

/// The 256-entry lookup table, built at compile time.
constexpr std::array<std::uint32_t, 256> make_crc32_table() noexcept {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0U ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
    }
    table[n] = c;
  }
  return table;
}

inline constexpr std::array<std::uint32_t, 256> crc32_table = make_crc32_table();

/// Continues the CRC `crc` (0 for a fresh one) over `bytes`; crc32("123456789") = 0xCBF43926.
inline std::uint32_t crc32(std::span<const unsigned char> bytes, std::uint32_t crc = 0) noexcept {
  std::uint32_t c = crc ^ 0xFFFFFFFFU;
  for (const unsigned char b : bytes) {
    c = crc32_table[(c ^ b) & 0xFFU] ^ (c >> 8U);
  }
  return c ^ 0xFFFFFFFFU;
}

}  // namespace polo::detail

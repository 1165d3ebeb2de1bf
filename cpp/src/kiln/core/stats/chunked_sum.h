// A fast exact accumulator for long sums (R. M. Neal's "small superaccumulator", arXiv:1505.05571).
//
// core::ExactSum keeps one two's-complement integer and propagates carries on every addition,
// which costs tens of nanoseconds per value. Here each double's 53-bit significand is split at
// 32-bit boundaries of its binary exponent into three pieces that are added, signed and without
// carries, into 64-bit bins; carries are resolved only every 2^30 additions and once at the end,
// when the bins are handed to an ExactSum. The sum is the same exact number, so every result stays
// math.fsum's bits, in any order and grouping.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "kiln/core/program/exact_sum.h"

namespace kiln::core::stats {

class ChunkedSum {
 public:
  void add(double x) {
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
    const int e = static_cast<int>((bits >> 52) & 0x7ff);
    if (e == 0x7ff) {  // inf or NaN: IEEE addition of the specials, as ExactSum does
      special_ = has_special_ ? special_ + x : x;
      has_special_ = true;
      return;
    }
    const std::uint64_t frac = bits & ((std::uint64_t{1} << 52) - 1);
    const std::uint64_t mant = e == 0 ? frac : (frac | (std::uint64_t{1} << 52));
    const int shift = e == 0 ? 0 : e - 1;  // x = mant * 2^(shift - 1074)
    const unsigned __int128 m = static_cast<unsigned __int128>(mant) << (shift & 31);
    const std::size_t k = static_cast<std::size_t>(shift >> 5);
    const auto lo = static_cast<std::int64_t>(static_cast<std::uint64_t>(m) & 0xffffffffu);
    const auto mid = static_cast<std::int64_t>(static_cast<std::uint64_t>(m >> 32) & 0xffffffffu);
    const auto hi = static_cast<std::int64_t>(static_cast<std::uint64_t>(m >> 64));
    if (bits >> 63) {
      bins_[k] -= lo;
      bins_[k + 1] -= mid;
      bins_[k + 2] -= hi;
    } else {
      bins_[k] += lo;
      bins_[k + 1] += mid;
      bins_[k + 2] += hi;
    }
    if (++count_ == kNormalizeEvery) Normalize();
  }

  /// Adds the accumulated exact sum to `out`.
  void add_to(ExactSum& out) const;

 private:
  // Each addition changes a bin by less than 2^32, so 2^30 additions cannot overflow an int64
  // that starts normalized (|bin| < 2^32).
  static constexpr std::uint32_t kNormalizeEvery = 1u << 30;
  // Shifts reach 2045; three pieces from bin shift/32 on.
  static constexpr std::size_t kBins = 2046 / 32 + 3;

  void Normalize();

  std::array<std::int64_t, kBins> bins_{};
  std::uint32_t count_ = 0;
  double special_ = 0.0;
  bool has_special_ = false;
};

}  // namespace kiln::core::stats

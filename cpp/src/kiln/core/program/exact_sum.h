// Exactly rounded sums of doubles (specs/formula.md F10): a fixed-point superaccumulator that holds
// any sum of doubles without rounding, so the result equals math.fsum (and does not depend on order,
// chunking or thread count). Unlike math.fsum it never fails on intermediate overflow: the exact
// sum is rounded once, to +-inf only if it is itself out of range.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace kiln::core {

class ExactSum {
 public:
  void add(double x);
  /// Adds another accumulator exactly, so partial sums of chunks (or threads) merge into the
  /// same bits as one pass over all values, in any grouping.
  void add(const ExactSum& other);
  /// Adds (or subtracts) magnitude * 2^(shift - 1074) exactly; shift in [0, 2112]. Lets faster
  /// accumulators (stats::ChunkedSum) hand over their partial sums.
  void add_scaled(std::uint64_t magnitude, int shift, bool negative);
  /// The exact sum rounded to nearest-even; NaN if a NaN or both infinities were added.
  double value() const;
  /// The exact sum divided by n (> 0), rounded once (the exactly rounded mean).
  double divided_by(std::uint64_t n) const;

 private:
  // Units of 2^-1074 (the smallest subnormal); 36 limbs of 64 bits cover 2^1024 * 2^64 terms
  // with room for the sign (two's complement).
  static constexpr int kLimbs = 36;
  std::array<std::uint64_t, kLimbs> limb_{};
  double special_ = 0.0;  // sum of the non-finite addends (inf, -inf, NaN)
  bool has_special_ = false;
};

/// math.fsum of n doubles.
double exact_sum(const double* x, std::size_t n);

}  // namespace kiln::core

// A fast sum that proves its rounding, with the exact sum as the fallback.
//
// The exact accumulators (ChunkedSum, ExactSum) cost 3-25 ns per value: data-dependent bins and
// sign branches. Most sums are far from a rounding boundary, so here each of four lanes keeps a
// double-double accumulation (TwoSum: s + x = t + e exactly, the errors e summed in c) and the sum
// a of |e|. With M error terms summed in any order, |sum(e) - c| <= gamma(M-1) * sum|e| and
// sum|e| <= a / (1 - gamma(M-1)) (Higham, Accuracy and Stability of Numerical Algorithms, 4.2),
// so the exact sum S lies within E of hi + lo, where (hi, lo) = TwoSum(s, c). When no rounding
// boundary lies within that interval, the correctly rounded S is hi (and S/n rounds to a quotient
// checked the same way); otherwise value() and divided_by() return nullopt and the caller sums
// exactly. A result is therefore always the exactly rounded one: the bits do not depend on the
// lane split, the thread count or whether the fallback ran.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace kiln::core::stats {

class CertifiedSum {
 public:
  /// Adds n values; one NaN or infinity (or an overflow) makes value() and divided_by() nullopt.
  void add(const double* x, std::size_t n);
  void add(double x) { add(&x, 1); }

  /// Folds another accumulator in (TwoSum of the lane sums; their errors join c and a).
  void merge(const CertifiedSum& other);

  /// The exactly rounded sum, when the error bound proves it; nullopt otherwise (including
  /// overflow, an exact zero and results near the subnormal range).
  std::optional<double> value() const;
  /// The exactly rounded sum / n, under the same conditions.
  std::optional<double> divided_by(std::uint64_t n) const;

 private:
  static constexpr std::size_t kLanes = 8;  // two AVX2 registers of four

  std::size_t AddAvx2(const double* x, std::size_t n);  // x86-64 with AVX2 only; values consumed

  void AddToLane(std::size_t l, double x) {
    const double t = s_[l] + x;
    const double z = t - s_[l];
    const double e = (s_[l] - (t - z)) + (x - z);
    s_[l] = t;
    c_[l] += e;
    a_[l] += std::fabs(e);
  }

  struct Total {
    double hi, lo, bound;  // the exact sum lies within bound of hi + lo
  };
  std::optional<Total> total() const;

  std::array<double, kLanes> s_{}, c_{}, a_{};
  std::uint64_t terms_ = 0;  // error terms so far: one per value and per merged lane
};

}  // namespace kiln::core::stats

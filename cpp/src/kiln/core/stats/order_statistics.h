// Order statistics bit for bit as numpy computes them (specs/formula.md C.2, C.3).
//
// Quantiles follow numpy's `linear` method including its arithmetic: h = (n - 1)·q, the two
// neighbours of ⌊h⌋, and numpy's two-sided lerp (a + (b - a)·t for t < 0.5, else b - (b - a)·(1 - t)).
// For h at or past the last index numpy computes t as h + 1 (its previous index is set to -1 before
// t is taken); that is kept, because it decides which lerp branch runs and so the bits of the
// result when the last value is infinite. The median of numpy.median is a different formula
// ((a + b) / 2 for even n) and has its own function: benchmark summaries use both.
//
// Values are found by selection, not a full sort. Inputs must be NaN-free (callers decide what NaN
// means); -0.0 is ordered before 0.0 so a zero quantile's sign never depends on the input order.
#pragma once

#include <cstddef>
#include <span>

namespace kiln::core::stats {

/// Strict weak order on NaN-free doubles: numeric, and -0.0 before 0.0.
inline bool TotalLess(double a, double b) {
  if (a < b) return true;
  if (a > b) return false;
  return a == 0.0 && b == 0.0 && __builtin_signbit(a) && !__builtin_signbit(b);
}

/// numpy.quantile(x, qs, method="linear") of NaN-free x (n >= 1), every q in [0, 1]. `work` holds
/// x and is reordered; out[i] is the quantile qs[i].
void QuantilesLinear(std::span<double> work, std::span<const double> qs, std::span<double> out);

/// One numpy `linear` quantile (see QuantilesLinear).
double QuantileLinear(std::span<double> work, double q);

/// numpy.median of NaN-free x (n >= 1): the middle value, or (a + b) / 2 of the two middle values.
/// `work` is reordered.
double MedianNumpy(std::span<double> work);

}  // namespace kiln::core::stats

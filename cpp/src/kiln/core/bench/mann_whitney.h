// Two-sided Mann–Whitney U test of benchmark samples (specs/formula.md C.2, T1).
//
// Mid-ranks; the exact null distribution when both samples have at most 20 values and there are
// no ties, else the normal approximation with tie and continuity corrections, p = erfc(|z|/√2):
// scipy.stats.mannwhitneyu's conventions (method "auto" differs only in its cut-off). Every
// intermediate is either an exact integer or a double operation in the reference's order, so the
// Python reference (kiln.bench.reference.mann_whitney) gives the same bits.
#pragma once

#include <span>

namespace kiln::core::bench {

struct MannWhitney {
  double u1;  ///< U statistic of the first sample
  double p;   ///< two-sided p-value, at most 1
};

inline constexpr int kMannWhitneyExactMaxN = 20;

/// U and p of samples a and b; NaN for both when a side is empty.
MannWhitney MannWhitneyU(std::span<const double> a, std::span<const double> b);

}  // namespace kiln::core::bench

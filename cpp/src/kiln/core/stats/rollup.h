// One-pass metric rollups over chunked float64 data (specs/formula.md C.3, kiln.stats).
//
// The input is a list of chunks (pyarrow chunks or numpy arrays, read in place). Large inputs are
// split across threads; every partial result merges exactly (exact sums, NaN-propagating min/max
// under the total order -0.0 < 0.0, counts), and quantiles select over one gathered copy, so the
// bits never depend on the thread count or the chunk boundaries.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "kiln/core/status.h"

namespace kiln::core::stats {

/// Inputs from this size up run on several threads when asked (below it threads cost more).
inline constexpr std::size_t kParallelValues = 262144;

struct RollupOptions {
  std::vector<double> quantiles;  ///< numpy `linear` quantiles to compute, each in [0, 1]
  bool sum = true;                ///< sum and mean
  bool extremes = true;           ///< min and max
  bool stddev = true;             ///< needs a second pass
  int ddof = 1;
  bool skipna = false;  ///< drop NaN values (counted in nan_count) instead of propagating them
  bool strict = false;  ///< empty, non-finite and degenerate inputs become errors
  int threads = 1;
  std::string stat = "rollup";  ///< the statistic's name in strict errors
};

struct Rollup {
  std::size_t count = 0;      ///< values the statistics cover (NaNs excluded under skipna)
  std::size_t nan_count = 0;  ///< NaN values in the input, whether skipped or not
  double sum = 0.0;           ///< exactly rounded (math.fsum's bits); 0.0 when empty
  double mean, min, max, stddev;  ///< NaN when empty (stddev: when count <= ddof)
  std::vector<double> quantiles;  ///< in the order of RollupOptions::quantiles
};

/// The rollup of the concatenated chunks. Errors: STATS_INVALID_QUANTILE always; in strict mode
/// STATS_EMPTY, STATS_NONFINITE (first non-finite value, index into the concatenation) and
/// STATS_DEGENERATE (stddev of count <= ddof values).
Result<Rollup> ComputeRollup(std::span<const std::span<const double>> chunks, const RollupOptions& options);

}  // namespace kiln::core::stats

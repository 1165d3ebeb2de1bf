// Bootstrap confidence intervals of benchmark medians (specs/formula.md C.2, T1).
//
// Resampling indices come from the core Philox stream keyed by the case: key = the first 16 bytes
// of SHA-256(name + impl) as two little-endian u64, counter 0; each 64-bit word u gives the index
// ⌊((u >> 11)·2⁻⁵³)·n⌋, resample i taking words i·n … i·n + n - 1. The intervals are therefore
// reproducible run to run and equal bit for bit to the Python reference (kiln.bench.reference),
// which draws the same words from numpy.random.Philox.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kiln/core/philox.h"

namespace kiln::core::bench {

inline constexpr std::size_t kBootstrapResamples = 2000;
inline constexpr double kBootstrapAlpha = 0.05;

/// The Philox key of a case: SHA-256(name + impl), first 16 bytes, little-endian words.
PhiloxStream::Key BootstrapKey(std::string_view name, std::string_view impl);

/// numpy.median of each of `resamples` bootstrap resamples of x, in draw order.
std::vector<double> BootstrapMedians(std::span<const double> x, std::string_view name, std::string_view impl,
                                     std::size_t resamples = kBootstrapResamples);

/// Percentile interval of bootstrap statistics: sorted t(k) and t(B + 1 - k), k = ⌈B·α/2⌉.
/// `stats` is sorted in place; nullopt when empty.
std::optional<std::array<double, 2>> PercentileInterval(std::vector<double>& stats,
                                                        double alpha = kBootstrapAlpha);

/// 95 % interval of the median of x; nullopt below 2 samples.
std::optional<std::array<double, 2>> BootstrapCI(std::span<const double> x, std::string_view name,
                                                 std::string_view impl);

/// 95 % interval of median(peer) / median(kiln) (kiln / peer when higher is better) from
/// independent bootstraps of both sides; non-finite ratios are dropped; nullopt below 2 samples
/// on a side or when no ratio is finite.
std::optional<std::array<double, 2>> RatioCI(std::span<const double> peer, std::span<const double> kiln,
                                             std::string_view name, std::string_view peer_impl,
                                             std::string_view kiln_impl, bool higher_is_better);

}  // namespace kiln::core::bench

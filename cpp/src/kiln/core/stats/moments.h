// Sums, means, standard deviations and correlations that are exactly defined (specs/formula.md
// F10, C.3): every sum is exactly rounded (math.fsum's bits, via core::ExactSum), the mean is the
// exact sum divided by n and rounded once (so min <= mean <= max always holds), and each squared or
// multiplied deviation is rounded to double before the exact sum. Being exact, the results do not
// depend on the order, the chunking or the thread count, and a Python reference (math.fsum,
// fractions) reproduces them bit for bit.
#pragma once

#include <cstddef>
#include <span>

#include "kiln/core/program/exact_sum.h"

namespace kiln::core::stats {

/// Exact sum of x over the chunks; NaN-free or not (NaN propagates).
ExactSum SumOf(std::span<const std::span<const double>> chunks);

/// Exact sum of (x_i - mean)^2, each square rounded to double.
ExactSum SquaredDeviations(std::span<const std::span<const double>> chunks, double mean);

/// sqrt(exact_sum((x - mean)^2) / (n - ddof)); NaN when n <= ddof.
double StdDevFrom(const ExactSum& squared_deviations, std::size_t n, int ddof);

/// Pearson's r of equally long x and y: fsum(dx·dy) / (sqrt(fsum(dx²))·sqrt(fsum(dy²))) with exact
/// means, clamped to [-1, 1]; NaN for n < 2, zero variance or NaN inputs.
double Pearson(std::span<const double> x, std::span<const double> y);

}  // namespace kiln::core::stats

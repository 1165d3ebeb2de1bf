// The summary of one implementation's benchmark samples (specs/formula.md C.2): the numbers a
// kiln.bench/1 Measurement carries, computed natively and bit for bit as kiln.bench.reference does.
//
// Definitions: mean = exact sum / n rounded once; stddev = sqrt(fsum((x - mean)²) / (n - 1));
// q1, median, q3, p95 = numpy.percentile(x, [25, 50, 75, 95]) (`linear`); MAD = numpy.median of
// |x - median|; Tukey fences at 1.5 and 3 IQR (outliers counted, never removed); ci95 = bootstrap
// interval of the median keyed by (name, impl).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace kiln::core::bench {

struct Summary {
  std::size_t n = 0;
  double min = 0, max = 0, mean = 0;
  std::optional<double> stddev;  ///< nullopt below 2 samples
  double median = 0, mad = 0, q1 = 0, q3 = 0, iqr = 0, p95 = 0;
  std::size_t outliers_mild = 0;    ///< beyond 1.5 IQR but not beyond 3 IQR
  std::size_t outliers_severe = 0;  ///< beyond 3 IQR
  std::optional<std::array<double, 2>> ci95;
  std::optional<double> cost_per_unit;  ///< median / work_count; nullopt when work_count is 0
  std::optional<double> throughput;     ///< work_count / median; nullopt unless median > 0
};

/// Summary of NaN-free samples (n = 0 gives a Summary with n = 0 and nothing else meaningful).
Summary Summarize(std::span<const double> samples, std::string_view name, std::string_view impl,
                  double work_count = 1.0);

}  // namespace kiln::core::bench

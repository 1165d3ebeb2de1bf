#include "kiln/core/bench/summary.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kiln/core/bench/bootstrap.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/core/stats/moments.h"
#include "kiln/core/stats/order_statistics.h"

namespace kiln::core::bench {

Summary Summarize(std::span<const double> samples, std::string_view name, std::string_view impl,
                  double work_count) {
  Summary s;
  const std::size_t n = samples.size();
  s.n = n;
  if (n == 0) return s;
  s.min = *std::min_element(samples.begin(), samples.end(), stats::TotalLess);
  s.max = *std::max_element(samples.begin(), samples.end(), stats::TotalLess);
  ExactSum sum;
  for (double v : samples) sum.add(v);
  s.mean = sum.divided_by(n);
  if (n > 1) {
    const std::span<const double> chunk[1] = {samples};
    s.stddev = stats::StdDevFrom(stats::SquaredDeviations(chunk, s.mean), n, 1);
  }
  std::vector<double> work(samples.begin(), samples.end());
  const double qs[4] = {0.25, 0.5, 0.75, 0.95};
  double q[4];
  stats::QuantilesLinear(work, qs, q);
  s.q1 = q[0];
  s.median = q[1];
  s.q3 = q[2];
  s.p95 = q[3];
  s.iqr = s.q3 - s.q1;
  std::size_t mild = 0, severe = 0;
  for (double v : samples) {
    mild += (v < s.q1 - 1.5 * s.iqr || v > s.q3 + 1.5 * s.iqr) ? 1 : 0;
    severe += (v < s.q1 - 3.0 * s.iqr || v > s.q3 + 3.0 * s.iqr) ? 1 : 0;
  }
  s.outliers_mild = mild - severe;
  s.outliers_severe = severe;
  for (std::size_t i = 0; i < n; ++i) work[i] = std::fabs(samples[i] - s.median);
  s.mad = stats::MedianNumpy(work);
  s.ci95 = BootstrapCI(samples, name, impl);
  if (work_count != 0.0) s.cost_per_unit = s.median / work_count;
  if (s.median > 0) s.throughput = work_count / s.median;
  return s;
}

}  // namespace kiln::core::bench

// Many replicates on a native pool of std::jthreads: an atomic work index over the specs and one
// output slot per run, so results come back in input order whatever the worker count (§5.1).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <stop_token>
#include <vector>

#include "kiln/popgen/simulation.h"

namespace kiln::popgen {

struct RunSpec {
  Params params;  // includes T
  std::uint64_t seed = 0, replicate = 0;
  std::int64_t horizon = 0;
  /// Runs sharing a group id are cancelled together at the first extinction among them when
  /// `stop_group_on_extinction` is set (nunney2003's early stop, §3.1). -1: no group.
  std::int64_t group = -1;
};

struct ParallelOptions {
  int workers = 1;
  bool stop_group_on_extinction = false;
};

/// Validates every spec before running any (so bad input never leaves partial work), then runs
/// them. A run cancelled by its group or `stop` has outcome "error" with code K2207.
core::Result<std::vector<RunResult>> SimulateMany(const std::vector<RunSpec>& specs, const RunOptions& opts,
                                                  const ParallelOptions& par, std::stop_token stop = {},
                                                  std::atomic<std::int64_t>* done = nullptr);

}  // namespace kiln::popgen

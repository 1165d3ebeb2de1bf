// One replicate of the Nunney (2003) model, generation by generation, exactly as §2.5 orders it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "kiln/core/status.h"
#include "kiln/popgen/params.h"

namespace kiln::popgen {

/// Declarative early stop (no callbacks, so the GIL stays released): outcome "stopped" once the
/// adults number fewer than min_N or the mean squared deviation exceeds max_msd.
struct StopRule {
  std::optional<std::int64_t> min_N;
  std::optional<double> max_msd;
};

struct RunOptions {
  std::int64_t horizon = 0;  // resolved H (HorizonRule is resolved by the caller, per T)
  Record record = Record::kSummary;
  std::int64_t record_every = 1;
  bool final_population = false;
  StopRule stop;
  std::uint64_t max_memory_bytes = 2ULL << 30;
  std::uint64_t max_record_bytes = 256ULL << 20;
};

/// The §4.2 outcome and summary of one run (settings and provenance are added by the caller).
struct RunResult {
  std::uint64_t seed = 0, replicate = 0;
  double T = 0;
  std::int64_t horizon = 0;
  std::string outcome;  // persisted, extinct, stopped, error
  bool persisted = false;
  std::optional<std::int64_t> t_ext;
  std::string extinction_cause;  // empty = null
  std::int32_t error_code = 0;   // 0 = null
  std::string error_message;
  std::int64_t generations_simulated = 0, final_N = 0, min_N = 0, total_births = 0, total_mutations = 0;
  double mean_N_over_K = 0, mean_msd = 0, mean_var_total = 0;  // NaN = null
  std::vector<std::int64_t> substitutions;
  std::shared_ptr<arrow::RecordBatch> generations;       // null for record = outcome
  std::shared_ptr<arrow::RecordBatch> final_population;  // null unless asked for
};

/// Checks params, horizon, seed-independent limits (K2202 memory, K2203 record size).
core::Status ValidateRun(const Params& p, const RunOptions& opts);

/// Runs one replicate to extinction, stop rule, horizon, cancellation or a runtime error (which
/// ends the run with outcome "error" and keeps the rows recorded so far).
core::Result<RunResult> RunReplicate(const Params& p, std::uint64_t seed, std::uint64_t replicate,
                                     const RunOptions& opts, std::stop_token stop = {},
                                     const std::atomic<bool>* abort = nullptr);

/// The generation-table schema at a record level (§4.1).
std::shared_ptr<arrow::Schema> GenerationSchema(std::int32_t n, Record record);
/// The outcome columns of §4.2 as one batch, one row per result, in order.
core::Result<std::shared_ptr<arrow::RecordBatch>> RunsToBatch(const std::vector<RunResult>& runs);

/// Test hook (§11 item 4): one generation from a hand-built adult population. `alleles` is
/// [individual][locus][copy], `female` one flag per adult. Returns the offspring before selection
/// and the survivors, with their survival probabilities.
struct GenerationTrace {
  std::vector<std::int32_t> offspring_alleles;
  std::vector<std::uint8_t> offspring_female;
  std::vector<double> offspring_w;
  std::vector<std::uint8_t> survived;
  std::vector<std::uint64_t> mothers, fathers;  // adult indices
  std::int64_t mutations = 0, blocked = 0;
  double fecundity = 0;
};
core::Result<GenerationTrace> TraceGeneration(const Params& p, std::uint64_t seed, std::uint64_t replicate,
                                              std::int64_t t, const std::vector<std::int32_t>& alleles,
                                              const std::vector<std::uint8_t>& female);

}  // namespace kiln::popgen

// The model parameters of popgen §2.9, each explicit, with the validation of §9.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "kiln/core/status.h"

namespace kiln::popgen {

enum class OffspringDist : std::uint8_t { kPoisson, kStochasticRounding };
enum class Mating : std::uint8_t { kPerOffspring, kPerFemale };
enum class Mutation : std::uint8_t { kUp, kSymmetric };
enum class LocusPhase : std::uint8_t { kSynchronous, kStaggered };
enum class Record : std::uint8_t { kOutcome, kSummary, kFull };

/// The stream layout and samplers version (§5.1): stored in every run record.
inline constexpr std::int32_t kRngSchema = 1;

struct Params {
  std::int64_t K = 0;
  std::int32_t n = 0;
  double R = 10.0;
  double u = 0.0;  // per-copy mutation rate; M = 2Ku is derived by the Python layer
  double T = std::numeric_limits<double>::infinity();
  OffspringDist offspring_dist = OffspringDist::kPoisson;
  Mating mating = Mating::kPerOffspring;
  Mutation mutation = Mutation::kUp;
  std::optional<std::int32_t> allele_min, allele_max;
  double female_fraction = 0.5;
  LocusPhase locus_phase = LocusPhase::kSynchronous;
  double optimum_offset = 0.0;
  std::int64_t initial_size = 0;  // 0 means K
  std::int32_t initial_allele = 0;
  std::int64_t burn_in = 0;
  std::int64_t quasi_extinction = 0;

  std::int64_t N0() const { return initial_size > 0 ? initial_size : K; }
  /// r = ln(R/2), as log1p((R-2)/2) so that it stays accurate for R close to 2.
  double r() const;
};

/// Checks every §2.9 range (K2103, K2104, K2105). Type errors (K2102) belong to the callers that
/// parse untyped input.
core::Status Validate(const Params& p);

/// An integer horizon H in [1, 10^8] (K2201).
core::Status ValidateHorizon(std::int64_t H);

/// H(T) = min(max(ceil(cycles*T), min_gen), max_gen) of a HorizonRule (§2.7).
core::Result<std::int64_t> ResolveHorizonRule(double cycles, std::int64_t min_gen, std::int64_t max_gen, double T);

/// The §9 memory estimate of one replicate in bytes.
std::uint64_t MemoryEstimate(const Params& p, std::uint64_t record_bytes);
/// Bytes of one recorded generation row at a record level.
std::uint64_t RecordRowBytes(const Params& p, Record record);

}  // namespace kiln::popgen

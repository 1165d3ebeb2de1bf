#include "kiln/popgen/params.h"

#include <cmath>
#include <sstream>

#include "kiln/core/detmath.h"
#include "kiln/core/error_codes.h"

namespace kiln::popgen {

namespace errors = core::errors;

double Params::r() const { return core::detmath::det_log1p((R - 2.0) / 2.0); }

namespace {

std::string Num(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

core::Status OutOfRange(const char* name, const std::string& value, const char* valid) {
  auto st = errors::popgen_param_out_of_range(std::string(name) + "=" + value + " is outside " + valid);
  st.with_detail("parameter", name).with_detail("value", value).with_detail("valid", valid);
  return st;
}

core::Status NotFinite(const char* name, double v) {
  auto st = errors::popgen_param_not_finite(std::string(name) + "=" + Num(v) + " must be finite");
  st.with_detail("parameter", name).with_detail("value", Num(v));
  return st;
}

}  // namespace

core::Status Validate(const Params& p) {
  // Finiteness first, in §2.9 order, then ranges, then conflicts: the reference checks in the same
  // order so both give the same code for the same bad input.
  if (!std::isfinite(p.R)) return NotFinite("R", p.R);
  if (!std::isfinite(p.u)) return NotFinite("u", p.u);
  if (std::isnan(p.T) || p.T == -std::numeric_limits<double>::infinity()) return NotFinite("T", p.T);
  if (!std::isfinite(p.female_fraction)) return NotFinite("female_fraction", p.female_fraction);
  if (!std::isfinite(p.optimum_offset)) return NotFinite("optimum_offset", p.optimum_offset);
  if (p.K < 2 || p.K > 100000000) return OutOfRange("K", std::to_string(p.K), "2..10^8");
  if (p.n < 1 || p.n > 32) return OutOfRange("n", std::to_string(p.n), "1..32");
  if (!(p.R > 2.0))
    return OutOfRange("R", Num(p.R), "2 < R <= 1000 (R must exceed 2 so that r = ln(R/2) > 0)");
  if (p.R > 1000.0) return OutOfRange("R", Num(p.R), "2 < R <= 1000");
  if (!(p.u >= 0.0 && p.u <= 1.0)) return OutOfRange("u", Num(p.u), "[0, 1]");
  if (p.T < 0.01) return OutOfRange("T", Num(p.T), "[0.01, 1e12] or inf");
  if (std::isfinite(p.T) && p.T > 1e12) return OutOfRange("T", Num(p.T), "[0.01, 1e12] or inf");
  if (!(p.female_fraction > 0.0 && p.female_fraction < 1.0))
    return OutOfRange("female_fraction", Num(p.female_fraction), "(0, 1)");
  if (std::fabs(p.optimum_offset) > 1e6) return OutOfRange("optimum_offset", Num(p.optimum_offset), "|x| <= 1e6");
  if (p.initial_size != 0 && (p.initial_size < 2 || p.initial_size > 2 * p.K))
    return OutOfRange("initial_size", std::to_string(p.initial_size), "2..2K");
  if (p.burn_in < 0 || p.burn_in > 10000000) return OutOfRange("burn_in", std::to_string(p.burn_in), "0..10^7");
  if (p.quasi_extinction < 0 || p.quasi_extinction >= p.K)
    return OutOfRange("quasi_extinction", std::to_string(p.quasi_extinction), "0..K-1");
  if (p.allele_min && p.allele_max && *p.allele_min >= *p.allele_max) {
    auto st = errors::popgen_param_conflict("allele_min=" + std::to_string(*p.allele_min) +
                                            " must be below allele_max=" + std::to_string(*p.allele_max));
    return st.with_detail("parameter", "allele_min");
  }
  if ((p.allele_min && p.initial_allele < *p.allele_min) || (p.allele_max && p.initial_allele > *p.allele_max)) {
    auto st = errors::popgen_param_conflict("initial_allele=" + std::to_string(p.initial_allele) +
                                            " lies outside the allele bounds");
    return st.with_detail("parameter", "initial_allele");
  }
  return core::Status::OK();
}

core::Status ValidateHorizon(std::int64_t H) {
  if (H < 1 || H > 100000000) {
    auto st = errors::popgen_horizon_invalid("horizon=" + std::to_string(H) + " is outside 1..10^8");
    return st.with_detail("parameter", "horizon").with_detail("value", H);
  }
  return core::Status::OK();
}

core::Result<std::int64_t> ResolveHorizonRule(double cycles, std::int64_t min_gen, std::int64_t max_gen, double T) {
  if (!std::isfinite(T))
    return errors::popgen_horizon_invalid("a HorizonRule needs a finite T; use an integer horizon with T = inf");
  if (!(cycles >= 1.0 && cycles <= 1e4))
    return errors::popgen_horizon_invalid("HorizonRule cycles=" + Num(cycles) + " is outside [1, 10^4]");
  if (min_gen > max_gen) return errors::popgen_horizon_invalid("HorizonRule min_generations > max_generations");
  const double raw = std::ceil(cycles * T);
  std::int64_t H = raw > 9e18 ? max_gen : static_cast<std::int64_t>(raw);
  H = std::min(std::max(H, min_gen), max_gen);
  KILN_RETURN_NOT_OK(ValidateHorizon(H));
  return H;
}

std::uint64_t RecordRowBytes(const Params& p, Record record) {
  switch (record) {
    case Record::kOutcome: return 0;
    case Record::kSummary: return 14 * 8;
    case Record::kFull: return 14 * 8 + static_cast<std::uint64_t>(p.n) * (8 * 4 + 4);
  }
  return 0;
}

std::uint64_t MemoryEstimate(const Params& p, std::uint64_t record_bytes) {
  const double m = static_cast<double>(std::max(p.K, p.N0()));
  const double cap = 2.0 * m + 8.0 * std::sqrt(2.0 * m) + 1024.0;
  return static_cast<std::uint64_t>(cap * (16.0 * p.n + 6.0)) + record_bytes + (1u << 20);
}

}  // namespace kiln::popgen

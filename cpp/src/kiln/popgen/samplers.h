// The kernel's samplers, fixed per rng_schema (§5.3). Any change here bumps kRngSchema.
#pragma once

#include <cmath>
#include <cstdint>

#include "kiln/core/detmath.h"
#include "kiln/core/philox.h"

namespace kiln::popgen {

using core::PhiloxStream;

/// Uniform integer in [0, m), m >= 1: Lemire's multiply-shift with rejection on 64-bit words.
inline std::uint64_t Bounded(PhiloxStream& s, std::uint64_t m) {
  std::uint64_t x = s.next_u64();
  unsigned __int128 prod = static_cast<unsigned __int128>(x) * m;
  std::uint64_t low = static_cast<std::uint64_t>(prod);
  if (low < m) {
    const std::uint64_t threshold = (0 - m) % m;
    while (low < threshold) {
      x = s.next_u64();
      prod = static_cast<unsigned __int128>(x) * m;
      low = static_cast<std::uint64_t>(prod);
    }
  }
  return static_cast<std::uint64_t>(prod >> 64);
}

/// log(k!) from a table below 256 and a Stirling series above.
double LogFactorial(std::int64_t k);

/// Poisson(lam): sequential-search inversion below 10, PTRS (Hormann 1993) from 10 on.
std::int64_t Poisson(PhiloxStream& s, double lam);

}  // namespace kiln::popgen

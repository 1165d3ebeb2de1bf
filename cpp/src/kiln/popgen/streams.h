// popgen's Philox key and counter layout (§5.2). Everything else about the generator is core's.
#pragma once

#include <cstdint>

#include "kiln/core/philox.h"

namespace kiln::popgen {

enum class Purpose : std::uint8_t { kInit = 1, kBirths, kParents, kMate, kGametes, kMutation, kSex, kSurvival };

/// Offspring (or females) per stream chunk: each chunk draws from its own stream, so a future
/// intra-replicate split gives identical results.
inline constexpr std::uint64_t kChunk = 4096;
/// Counter word 3: "kiln", "pg", rng_schema 1.
inline constexpr std::uint64_t kDomain = 0x6B696C6E70670001ULL;

inline core::PhiloxStream::Counter StreamCounter(std::int64_t t, Purpose purpose, std::uint64_t chunk) {
  return {0, (static_cast<std::uint64_t>(purpose) << 40) | chunk, static_cast<std::uint64_t>(t), kDomain};
}

inline core::PhiloxStream Stream(std::uint64_t seed, std::uint64_t rep, std::int64_t t, Purpose purpose,
                                 std::uint64_t chunk) {
  return core::PhiloxStream({seed, rep}, StreamCounter(t, purpose, chunk));
}

}  // namespace kiln::popgen

// SHA-256 (FIPS 180-4), used for stable, content-derived names (world keys, table names).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::core {

std::array<std::uint8_t, 32> Sha256(std::string_view data);

/// Lowercase hex of the digest.
std::string Sha256Hex(std::string_view data);

}  // namespace kiln::core

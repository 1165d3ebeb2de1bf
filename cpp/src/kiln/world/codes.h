// World status codes: the catalog's world block (specs/world.md §7.2), as int32 for Status.
#pragma once

#include <cstdint>

#include "kiln/core/error_codes.h"
#include "kiln/core/status.h"

namespace kiln::world {

using core::Result;
using core::Status;
using Code = core::errors::Code;

constexpr std::int32_t code(Code c) { return static_cast<std::int32_t>(c); }

inline Status Error(Code c, std::string message) { return Status(code(c), std::move(message)); }

}  // namespace kiln::world

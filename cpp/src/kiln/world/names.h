// Naming rules of the world (specs/world.md §2.6, §7.5).
#pragma once

#include <string>
#include <string_view>

#include "kiln/world/codes.h"

namespace kiln::world {

/// Table and namespace names: 1–200 bytes of [A-Za-z0-9_.-], not starting with '_' or '.'
/// (so that part directories never look like Kiln's own `_kiln` or hidden files). 158 otherwise.
Status ValidateTableName(std::string_view name, std::string_view what);

/// world_id / run_id: non-empty valid UTF-8, at most 256 bytes, no NUL. 5 for bad UTF-8, 158 else.
Status ValidateIdentity(std::string_view id, std::string_view what);

/// First 32 hex digits of SHA-256(world_id + "\0" + run_id): the store's writer key.
std::string WorldKey(std::string_view world_id, std::string_view run_id);

}  // namespace kiln::world

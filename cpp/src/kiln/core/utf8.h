// UTF-8 validation and the C ABI's message sanitising (specs/world.md §7.2).
#pragma once

#include <string>
#include <string_view>

namespace kiln::core {

/// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s);

/// Text safe to hand to C callers as a NUL-terminated string: invalid bytes become U+FFFD and
/// embedded NULs the two characters "\0", so nothing is silently cut off.
std::string SanitizeForC(std::string_view in);

}  // namespace kiln::core

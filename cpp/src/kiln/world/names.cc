#include "kiln/world/names.h"

#include "kiln/core/sha256.h"

namespace kiln::world {

Status ValidateTableName(std::string_view name, std::string_view what) {
  auto bad = [&](const std::string& why) {
    return Error(Code::ARCT_ERR_INVALID_NAME,
                 "invalid " + std::string(what) + " name '" + std::string(name) + "': " + why);
  };
  if (name.empty() || name.size() > 200) return bad("must be 1-200 bytes");
  if (name[0] == '_' || name[0] == '.') return bad("must not start with '_' or '.'");
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-';
    if (!ok) return bad("only [A-Za-z0-9_.-] are allowed");
  }
  return Status::OK();
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(extra) >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong encodings, surrogates and values beyond U+10FFFF.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
}

Status ValidateIdentity(std::string_view id, std::string_view what) {
  if (!IsValidUtf8(id)) return Error(Code::ARCT_ERR_INVALID_UTF8, std::string(what) + " is not valid UTF-8");
  if (id.empty() || id.size() > 256)
    return Error(Code::ARCT_ERR_INVALID_NAME, std::string(what) + " must be 1-256 bytes, got " + std::to_string(id.size()));
  if (id.find('\0') != std::string_view::npos)
    return Error(Code::ARCT_ERR_INVALID_NAME, std::string(what) + " must not contain NUL");
  return Status::OK();
}

std::string WorldKey(std::string_view world_id, std::string_view run_id) {
  std::string material(world_id);
  material.push_back('\0');
  material.append(run_id);
  return core::Sha256Hex(material).substr(0, 32);
}

}  // namespace kiln::world

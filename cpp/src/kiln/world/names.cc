#include "kiln/world/names.h"

#include "kiln/core/sha256.h"
#include "kiln/core/utf8.h"

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

Status ValidateIdentity(std::string_view id, std::string_view what) {
  if (!core::IsValidUtf8(id)) return Error(Code::ARCT_ERR_INVALID_UTF8, std::string(what) + " is not valid UTF-8");
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

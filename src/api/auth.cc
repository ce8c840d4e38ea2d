#include "shipd/api/auth.h"

#include <map>

namespace shipd {
namespace {

const std::map<std::string, std::vector<std::string>, std::less<>>& BuiltinRoles() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> kRoles = {
      {"admin", {"admin"}},
      {"deployer", {"read", "register:*", "promote:*", "approve:*"}},
      {"viewer", {"read"}},
  };
  return kRoles;
}

}  // namespace

const std::vector<std::string>* PermissionsOfRole(std::string_view role) {
  auto it = BuiltinRoles().find(role);
  return it == BuiltinRoles().end() ? nullptr : &it->second;
}

Status ValidateRole(std::string_view role) {
  if (PermissionsOfRole(role) != nullptr) return Ok();
  std::string known;
  for (const auto& [name, permissions] : BuiltinRoles())
    known += (known.empty() ? "" : ", ") + name;
  return Error(ErrorCode::kInvalid,
               "unknown role \"" + std::string(role) + "\" (known: " + known + ")");
}

bool Grants(const std::vector<std::string>& granted, std::string_view required) {
  const auto colon = required.find(':');
  const std::string_view verb = required.substr(0, colon);
  for (const std::string& permission : granted) {
    if (permission == "admin" || permission == required) return true;
    if (colon != std::string_view::npos && permission.size() == verb.size() + 2 &&
        permission.compare(0, verb.size(), verb) == 0 && permission.ends_with(":*")) {
      return true;
    }
  }
  return false;
}

}  // namespace shipd

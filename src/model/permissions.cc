#include "shipd/model/permissions.h"

#include <algorithm>
#include <array>

#include "shipd/model/registry.h"

namespace shipd {
namespace {

constexpr std::array<std::string_view, 7> kEnvironmentVerbs = {
    "register", "promote", "approve", "override", "train", "lock", "freeze"};
constexpr std::array<std::string_view, 2> kBareVerbs = {"read", "admin"};

bool Contains(const auto& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

}  // namespace

RoleTable BuiltinRoles() {
  return {
      {"admin", {"admin"}},
      {"deployer", {"read", "register:*", "promote:*", "approve:*", "lock:*", "train:*"}},
      {"viewer", {"read"}},
  };
}

Status ValidatePermission(std::string_view permission) {
  auto invalid = [&](const std::string& why) {
    return Error(ErrorCode::kInvalid,
                 "invalid permission \"" + std::string(permission) + "\": " + why);
  };
  const auto colon = permission.find(':');
  const std::string verb(permission.substr(0, colon));
  if (Contains(kBareVerbs, verb)) {
    if (colon != std::string_view::npos) return invalid(verb + " takes no environment");
    return Ok();
  }
  if (!Contains(kEnvironmentVerbs, verb)) {
    return invalid(
        "unknown verb \"" + verb +
        "\" (known: read, register, promote, approve, override, train, lock, freeze, admin)");
  }
  if (colon == std::string_view::npos) {
    return invalid(verb + " needs an environment: " + verb + ":ENV or " + verb + ":*");
  }
  const std::string_view environment = permission.substr(colon + 1);
  if (environment == "*") return Ok();
  if (auto valid = ValidateName("environment", environment); !valid.ok()) {
    return invalid(valid.error().message());
  }
  return Ok();
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

std::vector<std::string> SplitRoles(std::string_view text) {
  std::vector<std::string> roles;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view part = Trim(text.substr(0, comma));
    if (!part.empty()) roles.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return roles;
}

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string text;
  for (const auto& role : roles) text += (text.empty() ? "" : ",") + role;
  return text;
}

Status ValidateRoleNames(const RoleTable& roles, const std::vector<std::string>& names) {
  if (names.empty()) return Error(ErrorCode::kInvalid, "a token needs at least one role");
  for (const auto& name : names) {
    if (roles.find(name) != roles.end()) continue;
    std::string known;
    for (const auto& [role, permissions] : roles) known += (known.empty() ? "" : ", ") + role;
    return Error(ErrorCode::kInvalid, "unknown role \"" + name + "\" (known: " + known + ")");
  }
  return Ok();
}

std::vector<std::string> PermissionsOf(const RoleTable& roles,
                                       const std::vector<std::string>& names) {
  std::vector<std::string> permissions;
  for (const auto& name : names) {
    auto it = roles.find(name);
    if (it == roles.end()) continue;
    for (const auto& permission : it->second) {
      if (!Contains(permissions, permission)) permissions.push_back(permission);
    }
  }
  return permissions;
}

}  // namespace shipd

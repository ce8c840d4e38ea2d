// Authorisation model: tokens carry a role; a role is a list of permissions named
// "verb:environment" ("promote:prod", "register:*") or a bare word ("read", "admin"). Every route
// requires one named permission; nothing is allowed unless a permission grants it.
// Pure functions over built-in roles; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

// Built-in roles: admin (everything), deployer (read, register, promote, approve), viewer (read).
const std::vector<std::string>* PermissionsOfRole(std::string_view role);
Status ValidateRole(std::string_view role);

// Does any of `granted` grant `required`? "admin" grants everything; "verb:*" grants "verb:ENV"
// for every ENV; otherwise the texts must be equal.
bool Grants(const std::vector<std::string>& granted, std::string_view required);

}  // namespace shipd

// Permissions and roles (docs/security.md): a permission is "verb:environment" ("promote:prod",
// "train:*") or a bare word ("read", "admin"); a role is a named list of permissions; a token
// carries one or more roles. Nothing is allowed unless a permission grants it.
// Pure value types and functions; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

// Role name -> its permissions.
using RoleTable = std::map<std::string, std::vector<std::string>, std::less<>>;

// admin (everything), deployer (read, register, promote, approve everywhere), viewer (read).
// shipd.yaml's roles: are added to these and may redefine them.
RoleTable BuiltinRoles();

// Verbs that take an environment ("promote:prod", "promote:*"): register, promote, approve,
// override, train, lock, freeze. Bare words: read, admin. Errors are kInvalid.
Status ValidatePermission(std::string_view permission);

// Does any of `granted` grant `required`? "admin" grants everything; "verb:*" grants "verb:ENV"
// for every ENV; otherwise the texts must be equal.
bool Grants(const std::vector<std::string>& granted, std::string_view required);

// The roles a token carries, stored in the tokens table as one text: "a,b" <-> {"a", "b"}.
// Splitting trims spaces and drops empty parts.
std::vector<std::string> SplitRoles(std::string_view text);
std::string JoinRoles(const std::vector<std::string>& roles);

// kInvalid naming the first role `roles` does not define, and the roles it does.
Status ValidateRoleNames(const RoleTable& roles, const std::vector<std::string>& names);

// The union of the permissions of `names`, in first-seen order; a name `roles` does not define
// (say, removed from shipd.yaml since the token was created) grants nothing.
std::vector<std::string> PermissionsOf(const RoleTable& roles,
                                       const std::vector<std::string>& names);

}  // namespace shipd

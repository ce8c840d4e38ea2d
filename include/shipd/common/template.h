// {{variable}} templates used by check and driver commands, URLs and queries, and the SHIP_*
// environment that exec checks and drivers receive. Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "shipd/common/result.h"

namespace shipd {

// Replaces each {{name}} (whitespace allowed inside the braces: {{ name }}) with its value.
// Values are inserted verbatim, never re-scanned. Errors are kInvalid: an unknown variable (named
// in the message), an empty name, or an unterminated "{{". Callers pass every name of
// kTemplateVariables (config/pipelines.h), empty when not applicable (no previous_version).
Result<std::string> RenderTemplate(std::string_view text,
                                   const std::map<std::string, std::string>& variables);

// "canary_url" -> "SHIP_CANARY_URL": every variable as SHIP_<NAME> (upper case, non-alphanumeric
// characters as '_'). With the standard variables: SHIP_SERVICE, SHIP_VERSION,
// SHIP_PREVIOUS_VERSION, SHIP_ENVIRONMENT, SHIP_WEIGHT, SHIP_ARTIFACT, SHIP_CANARY_URL and
// SHIP_STABLE_URL.
std::map<std::string, std::string> ShipEnvironment(
    const std::map<std::string, std::string>& variables);

}  // namespace shipd

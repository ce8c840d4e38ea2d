// Reading a version from the ship.yaml document shape (ARCHITECTURE.md §2), as JSON. The REST API,
// shipctl and webhook ingestion all go through here, so every path validates the same way.
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "shipd/common/result.h"
#include "shipd/model/registry.h"

namespace shipd {

// Builds a Version from a manifest document. `service` and `version` come from the request path
// or command line; when the document also names them they must agree. Errors are kInvalid and
// name the field ("requires[1].range: invalid range \"^x\": ...").
Result<Version> VersionFromManifest(const nlohmann::json& doc, std::string_view service,
                                    std::string_view version);

// The canonical JSON of what makes a version's content (artifact, commit, contracts with their
// specs), with provides and requires sorted; its SHA-256 is Version::content_hash.
nlohmann::json CanonicalContent(const Version& version);

// Full JSON form of a version as the API returns it (specs omitted unless `with_specs`).
nlohmann::json VersionToJson(const Version& version, bool with_specs = false);

}  // namespace shipd

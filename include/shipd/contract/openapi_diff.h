// Breaking-change detection between two OpenAPI 3.0 / 3.1 documents (ARCHITECTURE.md §3). Both
// documents are normalised first ($ref, allOf, nullability, path parameter names, media-type
// parameters); then requests must accept at least what they accepted and responses must return at
// most what they returned. Pure functions over JSON values; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

struct OpenApiDiff {
  enum class Severity { kBreaking, kWarning };

  struct Finding {
    Severity severity = Severity::kBreaking;
    std::string rule;     // stable id: "operation-removed", "request-property-required-added", ...
    std::string method;   // "GET", ...; empty for document-wide findings (global security)
    std::string path;     // as written in the new document (the old one for a removed operation)
    std::string pointer;  // JSON pointer into the new document, or into the old one for removals
    std::string message;  // where inside the operation and what changed, "old → new"

    bool operator==(const Finding&) const = default;
  };

  // Ordered by path, then method, then position in the operation; the same inputs always give
  // the same list.
  std::vector<Finding> findings;

  // True when at least one finding is kBreaking.
  bool breaking() const;
};

struct OpenApiDiffOptions {
  // Now, in milliseconds since the Unix epoch (UTC). Removing an operation that is
  // `deprecated: true` with an `x-sunset` date (YYYY-MM-DD or RFC 3339) at or before this instant
  // is not a finding; without `now_ms` every removed operation is breaking.
  std::optional<int64_t> now_ms;
};

// Errors are kInvalid, only for a document that is not an OpenAPI 3.x object ("new document: not
// an OpenAPI document: missing \"openapi\" key"). Parts the differ cannot use (external or dangling
// $refs, malformed sections) count as unconstrained or absent, never as an error.
Result<OpenApiDiff> DiffOpenApi(const nlohmann::json& old_doc, const nlohmann::json& new_doc,
                                const OpenApiDiffOptions& options = {});

// "breaking" or "warning".
std::string_view OpenApiSeverityName(OpenApiDiff::Severity severity);

// {"breaking": true, "findings": [{"severity": "breaking", "rule": ..., "method": ...,
// "path": ..., "pointer": ..., "message": ...}, ...]}
nlohmann::json OpenApiDiffToJson(const OpenApiDiff& diff);

}  // namespace shipd

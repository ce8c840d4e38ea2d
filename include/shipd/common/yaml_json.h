// Converts a YAML document to JSON so that one code path validates both encodings of a request.
// Pure function; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "shipd/common/result.h"

namespace shipd {

struct YamlToJsonOptions {
  // Plain scalars that look like numbers stay strings ("3.10" must not become 3.1).
  bool numbers_as_strings = true;
};

// Errors are kBadRequest with "line L, column C: reason".
Result<nlohmann::json> YamlToJson(std::string_view text, YamlToJsonOptions options = {});

// Parses a request body that is JSON, or YAML when it does not start with '{' or '['.
Result<nlohmann::json> ParseJsonOrYaml(std::string_view text);

}  // namespace shipd

// Helpers shared by the loaders of shipd.yaml's sections: errors that name file:line:column, and
// secrets read from a file. Private to the config library; pure functions.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>

#include "shipd/common/result.h"

namespace shipd {

// kInvalid "FILE:LINE:COLUMN: message" (1-based, as editors count).
Error At(const std::filesystem::path& file, const YAML::Mark& mark, const std::string& message);

// The file's text without trailing newlines; *ok false when it cannot be read.
std::string ReadSecretFile(const std::filesystem::path& path, bool* ok);

}  // namespace shipd

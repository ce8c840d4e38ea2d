// JSON form of a rollout's progress: how the store persists it (promotions.progress) and how the
// REST API shows it. Pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "shipd/common/result.h"
#include "shipd/model/registry.h"

namespace shipd {

nlohmann::json ProgressToJson(const RolloutProgress& progress);
// Missing keys keep their defaults (older rows have "{}"); wrong types are kInvalid.
Result<RolloutProgress> ProgressFromJson(const nlohmann::json& json);

}  // namespace shipd

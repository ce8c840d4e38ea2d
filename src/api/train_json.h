// JSON shapes of release trains in the REST API v1 (docs/api.md, docs/trains.md). Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/engine/engine.h"

namespace shipd {

// {name, route, cadence, timezone, cutoff, next_departure, boarding_closes_at, created_by,
//  created_at, trips: [newest first, at most `trips`]}; each trip {number, state, environment,
//  scheduled_at, departed_at, departed_by, arrived_at, cars: [...]}.
nlohmann::json TrainJson(const Train& train, size_t trips = 10);

// POST /v1/trains: {name, route: [..] | "a,b", cadence, timezone, cutoff: "2h"}.
Result<Train> TrainFromBody(const nlohmann::json& doc);

// POST /v1/trains/{name}/cars: {service, version} or {cars: ["svc@1.2.3" | {service, version}]}.
Result<std::vector<CarRequest>> CarsFromBody(const nlohmann::json& doc);

// "orders@3.2.0" -> {orders, 3.2.0}; kInvalid otherwise.
Result<CarRequest> ParseCar(std::string_view text);

}  // namespace shipd

#include "train_json.h"

#include <string>

#include "shipd/config/freeze.h"

namespace shipd {

using nlohmann::json;

namespace {

json TimeOrNull(const std::optional<TimeMs>& at) {
  return at ? json(FormatUtc(*at)) : json(nullptr);
}

json CarJson(const Train& train, const TrainTrip& trip, const TrainCar& car) {
  json out = {{"car", car.Label()},
              {"service", car.service},
              {"version", car.version.ToString()},
              {"state", CarStateName(car.state)},
              {"depends_on", car.depends_on},
              {"boarded_by", car.boarded_by},
              {"boarded_at", FormatUtc(car.boarded_at)}};
  if (trip.state != TripState::kBoarding) {
    const size_t env = static_cast<size_t>(car.env_index);
    // A car through an environment waits for the next one: name where it is headed.
    out["environment"] = env < train.route.size() ? json(train.route[env]) : json(nullptr);
  }
  if (car.promotion_id != 0) out["promotion"] = car.promotion_id;
  if (!car.reason.empty()) out["reason"] = car.reason;
  if (car.carried_from != 0) out["carried_from"] = car.carried_from;
  return out;
}

json TripJson(const Train& train, const TrainTrip& trip) {
  json cars = json::array();
  for (const TrainCar& car : trip.cars) cars.push_back(CarJson(train, trip, car));
  json out = {{"number", trip.number},
              {"state", TripStateName(trip.state)},
              {"scheduled_at", TimeOrNull(trip.scheduled_at)},
              {"departed_at", TimeOrNull(trip.departed_at)},
              {"arrived_at", TimeOrNull(trip.arrived_at)},
              {"cars", std::move(cars)}};
  if (trip.state == TripState::kDeparted) {
    out["environment"] = train.route[static_cast<size_t>(trip.env_index)];
  }
  if (!trip.departed_by.empty()) out["departed_by"] = trip.departed_by;
  return out;
}

}  // namespace

json TrainJson(const Train& train, size_t trips) {
  json out = {{"name", train.name},
              {"route", train.route},
              {"cadence", train.cadence.empty() ? json(nullptr) : json(train.cadence)},
              {"timezone", train.timezone},
              {"cutoff", FormatDuration(train.cutoff)},
              {"created_by", train.created_by},
              {"created_at", FormatUtc(train.created_at)}};
  const TrainTrip* boarding = train.Boarding();
  out["boarding"] = boarding ? json(boarding->number) : json(nullptr);
  out["next_departure"] = boarding ? TimeOrNull(boarding->scheduled_at) : json(nullptr);
  out["boarding_closes_at"] = boarding && boarding->scheduled_at && train.cutoff.count() > 0
                                  ? json(FormatUtc(*boarding->scheduled_at - train.cutoff.count()))
                                  : json(nullptr);
  json list = json::array();
  for (auto it = train.trips.rbegin(); it != train.trips.rend() && list.size() < trips; ++it) {
    list.push_back(TripJson(train, *it));
  }
  out["trips"] = std::move(list);
  return out;
}

Result<Train> TrainFromBody(const json& doc) {
  if (!doc.is_object()) return Error(ErrorCode::kBadRequest, "body must be an object");
  Train train;
  for (const auto& [key, value] : doc.items()) {
    if (key == "route") {
      if (value.is_string()) {
        std::string text = value.get<std::string>();
        size_t start = 0;
        while (start <= text.size()) {
          size_t comma = text.find(',', start);
          if (comma == std::string::npos) comma = text.size();
          if (comma > start) train.route.push_back(text.substr(start, comma - start));
          start = comma + 1;
        }
      } else if (value.is_array()) {
        for (const auto& env : value) {
          if (!env.is_string()) {
            return Error(ErrorCode::kInvalid, "route: must be a list of environment names");
          }
          train.route.push_back(env.get<std::string>());
        }
      } else {
        return Error(ErrorCode::kInvalid, "route: must be a list of environment names");
      }
      continue;
    }
    if (!value.is_string()) return Error(ErrorCode::kInvalid, key + ": must be a string");
    const std::string text = value.get<std::string>();
    if (key == "name") {
      train.name = text;
    } else if (key == "cadence") {
      train.cadence = text;
    } else if (key == "timezone") {
      train.timezone = text.empty() ? "UTC" : text;
    } else if (key == "cutoff") {
      auto cutoff = ParseDuration(text);
      if (!cutoff.ok()) return cutoff.error().WithContext("cutoff");
      train.cutoff = *cutoff;
    } else {
      return Error(ErrorCode::kInvalid,
                   "unknown key \"" + key + "\" (known: name, route, cadence, timezone, cutoff)");
    }
  }
  if (train.name.empty()) return Error(ErrorCode::kInvalid, "name: is required");
  if (train.route.empty()) return Error(ErrorCode::kInvalid, "route: is required");
  return train;
}

Result<CarRequest> ParseCar(std::string_view text) {
  const size_t at = text.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) {
    return Error(ErrorCode::kInvalid,
                 "\"" + std::string(text) + "\" is not SERVICE@VERSION (e.g. orders@3.2.0)");
  }
  return CarRequest{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
}

Result<std::vector<CarRequest>> CarsFromBody(const json& doc) {
  if (!doc.is_object()) return Error(ErrorCode::kBadRequest, "body must be an object");
  auto one = [](const json& car) -> Result<CarRequest> {
    if (car.is_string()) return ParseCar(car.get<std::string>());
    if (!car.is_object() || !car.contains("service") || !car.contains("version") ||
        !car["service"].is_string() || !car["version"].is_string() || car.size() != 2) {
      return Error(ErrorCode::kInvalid,
                   "a car is \"service@version\" or {\"service\": ..., \"version\": ...}");
    }
    return CarRequest{car["service"].get<std::string>(), car["version"].get<std::string>()};
  };
  std::vector<CarRequest> cars;
  if (doc.contains("cars")) {
    if (doc.size() != 1 || !doc["cars"].is_array()) {
      return Error(ErrorCode::kInvalid, "cars: must be the only key, a list of cars");
    }
    for (const auto& car : doc["cars"]) {
      auto parsed = one(car);
      if (!parsed.ok()) return parsed.error();
      cars.push_back(std::move(*parsed));
    }
  } else {
    auto parsed = one(doc);
    if (!parsed.ok()) return parsed.error();
    cars.push_back(std::move(*parsed));
  }
  if (cars.empty()) return Error(ErrorCode::kInvalid, "cars: is empty");
  return cars;
}

}  // namespace shipd

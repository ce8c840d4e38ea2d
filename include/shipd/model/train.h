// Release trains (docs/trains.md): a named route of environments that a set of versions (the
// cars) travels together, each car promoted with its environment's canary strategy, providers
// before their consumers. Each departure is a trip; a train with a cadence departs by itself and
// carries the cars that had to leave one trip over to the next. Plain data, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/model/registry.h"
#include "shipd/model/semver.h"

namespace shipd {

enum class TripState {
  kBoarding,  // cars may board and leave
  kDeparted,  // the manifest is frozen; cars are being promoted along the route
  kArrived,   // every remaining car succeeded in the last environment (or none remained)
};

enum class CarState {
  kBoarded,    // on a trip that has not departed
  kWaiting,    // departed: waits for its providers, a freeze, soak time or the next environment
  kStarting,   // its promotion is being requested (a restart looks for it before asking again)
  kPromoting,  // its rollout in the current environment is under way
  kArrived,    // succeeded in the last environment of the route
  kFailed,     // its rollout failed or was blocked; it left the train
  kLeft,       // left before departure, or with a provider that failed
};

std::string_view TripStateName(TripState state);
std::optional<TripState> ParseTripState(std::string_view name);
std::string_view CarStateName(CarState state);
std::optional<CarState> ParseCarState(std::string_view name);
// Arrived, failed or left: nothing more happens to the car on this trip.
bool IsFinal(CarState state);

struct TrainCar {
  std::string service;
  Semver version;
  int position = 0;  // boarding order
  CarState state = CarState::kBoarded;
  int env_index = 0;                    // the route environment it is in (or last was in)
  int64_t promotion_id = 0;             // its rollout in that environment; 0: none yet
  std::string reason;                   // why it waits, failed or left
  std::vector<std::string> depends_on;  // cars of the same trip it requires (set at departure)
  std::string boarded_by;
  TimeMs boarded_at = 0;
  int64_t carried_from = 0;  // the trip it was carried over from; 0: boarded directly
  TimeMs updated_at = 0;

  std::string Label() const { return service + "@" + version.ToString(); }
};

struct TrainTrip {
  int64_t number = 1;
  TripState state = TripState::kBoarding;
  int env_index = 0;                   // departed: the route environment being travelled
  std::optional<TimeMs> scheduled_at;  // cadence: when it departs by itself
  std::optional<TimeMs> departed_at;
  std::string departed_by;
  std::optional<TimeMs> arrived_at;
  std::vector<TrainCar> cars;  // departed: in dependency order; boarding: in boarding order

  TrainCar* FindCar(std::string_view service);
  const TrainCar* FindCar(std::string_view service) const;
};

struct Train {
  std::string name;
  std::vector<std::string> route;       // environments in travel order
  std::string cadence;                  // 5-field cron; empty: departs on request only
  std::string timezone = "UTC";         // of the cadence
  std::chrono::milliseconds cutoff{0};  // boarding closes this long before a scheduled departure
  std::string created_by;
  TimeMs created_at = 0;
  std::vector<TrainTrip> trips;  // ascending by number; the last one is boarding or travelling

  TrainTrip* FindTrip(int64_t number);
  const TrainTrip* FindTrip(int64_t number) const;
  // The trip cars board now: the last one, if it is boarding.
  TrainTrip* Boarding();
  const TrainTrip* Boarding() const;
};

}  // namespace shipd

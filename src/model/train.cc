#include "shipd/model/train.h"

#include <utility>

namespace shipd {
namespace {

constexpr std::pair<TripState, std::string_view> kTripStates[] = {
    {TripState::kBoarding, "boarding"},
    {TripState::kDeparted, "departed"},
    {TripState::kArrived, "arrived"},
};

constexpr std::pair<CarState, std::string_view> kCarStates[] = {
    {CarState::kBoarded, "boarded"},   {CarState::kWaiting, "waiting"},
    {CarState::kStarting, "starting"}, {CarState::kPromoting, "promoting"},
    {CarState::kArrived, "arrived"},   {CarState::kFailed, "failed"},
    {CarState::kLeft, "left"},
};

template <typename Enum, size_t N>
std::string_view NameOf(const std::pair<Enum, std::string_view> (&names)[N], Enum value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> Parse(const std::pair<Enum, std::string_view> (&names)[N],
                          std::string_view text) {
  for (const auto& [v, name] : names) {
    if (name == text) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view TripStateName(TripState state) { return NameOf(kTripStates, state); }
std::optional<TripState> ParseTripState(std::string_view name) { return Parse(kTripStates, name); }
std::string_view CarStateName(CarState state) { return NameOf(kCarStates, state); }
std::optional<CarState> ParseCarState(std::string_view name) { return Parse(kCarStates, name); }

bool IsFinal(CarState state) {
  return state == CarState::kArrived || state == CarState::kFailed || state == CarState::kLeft;
}

const TrainCar* TrainTrip::FindCar(std::string_view service) const {
  for (const TrainCar& car : cars) {
    if (car.service == service) return &car;
  }
  return nullptr;
}
TrainCar* TrainTrip::FindCar(std::string_view service) {
  return const_cast<TrainCar*>(std::as_const(*this).FindCar(service));
}

const TrainTrip* Train::FindTrip(int64_t number) const {
  for (const TrainTrip& trip : trips) {
    if (trip.number == number) return &trip;
  }
  return nullptr;
}
TrainTrip* Train::FindTrip(int64_t number) {
  return const_cast<TrainTrip*>(std::as_const(*this).FindTrip(number));
}

TrainTrip* Train::Boarding() {
  if (trips.empty() || trips.back().state != TripState::kBoarding) return nullptr;
  return &trips.back();
}
const TrainTrip* Train::Boarding() const {
  if (trips.empty() || trips.back().state != TripState::kBoarding) return nullptr;
  return &trips.back();
}

}  // namespace shipd

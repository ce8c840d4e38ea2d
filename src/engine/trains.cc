// Release trains. Read docs/trains.md first: trips, car states and events are described there.
// Shape of the code: requests (Create, Board, Leave, Depart) validate and Commit; a departed trip
// moves only through Advance(), which repeats Step() until nothing changes and commits the result.
#include "trains.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <set>

#include "holds.h"
#include "shipd/config/freeze.h"
#include "shipd/contract/verdict.h"

namespace shipd {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

const Actor kSystem{"system", ""};

json Labels(const std::vector<const TrainCar*>& cars) {
  json out = json::array();
  for (const TrainCar* car : cars) out.push_back(car->Label());
  return out;
}

std::string Summary(const Verdict& verdict) {
  return VerdictToJson(verdict).value("summary", std::string("the contract gate blocks it"));
}

// Whether one of the two versions requires an API the other provides.
bool Related(const Version& a, const Version& b) {
  auto requires_from = [](const Version& consumer, const Version& provider) {
    for (const Require& require : consumer.requires_) {
      for (const Provide& provide : provider.provides) {
        if (provide.api == require.api) return true;
      }
    }
    return false;
  };
  return requires_from(a, b) || requires_from(b, a);
}

// Indexes of `versions` with providers before their consumers; ties (and cycles) keep the
// given order.
std::vector<size_t> ProvidersFirst(const std::vector<std::shared_ptr<const Version>>& versions) {
  const size_t n = versions.size();
  std::vector<std::set<size_t>> needs(n);
  for (size_t a = 0; a < n; ++a) {
    for (const Require& require : versions[a]->requires_) {
      for (size_t b = 0; b < n; ++b) {
        if (a == b) continue;
        for (const Provide& provide : versions[b]->provides) {
          if (provide.api == require.api) needs[a].insert(b);
        }
      }
    }
  }
  std::vector<size_t> order;
  std::vector<bool> placed(n, false);
  while (order.size() < n) {
    // The first whose providers are all placed; in a cycle, the first not placed.
    std::optional<size_t> take;
    for (size_t i = 0; i < n && !take; ++i) {
      if (placed[i]) continue;
      if (std::all_of(needs[i].begin(), needs[i].end(), [&](size_t b) { return placed[b]; })) {
        take = i;
      }
    }
    if (!take) {
      for (size_t i = 0; i < n && !take; ++i) {
        if (!placed[i]) take = i;
      }
    }
    placed[*take] = true;
    order.push_back(*take);
  }
  return order;
}

// The reasons of `after` that `before` does not have: what boarding cars added.
Verdict NewReasons(const Verdict& before, Verdict after) {
  std::set<std::string> known;
  for (const Reason& reason : before.reasons) known.insert(reason.message);
  std::erase_if(after.reasons, [&](const Reason& r) { return known.count(r.message) > 0; });
  after.allowed = after.reasons.empty();
  return after;
}

// How long until the verdict allows the promotion when soak time is all that is missing.
std::optional<int64_t> SoakOnly(const Verdict& verdict) {
  if (verdict.reasons.empty()) return std::nullopt;
  int64_t remaining = 0;
  for (const Reason& reason : verdict.reasons) {
    if (!reason.remaining_ms || *reason.remaining_ms <= 0) return std::nullopt;
    remaining = std::max(remaining, *reason.remaining_ms);
  }
  return remaining;
}

// Through the trip's current environment: arrived, or waiting for the next one.
bool Through(const TrainCar& car, const TrainTrip& trip) {
  return car.state == CarState::kArrived ||
         (car.state == CarState::kWaiting && car.env_index > trip.env_index);
}

TrainTrip* Travelling(Train& train) {
  for (TrainTrip& trip : train.trips) {
    if (trip.state == TripState::kDeparted) return &trip;
  }
  return nullptr;
}

}  // namespace

Trains::Trains(TrainHost& host, const Pipelines& pipelines, const Clock& clock, Strand strand)
    : host_(host),
      pipelines_(pipelines),
      clock_(clock),
      strand_(std::move(strand)),
      wake_(clock_, strand_, [this] { OnWake(); }) {}

Trains::~Trains() { Shutdown(); }

void Trains::Shutdown() {
  if (stopping_) return;
  stopping_ = true;
  wake_.Stop();
}

std::optional<TimeMs> NextDeparture(const Train& train, TimeMs after) {
  if (train.cadence.empty()) return std::nullopt;
  auto cron = ParseCron(train.cadence);
  if (!cron.ok()) return std::nullopt;
  auto next = NextCronMatch(*cron, train.timezone, after);
  if (!next.ok()) return std::nullopt;
  return *next;
}

// ---------------------------------------------------------------------------------------------
// Requests.

Result<TrainChange> Trains::Create(Train spec, const Actor& actor) {
  if (auto valid = ValidateName("train", spec.name); !valid.ok()) return valid.error();
  if (spec.route.empty()) {
    return Error(ErrorCode::kBadRequest, "a train needs a route of at least one environment");
  }
  std::set<std::string> seen;
  for (const std::string& env : spec.route) {
    if (pipelines_.FindEnvironment(env) == nullptr) {
      return Error(ErrorCode::kNotFound, "unknown environment \"" + env + "\" in the route");
    }
    if (!seen.insert(env).second) {
      return Error(ErrorCode::kBadRequest, "environment \"" + env + "\" is twice in the route");
    }
  }
  const TimeMs now = clock_.NowMs();
  if (!spec.cadence.empty()) {
    auto cron = ParseCron(spec.cadence);
    if (!cron.ok()) {
      return Error(ErrorCode::kBadRequest,
                   "cadence \"" + spec.cadence + "\": " + cron.error().message());
    }
    auto next = NextCronMatch(*cron, spec.timezone, now);
    if (!next.ok()) {
      return Error(ErrorCode::kBadRequest,
                   "timezone \"" + spec.timezone + "\": " + next.error().message());
    }
    if (!next->has_value()) {
      return Error(ErrorCode::kBadRequest, "cadence \"" + spec.cadence + "\" never matches");
    }
  } else if (spec.cutoff.count() != 0) {
    return Error(ErrorCode::kBadRequest, "a cut-off needs a cadence (it counts back from it)");
  }
  if (spec.cutoff.count() < 0) {
    return Error(ErrorCode::kBadRequest, "the cut-off must not be negative");
  }
  if (const Train* existing = Find(spec.name)) {
    if (existing->route == spec.route && existing->cadence == spec.cadence &&
        existing->timezone == spec.timezone && existing->cutoff == spec.cutoff) {
      return TrainChange{*existing, Outcome::kUnchanged, {}};
    }
    return Error(ErrorCode::kConflict,
                 "train \"" + spec.name + "\" exists with another route or cadence");
  }
  spec.created_by = actor.name;
  spec.created_at = now;
  spec.trips.clear();
  TrainTrip& first = spec.trips.emplace_back();
  first.scheduled_at = NextDeparture(spec, now);
  json data = {{"route", spec.route}};
  if (!spec.cadence.empty()) {
    data["cadence"] = spec.cadence;
    data["timezone"] = spec.timezone;
    data["cutoff_ms"] = spec.cutoff.count();
    data["next_departure"] = FormatUtc(*first.scheduled_at);
  }
  if (auto saved = Commit(spec, {1}, {MakeEvent(actor, "train.created", spec, data)});
      !saved.ok()) {
    return saved.error();
  }
  if (first.scheduled_at) AddTimer(*first.scheduled_at, spec.name);
  return TrainChange{spec, Outcome::kCreated, {}};
}

Result<TrainChange> Trains::Board(const std::string& name, const std::vector<CarRequest>& cars,
                                  const Actor& actor) {
  const Train* existing = Find(name);
  if (existing == nullptr) return Error(ErrorCode::kNotFound, "unknown train \"" + name + "\"");
  if (cars.empty()) return Error(ErrorCode::kBadRequest, "no cars to board");
  Train train = *existing;
  TrainTrip* trip = train.Boarding();
  if (trip == nullptr) {
    return Error(ErrorCode::kConflict, "train \"" + name + "\" has no trip boarding");
  }
  const TimeMs now = clock_.NowMs();
  auto state = host_.Snapshot();
  const std::vector<TrainCar> before = trip->cars;
  std::vector<const TrainCar*> boarded;
  std::set<std::string> requested;
  int position = 0;
  for (const TrainCar& car : trip->cars) position = std::max(position, car.position + 1);
  for (const CarRequest& request : cars) {
    const ServiceState* service = state->FindService(request.service);
    if (service == nullptr) {
      return Error(ErrorCode::kNotFound, "unknown service \"" + request.service + "\"");
    }
    auto version = Semver::Parse(request.version);
    if (!version.ok()) return Error(ErrorCode::kBadRequest, version.error().message());
    if (service->FindVersion(*version) == nullptr) {
      return Error(ErrorCode::kNotFound, "unknown version " + request.service + "@" +
                                             version->ToString() + " (register it first)");
    }
    if (!requested.insert(request.service).second) {
      return Error(ErrorCode::kBadRequest, request.service + " is named twice");
    }
    if (TrainCar* aboard = trip->FindCar(request.service)) {
      if (aboard->version == *version) continue;
      aboard->version = *version;  // a newer (or other) version takes the service's seat
      aboard->boarded_by = actor.name;
      aboard->boarded_at = now;
      aboard->carried_from = 0;
      aboard->reason.clear();
      aboard->updated_at = now;
      continue;
    }
    TrainCar& car = trip->cars.emplace_back();
    car.service = request.service;
    car.version = *version;
    car.position = position++;
    car.boarded_by = actor.name;
    car.boarded_at = now;
    car.updated_at = now;
  }
  for (const std::string& service : requested) {
    const TrainCar* car = trip->FindCar(service);
    const TrainCar* old = nullptr;
    for (const TrainCar& c : before) {
      if (c.service == service) old = &c;
    }
    if (old == nullptr || old->version != car->version) boarded.push_back(car);
  }
  if (boarded.empty()) return TrainChange{train, Outcome::kUnchanged, {}};
  // After the cut-off nothing boards (asking again for what is aboard is still answered).
  if (trip->scheduled_at && train.cutoff.count() > 0 &&
      now >= *trip->scheduled_at - train.cutoff.count()) {
    return Error(ErrorCode::kConflict,
                 "boarding of " + name + " trip " + std::to_string(trip->number) + " closed at " +
                     FormatUtc(*trip->scheduled_at - train.cutoff.count()) + " (" +
                     FormatDuration(train.cutoff) + " before it departs at " +
                     FormatUtc(*trip->scheduled_at) + "); board the next trip after it departs");
  }

  // The gate judges the cars as one change set, providers first, against every environment of
  // the route; a boarding is refused when it adds problems the cars already aboard did not have.
  std::vector<TrainCar> old_set = before;
  std::vector<TrainCar> new_set = trip->cars;
  const auto old_versions = Order(old_set, *state, train.route);
  const auto new_versions = Order(new_set, *state, train.route);
  TrainChange change{train, Outcome::kCreated, {}};
  for (const std::string& env_name : train.route) {
    const EnvironmentState* env = state->FindEnvironment(env_name);
    if (env == nullptr) continue;
    Verdict after = host_.EvaluateSet(*state, new_versions, *env);
    if (after.allowed) continue;
    Verdict added = NewReasons(host_.EvaluateSet(*state, old_versions, *env), std::move(after));
    if (!added.allowed) change.refused.emplace_back(env_name, std::move(added));
  }
  if (!change.refused.empty()) {
    json environments = json::array();
    for (const auto& [env, verdict] : change.refused) {
      environments.push_back({{"environment", env}, {"summary", Summary(verdict)}});
    }
    change.train = *existing;
    auto ids = host_.store().AppendEvents({MakeEvent(actor, "train.boarding_refused", train,
                                                     {{"trip", trip->number},
                                                      {"cars", Labels(boarded)},
                                                      {"environments", std::move(environments)}})});
    if (!ids.ok()) return ids.error();
    host_.PublishEvents(ids->back());
    return change;
  }
  json data = {{"trip", trip->number}, {"cars", Labels(boarded)}};
  const int64_t number = trip->number;
  if (auto saved = Commit(train, {number}, {MakeEvent(actor, "train.boarded", train, data)});
      !saved.ok()) {
    return saved.error();
  }
  change.train = train;
  return change;
}

Result<TrainChange> Trains::Leave(const std::string& name, const std::string& service,
                                  const Actor& actor) {
  const Train* existing = Find(name);
  if (existing == nullptr) return Error(ErrorCode::kNotFound, "unknown train \"" + name + "\"");
  Train train = *existing;
  TrainTrip* trip = train.Boarding();
  if (trip == nullptr || trip->FindCar(service) == nullptr) {
    if (TrainTrip* travelling = Travelling(train); travelling && travelling->FindCar(service)) {
      return Error(ErrorCode::kConflict, name + " trip " + std::to_string(travelling->number) +
                                             " has departed: its manifest is frozen (abort the "
                                             "car's rollout to stop it)");
    }
    return Error(ErrorCode::kNotFound, service + " is not aboard " + name);
  }
  const TrainCar car = *trip->FindCar(service);
  std::erase_if(trip->cars, [&](const TrainCar& c) { return c.service == service; });
  json data = {{"trip", trip->number}, {"car", car.Label()}, {"reason", "left by " + actor.name}};
  const int64_t number = trip->number;
  if (auto saved = Commit(train, {number}, {MakeEvent(actor, "train.car_left", train, data)});
      !saved.ok()) {
    return saved.error();
  }
  return TrainChange{train, Outcome::kCreated, {}};
}

Result<TrainChange> Trains::Depart(const std::string& name, const Actor& actor) {
  const Train* existing = Find(name);
  if (existing == nullptr) return Error(ErrorCode::kNotFound, "unknown train \"" + name + "\"");
  Train train = *existing;
  if (TrainTrip* travelling = Travelling(train)) {
    return Error(ErrorCode::kConflict, name + " trip " + std::to_string(travelling->number) +
                                           " is still travelling (in " +
                                           train.route[static_cast<size_t>(travelling->env_index)] +
                                           ")");
  }
  TrainTrip* trip = train.Boarding();
  if (trip == nullptr || trip->cars.empty()) {
    return Error(ErrorCode::kConflict, "nothing is aboard " + name + ": board cars first");
  }
  auto state = host_.Snapshot();
  Order(trip->cars, *state, train.route);
  const TimeMs now = clock_.NowMs();
  for (TrainCar& car : trip->cars) {
    car.state = CarState::kWaiting;
    car.env_index = 0;
    car.promotion_id = 0;
    car.reason.clear();
    car.updated_at = now;
  }
  trip->state = TripState::kDeparted;
  trip->departed_at = now;
  trip->departed_by = actor.name;
  trip->env_index = 0;
  std::vector<const TrainCar*> manifest;
  for (const TrainCar& car : trip->cars) manifest.push_back(&car);
  json cars = json::array();
  for (const TrainCar& car : trip->cars) {
    cars.push_back({{"car", car.Label()}, {"depends_on", car.depends_on}});
  }
  json data = {{"trip", trip->number}, {"route", train.route}, {"cars", std::move(cars)}};
  if (trip->scheduled_at) data["scheduled_at"] = FormatUtc(*trip->scheduled_at);
  const int64_t number = trip->number;
  // The next trip opens for boarding at once; with a cadence it departs at the next match.
  TrainTrip next;
  next.number = number + 1;
  next.scheduled_at = NextDeparture(train, std::max(now, trip->scheduled_at.value_or(now)));
  train.trips.push_back(std::move(next));
  std::vector<Event> events = {MakeEvent(actor, "train.departed", train, std::move(data))};
  if (auto saved = Commit(train, {number, number + 1}, std::move(events)); !saved.ok()) {
    return saved.error();
  }
  if (train.trips.back().scheduled_at) AddTimer(*train.trips.back().scheduled_at, name);
  Advance(name);
  const Train* after = Find(name);
  return TrainChange{after ? *after : train, Outcome::kCreated, {}};
}

std::vector<std::shared_ptr<const Version>> Trains::Order(std::vector<TrainCar>& cars,
                                                          const State& state,
                                                          const std::vector<std::string>& route) {
  std::sort(cars.begin(), cars.end(),
            [](const TrainCar& a, const TrainCar& b) { return a.position < b.position; });
  std::vector<std::shared_ptr<const Version>> versions;
  for (const TrainCar& car : cars) {
    const ServiceState* service = state.FindService(car.service);
    versions.push_back(service ? service->FindShared(car.version) : nullptr);
  }
  if (std::find(versions.begin(), versions.end(), nullptr) != versions.end()) {
    return versions;  // registered versions are never removed; nothing sensible to order
  }
  // Providers first, unless the gate needs otherwise: a consumer that accepts both the live and
  // the new major of its provider must go before it (the new major would break the old
  // consumer). Greedily, the next car is the first in providers-first order whose promotion
  // after the ones before it adds no problem in any environment of the route.
  std::vector<size_t> pending = ProvidersFirst(versions);
  std::vector<size_t> order;
  std::vector<std::shared_ptr<const Version>> prefix;
  std::vector<const EnvironmentState*> environments;
  for (const std::string& name : route) {
    if (const EnvironmentState* env = state.FindEnvironment(name)) environments.push_back(env);
  }
  while (!pending.empty()) {
    // The prefix's own verdict per environment, judged once per step and only when needed.
    std::vector<std::optional<Verdict>> before(environments.size());
    std::optional<size_t> take;
    for (size_t k = 0; k < pending.size() && !take; ++k) {
      auto candidate = prefix;
      candidate.push_back(versions[pending[k]]);
      bool fits = true;
      for (size_t e = 0; e < environments.size() && fits; ++e) {
        Verdict after = host_.EvaluateSet(state, candidate, *environments[e]);
        if (after.allowed) continue;
        if (!before[e]) before[e] = host_.EvaluateSet(state, prefix, *environments[e]);
        fits = NewReasons(*before[e], std::move(after)).allowed;
      }
      if (fits) take = k;
    }
    const size_t k = take.value_or(0);
    order.push_back(pending[k]);
    prefix.push_back(versions[pending[k]]);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(k));
  }
  std::vector<TrainCar> sorted;
  for (size_t i : order) sorted.push_back(std::move(cars[i]));
  cars = std::move(sorted);
  // A car waits for the cars before it that it shares an API with, and leaves if they fail.
  for (size_t j = 0; j < cars.size(); ++j) {
    cars[j].depends_on.clear();
    for (size_t i = 0; i < j; ++i) {
      if (Related(*prefix[i], *prefix[j])) cars[j].depends_on.push_back(cars[i].service);
    }
  }
  return prefix;
}

// ---------------------------------------------------------------------------------------------
// Travelling.

void Trains::Advance(const std::string& name) {
  if (stopping_) return;
  const Train* existing = Find(name);
  if (existing == nullptr) return;
  Train train = *existing;
  TrainTrip* trip = Travelling(train);
  if (trip == nullptr) return;
  const int64_t number = trip->number;
  std::vector<Event> events;
  bool changed = false;
  // Each pass starts cars or moves the trip on; a route of N environments needs at most
  // N × (cars + 1) passes.
  const size_t limit = (train.route.size() + 1) * (trip->cars.size() + 2);
  for (size_t pass = 0; pass < limit && trip->state == TripState::kDeparted; ++pass) {
    if (!Step(train, *trip, events)) break;
    changed = true;
    trip = train.FindTrip(number);
  }
  if (!changed && events.empty()) return;
  std::vector<int64_t> trips = {number};
  if (const TrainTrip* boarding = train.Boarding()) trips.push_back(boarding->number);
  if (auto saved = Commit(train, trips, std::move(events)); !saved.ok()) {
    spdlog::error("train {}: {}; retrying in 1s", name, saved.error().message());
    AddTimer(clock_.NowMs() + 1000, name);
    return;
  }
  if (train.FindTrip(number)->state == TripState::kArrived) MaybeDepartScheduled(name);
}

bool Trains::Step(Train& train, TrainTrip& trip, std::vector<Event>& events) {
  const TimeMs now = clock_.NowMs();
  const std::string& environment = train.route[static_cast<size_t>(trip.env_index)];
  bool changed = false;
  for (size_t i = 0; i < trip.cars.size(); ++i) {
    TrainCar& car = trip.cars[i];
    if (car.state != CarState::kWaiting || car.env_index > trip.env_index) continue;
    bool ready = true;
    for (const std::string& provider : car.depends_on) {
      const TrainCar* dep = trip.FindCar(provider);
      if (dep == nullptr || dep->state == CarState::kFailed || dep->state == CarState::kLeft) {
        continue;  // FailCar took its dependents off with it
      }
      if (!Through(*dep, trip)) ready = false;
    }
    if (!ready) continue;
    const TrainCar snapshot = car;
    StartCar(train, trip, trip.cars[i], events);
    const TrainCar& after = trip.cars[i];
    if (after.state != snapshot.state || after.env_index != snapshot.env_index ||
        after.reason != snapshot.reason) {
      changed = true;
    }
  }
  if (changed) return true;
  // Moves on when every car still aboard is through this environment.
  std::vector<const TrainCar*> arrived, failed, left;
  for (const TrainCar& car : trip.cars) {
    if (car.state == CarState::kFailed) {
      failed.push_back(&car);
    } else if (car.state == CarState::kLeft) {
      left.push_back(&car);
    } else if (!Through(car, trip)) {
      return false;
    } else {
      arrived.push_back(&car);
    }
  }
  const Actor actor{trip.departed_by, ""};
  if (!arrived.empty() && static_cast<size_t>(trip.env_index) + 1 < train.route.size()) {
    json through = Labels(arrived);
    ++trip.env_index;
    events.push_back(MakeEvent(actor, "train.reached", train,
                               {{"trip", trip.number},
                                {"environment", train.route[static_cast<size_t>(trip.env_index)]},
                                {"after", environment},
                                {"cars", std::move(through)}}));
    return true;
  }
  trip.state = TripState::kArrived;
  trip.arrived_at = now;
  events.push_back(MakeEvent(actor, "train.arrived", train,
                             {{"trip", trip.number},
                              {"environment", environment},
                              {"arrived", Labels(arrived)},
                              {"failed", Labels(failed)},
                              {"left", Labels(left)}}));
  return true;
}

void Trains::StartCar(Train& train, TrainTrip& trip, TrainCar& car, std::vector<Event>& events) {
  const TimeMs now = clock_.NowMs();
  const std::string environment = train.route[static_cast<size_t>(trip.env_index)];
  const bool last = static_cast<size_t>(trip.env_index) + 1 == train.route.size();
  const Actor actor{trip.departed_by, ""};
  auto state = host_.Snapshot();
  const EnvironmentState* env = state->FindEnvironment(environment);
  auto through = [&](const std::string& how) {
    car.state = last ? CarState::kArrived : CarState::kWaiting;
    car.env_index = last ? trip.env_index : trip.env_index + 1;
    car.reason.clear();
    car.updated_at = now;
    json data = {{"trip", trip.number}, {"car", car.Label()}, {"environment", environment}};
    if (!how.empty()) data["reason"] = how;
    events.push_back(MakeEvent(actor, "train.car_through", train, std::move(data)));
  };
  auto wait = [&](const std::string& reason, TimeMs until) {
    AddTimer(until, train.name);
    if (car.reason == reason) return;
    car.reason = reason;
    car.updated_at = now;
    events.push_back(MakeEvent(actor, "train.car_waiting", train,
                               {{"trip", trip.number},
                                {"car", car.Label()},
                                {"environment", environment},
                                {"reason", reason},
                                {"until", FormatUtc(until)}}));
  };
  if (env != nullptr) {
    if (auto live = env->live.find(car.service);
        live != env->live.end() && live->second.stable == car.version && !live->second.canary) {
      through("already live in " + environment);
      return;
    }
  }
  // A freeze holds the train at the platform: the car starts when it ends.
  if (auto freeze =
          FreezeInForce(*state, pipelines_.FindEnvironment(environment), environment, now)) {
    wait(DescribeFreeze(environment, *freeze), freeze->until_ms);
    return;
  }
  // Only soak time missing: the car waits for it without asking (a refused request would be
  // journalled as a blocked promotion each time).
  if (env != nullptr) {
    const ServiceState* service = state->FindService(car.service);
    if (auto version = service ? service->FindShared(car.version) : nullptr) {
      const Verdict verdict = host_.Judge(*state, version, *env);
      if (auto remaining = SoakOnly(verdict)) {
        wait("soaking before " + environment + ": " + verdict.reasons.front().message,
             now + *remaining);
        return;
      }
    }
  }
  // Recorded before the promotion is asked for: after a crash in between, Resume looks for it.
  car.state = CarState::kStarting;
  car.updated_at = now;
  if (auto saved = Commit(train, {trip.number}, std::move(events)); !saved.ok()) {
    car.state = CarState::kWaiting;
    events.clear();
    AddTimer(now + 1000, train.name);
    return;
  }
  events.clear();
  PromotionRequest request{car.service, car.version.ToString(), environment, ""};
  auto outcome = host_.PromoteCar(request, actor, {{"train", train.name}, {"trip", trip.number}});
  car.state = CarState::kWaiting;
  if (!outcome.ok()) {
    FailCar(train, trip, car, "refused in " + environment + ": " + outcome.error().message(),
            events);
    return;
  }
  if (!outcome->promotion) {
    const Verdict& verdict = outcome->verdict;
    if (auto remaining = SoakOnly(verdict)) {
      wait("soaking before " + environment + ": " + verdict.reasons.front().message,
           now + *remaining);
      return;
    }
    FailCar(train, trip, car, "blocked in " + environment + ": " + Summary(verdict), events);
    return;
  }
  car.state = CarState::kPromoting;
  car.promotion_id = outcome->promotion->id;
  car.reason.clear();
  car.updated_at = now;
  by_promotion_[car.promotion_id] = CarRef{train.name, trip.number, car.service};
  events.push_back(MakeEvent(actor, "train.car_started", train,
                             {{"trip", trip.number},
                              {"car", car.Label()},
                              {"environment", environment},
                              {"promotion", car.promotion_id}}));
}

void Trains::FailCar(Train& train, TrainTrip& trip, TrainCar& car, const std::string& reason,
                     std::vector<Event>& events) {
  const TimeMs now = clock_.NowMs();
  const Actor actor{trip.departed_by, ""};
  const std::string environment = train.route[static_cast<size_t>(trip.env_index)];
  car.state = CarState::kFailed;
  car.reason = reason;
  car.updated_at = now;
  json failed = {{"trip", trip.number},
                 {"car", car.Label()},
                 {"environment", environment},
                 {"reason", reason}};
  if (car.promotion_id != 0) failed["promotion"] = car.promotion_id;
  events.push_back(MakeEvent(actor, "train.car_failed", train, std::move(failed)));
  // Every car that requires it, directly or through another, leaves with it.
  std::vector<TrainCar*> leaving;
  std::set<std::string> gone = {car.service};
  for (bool more = true; more;) {
    more = false;
    for (TrainCar& other : trip.cars) {
      if (IsFinal(other.state) || gone.count(other.service)) continue;
      auto it = std::find_if(other.depends_on.begin(), other.depends_on.end(),
                             [&](const std::string& s) { return gone.count(s) > 0; });
      if (it == other.depends_on.end()) continue;
      other.state = CarState::kLeft;
      other.reason = "left with " + (*it == car.service ? car.Label() : *it) +
                     ", which it depends on" + (*it == car.service ? ", after " + reason : "");
      other.updated_at = now;
      gone.insert(other.service);
      leaving.push_back(&other);
      more = true;
    }
  }
  TrainTrip* boarding = train.cadence.empty() ? nullptr : train.Boarding();
  for (TrainCar* other : leaving) {
    json data = {{"trip", trip.number},
                 {"car", other->Label()},
                 {"environment", environment},
                 {"reason", other->reason}};
    if (boarding != nullptr && boarding->FindCar(other->service) == nullptr) {
      int position = 0;
      for (const TrainCar& c : boarding->cars) position = std::max(position, c.position + 1);
      TrainCar carried;
      carried.service = other->service;
      carried.version = other->version;
      carried.position = position;
      carried.boarded_by = other->boarded_by;
      carried.boarded_at = now;
      carried.carried_from = trip.number;
      carried.reason = "carried over from trip " + std::to_string(trip.number);
      carried.updated_at = now;
      boarding->cars.push_back(std::move(carried));
      data["carried_to"] = boarding->number;
    }
    events.push_back(MakeEvent(actor, "train.car_left", train, std::move(data)));
  }
}

void Trains::PromotionFinished(const Promotion& promotion) {
  // Posted: the rollout that finished is still unwinding on the strand.
  boost::asio::post(strand_, [this, promotion] {
    if (stopping_) return;
    auto ref = by_promotion_.find(promotion.id);
    if (ref == by_promotion_.end()) return;
    const CarRef car_ref = ref->second;
    by_promotion_.erase(ref);
    const Train* existing = Find(car_ref.train);
    if (existing == nullptr) return;
    Train train = *existing;
    TrainTrip* trip = train.FindTrip(car_ref.trip);
    if (trip == nullptr) return;
    TrainCar* car = trip->FindCar(car_ref.service);
    if (car == nullptr || car->state != CarState::kPromoting || car->promotion_id != promotion.id) {
      return;
    }
    const TimeMs now = clock_.NowMs();
    const std::string environment = train.route[static_cast<size_t>(trip->env_index)];
    const bool last = static_cast<size_t>(trip->env_index) + 1 == train.route.size();
    std::vector<Event> events;
    if (promotion.state == RolloutState::kSucceeded) {
      car->state = last ? CarState::kArrived : CarState::kWaiting;
      car->env_index = last ? trip->env_index : trip->env_index + 1;
      car->reason.clear();
      car->updated_at = now;
      events.push_back(MakeEvent(Actor{trip->departed_by, ""}, "train.car_through", train,
                                 {{"trip", trip->number},
                                  {"car", car->Label()},
                                  {"environment", environment},
                                  {"promotion", promotion.id}}));
    } else {
      std::string why = std::string(RolloutStateName(promotion.state));
      std::replace(why.begin(), why.end(), '_', ' ');
      if (!promotion.progress.reason.empty()) why += ": " + promotion.progress.reason;
      FailCar(train, *trip, *car, why + " in " + environment, events);
    }
    std::vector<int64_t> trips = {trip->number};
    if (const TrainTrip* boarding = train.Boarding()) trips.push_back(boarding->number);
    if (auto saved = Commit(train, trips, std::move(events)); !saved.ok()) {
      spdlog::error("train {}: {}", train.name, saved.error().message());
      by_promotion_[promotion.id] = car_ref;
      return;
    }
    Advance(train.name);
  });
}

void Trains::MaybeDepartScheduled(const std::string& name) {
  const Train* existing = Find(name);
  if (existing == nullptr) return;
  const TrainTrip* boarding = existing->Boarding();
  const TimeMs now = clock_.NowMs();
  if (boarding == nullptr || !boarding->scheduled_at || *boarding->scheduled_at > now) return;
  Train train = *existing;
  if (Travelling(train) != nullptr) return;  // departs when the trip ahead arrives
  if (boarding->cars.empty()) {
    // Nothing aboard: this departure is skipped and the next one scheduled.
    TrainTrip& trip = *train.Boarding();
    const TimeMs skipped = *trip.scheduled_at;
    trip.scheduled_at = NextDeparture(train, std::max(now, skipped));
    json data = {{"trip", trip.number}, {"scheduled_at", FormatUtc(skipped)}};
    if (trip.scheduled_at) data["next_departure"] = FormatUtc(*trip.scheduled_at);
    if (Commit(train, {trip.number}, {MakeEvent(kSystem, "train.skipped", train, data)}).ok() &&
        trip.scheduled_at) {
      AddTimer(*trip.scheduled_at, name);
    }
    return;
  }
  if (auto departed = Depart(name, kSystem); !departed.ok()) {
    spdlog::error("train {}: scheduled departure failed: {}", name, departed.error().message());
  }
}

// ---------------------------------------------------------------------------------------------
// Restart.

void Trains::Resume(std::vector<Train> trains) {
  {
    std::lock_guard lock(mutex_);
    for (Train& train : trains) {
      std::string name = train.name;
      trains_.insert_or_assign(std::move(name), std::move(train));
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, train] : trains_) names.push_back(name);
  for (const std::string& name : names) {
    Train train = *Find(name);
    bool changed = false;
    TrainTrip* trip = Travelling(train);
    if (trip != nullptr) {
      for (TrainCar& car : trip->cars) {
        if (car.state == CarState::kStarting) {
          Reattach(train, *trip, car);
          changed = true;
        }
        if (car.state != CarState::kPromoting) continue;
        auto promotion = host_.store().GetPromotion(car.promotion_id);
        by_promotion_[car.promotion_id] = CarRef{name, trip->number, car.service};
        // Finished while the daemon was stopping: handled as if it had just finished.
        if (promotion.ok() && promotion->has_value() && IsTerminal((*promotion)->state)) {
          PromotionFinished(**promotion);
        }
      }
    }
    if (changed) {
      if (auto saved = Commit(train, {trip->number}, {}); !saved.ok()) {
        spdlog::error("train {}: {}", name, saved.error().message());
      }
    }
    if (const TrainTrip* boarding = train.Boarding(); boarding && boarding->scheduled_at) {
      AddTimer(*boarding->scheduled_at, name);
    }
    boost::asio::post(strand_, [this, name] {
      Advance(name);
      MaybeDepartScheduled(name);
    });
  }
}

void Trains::Reattach(const Train& train, const TrainTrip& trip, TrainCar& car) {
  const std::string environment = train.route[static_cast<size_t>(trip.env_index)];
  PromotionFilter filter;
  filter.service = car.service;
  filter.environment = environment;
  filter.limit = 20;
  car.state = CarState::kWaiting;  // unless its promotion is found: then it is asked again
  auto promotions = host_.store().ListPromotions(filter);
  if (!promotions.ok()) return;
  for (const Promotion& promotion : *promotions) {
    if (promotion.created_at < car.updated_at || promotion.version != car.version) continue;
    auto history = host_.store().PromotionEvents(promotion.id, 1);
    if (!history.ok() || history->empty()) continue;
    json data = json::parse(history->front().data, nullptr, false);
    if (!data.is_object() || !data.contains("train") || data["train"] != train.name ||
        data.value("trip", int64_t{0}) != trip.number) {
      continue;
    }
    car.state = CarState::kPromoting;
    car.promotion_id = promotion.id;
    return;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

Status Trains::Commit(const Train& train, const std::vector<int64_t>& trips,
                      std::vector<Event> events) {
  auto ids = host_.store().PutTrain(train, trips, events);
  if (!ids.ok()) return ids.error();
  if (!ids->empty()) host_.PublishEvents(ids->back());
  std::lock_guard lock(mutex_);
  trains_.insert_or_assign(train.name, train);
  return Ok();
}

const Train* Trains::Find(std::string_view name) const {
  auto it = trains_.find(name);
  return it == trains_.end() ? nullptr : &it->second;
}

std::optional<Train> Trains::Get(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = trains_.find(name);
  if (it == trains_.end()) return std::nullopt;
  return it->second;
}

std::vector<Train> Trains::List() const {
  std::lock_guard lock(mutex_);
  std::vector<Train> out;
  for (const auto& [name, train] : trains_) out.push_back(train);
  return out;
}

Event Trains::MakeEvent(const Actor& actor, const std::string& kind, const Train& train,
                        json data) const {
  data["train"] = train.name;
  if (!actor.source.empty()) data["source"] = actor.source;
  return Event{0, clock_.NowMs(), actor.name, kind, train.name, data.dump()};
}

void Trains::AddTimer(TimeMs at, const std::string& train) {
  for (auto [it, end] = timers_.equal_range(at); it != end; ++it) {
    if (it->second == train) return;
  }
  timers_.emplace(at, train);
  ArmWake();
}

void Trains::ArmWake() {
  if (stopping_) return;
  wake_.Arm(timers_.empty() ? std::nullopt : std::optional<TimeMs>(timers_.begin()->first));
}

void Trains::OnWake() {
  if (stopping_) return;
  const TimeMs now = clock_.NowMs();
  std::set<std::string> due;
  while (!timers_.empty() && timers_.begin()->first <= now) {
    due.insert(timers_.begin()->second);
    timers_.erase(timers_.begin());
  }
  for (const std::string& name : due) {
    MaybeDepartScheduled(name);
    Advance(name);
  }
  ArmWake();
}

}  // namespace shipd

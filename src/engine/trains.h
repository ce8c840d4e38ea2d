// Trains: release trains on the engine's strand (docs/trains.md). A departed trip is driven by one
// reconciling function, Advance(), that looks at the trip as persisted and does the next thing:
// start the cars whose providers are through the current environment, move the trip on when every
// remaining car is through, arrive after the last. Each change is one store transaction with its
// journal events before it counts in memory, and a restarted daemon calls the same Advance() on
// what was persisted, so "what happens next" has one definition.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clock_wake.h"
#include "shipd/engine/engine.h"

namespace shipd {

// What trains need from the engine that owns them. Strand only.
class TrainHost {
 public:
  virtual ~TrainHost() = default;
  virtual std::shared_ptr<const State> Snapshot() const = 0;
  virtual Store& store() = 0;
  // Rules 1-4 of the gate (not the lifecycle: the train's route takes care of that) for
  // `versions` as one change set, in that order, into `environment`.
  virtual Verdict EvaluateSet(const State& state,
                              const std::vector<std::shared_ptr<const Version>>& versions,
                              const EnvironmentState& environment) const = 0;
  // The gate's verdict on promoting `version` into `environment` now, lifecycle included: what
  // a promotion request would be told.
  virtual Verdict Judge(const State& state, std::shared_ptr<const Version> version,
                        const EnvironmentState& environment) const = 0;
  // A car's promotion: the engine's Promote, on the strand; `train` is recorded in its
  // rollout.created event ({"train": name, "trip": n}) so a restart can find it again.
  virtual Result<PromotionOutcome> PromoteCar(const PromotionRequest& request, const Actor& actor,
                                              const nlohmann::json& train) = 0;
  virtual void PublishEvents(int64_t last_event_id) = 0;
};

class Trains {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  Trains(TrainHost& host, const Pipelines& pipelines, const Clock& clock, Strand strand);
  ~Trains();
  Trains(const Trains&) = delete;
  Trains& operator=(const Trains&) = delete;

  // At start, after rollouts resumed: continues every departed trip (finding the promotions of
  // cars that were being started when the daemon stopped) and schedules cadence departures.
  void Resume(std::vector<Train> trains);

  // Strand only.
  Result<TrainChange> Create(Train spec, const Actor& actor);
  Result<TrainChange> Board(const std::string& name, const std::vector<CarRequest>& cars,
                            const Actor& actor);
  Result<TrainChange> Leave(const std::string& name, const std::string& service,
                            const Actor& actor);
  Result<TrainChange> Depart(const std::string& name, const Actor& actor);
  // Called (on the strand) after a rollout reached a terminal state.
  void PromotionFinished(const Promotion& promotion);

  // Any thread.
  std::optional<Train> Get(std::string_view name) const;
  std::vector<Train> List() const;

  void Shutdown();

 private:
  struct CarRef {
    std::string train;
    int64_t trip = 0;
    std::string service;
  };

  // Persists `train` (the trips numbered in `trips`) with `events`, then makes it the current
  // state. Returns whether it stuck.
  Status Commit(const Train& train, const std::vector<int64_t>& trips, std::vector<Event> events);
  void Advance(const std::string& name);
  // One pass over the travelling trip; returns whether anything changed (Advance repeats).
  bool Step(Train& train, TrainTrip& trip, std::vector<Event>& events);
  // Starts `car` in the trip's environment; updates it in place.
  void StartCar(Train& train, TrainTrip& trip, TrainCar& car, std::vector<Event>& events);
  // `car` failed: it and every car that depends on it leave; with a cadence they are carried to
  // the boarding trip.
  void FailCar(Train& train, TrainTrip& trip, TrainCar& car, const std::string& reason,
               std::vector<Event>& events);
  void MaybeDepartScheduled(const std::string& name);
  // A starting car whose promotion may exist (the daemon stopped in between): finds it.
  void Reattach(const Train& train, const TrainTrip& trip, TrainCar& car);

  // Orders `cars` for travel (see the .cc), sets each car's depends_on and returns the versions
  // in that order.
  std::vector<std::shared_ptr<const Version>> Order(std::vector<TrainCar>& cars, const State& state,
                                                    const std::vector<std::string>& route);
  Event MakeEvent(const Actor& actor, const std::string& kind, const Train& train,
                  nlohmann::json data) const;
  const Train* Find(std::string_view name) const;  // strand

  void AddTimer(TimeMs at, const std::string& train);
  void ArmWake();
  void OnWake();

  TrainHost& host_;
  const Pipelines& pipelines_;
  const Clock& clock_;
  Strand strand_;
  ClockWake wake_;
  bool stopping_ = false;

  mutable std::mutex mutex_;  // guards trains_ for readers on other threads; written on the strand
  std::map<std::string, Train, std::less<>> trains_;
  std::map<int64_t, CarRef> by_promotion_;  // promotions of cars in flight
  std::multimap<TimeMs, std::string> timers_;
};

}  // namespace shipd

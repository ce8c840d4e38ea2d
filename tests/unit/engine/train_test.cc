// Release trains on the engine with a fake clock and a recording driver: soak time and freezes
// hold a car at the platform until they pass, a restart between "starting" and the promotion
// finds the promotion instead of asking twice, and cadences are computed in their zone. Each test
// waits on the journal (no sleeping).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "shipd/config/freeze.h"
#include "shipd/engine/engine.h"
#include "shipd/model/manifest.h"
#include "support/fake_driver.h"
#include "support/temp_dir.h"
#include "support/test_engine.h"

namespace shipd {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeDriver;

constexpr char kPipelines[] = R"(
environments:
  - { name: staging, driver: fake, strategy: direct }
  - { name: prod, after: staging, soak: 1h, driver: fake, strategy: direct }
strategies:
  direct: { steps: [] }
drivers:
  fake: { type: exec, command: ["true"] }
)";

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Start();
    for (const char* service : {"users", "billing"}) {
      ASSERT_TRUE(engine_->RegisterService({service, "", 0}, actor_).ok());
    }
    Register("users", "1.0.0", json::array());
    Register("billing", "2.0.0", json::array({{{"api", "users"}, {"range", "^1.0"}}}));
  }
  void TearDown() override {
    driver_->Release();
    engine_.reset();
  }

  void Start() {
    RolloutDeps deps;
    deps.drivers["fake"] = driver_;
    auto engine = testing::StartTestEngine(dir_, kPipelines, clock_, std::move(deps));
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    engine_ = std::move(engine).value();
  }

  void Register(const std::string& service, const std::string& version, const json& requires_) {
    json manifest = {{"artifact", service + ":{{version}}"},
                     {"provides", {{{"api", service}, {"version", version}}}},
                     {"requires", requires_}};
    auto parsed = VersionFromManifest(manifest, service, version);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    ASSERT_TRUE(engine_->RegisterVersion(*parsed, actor_).ok());
  }

  // A train over staging -> prod with users and billing aboard, departed.
  void Depart() {
    Train spec;
    spec.name = "release";
    spec.route = {"staging", "prod"};
    ASSERT_TRUE(engine_->CreateTrain(spec, actor_).ok());
    auto boarded =
        engine_->BoardTrain("release", {{"billing", "2.0.0"}, {"users", "1.0.0"}}, actor_);
    ASSERT_TRUE(boarded.ok()) << boarded.error().message();
    ASSERT_TRUE(boarded->refused.empty());
    auto departed = engine_->DepartTrain("release", actor_);
    ASSERT_TRUE(departed.ok()) << departed.error().message();
  }

  // Waits until the journal has an event of `kind` not returned before; returns its data.
  json WaitFor(const std::string& kind) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      for (; next_ < journal_.size(); ++next_) {
        if (journal_[next_].first == kind) return journal_[next_++].second;
      }
      auto events = engine_->WaitForEvents(seen_, 1000, milliseconds(200));
      if (!events.ok()) break;
      for (const Event& event : *events) {
        seen_ = event.id;
        journal_.emplace_back(event.kind, json::parse(event.data));
      }
    }
    ADD_FAILURE() << "no " << kind << " event";
    return nullptr;
  }

  const TrainTrip& Trip(int64_t number) {
    train_ = engine_->GetTrain("release").value();
    return *train_.FindTrip(number);
  }

  const Actor actor_{"alice", "127.0.0.1"};
  FakeClock clock_{1'800'000'000'000};
  testing::TempDir temp_;
  const std::filesystem::path dir_ = temp_.path();
  std::shared_ptr<FakeDriver> driver_ = std::make_shared<FakeDriver>();
  std::unique_ptr<Engine> engine_;
  Train train_;
  int64_t seen_ = 0;
  size_t next_ = 0;
  std::vector<std::pair<std::string, json>> journal_;
};

TEST_F(TrainTest, CarsWaitForSoakTimeBeforeTheNextEnvironment) {
  Depart();
  json reached = WaitFor("train.reached");
  EXPECT_EQ(reached["environment"], "prod");
  // prod takes versions that succeeded in staging an hour ago: the cars wait, in order.
  json waiting = WaitFor("train.car_waiting");
  EXPECT_EQ(waiting["car"], "users@1.0.0");
  EXPECT_NE(waiting["reason"].get<std::string>().find("soak"), std::string::npos) << waiting;
  EXPECT_EQ(Trip(1).FindCar("users")->state, CarState::kWaiting);
  EXPECT_EQ(Trip(1).FindCar("billing")->env_index, 1);

  clock_.Advance(hours(1));
  json arrived = WaitFor("train.arrived");
  EXPECT_EQ(arrived["arrived"], json({"users@1.0.0", "billing@2.0.0"}));
  EXPECT_EQ(Trip(1).state, TripState::kArrived);
  // Waiting for soak asked nothing of the gate that it had to refuse.
  for (const auto& [kind, data] : journal_) EXPECT_NE(kind, "promotion.blocked") << data;
}

TEST_F(TrainTest, AFreezeHoldsTheCarsUntilItEnds) {
  Hold freeze;
  freeze.environment = "staging";
  freeze.reason = "release party";
  freeze.expires_at = clock_.NowMs() + hours(2).count();
  ASSERT_TRUE(engine_->PutHold(freeze, actor_).ok());
  Depart();
  json waiting = WaitFor("train.car_waiting");
  EXPECT_NE(waiting["reason"].get<std::string>().find("staging is frozen until"), std::string::npos)
      << waiting;
  EXPECT_TRUE(driver_->Calls().empty());

  clock_.Advance(hours(2));
  json started = WaitFor("train.car_started");
  EXPECT_EQ(started["car"], "users@1.0.0");
  EXPECT_EQ(started["environment"], "staging");
}

TEST_F(TrainTest, ARestartFindsTheCarPromotionItHadRequested) {
  Depart();
  json reached = WaitFor("train.reached");  // both cars through staging, waiting for soak
  ASSERT_EQ(reached["environment"], "prod");
  engine_->Stop();
  engine_.reset();
  {
    // As if the daemon had died in staging after users' promotion was recorded and before the
    // car was: users "starting", billing not started yet.
    SQLite::Database db((dir_ / "shipd.db").string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE train_trips SET env_index = 0 WHERE number = 1");
    db.exec(
        "UPDATE train_cars SET state = 'starting', env_index = 0, promotion_id = 0,"
        " updated_at = 0 WHERE service = 'users' AND trip = 1");
    db.exec(
        "UPDATE train_cars SET state = 'waiting', env_index = 0, promotion_id = 0"
        " WHERE service = 'billing' AND trip = 1");
  }
  journal_.clear();
  next_ = 0;
  Start();
  // users' rollout in staging was found (not asked for again); billing was live there already.
  json through = WaitFor("train.car_through");
  EXPECT_EQ(through["car"], "users@1.0.0");
  EXPECT_FALSE(through.contains("reason")) << through;
  through = WaitFor("train.car_through");
  EXPECT_EQ(through["car"], "billing@2.0.0");
  EXPECT_EQ(through["reason"], "already live in staging");
  reached = WaitFor("train.reached");
  EXPECT_EQ(reached["environment"], "prod");
  for (const char* service : {"users", "billing"}) {
    PromotionFilter filter;
    filter.service = service;
    filter.environment = "staging";
    auto promotions = engine_->ListPromotions(filter);
    ASSERT_TRUE(promotions.ok());
    EXPECT_EQ(promotions->size(), 1u) << service;
  }
}

TEST_F(TrainTest, BoardingIsRefusedWhenTheCarsCannotFitAndAcceptedTogether) {
  Train spec;
  spec.name = "release";
  spec.route = {"staging", "prod"};
  ASSERT_TRUE(engine_->CreateTrain(spec, actor_).ok());
  auto alone = engine_->BoardTrain("release", {{"billing", "2.0.0"}}, actor_);
  ASSERT_TRUE(alone.ok());
  ASSERT_EQ(alone->refused.size(), 2u);  // users is live nowhere
  EXPECT_EQ(alone->refused[0].first, "staging");
  EXPECT_TRUE(Trip(1).cars.empty());
  auto together =
      engine_->BoardTrain("release", {{"billing", "2.0.0"}, {"users", "1.0.0"}}, actor_);
  ASSERT_TRUE(together.ok());
  EXPECT_TRUE(together->refused.empty());
  EXPECT_EQ(Trip(1).cars.size(), 2u);
  // Same cars again: nothing changes.
  auto again = engine_->BoardTrain("release", {{"users", "1.0.0"}}, actor_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Outcome::kUnchanged);
  // A second train of the same name with another route conflicts; the same one is unchanged.
  spec.route = {"prod"};
  auto other = engine_->CreateTrain(spec, actor_);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), ErrorCode::kConflict);
}

TEST(TrainCadence, NextDepartureIsComputedInTheTrainsZone) {
  Train train;
  train.cadence = "0 10 * * TUE";
  train.timezone = "UTC";
  auto at = [](std::string_view text) { return ParseUtc(text).value(); };
  // Thursday 26 November 2026 -> Tuesday 1 December, 10:00 UTC.
  EXPECT_EQ(FormatUtc(*NextDeparture(train, at("2026-11-26T15:00Z"))), "2026-12-01T10:00:00Z");
  // At the departure minute itself: the week after.
  EXPECT_EQ(FormatUtc(*NextDeparture(train, at("2026-12-01T10:00Z"))), "2026-12-08T10:00:00Z");
  if (UtcOffset("Europe/Berlin", 0).ok()) {
    train.timezone = "Europe/Berlin";
    // Winter (UTC+1) and summer (UTC+2).
    EXPECT_EQ(FormatUtc(*NextDeparture(train, at("2026-11-26T15:00Z"))), "2026-12-01T09:00:00Z");
    EXPECT_EQ(FormatUtc(*NextDeparture(train, at("2027-06-02T00:00Z"))), "2027-06-08T08:00:00Z");
  }
  train.cadence = "0 10 30 2 *";  // 30 February never comes
  EXPECT_FALSE(NextDeparture(train, at("2026-11-26T15:00Z")).has_value());
  train.cadence = "";
  EXPECT_FALSE(NextDeparture(train, at("2026-11-26T15:00Z")).has_value());
}

}  // namespace
}  // namespace shipd

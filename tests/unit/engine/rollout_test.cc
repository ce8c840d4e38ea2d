// The rollout state machine on a fake clock, with a recording driver and scripted checks: each
// test drives the engine through its public interface and waits on the journal (no sleeping).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <tuple>

#include "shipd/engine/engine.h"
#include "shipd/model/manifest.h"
#include "support/fake_driver.h"
#include "support/temp_dir.h"
#include "support/test_engine.h"

namespace shipd {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeDriver;
using testing::ScriptedCheck;

constexpr char kPipelines[] = R"(
environments:
  - { name: dev, driver: fake, strategy: direct }
  - { name: staging, driver: fake, strategy: canary, progress_deadline: 1m }
  - { name: prod, driver: fake, strategy: gated, on_freeze: wait }
strategies:
  direct: { steps: [] }
  canary:
    steps:
      - weight: 20
      - analyze: { checks: [healthz, errors], duration: 3s }
      - weight: 50
      - pause: 2s
  gated:
    steps:
      - weight: 10
      - approve: {}
      - pause: {}
checks:
  healthz: { type: http, url: "{{canary_url}}/healthz", interval: 1s, failure_limit: 2 }
  errors: { type: traffic, max_error_rate: 0.05, interval: 1s, consecutive_error_limit: 2 }
drivers:
  fake: { type: exec, command: ["true"] }
)";

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Start();
    ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, actor_).ok());
    for (const char* v : {"1.0.0", "1.1.0", "1.2.0"}) {
      auto version = VersionFromManifest(json{{"artifact", "orders:{{version}}"}}, "orders", v);
      ASSERT_TRUE(version.ok());
      ASSERT_TRUE(engine_->RegisterVersion(*version, actor_).ok());
    }
  }
  void TearDown() override {
    driver_->Release();
    engine_.reset();
  }

  void Start() {
    RolloutDeps deps;
    deps.drivers["fake"] = driver_;
    deps.checks["healthz"] = healthz_;
    deps.checks["errors"] = errors_;
    auto engine = testing::StartTestEngine(dir_, kPipelines, clock_, std::move(deps));
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    engine_ = std::move(engine).value();
  }

  // Promotes and returns the rollout's id (0 when it was not created).
  int64_t Promote(const std::string& version, const std::string& environment) {
    auto outcome = engine_->Promote({"orders", version, environment, ""}, actor_);
    EXPECT_TRUE(outcome.ok()) << outcome.error().message();
    if (!outcome.ok() || !outcome->promotion) return 0;
    return outcome->promotion->id;
  }

  // Waits until the journal has an event of `kind` about promotion `id` (and, for
  // "rollout.step", of step type `type`) that no earlier call returned; returns its data.
  json WaitForEvent(int64_t id, const std::string& kind, const std::string& type = "") {
    const auto deadline = std::chrono::steady_clock::now() + seconds(20);
    size_t next = 0;
    while (true) {
      for (; next < journal_.size(); ++next) {
        auto& [event_kind, data, used] = journal_[next];
        if (used || event_kind != kind || data.value("promotion", int64_t{0}) != id) continue;
        if (!type.empty() && data.value("type", std::string()) != type) continue;
        used = true;
        return data;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      Read(milliseconds(200));
    }
    std::string seen;
    for (const auto& [k, d, u] : journal_) seen += k + " " + d.dump() + "\n";
    ADD_FAILURE() << "no " << kind << " " << type << " event for rollout " << id << "; journal:\n"
                  << seen;
    return nullptr;
  }
  json WaitForStep(int64_t id, const std::string& type) {
    return WaitForEvent(id, "rollout.step", type);
  }
  // Reads what the journal has beyond what was read, waiting up to `wait` for something new.
  void Read(milliseconds wait) {
    auto events = engine_->WaitForEvents(seen_, 1000, wait);
    if (!events.ok()) return;
    for (const Event& event : *events) {
      seen_ = event.id;
      journal_.push_back({event.kind, json::parse(event.data), false});
    }
  }
  bool Journal(const std::string& kind) const {
    for (const auto& [event_kind, data, used] : journal_) {
      if (event_kind == kind) return true;
    }
    return false;
  }

  Promotion Get(int64_t id) {
    auto promotion = engine_->GetPromotion(id);
    EXPECT_TRUE(promotion.ok() && promotion->has_value());
    return promotion.ok() && promotion->has_value() ? **promotion : Promotion{};
  }

  const Deployment* Live(const std::string& environment) {
    snapshot_ = engine_->Snapshot();
    const EnvironmentState* env = snapshot_->FindEnvironment(environment);
    auto it = env->live.find("orders");
    return it == env->live.end() ? nullptr : &it->second;
  }

  std::vector<std::pair<DriverAction, int>> Operations() const {
    std::vector<std::pair<DriverAction, int>> out;
    for (const auto& call : driver_->Calls()) out.emplace_back(call.action, call.weight);
    return out;
  }

  // Moves the fake clock a second at a time until the rollout finishes (each second waits for
  // the engine's next event, or 100 ms when there is none).
  void DriveToEnd(int64_t id) {
    for (int i = 0; i < 600; ++i) {
      const Promotion p = Get(id);
      if (IsTerminal(p.state)) return;
      clock_.Advance(seconds(1));
      Read(milliseconds(100));
    }
    ADD_FAILURE() << "rollout " << id << " did not finish";
  }

  // The strategy's first version, live in staging.
  void StableInStaging() {
    const int64_t id = Promote("1.0.0", "staging");
    DriveToEnd(id);
    ASSERT_EQ(Get(id).state, RolloutState::kSucceeded);
  }

  // Passes an analyze step of 3 s measured every second.
  void PassAnalysis(int64_t id) {
    WaitForStep(id, "analyze");
    for (int i = 0; i < 3; ++i) clock_.Advance(seconds(1));
    WaitForEvent(id, "rollout.analysis_passed");
  }

  const Actor actor_{"ci", "127.0.0.1"};
  FakeClock clock_;
  testing::TempDir temp_;
  const std::filesystem::path dir_ = temp_.path();
  std::shared_ptr<FakeDriver> driver_ = std::make_shared<FakeDriver>();
  std::shared_ptr<ScriptedCheck> healthz_ = std::make_shared<ScriptedCheck>();
  std::shared_ptr<ScriptedCheck> errors_ = std::make_shared<ScriptedCheck>();
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<const State> snapshot_;
  int64_t seen_ = 0;
  std::vector<std::tuple<std::string, json, bool>> journal_;  // kind, data, returned already
};

using Op = std::pair<DriverAction, int>;

TEST_F(RolloutTest, DirectStrategyPromotesAtOnce) {
  const int64_t id = Promote("1.0.0", "dev");
  WaitForEvent(id, "rollout.succeeded");
  EXPECT_EQ(Get(id).state, RolloutState::kSucceeded);
  EXPECT_EQ(Operations(), (std::vector<Op>{{DriverAction::kPromote, 100}}));
  ASSERT_NE(Live("dev"), nullptr);
  EXPECT_EQ(Live("dev")->stable, Semver(1, 0, 0));
}

TEST_F(RolloutTest, CanarySucceedsThroughEveryStep) {
  StableInStaging();
  const int64_t id = Promote("1.1.0", "staging");
  WaitForEvent(id, "rollout.weight_set");
  EXPECT_EQ(Live("staging")->canary, Semver(1, 1, 0));
  EXPECT_EQ(Live("staging")->canary_weight, 20);
  WaitForStep(id, "analyze");
  for (int i = 0; i < 3; ++i) clock_.Advance(seconds(1));
  const json passed = WaitForEvent(id, "rollout.analysis_passed");
  EXPECT_GE(passed["checks"]["healthz"]["measurements"], 1);
  EXPECT_EQ(passed["checks"]["errors"]["last_result"], "pass");
  WaitForEvent(id, "rollout.weight_set");
  WaitForStep(id, "pause");
  clock_.Advance(seconds(2));
  WaitForEvent(id, "rollout.succeeded");

  const Promotion done = Get(id);
  EXPECT_EQ(done.state, RolloutState::kSucceeded);
  EXPECT_EQ(done.progress.previous_version, "1.0.0");
  EXPECT_EQ(Live("staging")->stable, Semver(1, 1, 0));
  EXPECT_EQ(Live("staging")->previous, Semver(1, 0, 0));
  EXPECT_FALSE(Live("staging")->canary.has_value());
  const auto ops = Operations();
  // The first rollout's steps, then this one's: deploy at 0, 20 %, 50 %, promote.
  const std::vector<Op> second(ops.end() - 4, ops.end());
  EXPECT_EQ(second, (std::vector<Op>{{DriverAction::kDeploy, 0},
                                     {DriverAction::kWeight, 20},
                                     {DriverAction::kWeight, 50},
                                     {DriverAction::kPromote, 100}}));
  // Checks saw every template variable, with the driver's URLs.
  const auto variables = healthz_->last_variables();
  EXPECT_EQ(variables.at("canary_url"), "http://canary.orders.staging");
  EXPECT_EQ(variables.at("previous_version"), "1.0.0");
  EXPECT_EQ(variables.at("weight"), "20");
  EXPECT_EQ(variables.at("artifact"), "orders:{{version}}");
}

TEST_F(RolloutTest, FailingCheckRollsBackWithTheMeasuredValues) {
  StableInStaging();
  healthz_->Then(MeasurementResult::kFail, 503, "HTTP 503 in 4 ms");
  healthz_->Then(MeasurementResult::kFail, 503, "HTTP 503 in 5 ms");
  const int64_t id = Promote("1.1.0", "staging");
  WaitForStep(id, "analyze");
  const json failed = WaitForEvent(id, "check.failed");
  EXPECT_EQ(failed["value"], 503);
  EXPECT_EQ(failed["failures"], 1);
  EXPECT_EQ(failed["failure_limit"], 2);
  clock_.Advance(seconds(1));
  const json rolled_back = WaitForEvent(id, "rollout.rolled_back");
  EXPECT_NE(rolled_back["reason"].get<std::string>().find("HTTP 503 in 5 ms"), std::string::npos)
      << rolled_back;
  EXPECT_EQ(rolled_back["checks"]["healthz"]["failures"], 2);
  EXPECT_EQ(rolled_back["checks"]["healthz"]["last_value"], 503);
  EXPECT_EQ(Get(id).state, RolloutState::kRolledBack);
  EXPECT_EQ(Live("staging")->stable, Semver(1, 0, 0));
  EXPECT_FALSE(Live("staging")->canary.has_value());
  EXPECT_EQ(Operations().back(), (Op{DriverAction::kRollback, 0}));
}

TEST_F(RolloutTest, ChecksThatCannotBeMeasuredRollBackAfterTheirLimit) {
  errors_->Then(MeasurementResult::kError, 0, "no proxy");
  errors_->Then(MeasurementResult::kError, 0, "no proxy");
  const int64_t id = Promote("1.1.0", "staging");
  EXPECT_EQ(WaitForEvent(id, "check.error")["consecutive_errors"], 1);
  clock_.Advance(seconds(1));
  const json rolled_back = WaitForEvent(id, "rollout.rolled_back");
  EXPECT_NE(rolled_back["reason"].get<std::string>().find("2 times in a row"), std::string::npos);
}

TEST_F(RolloutTest, InconclusiveUntilTheEndOfTheAnalysisPausesAndResumeAcceptsIt) {
  // Too little traffic at first is normal: only the last measurement of the analysis counts.
  errors_->Then(MeasurementResult::kInconclusive, 3, "3 canary requests < 10");
  const int64_t first = Promote("1.1.0", "staging");
  PassAnalysis(first);
  ASSERT_TRUE(engine_->Act(first, RolloutAction::kAbort, actor_, "").ok());
  WaitForEvent(first, "rollout.aborted");

  for (int i = 0; i < 10; ++i) {
    errors_->Then(MeasurementResult::kInconclusive, 3, "3 canary requests < 10");
  }
  const int64_t id = Promote("1.2.0", "staging");
  WaitForStep(id, "analyze");
  for (int i = 0; i < 3; ++i) clock_.Advance(seconds(1));
  const json paused = WaitForEvent(id, "rollout.paused");
  EXPECT_NE(paused["reason"].get<std::string>().find("still inconclusive"), std::string::npos)
      << paused;
  EXPECT_EQ(paused["checks"]["errors"]["last_detail"], "3 canary requests < 10");
  const Promotion p = Get(id);
  EXPECT_EQ(p.state, RolloutState::kPaused);
  EXPECT_EQ(p.progress.resume_phase, "next");
  clock_.Advance(seconds(30));  // time passing while paused changes nothing
  auto approve = engine_->Act(id, RolloutAction::kApprove, actor_, "");
  EXPECT_EQ(approve.error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(engine_->Act(id, RolloutAction::kResume, actor_, "looked at it").ok());
  WaitForEvent(id, "rollout.resumed");
  WaitForStep(id, "weight");
  WaitForStep(id, "pause");
  clock_.Advance(seconds(2));
  WaitForEvent(id, "rollout.succeeded");
}

TEST_F(RolloutTest, DriverFailureRollsBack) {
  driver_->FailNext(DriverAction::kWeight);
  const int64_t id = Promote("1.1.0", "staging");
  const json rolled_back = WaitForEvent(id, "rollout.rolled_back");
  EXPECT_NE(rolled_back["reason"].get<std::string>().find("refused by the fake driver"),
            std::string::npos);
  EXPECT_EQ(Get(id).state, RolloutState::kRolledBack);
}

TEST_F(RolloutTest, FailedRollbackIsFailedAndRollbackRetriesIt) {
  driver_->FailNext(DriverAction::kWeight);
  driver_->FailNext(DriverAction::kRollback);
  const int64_t id = Promote("1.1.0", "staging");
  WaitForEvent(id, "rollout.failed");
  EXPECT_EQ(Get(id).state, RolloutState::kFailed);
  ASSERT_TRUE(engine_->Act(id, RolloutAction::kRollback, actor_, "driver is back").ok());
  WaitForEvent(id, "rollout.rolled_back");
  EXPECT_EQ(Get(id).state, RolloutState::kRolledBack);
}

TEST_F(RolloutTest, ApproveStepWaitsForApprovalThenAnIndefinitePauseForResume) {
  const int64_t id = Promote("1.0.0", "prod");
  WaitForStep(id, "approve");
  Promotion p = Get(id);
  EXPECT_EQ(p.state, RolloutState::kWaiting);
  EXPECT_EQ(p.progress.phase, "approve");
  clock_.Advance(std::chrono::hours(24));  // nothing happens by itself
  EXPECT_EQ(Get(id).state, RolloutState::kWaiting);
  EXPECT_EQ(engine_->Act(id, RolloutAction::kResume, actor_, "").error().code(),
            ErrorCode::kConflict);
  ASSERT_TRUE(engine_->Act(id, RolloutAction::kApprove, actor_, "ship it").ok());
  EXPECT_EQ(WaitForEvent(id, "rollout.approved")["reason"], "ship it");
  WaitForStep(id, "pause");
  EXPECT_EQ(Get(id).state, RolloutState::kPaused);
  ASSERT_TRUE(engine_->Act(id, RolloutAction::kResume, actor_, "").ok());
  WaitForEvent(id, "rollout.succeeded");
}

TEST_F(RolloutTest, AbortRemovesTheCanaryAndASecondAbortConflicts) {
  const int64_t first = Promote("1.0.0", "prod");
  WaitForEvent(first, "rollout.approval_needed");
  ASSERT_TRUE(engine_->Act(first, RolloutAction::kApprove, actor_, "").ok());
  WaitForEvent(first, "rollout.paused");
  ASSERT_TRUE(engine_->Act(first, RolloutAction::kResume, actor_, "").ok());
  WaitForEvent(first, "rollout.succeeded");
  auto finished = engine_->Act(first, RolloutAction::kResume, actor_, "");
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().code(), ErrorCode::kConflict);
  const int64_t id = Promote("1.1.0", "prod");
  WaitForStep(id, "approve");
  EXPECT_EQ(Live("prod")->canary_weight, 10);
  ASSERT_TRUE(engine_->Act(id, RolloutAction::kAbort, actor_, "wrong build").ok());
  const json aborted = WaitForEvent(id, "rollout.aborted");
  EXPECT_NE(aborted["reason"].get<std::string>().find("wrong build"), std::string::npos);
  EXPECT_EQ(Get(id).state, RolloutState::kAborted);
  EXPECT_FALSE(Live("prod")->canary.has_value());
  EXPECT_EQ(Live("prod")->stable, Semver(1, 0, 0));
  auto again = engine_->Act(id, RolloutAction::kAbort, actor_, "");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(engine_->Act(999, RolloutAction::kAbort, actor_, "").error().code(),
            ErrorCode::kNotFound);
}

TEST_F(RolloutTest, ASecondPromotionWaitsForTheFirst) {
  const int64_t first = Promote("1.0.0", "prod");
  const int64_t second = Promote("1.1.0", "prod");
  const json waiting = WaitForEvent(second, "rollout.waiting");
  EXPECT_EQ(waiting["behind"], first);
  EXPECT_EQ(Get(second).state, RolloutState::kWaiting);
  WaitForStep(first, "approve");
  ASSERT_TRUE(engine_->Act(first, RolloutAction::kApprove, actor_, "").ok());
  WaitForStep(first, "pause");
  ASSERT_TRUE(engine_->Act(first, RolloutAction::kResume, actor_, "").ok());
  WaitForEvent(first, "rollout.succeeded");
  WaitForEvent(second, "rollout.started");
  EXPECT_EQ(Get(second).progress.previous_version, "1.0.0");
  // Aborting one that waits touches nothing.
  const int64_t third = Promote("1.2.0", "prod");
  WaitForEvent(third, "rollout.waiting");
  ASSERT_TRUE(engine_->Act(third, RolloutAction::kAbort, actor_, "").ok());
  WaitForEvent(third, "rollout.aborted");
}

TEST_F(RolloutTest, ProgressDeadlineRollsBackAHangingDriver) {
  driver_->Hang(DriverAction::kWeight);
  const int64_t id = Promote("1.1.0", "staging");
  ASSERT_TRUE(driver_->WaitForCalls(2));  // deploy done, weight hanging
  clock_.Advance(std::chrono::minutes(1));
  const json rolling_back = WaitForEvent(id, "rollout.rolling_back");
  EXPECT_NE(rolling_back["reason"].get<std::string>().find("progress deadline"), std::string::npos);
  driver_->Release();
  WaitForEvent(id, "rollout.rolled_back");
  EXPECT_EQ(Get(id).state, RolloutState::kRolledBack);
}

TEST_F(RolloutTest, RestartResumesWithTheTimeThatWasLeftAndReappliesTheWeight) {
  const int64_t id = Promote("1.1.0", "staging");
  PassAnalysis(id);
  WaitForEvent(id, "rollout.weight_set");
  WaitForStep(id, "pause");
  clock_.Advance(milliseconds(500));
  engine_.reset();  // what a crash leaves behind: the store
  const size_t calls_before = driver_->Calls().size();
  Start();
  const json resumed = WaitForEvent(id, "rollout.resumed");
  EXPECT_EQ(resumed["remaining_ms"], 1500);
  EXPECT_EQ(resumed["restart"], true);
  ASSERT_TRUE(driver_->WaitForCalls(calls_before + 1));
  EXPECT_EQ(driver_->Calls()[calls_before].action, DriverAction::kDeploy);
  EXPECT_EQ(driver_->Calls()[calls_before].weight, 50);
  clock_.Advance(milliseconds(1500));
  WaitForEvent(id, "rollout.succeeded");
  EXPECT_TRUE(Journal("engine.started"));
}

TEST_F(RolloutTest, RestartAfterTheRolloutAheadFinishedFinishesTheOneWaitingBehindIt) {
  // The same version asked for twice: the second request waits, and finishes at once when it
  // starts (the version is already stable then).
  const int64_t first = Promote("1.0.0", "prod");
  const int64_t second = Promote("1.0.0", "prod");
  WaitForEvent(second, "rollout.waiting");
  WaitForStep(first, "approve");
  engine_.reset();
  {
    // What a crash right after the first one's last transaction leaves: it succeeded, the second
    // was not started yet.
    auto store = OpenSqliteStore({(dir_ / "shipd.db").string(), ""});
    ASSERT_TRUE(store.ok()) << store.error().message();
    auto promotion = (*store)->GetPromotion(first);
    ASSERT_TRUE(promotion.ok() && promotion->has_value());
    Promotion p = **promotion;
    p.state = RolloutState::kSucceeded;
    p.progress.phase = "done";
    p.progress.weight = 100;
    p.finished_at = clock_.NowMs();
    Deployment live{"prod", "orders", Semver(1, 0, 0), std::nullopt, 0, clock_.NowMs(), {}};
    Event succeeded{0,
                    clock_.NowMs(),
                    "system",
                    "rollout.succeeded",
                    "orders@1.0.0",
                    json{{"promotion", first}, {"environment", "prod"}}.dump()};
    ASSERT_TRUE((*store)->UpdatePromotion(p, live, {succeeded}).ok());
  }
  Start();  // Resume starts the second, which finishes at once (under ASan: no use after free)
  EXPECT_EQ(WaitForEvent(second, "rollout.succeeded")["reason"], "already the stable version");
  EXPECT_EQ(Get(second).state, RolloutState::kSucceeded);
}

// ---- locks and freezes (docs/governance.md) ----

Hold LockOf(const std::string& environment, std::optional<TimeMs> expires_at) {
  return Hold{environment, "orders", "", "incident 4711", 0, expires_at};
}
Hold FreezeOf(const std::string& environment, TimeMs until) {
  return Hold{environment, "", "", "release party", 0, until};
}

TEST_F(RolloutTest, LockRefusesPromotionNamingOwnerReasonAndExpiry) {
  const TimeMs now = clock_.NowMs();  // 2027-01-15T08:00:00Z
  ASSERT_TRUE(engine_->PutHold(LockOf("staging", now + 3'600'000), actor_).ok());
  auto refused = engine_->Promote({"orders", "1.1.0", "staging", ""}, actor_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message(),
            "orders is locked in staging by ci until 2027-01-15T09:00:00Z: incident 4711 "
            "(shipctl unlock orders --env staging)");
  Read(milliseconds(0));
  EXPECT_TRUE(Journal("service.locked"));
  EXPECT_TRUE(Journal("promotion.refused"));
  // Only that service in that environment is held.
  EXPECT_NE(Promote("1.0.0", "dev"), 0);
  const auto holds = engine_->ActiveHolds();
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(holds[0].owner, "ci");
  EXPECT_EQ(holds[0].reason, "incident 4711");
}

TEST_F(RolloutTest, LockExpiresOnTheClock) {
  ASSERT_TRUE(engine_->PutHold(LockOf("dev", clock_.NowMs() + 7'200'000), actor_).ok());
  EXPECT_FALSE(engine_->Promote({"orders", "1.0.0", "dev", ""}, actor_).ok());
  clock_.Advance(std::chrono::hours(2));
  EXPECT_TRUE(engine_->ActiveHolds().empty());
  const int64_t id = Promote("1.0.0", "dev");
  WaitForEvent(id, "rollout.succeeded");
}

TEST_F(RolloutTest, UnlockAllowsPromotionAgainAndASecondUnlockIsNotFound) {
  ASSERT_TRUE(engine_->PutHold(LockOf("dev", std::nullopt), actor_).ok());
  EXPECT_FALSE(engine_->Promote({"orders", "1.0.0", "dev", ""}, actor_).ok());
  ASSERT_TRUE(engine_->RemoveHold("dev", "orders", actor_).ok());
  auto again = engine_->RemoveHold("dev", "orders", actor_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(Promote("1.0.0", "dev"), 0);
}

TEST_F(RolloutTest, LocksSurviveARestart) {
  ASSERT_TRUE(engine_->PutHold(LockOf("dev", std::nullopt), actor_).ok());
  engine_.reset();
  Start();
  EXPECT_EQ(engine_->ActiveHolds().size(), 1u);
  EXPECT_FALSE(engine_->Promote({"orders", "1.0.0", "dev", ""}, actor_).ok());
}

TEST_F(RolloutTest, HoldsOnUnknownNamesOrInThePastAreRefused) {
  EXPECT_EQ(engine_->PutHold(LockOf("nowhere", std::nullopt), actor_).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(engine_->PutHold(FreezeOf("dev", clock_.NowMs() - 1), actor_).error().code(),
            ErrorCode::kInvalid);
}

TEST_F(RolloutTest, FreezeRefusesPromotionWithItsReasonAndEnd) {
  ASSERT_TRUE(engine_->PutHold(FreezeOf("dev", clock_.NowMs() + 3'600'000), actor_).ok());
  auto refused = engine_->Promote({"orders", "1.0.0", "dev", ""}, actor_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message(),
            "dev is frozen until 2027-01-15T09:00:00Z: frozen by ci: release party");
  ASSERT_TRUE(engine_->RemoveHold("dev", "", actor_).ok());
  EXPECT_NE(Promote("1.0.0", "dev"), 0);
}

TEST_F(RolloutTest, RolloutReachingAWeightIncreaseInAFreezeWaitsAtItsWeightAndResumesAfter) {
  const int64_t id = Promote("1.1.0", "staging");
  WaitForEvent(id, "rollout.weight_set");
  WaitForStep(id, "analyze");
  const TimeMs until = clock_.NowMs() + 10'000;
  ASSERT_TRUE(engine_->PutHold(FreezeOf("staging", until), actor_).ok());
  for (int i = 0; i < 3; ++i) clock_.Advance(seconds(1));
  WaitForEvent(id, "rollout.analysis_passed");
  const json frozen = WaitForEvent(id, "rollout.frozen");
  EXPECT_EQ(frozen["until"], "2027-01-15T08:00:10Z");
  const Promotion waiting = Get(id);
  EXPECT_EQ(waiting.state, RolloutState::kWaiting);
  EXPECT_EQ(waiting.progress.reason,
            "frozen until 2027-01-15T08:00:10Z: frozen by ci: release party");
  EXPECT_EQ(Live("staging")->canary_weight, 20);
  clock_.Advance(seconds(6));  // still frozen
  Read(milliseconds(50));
  EXPECT_EQ(Get(id).state, RolloutState::kWaiting);
  clock_.Advance(seconds(1));  // the freeze ends
  WaitForEvent(id, "rollout.weight_set");
  EXPECT_EQ(Live("staging")->canary_weight, 50);
  WaitForStep(id, "pause");
  clock_.Advance(seconds(2));
  WaitForEvent(id, "rollout.succeeded");
}

TEST_F(RolloutTest, WithOnFreezeWaitARequestInAFreezeWaitsAndStartsAtItsEnd) {
  ASSERT_TRUE(engine_->PutHold(FreezeOf("prod", clock_.NowMs() + 10'000), actor_).ok());
  const int64_t id = Promote("1.0.0", "prod");
  ASSERT_NE(id, 0);
  WaitForEvent(id, "rollout.frozen");
  const Promotion waiting = Get(id);
  EXPECT_EQ(waiting.state, RolloutState::kWaiting);
  EXPECT_EQ(waiting.progress.phase, "frozen");
  EXPECT_EQ(waiting.progress.step, -1);
  EXPECT_TRUE(driver_->Calls().empty());
  clock_.Advance(seconds(10));
  WaitForEvent(id, "rollout.started");
  WaitForEvent(id, "rollout.weight_set");
  EXPECT_EQ(Live("prod")->canary_weight, 10);
}

TEST_F(RolloutTest, AFrozenRolloutResumesAfterTheFreezeAcrossARestart) {
  const int64_t id = Promote("1.1.0", "staging");
  WaitForEvent(id, "rollout.weight_set");  // 20 %
  WaitForStep(id, "analyze");
  ASSERT_TRUE(engine_->PutHold(FreezeOf("staging", clock_.NowMs() + 60'000), actor_).ok());
  for (int i = 0; i < 3; ++i) clock_.Advance(seconds(1));
  WaitForEvent(id, "rollout.frozen");
  engine_.reset();
  clock_.Advance(seconds(60));
  Start();
  WaitForEvent(id, "rollout.weight_set");
  EXPECT_EQ(Live("staging")->canary_weight, 50);
}

}  // namespace
}  // namespace shipd

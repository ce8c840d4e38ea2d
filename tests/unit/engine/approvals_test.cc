// Approvals (the environment's `approvals` and the strategy's approve steps) and the hotfix lane
// (promoting during a freeze with override_freeze), on a fake clock with a recording driver: each
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

// prod: two release managers, not the requester, before the start and at its approve step.
// qa: an approve step and no `approvals` (one approval from anyone). hot: a canary that raises
// its weight twice, for the hotfix lane.
constexpr char kPipelines[] = R"(
environments:
  - name: prod
    driver: fake
    strategy: gated
    approvals: { count: 2, roles: [release-manager], not_requester: true }
  - { name: qa, driver: fake, strategy: gated }
  - { name: hot, driver: fake, strategy: canary }
  - { name: waits, driver: fake, strategy: canary, on_freeze: wait }
strategies:
  gated:
    steps:
      - weight: 10
      - approve: {}
      - weight: 50
  canary:
    steps:
      - weight: 20
      - pause: 2s
      - weight: 50
drivers:
  fake: { type: exec, command: ["true"] }
)";

class ApprovalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Start();
    ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, requester_).ok());
    for (const char* v : {"1.0.0", "1.1.0"}) {
      auto version = VersionFromManifest(json{{"artifact", "orders:{{version}}"}}, "orders", v);
      ASSERT_TRUE(version.ok());
      ASSERT_TRUE(engine_->RegisterVersion(*version, requester_).ok());
    }
  }
  void TearDown() override {
    driver_->Release();
    engine_.reset();
  }

  void Start(const std::string& pipelines_text = kPipelines) {
    RolloutDeps deps;
    deps.drivers["fake"] = driver_;
    auto engine = testing::StartTestEngine(dir_, pipelines_text, clock_, std::move(deps));
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    engine_ = std::move(engine).value();
  }

  int64_t Promote(const std::string& version, const std::string& environment) {
    auto outcome = engine_->Promote({"orders", version, environment, ""}, requester_);
    EXPECT_TRUE(outcome.ok()) << outcome.error().message();
    if (!outcome.ok() || !outcome->promotion) return 0;
    return outcome->promotion->id;
  }

  // Waits until the journal has an event of `kind` about promotion `id` that no earlier call
  // returned; returns its data.
  json WaitForEvent(int64_t id, const std::string& kind) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(20);
    size_t next = 0;
    while (true) {
      for (; next < journal_.size(); ++next) {
        auto& [event_kind, actor, data, used] = journal_[next];
        if (used || event_kind != kind || data.value("promotion", int64_t{0}) != id) continue;
        used = true;
        data["actor"] = actor;
        return data;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      Read(milliseconds(200));
    }
    ADD_FAILURE() << "no " << kind << " event for rollout " << id;
    return nullptr;
  }
  void Read(milliseconds wait) {
    auto events = engine_->WaitForEvents(seen_, 1000, wait);
    if (!events.ok()) return;
    for (const Event& event : *events) {
      seen_ = event.id;
      journal_.push_back({event.kind, event.actor, json::parse(event.data), false});
    }
  }
  size_t Count(int64_t id, const std::string& kind) {
    Read(milliseconds(0));
    size_t n = 0;
    for (const auto& [event_kind, actor, data, used] : journal_) {
      if (event_kind == kind && data.value("promotion", int64_t{0}) == id) ++n;
    }
    return n;
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

  // Approves and expects it to be recorded as `count` of `needed`.
  void Approves(int64_t id, const Actor& approver, int count, int needed) {
    auto approved = engine_->Approve(id, approver, "looks good");
    ASSERT_TRUE(approved.ok()) << approved.error().message();
    EXPECT_EQ(approved->count, count);
    EXPECT_EQ(approved->needed, needed);
    EXPECT_EQ(approved->approval.approver, approver.name);
    const json event = WaitForEvent(id, "rollout.approved");
    EXPECT_EQ(event["approver"], approver.name);
    EXPECT_EQ(event["count"], count);
    EXPECT_EQ(event["needed"], needed);
  }
  ErrorCode Refused(int64_t id, const Actor& approver, std::string* message = nullptr) {
    auto approved = engine_->Approve(id, approver, "");
    EXPECT_FALSE(approved.ok());
    if (approved.ok()) return ErrorCode::kInternal;
    if (message != nullptr) *message = approved.error().message();
    return approved.error().code();
  }

  const Actor requester_{"ci", "127.0.0.1", {"deployer", "release-manager"}};
  const Actor rm1_{"alice", "127.0.0.1", {"release-manager"}};
  const Actor rm2_{"bob", "127.0.0.1", {"viewer", "release-manager"}};
  const Actor deployer_{"carol", "127.0.0.1", {"deployer"}};
  FakeClock clock_;
  testing::TempDir temp_;
  const std::filesystem::path dir_ = temp_.path();
  std::shared_ptr<FakeDriver> driver_ = std::make_shared<FakeDriver>();
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<const State> snapshot_;
  int64_t seen_ = 0;
  std::vector<std::tuple<std::string, std::string, json, bool>> journal_;
};

TEST_F(ApprovalsTest, EnvironmentApprovalsHoldTheStartUntilEnoughDistinctQualifiedApprovers) {
  const int64_t id = Promote("1.0.0", "prod");
  ASSERT_NE(id, 0);
  const json needed = WaitForEvent(id, "rollout.approval_needed");
  EXPECT_EQ(needed["step"], -1);
  EXPECT_EQ(needed["needed"], 2);
  EXPECT_EQ(needed["roles"], json::array({"release-manager"}));
  EXPECT_EQ(needed["not_requester"], true);
  Promotion waiting = Get(id);
  EXPECT_EQ(waiting.state, RolloutState::kWaiting);
  EXPECT_EQ(waiting.progress.phase, "approve");
  EXPECT_EQ(waiting.progress.step, -1);
  EXPECT_EQ(waiting.progress.reason,
            "waiting for 2 distinct approvals (one of the roles release-manager; not the "
            "requester)");
  clock_.Advance(std::chrono::hours(24));  // nothing happens by itself
  EXPECT_EQ(Get(id).state, RolloutState::kWaiting);
  EXPECT_TRUE(driver_->Calls().empty());

  std::string message;
  EXPECT_EQ(Refused(id, requester_, &message), ErrorCode::kPermissionDenied);
  EXPECT_EQ(message,
            "token \"ci\" requested promotion 1 (orders@1.0.0 into prod) and cannot approve it: "
            "approvals in prod must come from someone other than the requester (not_requester)");
  EXPECT_EQ(Refused(id, deployer_, &message), ErrorCode::kPermissionDenied);
  EXPECT_EQ(message,
            "token \"carol\" (roles deployer) cannot approve rollouts into prod: an approval there "
            "needs one of the roles release-manager");

  Approves(id, rm1_, 1, 2);
  EXPECT_EQ(Get(id).state, RolloutState::kWaiting);
  EXPECT_EQ(Refused(id, rm1_, &message), ErrorCode::kConflict);  // one token counts once
  EXPECT_EQ(message,
            "token \"alice\" already approved promotion 1 (orders@1.0.0 into prod) at this gate; "
            "one token counts once (1 of 2 approvals so far)");
  EXPECT_EQ(Count(id, "rollout.approved"), 1u);
  ASSERT_TRUE(engine_->PromotionApprovals(id).ok());
  EXPECT_EQ(engine_->PromotionApprovals(id)->size(), 1u);

  Approves(id, rm2_, 2, 2);  // the last one needed: the rollout starts
  WaitForEvent(id, "rollout.started");
  EXPECT_EQ(WaitForEvent(id, "rollout.weight_set")["weight"], 10);

  // The approve step needs its own set: the approvals before the start do not count there.
  const json step = WaitForEvent(id, "rollout.approval_needed");
  EXPECT_EQ(step["step"], 1);
  EXPECT_EQ(step["needed"], 2);
  Approves(id, rm1_, 1, 2);
  EXPECT_EQ(Get(id).state, RolloutState::kWaiting);
  Approves(id, rm2_, 2, 2);
  WaitForEvent(id, "rollout.succeeded");
  EXPECT_EQ(Live("prod")->stable, Semver(1, 0, 0));

  auto approvals = engine_->PromotionApprovals(id);
  ASSERT_TRUE(approvals.ok());
  ASSERT_EQ(approvals->size(), 4u);
  EXPECT_EQ((*approvals)[0].step, -1);
  EXPECT_EQ((*approvals)[0].version, "1.0.0");
  EXPECT_EQ((*approvals)[0].roles, std::vector<std::string>{"release-manager"});
  EXPECT_EQ((*approvals)[3].step, 1);
  EXPECT_EQ((*approvals)[3].approver, "bob");
  // Finished: nothing to approve any more.
  EXPECT_EQ(Refused(id, deployer_), ErrorCode::kConflict);
}

TEST_F(ApprovalsTest, WithoutApprovalsAnApproveStepNeedsOneApprovalFromAnyone) {
  const int64_t id = Promote("1.0.0", "qa");
  WaitForEvent(id, "rollout.started");  // no gate before the start
  const json needed = WaitForEvent(id, "rollout.approval_needed");
  EXPECT_EQ(needed["needed"], 1);
  EXPECT_FALSE(needed.contains("roles"));
  EXPECT_EQ(Get(id).progress.reason, "waiting for approval");
  Approves(id, requester_, 1, 1);  // the requester may: no not_requester here
  WaitForEvent(id, "rollout.succeeded");
}

TEST_F(ApprovalsTest, AnApprovalBelongsToItsPromotionAndNeverCountsForAnotherVersion) {
  const int64_t first = Promote("1.0.0", "prod");
  WaitForEvent(first, "rollout.approval_needed");
  Approves(first, rm1_, 1, 2);
  ASSERT_TRUE(engine_->Act(first, RolloutAction::kAbort, requester_, "wrong version").ok());
  EXPECT_EQ(WaitForEvent(first, "rollout.aborted")["reason"],
            "aborted by ci: wrong version before it started");
  EXPECT_TRUE(driver_->Calls().empty());

  const int64_t second = Promote("1.1.0", "prod");
  WaitForEvent(second, "rollout.approval_needed");
  Approves(second, rm1_, 1, 2);  // alice's approval of 1.0.0 does not count for 1.1.0
  EXPECT_EQ(Get(second).state, RolloutState::kWaiting);
  Approves(second, rm2_, 2, 2);
  WaitForEvent(second, "rollout.started");
}

TEST_F(ApprovalsTest, ApprovalsSurviveARestart) {
  const int64_t id = Promote("1.0.0", "prod");
  WaitForEvent(id, "rollout.approval_needed");
  Approves(id, rm1_, 1, 2);
  engine_.reset();
  Start();
  Promotion waiting = Get(id);
  EXPECT_EQ(waiting.state, RolloutState::kWaiting);
  EXPECT_EQ(waiting.progress.phase, "approve");
  EXPECT_EQ(Refused(id, rm1_), ErrorCode::kConflict);  // still counted, still once
  Approves(id, rm2_, 2, 2);
  WaitForEvent(id, "rollout.started");
}

TEST_F(ApprovalsTest, AGateWhoseApprovalsAreCompleteAtARestartGoesOn) {
  const int64_t id = Promote("1.0.0", "prod");
  WaitForEvent(id, "rollout.approval_needed");
  Approves(id, rm1_, 1, 2);
  engine_.reset();
  std::string one = kPipelines;
  one.replace(one.find("count: 2"), 8, "count: 1");
  Start(one);  // as after a crash between the last approval and the start
  WaitForEvent(id, "rollout.started");
  WaitForEvent(id, "rollout.approval_needed");  // the approve step
}

// ---- the hotfix lane ----

Hold FreezeOf(const std::string& environment, TimeMs until) {
  return Hold{environment, "", "", "release party", 0, until};
}

TEST_F(ApprovalsTest, AFreezeRefusesAPromotionUnlessItOverridesTheFreezeWithAReason) {
  ASSERT_TRUE(engine_->PutHold(FreezeOf("hot", clock_.NowMs() + 3'600'000), requester_).ok());
  auto refused = engine_->Promote({"orders", "1.0.0", "hot", ""}, requester_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);

  PromotionRequest hotfix{"orders", "1.0.0", "hot", ""};
  hotfix.override_freeze = true;
  auto no_reason = engine_->Promote(hotfix, requester_);
  ASSERT_FALSE(no_reason.ok());
  EXPECT_EQ(no_reason.error().code(), ErrorCode::kBadRequest);

  hotfix.override_freeze_reason = "CVE-2026-1234";
  auto promoted = engine_->Promote(hotfix, requester_);
  ASSERT_TRUE(promoted.ok()) << promoted.error().message();
  ASSERT_TRUE(promoted->promotion.has_value());
  const int64_t id = promoted->promotion->id;
  const json overridden = WaitForEvent(id, "promotion.freeze_overridden");
  EXPECT_EQ(overridden["reason"], "CVE-2026-1234");
  EXPECT_EQ(overridden["actor"], "ci");
  EXPECT_EQ(overridden["override_freeze"], true);
  EXPECT_EQ(overridden["freeze"],
            "hot is frozen until 2027-01-15T09:00:00Z: frozen by ci: release party");
  EXPECT_EQ(WaitForEvent(id, "rollout.created")["override_freeze"]["reason"], "CVE-2026-1234");

  // Its weight increases do not wait for the freeze either.
  EXPECT_EQ(WaitForEvent(id, "rollout.weight_set")["weight"], 20);
  clock_.Advance(seconds(2));
  EXPECT_EQ(WaitForEvent(id, "rollout.weight_set")["weight"], 50);
  WaitForEvent(id, "rollout.succeeded");
  EXPECT_EQ(Count(id, "rollout.frozen"), 0u);
  EXPECT_EQ(Get(id).progress.override_freeze_reason, "CVE-2026-1234");
}

TEST_F(ApprovalsTest, OverridingAFreezeDoesNotOverrideALock) {
  ASSERT_TRUE(engine_->PutHold(FreezeOf("hot", clock_.NowMs() + 3'600'000), requester_).ok());
  ASSERT_TRUE(
      engine_->PutHold(Hold{"hot", "orders", "", "INC-1", 0, std::optional<TimeMs>()}, requester_)
          .ok());
  PromotionRequest hotfix{"orders", "1.0.0", "hot", ""};
  hotfix.override_freeze = true;
  hotfix.override_freeze_reason = "CVE-2026-1234";
  auto refused = engine_->Promote(hotfix, requester_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message().rfind("orders is locked in hot by ci", 0), 0u)
      << refused.error().message();
}

TEST_F(ApprovalsTest, AHotfixDoesNotWaitWhereRequestsWaitForTheFreeze) {
  ASSERT_TRUE(engine_->PutHold(FreezeOf("waits", clock_.NowMs() + 3'600'000), requester_).ok());
  PromotionRequest hotfix{"orders", "1.0.0", "waits", ""};
  hotfix.override_freeze = true;
  hotfix.override_freeze_reason = "CVE-2026-1234";
  auto promoted = engine_->Promote(hotfix, requester_);
  ASSERT_TRUE(promoted.ok() && promoted->promotion.has_value());
  const int64_t id = promoted->promotion->id;
  WaitForEvent(id, "rollout.started");
  EXPECT_EQ(Count(id, "rollout.frozen"), 0u);
}

TEST_F(ApprovalsTest, TheHotfixFlagSurvivesARestart) {
  ASSERT_TRUE(engine_->PutHold(FreezeOf("hot", clock_.NowMs() + 3'600'000), requester_).ok());
  PromotionRequest hotfix{"orders", "1.0.0", "hot", ""};
  hotfix.override_freeze = true;
  hotfix.override_freeze_reason = "CVE-2026-1234";
  auto promoted = engine_->Promote(hotfix, requester_);
  ASSERT_TRUE(promoted.ok() && promoted->promotion.has_value());
  const int64_t id = promoted->promotion->id;
  EXPECT_EQ(WaitForEvent(id, "rollout.weight_set")["weight"], 20);
  engine_.reset();
  Start();
  EXPECT_EQ(Get(id).progress.override_freeze_reason, "CVE-2026-1234");
  clock_.Advance(seconds(2));  // the pause ends in the freeze: the weight still goes up
  WaitForEvent(id, "rollout.succeeded");
  EXPECT_EQ(Count(id, "rollout.frozen"), 0u);
  EXPECT_EQ(Live("hot")->stable, Semver(1, 0, 0));
}

}  // namespace
}  // namespace shipd

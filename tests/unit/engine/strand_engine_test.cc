#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "shipd/engine/engine.h"
#include "shipd/model/manifest.h"
#include "support/temp_dir.h"
#include "support/test_engine.h"

namespace shipd {
namespace {

constexpr char kPipelines[] = R"(
environments:
  - { name: dev, driver: local, strategy: direct }
  - { name: prod, after: dev, driver: local, strategy: direct }
strategies:
  direct: { steps: [] }
drivers:
  local: { type: local }
)";

class StrandEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override { engine_.reset(); }

  void Start() {
    auto engine = testing::StartTestEngine(dir_, kPipelines, clock_);
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    engine_ = std::move(engine).value();
  }

  static Version MakeVersion(const std::string& service, const std::string& version,
                             const std::string& range = "^2.1") {
    nlohmann::json doc = {{"provides", {{{"api", service}, {"version", version}}}},
                          {"requires", {{{"api", "billing"}, {"range", range}}}}};
    auto parsed = VersionFromManifest(doc, service, version);
    EXPECT_TRUE(parsed.ok()) << parsed.error().message();
    return std::move(parsed).value();
  }

  const Actor actor_{"ci", "127.0.0.1"};
  FakeClock clock_;
  testing::TempDir temp_;
  const std::filesystem::path dir_ = temp_.path();
  std::unique_ptr<Engine> engine_;
};

TEST_F(StrandEngineTest, EnvironmentsComeFromThePipelinesInOrder) {
  auto state = engine_->Snapshot();
  ASSERT_EQ(state->environments.size(), 2u);
  EXPECT_EQ(state->environments[0]->environment.name, "dev");
  EXPECT_EQ(state->environments[1]->environment.after, "dev");
}

TEST_F(StrandEngineTest, PublishesANewSnapshotAndLeavesTheOldOneAlone) {
  ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, actor_).ok());
  auto before = engine_->Snapshot();
  auto outcome = engine_->RegisterVersion(MakeVersion("orders", "1.0.0"), actor_);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  EXPECT_EQ(*outcome, Outcome::kCreated);
  auto after = engine_->Snapshot();
  EXPECT_EQ(before->FindService("orders")->versions.size(), 0u);
  EXPECT_EQ(after->FindService("orders")->versions.size(), 1u);
  EXPECT_EQ(after->version_count, 1u);
  EXPECT_GT(after->last_event_id, before->last_event_id);
}

TEST_F(StrandEngineTest, VersionsStaySortedByPrecedence) {
  ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, actor_).ok());
  for (const char* v : {"1.10.0", "1.2.0", "1.2.0-rc.1", "0.9.0", "1.2.0-alpha"}) {
    ASSERT_TRUE(engine_->RegisterVersion(MakeVersion("orders", v), actor_).ok()) << v;
  }
  std::vector<std::string> order;
  for (const auto& v : engine_->Snapshot()->FindService("orders")->versions) {
    order.push_back(v->version.ToString());
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{"0.9.0", "1.2.0-alpha", "1.2.0-rc.1", "1.2.0", "1.10.0"}));
}

TEST_F(StrandEngineTest, UnknownServiceIsNotFound) {
  auto outcome = engine_->RegisterVersion(MakeVersion("orders", "1.0.0"), actor_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code(), ErrorCode::kNotFound);
}

TEST_F(StrandEngineTest, SameContentIsUnchangedAndDifferentContentConflicts) {
  ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, actor_).ok());
  ASSERT_TRUE(engine_->RegisterVersion(MakeVersion("orders", "1.0.0"), actor_).ok());
  auto again = engine_->RegisterVersion(MakeVersion("orders", "1.0.0"), actor_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, Outcome::kUnchanged);
  auto changed = engine_->RegisterVersion(MakeVersion("orders", "1.0.0", "^3.0"), actor_);
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().code(), ErrorCode::kConflict);
}

TEST_F(StrandEngineTest, EventsCarryActorSourceAndClockTime) {
  ASSERT_TRUE(engine_->RegisterService({"orders", "file:///srv/orders", 0}, actor_).ok());
  auto events = engine_->ListEvents(0, 100);
  ASSERT_TRUE(events.ok());
  const Event& last = events->back();
  EXPECT_EQ(last.kind, "service.registered");
  EXPECT_EQ(last.actor, "ci");
  EXPECT_EQ(last.time, clock_.NowMs());
  EXPECT_EQ(nlohmann::json::parse(last.data)["source"], "127.0.0.1");
}

TEST_F(StrandEngineTest, RestartLoadsEverythingBack) {
  ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, actor_).ok());
  ASSERT_TRUE(engine_->RegisterVersion(MakeVersion("orders", "1.0.0"), actor_).ok());
  const int64_t last_event = engine_->Snapshot()->last_event_id;
  engine_.reset();
  Start();
  auto state = engine_->Snapshot();
  ASSERT_NE(state->FindService("orders"), nullptr);
  const Version* version = state->FindService("orders")->FindVersion(Semver(1, 0, 0));
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->requires_[0].range.text(), "^2.1");
  // Unchanged environments add no event; the restart itself is recorded.
  EXPECT_EQ(state->last_event_id, last_event + 1);
  auto events = engine_->ListEvents(last_event, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().kind, "engine.started");
}

TEST_F(StrandEngineTest, ConcurrentRegistrationsAreAllRecorded) {
  ASSERT_TRUE(engine_->RegisterService({"orders", "", 0}, actor_).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto version = MakeVersion("orders", std::to_string(t) + "." + std::to_string(i) + ".0");
        EXPECT_TRUE(engine_->RegisterVersion(version, actor_).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(engine_->Snapshot()->FindService("orders")->versions.size(), 100u);
  engine_.reset();
  Start();
  EXPECT_EQ(engine_->Snapshot()->version_count, 100u);
}

TEST_F(StrandEngineTest, StoppedEngineRefusesMutations) {
  engine_->Stop();
  auto outcome = engine_->RegisterService({"orders", "", 0}, actor_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code(), ErrorCode::kUnavailable);
}

TEST(ServiceIndex, PutSharesUntouchedShardsAndSortsByName) {
  ServiceIndex index;
  for (const char* name : {"web", "billing", "orders"}) {
    auto service = std::make_shared<ServiceState>();
    service->service.name = name;
    index.Put(service);
  }
  ServiceIndex copy = index;
  auto replacement = std::make_shared<ServiceState>();
  replacement->service.name = "orders";
  replacement->service.repo = "changed";
  copy.Put(replacement);
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(copy.size(), 3u);
  EXPECT_EQ(index.Find("orders")->service.repo, "");
  EXPECT_EQ(copy.Find("orders")->service.repo, "changed");
  EXPECT_EQ(copy.Find("nope"), nullptr);
  std::vector<std::string> names;
  for (const ServiceState* s : copy.SortedByName()) names.push_back(s->service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"billing", "orders", "web"}));
}

}  // namespace
}  // namespace shipd

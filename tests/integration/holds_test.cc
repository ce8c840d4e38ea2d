// Locks and freezes through the daemon: shipctl lock/unlock/freeze/unfreeze, the 409 a held
// promotion gets, and shipctl status listing them.
#include <signal.h>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

class HoldsTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    ASSERT_EQ(Post("/v1/services", {{"name", "web"}}).first, 201);
    ASSERT_EQ(Post("/v1/services/web/versions",
                   {{"version", "1.0.0"}, {"artifact", "registry.example.com/web:1.0.0"}})
                  .first,
              201);
  }

  std::pair<int, json> PromoteWeb(const std::string& environment) {
    return Post("/v1/promotions",
                {{"service", "web"}, {"version", "1.0.0"}, {"environment", environment}});
  }
};

TEST_F(HoldsTest, LockRefusesPromotionUntilUnlockAndStatusShowsIt) {
  auto locked = daemon_.Shipctl(
      {"lock", "web", "--env", "dev", "--reason", "INC-4711 payments", "--expires", "2h"},
      deployer_);
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  EXPECT_NE(locked.out.find("web locked in dev until "), std::string::npos) << locked.out;

  auto status = daemon_.Shipctl({"status"}, viewer_);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("LOCKED"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("INC-4711 payments"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(" ci "), std::string::npos) << status.out;  // the owner

  // can-i-deploy judges contracts (yes) and warns that the lock refuses a promotion now; the
  // environment lists the lock.
  auto can = Get("/v1/can-i-deploy?service=web&version=1.0.0&environment=dev").second;
  EXPECT_EQ(can["decision"], "yes");
  ASSERT_EQ(can["warnings"].size(), 1u) << can.dump();
  EXPECT_EQ(can["warnings"][0]["rule"], "locked");
  EXPECT_EQ(can["warnings"][0]["owner"], "ci");
  auto env = Get("/v1/environments/dev").second;
  ASSERT_EQ(env["locks"].size(), 1u) << env.dump();
  EXPECT_EQ(env["locks"][0]["service"], "web");
  EXPECT_TRUE(env["freeze"].is_null());

  auto [code, body] = PromoteWeb("dev");
  EXPECT_EQ(code, 409);
  EXPECT_EQ(body["error"]["code"], "conflict");
  const std::string message = body["error"]["message"];
  EXPECT_NE(message.find("web is locked in dev by ci until "), std::string::npos) << message;
  EXPECT_NE(message.find("INC-4711 payments"), std::string::npos) << message;
  // A refusal is a "no" (exit 1), as a blocked promotion is.
  auto promote = daemon_.Shipctl({"promote", "web@1.0.0", "--to", "dev"}, deployer_);
  EXPECT_EQ(promote.exit_code, 1);
  EXPECT_NE(promote.out.find("refused: web is locked"), std::string::npos) << promote.out;
  EXPECT_EQ(Get("/v1/locks").second["locks"].size(), 1u);

  auto unlocked = daemon_.Shipctl({"unlock", "web", "--env", "dev"}, deployer_);
  ASSERT_EQ(unlocked.exit_code, 0) << unlocked.err;
  EXPECT_TRUE(Get("/v1/locks").second["locks"].empty());
  EXPECT_EQ(PromoteWeb("dev").first, 201);
  auto again = daemon_.Shipctl({"unlock", "web", "--env", "dev"}, deployer_);
  EXPECT_EQ(again.exit_code, 3);
}

TEST_F(HoldsTest, AViewerCannotLock) {
  auto locked = daemon_.Shipctl({"lock", "web", "--env", "dev", "--reason", "x"}, viewer_);
  EXPECT_EQ(locked.exit_code, 3);
  EXPECT_EQ(
      Post("/v1/locks", {{"service", "web"}, {"environment", "dev"}, {"reason", "x"}}, viewer_)
          .first,
      403);
}

TEST_F(HoldsTest, AdHocFreezeRefusesPromotionWith409UntilUnfrozen) {
  // Freezing needs freeze:ENV, which the built-in deployer role does not have.
  EXPECT_EQ(
      daemon_.Shipctl({"freeze", "dev", "--until", "2099-01-01T00:00Z", "--reason", "x"}, deployer_)
          .exit_code,
      3);
  auto frozen = daemon_.Shipctl(
      {"freeze", "dev", "--until", "2099-01-01T00:00Z", "--reason", "release party"}, admin_);
  ASSERT_EQ(frozen.exit_code, 0) << frozen.err;
  EXPECT_EQ(frozen.out, "dev frozen until 2099-01-01T00:00:00Z\n");

  auto [code, body] = PromoteWeb("dev");
  EXPECT_EQ(code, 409);
  EXPECT_EQ(body["error"]["message"],
            "dev is frozen until 2099-01-01T00:00:00Z: frozen by admin-token: release party");
  auto listed = Get("/v1/freezes").second["freezes"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["until"], "2099-01-01T00:00:00Z");
  EXPECT_EQ(listed[0]["owner"], "admin-token");
  auto status = daemon_.Shipctl({"status"}, viewer_);
  EXPECT_NE(status.out.find("FROZEN"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("frozen by admin-token: release party"), std::string::npos)
      << status.out;

  EXPECT_EQ(daemon_.Shipctl({"unfreeze", "dev"}, deployer_).exit_code, 3);
  ASSERT_EQ(daemon_.Shipctl({"unfreeze", "dev"}, admin_).exit_code, 0);
  EXPECT_EQ(PromoteWeb("dev").first, 201);
}

TEST_F(HoldsTest, BadHoldsAreRefused) {
  EXPECT_EQ(
      Post("/v1/freezes", {{"environment", "dev"}, {"until", "2001-01-01T00:00Z"}, {"reason", "x"}})
          .first,
      422);
  EXPECT_EQ(Post("/v1/freezes", {{"environment", "dev"}, {"until", "soon"}, {"reason", "x"}}).first,
            422);
  EXPECT_EQ(Post("/v1/locks", {{"service", "nope"}, {"environment", "dev"}, {"reason", "x"}}).first,
            404);
  EXPECT_EQ(Post("/v1/locks", {{"service", "web"}, {"environment", "dev"}}).first, 422);
  auto client = daemon_.Client(admin_);
  auto removed = client->Delete("/v1/freezes/dev");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 404);
}

class FrozenPipelinesTest : public DaemonTest {
 protected:
  FrozenPipelinesTest()
      : DaemonTest(SourceDir() / "tests" / "data" / "pipelines" / "frozen.yaml") {}
  void SetUp() override {
    DaemonTest::SetUp();
    ASSERT_EQ(Post("/v1/services", {{"name", "web"}}).first, 201);
    ASSERT_EQ(Post("/v1/services/web/versions",
                   {{"version", "1.0.0"}, {"artifact", "registry.example.com/web:1.0.0"}})
                  .first,
              201);
  }
};

TEST_F(FrozenPipelinesTest, AWindowRefusesOrMakesTheRolloutWaitAndStatusShowsIt) {
  auto [code, body] =
      Post("/v1/promotions", {{"service", "web"}, {"version", "1.0.0"}, {"environment", "prod"}});
  EXPECT_EQ(code, 409);
  const std::string message = body["error"]["message"];
  EXPECT_EQ(message.rfind("prod is frozen until ", 0), 0u) << message;
  EXPECT_NE(message.find(": always"), std::string::npos) << message;

  auto [waiting_code, waiting] = Post(
      "/v1/promotions", {{"service", "web"}, {"version", "1.0.0"}, {"environment", "staging"}});
  ASSERT_EQ(waiting_code, 201) << waiting;
  auto promotion = Get("/v1/promotions/" + std::to_string(waiting["id"].get<int64_t>())).second;
  EXPECT_EQ(promotion["state"], "waiting");
  EXPECT_EQ(promotion["progress"]["phase"], "frozen");

  auto env = Get("/v1/environments/prod").second;
  EXPECT_EQ(env["freeze"]["reason"], "always") << env.dump();
  auto can = daemon_.Shipctl({"can-i-deploy", "web@1.0.0", "--to", "prod"}, viewer_);
  EXPECT_EQ(can.exit_code, 0) << can.out << can.err;  // the contracts allow it
  EXPECT_NE(can.out.find("! frozen: prod is frozen until "), std::string::npos) << can.out;

  auto in_force = Get("/v1/freezes").second["in_force"];
  ASSERT_EQ(in_force.size(), 2u) << in_force;
  EXPECT_EQ(in_force[0]["environment"], "staging");
  EXPECT_EQ(in_force[1]["environment"], "prod");
  auto status = daemon_.Shipctl({"status"}, viewer_);
  EXPECT_NE(status.out.find("FROZEN"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("always"), std::string::npos) << status.out;
}

// shipd on its test clock (--test-clock): holds that end with time, watched as time passes.
class ClockedHoldsTest : public DaemonTest {
 protected:
  ClockedHoldsTest() : DaemonTest(SourceDir() / "tests/data/pipelines/clocked.yaml") {}
  void SetUp() override {
    DaemonTest::SetUp();
    daemon_.Stop(SIGTERM);
    ASSERT_TRUE(daemon_.Start({"--test-clock", "2026-12-04T10:00Z"})) << daemon_.last_error();
    ASSERT_EQ(Post("/v1/services", {{"name", "web"}}).first, 201);
    ASSERT_EQ(Post("/v1/services/web/versions",
                   {{"version", "1.0.0"}, {"artifact", "registry.example.com/web:1.0.0"}})
                  .first,
              201);
  }
  void Advance(const std::string& by) {
    auto [code, body] = Post("/v1/test/clock", {{"advance", by}});
    ASSERT_EQ(code, 200) << body.dump();
  }
  // Long-polls the journal (no sleeping) until promotion `id` has an event of `kind` after
  // event `after`; returns its id (0 when it did not come within a minute).
  int64_t WaitForEvent(int64_t id, const std::string& kind, int64_t after = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const json events =
          Get("/v1/events?after=" + std::to_string(after) + "&limit=1000&wait_ms=5000")
              .second["events"];
      for (const auto& event : events) {
        after = event["id"].get<int64_t>();
        if (event["kind"] == kind && event["data"].value("promotion", int64_t{0}) == id) {
          return after;
        }
      }
    }
    return 0;
  }
};

TEST_F(ClockedHoldsTest, AnInFlightRolloutWaitsAtItsWeightDuringAFreezeAndGoesOnAfter) {
  auto [code, created] =
      Post("/v1/promotions", {{"service", "web"}, {"version", "1.0.0"}, {"environment", "prod"}});
  ASSERT_EQ(code, 201) << created.dump();
  const int64_t id = created["id"];
  const std::string path = "/v1/promotions/" + std::to_string(id);
  // At 20 %, pausing ten minutes; meanwhile prod is frozen for two hours.
  int64_t seen = WaitForEvent(id, "rollout.weight_set");
  ASSERT_NE(seen, 0);
  auto frozen = daemon_.Shipctl(
      {"freeze", "prod", "--until", "2026-12-04T12:00Z", "--reason", "release party"}, admin_);
  ASSERT_EQ(frozen.exit_code, 0) << frozen.err;

  // The pause ends inside the freeze: the rollout holds 20 % instead of going to 50 %.
  Advance("10m");
  seen = WaitForEvent(id, "rollout.frozen", seen);
  ASSERT_NE(seen, 0) << Get(path).second.dump();
  json promotion = Get(path).second;
  EXPECT_EQ(promotion["state"], "waiting");
  EXPECT_EQ(promotion["progress"]["phase"], "frozen");
  EXPECT_EQ(promotion["progress"]["weight"], 20);
  EXPECT_NE(promotion["progress"]["reason"].get<std::string>().find("release party"),
            std::string::npos)
      << promotion.dump();
  auto live = Get("/v1/environments/prod").second["live"];
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]["canary_weight"], 20);

  // An hour in: still frozen. At noon the freeze ends and the rollout goes on to succeed.
  Advance("1h");
  EXPECT_EQ(Get(path).second["progress"]["phase"], "frozen");
  Advance("1h");
  ASSERT_NE(WaitForEvent(id, "rollout.succeeded", seen), 0) << Get(path).second.dump();
  live = Get("/v1/environments/prod").second["live"];
  EXPECT_EQ(live[0]["stable"], "1.0.0");
}

TEST_F(ClockedHoldsTest, ALockRefusesPromotionsUntilItExpires) {
  auto locked = daemon_.Shipctl(
      {"lock", "web", "--env", "prod", "--reason", "INC-4711", "--expires", "2h"}, deployer_);
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  EXPECT_NE(locked.out.find("until 2026-12-04T12:00:00Z"), std::string::npos) << locked.out;
  const json request = {{"service", "web"}, {"version", "1.0.0"}, {"environment", "prod"}};
  EXPECT_EQ(Post("/v1/promotions", request).first, 409);
  Advance("1h59m");
  EXPECT_EQ(Post("/v1/promotions", request).first, 409);
  EXPECT_EQ(Get("/v1/locks").second["locks"].size(), 1u);
  // Expired: gone from the list, and the promotion goes through.
  Advance("1m");
  EXPECT_TRUE(Get("/v1/locks").second["locks"].empty());
  EXPECT_EQ(Post("/v1/promotions", request).first, 201);
}

}  // namespace
}  // namespace shipd::testing

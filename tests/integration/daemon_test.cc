// The daemon as a process: open and protected routes, limits, signals, restarts and crashes.
#include <signal.h>

#include <fstream>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

TEST_F(DaemonTest, HealthAndReadinessNeedNoToken) {
  auto client = daemon_.Client();
  auto health = client->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = client->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST_F(DaemonTest, MissingTokenIs401) {
  auto client = daemon_.Client();
  auto result = client->Get("/v1/services");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 401);
  auto body = json::parse(result->body);
  EXPECT_EQ(body["error"]["code"], "unauthenticated");
  auto post = client->Post("/v1/services", R"({"name":"orders"})", "application/json");
  EXPECT_EQ(post->status, 401);
}

TEST_F(DaemonTest, WrongTokenIs401) {
  EXPECT_EQ(Get("/v1/services", "shipd_not-a-real-token").first, 401);
}

TEST_F(DaemonTest, ViewerCannotRegister) {
  auto [status, body] = Post("/v1/services", {{"name", "orders"}}, viewer_);
  EXPECT_EQ(status, 403);
  EXPECT_EQ(body["error"]["code"], "permission_denied");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("register"), std::string::npos);
  EXPECT_EQ(Get("/v1/services", viewer_).first, 200);
  EXPECT_EQ(Get("/v1/services/orders").first, 404);  // nothing was recorded
}

TEST_F(DaemonTest, DeployerCanRegister) {
  EXPECT_EQ(Post("/v1/services", {{"name", "orders"}}, deployer_).first, 201);
}

TEST_F(DaemonTest, TokenCreatedWhileRunningWorksAtOnce) {
  const std::string late = daemon_.CreateToken("late", "viewer");
  EXPECT_EQ(Get("/v1/services", late).first, 200);
}

TEST_F(DaemonTest, BodyOverTheLimitIs413) {
  ASSERT_EQ(Post("/v1/services", {{"name", "orders"}}).first, 201);
  std::string huge =
      R"({"version":"1.0.0","artifact":")" + std::string(2 * 1024 * 1024, 'x') + R"("})";
  auto [status, body] = PostRaw("/v1/services/orders/versions", huge, "application/json");
  EXPECT_EQ(status, 413);
  EXPECT_EQ(body["error"]["code"], "too_large");
  EXPECT_EQ(Get("/v1/services/orders/versions").second["versions"].size(), 0u);
  EXPECT_EQ(Get("/healthz").first, 200);  // still serving
}

TEST_F(DaemonTest, UnknownRouteIs404WithErrorDocument) {
  auto [status, body] = Get("/v1/nothing-here");
  EXPECT_EQ(status, 404);
  EXPECT_EQ(body["error"]["code"], "not_found");
}

TEST_F(DaemonTest, MetricsCountRequestsPerRoute) {
  ASSERT_EQ(Get("/v1/services").first, 200);
  auto client = daemon_.Client(viewer_);
  auto result = client->Get("/metrics");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  EXPECT_NE(result->body.find(
                R"(shipd_http_requests_total{route="/v1/services",method="GET",status="200"} 1)"),
            std::string::npos)
      << result->body;
  EXPECT_NE(result->body.find("shipd_http_request_duration_seconds_bucket{route=\"/v1/services\""),
            std::string::npos);
  EXPECT_NE(result->body.find("shipd_services 0"), std::string::npos);
}

TEST_F(DaemonTest, SigtermShutsDownCleanly) {
  EXPECT_EQ(daemon_.Stop(SIGTERM), 0);
  EXPECT_NE(daemon_.StderrLog().find("shutting down"), std::string::npos);
}

TEST_F(DaemonTest, RestartKeepsEverything) {
  ASSERT_EQ(Post("/v1/services", {{"name", "orders"}, {"repo", "file:///srv/orders.git"}}).first,
            201);
  ASSERT_EQ(Post("/v1/services/orders/versions", OrdersManifest()).first, 201);
  const auto events_before = Get("/v1/events?limit=1000").second["events"].size();
  ASSERT_EQ(daemon_.Stop(SIGTERM), 0);
  ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();

  auto [status, service] = Get("/v1/services/orders");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(service["repo"], "file:///srv/orders.git");
  EXPECT_EQ(service["versions"], json::array({"3.1.0"}));
  EXPECT_EQ(Get("/v1/services/orders/versions/3.1.0").second["requires"][0]["range"], "^2.1");
  // Nothing is lost or repeated; the restart itself is recorded.
  auto events = Get("/v1/events?limit=1000").second["events"];
  ASSERT_EQ(events.size(), events_before + 1);
  EXPECT_EQ(events.back()["kind"], "engine.started");
  // Idempotency survives the restart too.
  EXPECT_EQ(Post("/v1/services/orders/versions", OrdersManifest()).first, 200);
}

TEST_F(DaemonTest, KillNineAfterAcknowledgedRegistrationLosesNothing) {
  ASSERT_EQ(Post("/v1/services", {{"name", "orders"}}).first, 201);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(
        Post("/v1/services/orders/versions", OrdersManifest("1.0." + std::to_string(i))).first,
        201);
  }
  EXPECT_EQ(daemon_.Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();
  auto [status, versions] = Get("/v1/services/orders/versions");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(versions["versions"].size(), 20u);
}

TEST(DaemonStartup, RefusesUnreadableConfigFile) {
  TempDir dir;
  auto result = RunCommand(
      {(BinDir() / "shipd").string(), "--config", (dir.path() / "missing.yaml").string()});
  EXPECT_NE(result.exit_code, 0);
}

TEST(DaemonStartup, ConfigFileUnknownKeyNamesFileAndLine) {
  TempDir dir;
  const auto config = dir.path() / "shipd.yaml";
  {
    std::ofstream out(config);
    out << "listen: 127.0.0.1:0\nlisen: 127.0.0.1:1\n";
  }
  auto result = RunCommand({(BinDir() / "shipd").string(), "--config", config.string()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("shipd.yaml:2:1: unknown key \"lisen\""), std::string::npos)
      << result.err;
}

TEST(DaemonStartup, ConfigFileDrivesTheDaemon) {
  TempDir dir;
  const auto config = dir.path() / "shipd.yaml";
  {
    std::ofstream out(config);
    out << "data: state\npipelines: " << (SourceDir() / "pipelines" / "demo.yaml").string()
        << "\nlog_format: json\n";
  }
  DaemonProcess daemon(dir.path() / "state");
  ASSERT_TRUE(daemon.Start({"--config", config.string()})) << daemon.last_error();
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "state" / "shipd.db"));
  const std::string log = daemon.StderrLog();
  EXPECT_NE(log.find(R"("msg":"listening on)"), std::string::npos) << log;
}

}  // namespace
}  // namespace shipd::testing

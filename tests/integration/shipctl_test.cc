// shipctl against the real daemon: output for people, -o json for scripts, and exit codes.
#include <fstream>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

class ShipctlTest : public DaemonTest {
 protected:
  std::filesystem::path WriteFile(const std::string& name, const std::string& text) {
    const auto path = dir_.path() / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path OrdersRepo() {
    WriteFile("orders/api/openapi.yaml",
              "openapi: 3.0.3\ninfo: {title: orders, version: '3.1'}\npaths:\n  /orders:\n"
              "    get:\n      responses:\n        '200': {description: ok}\n");
    return WriteFile("orders/ship.yaml", R"(service: orders
artifact: registry.example.com/orders:{{version}}
provides:
  - api: orders
    version: 3.1.0
    spec: api/openapi.yaml
requires:
  - api: billing
    range: ^2.1
)");
  }
};

TEST_F(ShipctlTest, RegistersServiceAndVersionFromShipYaml) {
  auto added =
      daemon_.Shipctl({"service", "add", "orders", "--repo", "file:///srv/orders.git"}, deployer_);
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.out.find("orders"), std::string::npos);

  const auto manifest = OrdersRepo();
  auto registered = daemon_.Shipctl(
      {"version", "register", "orders@3.1.0", "-f", manifest.string(), "--commit", "abc123"},
      deployer_);
  ASSERT_EQ(registered.exit_code, 0) << registered.err;
  EXPECT_NE(registered.out.find("orders@3.1.0 registered"), std::string::npos) << registered.out;

  // The spec file named in ship.yaml was inlined and stored.
  auto [status, version] = Get("/v1/services/orders/versions/3.1.0");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(version["commit"], "abc123");
  EXPECT_EQ(
      version["provides"][0]["spec"]["paths"]["/orders"]["get"]["responses"]["200"]["description"],
      "ok");

  auto again = daemon_.Shipctl(
      {"version", "register", "orders@3.1.0", "-f", manifest.string(), "--commit", "abc123"},
      deployer_);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already registered"), std::string::npos);
}

TEST_F(ShipctlTest, ConflictingRegistrationPrintsServerMessageAndExits3) {
  ASSERT_EQ(daemon_.Shipctl({"service", "add", "orders"}, admin_).exit_code, 0);
  const auto manifest = OrdersRepo();
  ASSERT_EQ(
      daemon_.Shipctl({"version", "register", "orders@3.1.0", "-f", manifest.string()}, admin_)
          .exit_code,
      0);
  auto conflict = daemon_.Shipctl(
      {"version", "register", "orders@3.1.0", "-f", manifest.string(), "--artifact", "other:1"},
      admin_);
  EXPECT_EQ(conflict.exit_code, 3);
  EXPECT_NE(conflict.err.find("already registered with different content"), std::string::npos)
      << conflict.err;
}

TEST_F(ShipctlTest, InvalidVersionAndUnknownServiceExit3) {
  const auto manifest = OrdersRepo();
  auto unknown =
      daemon_.Shipctl({"version", "register", "orders@3.1.0", "-f", manifest.string()}, admin_);
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("unknown service \"orders\""), std::string::npos) << unknown.err;

  ASSERT_EQ(daemon_.Shipctl({"service", "add", "orders"}, admin_).exit_code, 0);
  auto invalid =
      daemon_.Shipctl({"version", "register", "orders@3.1", "-f", manifest.string()}, admin_);
  EXPECT_EQ(invalid.exit_code, 3);
  EXPECT_NE(invalid.err.find("3.1"), std::string::npos) << invalid.err;

  auto no_at = daemon_.Shipctl({"version", "register", "orders", "-f", manifest.string()}, admin_);
  EXPECT_EQ(no_at.exit_code, 3);
  EXPECT_NE(no_at.err.find("SERVICE@VERSION"), std::string::npos);
}

TEST_F(ShipctlTest, MalformedManifestExits3WithLine) {
  ASSERT_EQ(daemon_.Shipctl({"service", "add", "orders"}, admin_).exit_code, 0);
  const auto bad = WriteFile("bad/ship.yaml", "service: orders\nprovides: [\n");
  auto result =
      daemon_.Shipctl({"version", "register", "orders@1.0.0", "-f", bad.string()}, admin_);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("line"), std::string::npos) << result.err;
  auto missing_spec = WriteFile(
      "nospec/ship.yaml", "provides:\n  - api: orders\n    version: 1.0.0\n    spec: nope.yaml\n");
  auto spec_result =
      daemon_.Shipctl({"version", "register", "orders@1.0.0", "-f", missing_spec.string()}, admin_);
  EXPECT_EQ(spec_result.exit_code, 3);
  EXPECT_NE(spec_result.err.find("nope.yaml"), std::string::npos) << spec_result.err;
}

TEST_F(ShipctlTest, JsonOutputEverywhere) {
  auto added = daemon_.Shipctl({"-o", "json", "service", "add", "billing"}, admin_);
  ASSERT_EQ(added.exit_code, 0);
  EXPECT_EQ(json::parse(added.out)["name"], "billing");
  auto listed = daemon_.Shipctl({"-o", "json", "service", "list"}, admin_);
  EXPECT_EQ(json::parse(listed.out)["services"][0]["name"], "billing");
  auto status = daemon_.Shipctl({"-o", "json", "status"}, viewer_);
  ASSERT_EQ(status.exit_code, 0);
  EXPECT_EQ(json::parse(status.out)["environments"].size(), 3u);
  auto events = daemon_.Shipctl({"-o", "json", "events"}, viewer_);
  ASSERT_EQ(events.exit_code, 0);
  EXPECT_FALSE(json::parse(events.out)["events"].empty());
}

TEST_F(ShipctlTest, StatusShowsServiceByEnvironmentMatrix) {
  ASSERT_EQ(daemon_.Shipctl({"service", "add", "orders"}, admin_).exit_code, 0);
  auto status = daemon_.Shipctl({"status"}, viewer_);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("SERVICE"), std::string::npos);
  EXPECT_NE(status.out.find("staging"), std::string::npos);
  EXPECT_NE(status.out.find("orders"), std::string::npos);
  auto one = daemon_.Shipctl({"status", "prod"}, viewer_);
  ASSERT_EQ(one.exit_code, 0);
  EXPECT_EQ(one.out.find("staging"), std::string::npos);
  auto unknown = daemon_.Shipctl({"status", "qa"}, viewer_);
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_NE(unknown.err.find("unknown environment \"qa\""), std::string::npos);
}

TEST_F(ShipctlTest, EventsTableListsTheJournal) {
  ASSERT_EQ(daemon_.Shipctl({"service", "add", "orders"}, deployer_).exit_code, 0);
  auto events = daemon_.Shipctl({"events"}, viewer_);
  ASSERT_EQ(events.exit_code, 0);
  EXPECT_NE(events.out.find("service.registered"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("ci"), std::string::npos);
}

TEST_F(ShipctlTest, AuthErrorsExit3WithTheServerMessage) {
  auto no_token = daemon_.Shipctl({"service", "list"}, "");
  EXPECT_EQ(no_token.exit_code, 3);
  EXPECT_NE(no_token.err.find("SHIP_TOKEN"), std::string::npos) << no_token.err;
  auto forbidden = daemon_.Shipctl({"service", "add", "orders"}, viewer_);
  EXPECT_EQ(forbidden.exit_code, 3);
  EXPECT_NE(forbidden.err.find("lacks permission"), std::string::npos);
}

TEST(ShipctlStandalone, UnreachableServerExits3) {
  auto result = RunCommand({(BinDir() / "shipctl").string(), "service", "list"},
                           {{"SHIP_SERVER", "http://127.0.0.1:1"}, {"SHIP_TOKEN", "x"}});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("cannot reach shipd at http://127.0.0.1:1"), std::string::npos)
      << result.err;
}

TEST(ShipctlStandalone, UsageErrorExits3) {
  auto result = RunCommand({(BinDir() / "shipctl").string(), "frobnicate"});
  EXPECT_EQ(result.exit_code, 3);
}

}  // namespace
}  // namespace shipd::testing

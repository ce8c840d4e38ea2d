// Registering services and versions through the REST API, and every way it refuses bad input.
#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

class RegistryTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    ASSERT_EQ(Post("/v1/services", {{"name", "orders"}}).first, 201);
  }
};

TEST_F(RegistryTest, RegistersVersionWithContracts) {
  auto [status, body] = Post("/v1/services/orders/versions", OrdersManifest());
  ASSERT_EQ(status, 201) << body.dump();
  EXPECT_EQ(body["version"], "3.1.0");
  EXPECT_EQ(body["provides"][0]["api"], "orders");
  EXPECT_EQ(body["requires"][0]["range"], "^2.1");
  EXPECT_EQ(body["requires"][1]["optional"], true);

  auto [get_status, version] = Get("/v1/services/orders/versions/3.1.0");
  ASSERT_EQ(get_status, 200);
  EXPECT_EQ(version["artifact"], "registry.example.com/orders:3.1.0");
  auto [list_status, list] = Get("/v1/services/orders/versions");
  ASSERT_EQ(list_status, 200);
  EXPECT_EQ(list["versions"].size(), 1u);
}

TEST_F(RegistryTest, AcceptsYamlManifest) {
  const std::string yaml = R"(service: orders
version: 3.2.0
artifact: registry.example.com/orders:{{version}}
provides:
  - api: orders
    version: 3.2.0
requires:
  - api: billing
    range: ^2.1
)";
  auto [status, body] = PostRaw("/v1/services/orders/versions", yaml, "application/yaml");
  ASSERT_EQ(status, 201) << body.dump();
  EXPECT_EQ(body["provides"][0]["version"], "3.2.0");
}

TEST_F(RegistryTest, StoresOpenApiSpecGivenAsYamlString) {
  json manifest = OrdersManifest();
  manifest["provides"][0]["spec"] =
      "openapi: 3.0.3\ninfo: {title: orders, version: '3.1'}\npaths: {}\n";
  ASSERT_EQ(Post("/v1/services/orders/versions", manifest).first, 201);
  auto [status, version] = Get("/v1/services/orders/versions/3.1.0");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(version["provides"][0]["spec"]["openapi"], "3.0.3");
}

TEST_F(RegistryTest, ReRegisteringIdenticalContentIsIdempotent) {
  ASSERT_EQ(Post("/v1/services/orders/versions", OrdersManifest()).first, 201);
  auto [status, body] = Post("/v1/services/orders/versions", OrdersManifest());
  EXPECT_EQ(status, 200) << body.dump();
  EXPECT_EQ(Get("/v1/services/orders/versions").second["versions"].size(), 1u);
}

TEST_F(RegistryTest, ReRegisteringDifferentContentConflicts) {
  ASSERT_EQ(Post("/v1/services/orders/versions", OrdersManifest()).first, 201);
  json changed = OrdersManifest();
  changed["requires"][0]["range"] = "^3.0";
  auto [status, body] = Post("/v1/services/orders/versions", changed);
  EXPECT_EQ(status, 409);
  EXPECT_EQ(body["error"]["code"], "conflict");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("immutable"), std::string::npos);
  auto [get_status, stored] = Get("/v1/services/orders/versions/3.1.0");
  EXPECT_EQ(stored["requires"][0]["range"], "^2.1");
}

TEST_F(RegistryTest, InvalidSemverIs422WithTheOffendingText) {
  auto [status, body] = Post("/v1/services/orders/versions", OrdersManifest("3.01.0"));
  EXPECT_EQ(status, 422);
  EXPECT_EQ(body["error"]["code"], "invalid");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("3.01.0"), std::string::npos);
}

TEST_F(RegistryTest, InvalidRangeIs422WithTheOffendingText) {
  json manifest = OrdersManifest();
  manifest["requires"][0]["range"] = ">=banana";
  auto [status, body] = Post("/v1/services/orders/versions", manifest);
  EXPECT_EQ(status, 422);
  const std::string message = body["error"]["message"];
  EXPECT_NE(message.find(">=banana"), std::string::npos) << message;
  EXPECT_NE(message.find("requires[0].range"), std::string::npos) << message;
}

TEST_F(RegistryTest, MalformedJsonIs400) {
  auto [status, body] =
      PostRaw("/v1/services/orders/versions", "{\"version\": \"1.0.0\",", "application/json");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(body["error"]["code"], "bad_request");
}

TEST_F(RegistryTest, MalformedYamlIs400WithLine) {
  auto [status, body] =
      PostRaw("/v1/services/orders/versions", "version: 1.0.0\nprovides:\n  - api: [unclosed\n",
              "application/yaml");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("line"), std::string::npos);
}

TEST_F(RegistryTest, UnknownServiceIs404) {
  auto [status, body] = Post("/v1/services/payments/versions", OrdersManifest());
  EXPECT_EQ(status, 404);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("payments"), std::string::npos);
  EXPECT_EQ(Get("/v1/services/payments").first, 404);
  EXPECT_EQ(Get("/v1/services/orders/versions/9.9.9").first, 404);
}

TEST_F(RegistryTest, UnknownManifestKeyIs422) {
  json manifest = OrdersManifest();
  manifest["provide"] = json::array();
  auto [status, body] = Post("/v1/services/orders/versions", manifest);
  EXPECT_EQ(status, 422);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("provide"), std::string::npos);
}

TEST_F(RegistryTest, InvalidServiceNameIs422) {
  auto [status, body] = Post("/v1/services", {{"name", "Orders_Service"}});
  EXPECT_EQ(status, 422);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("Orders_Service"), std::string::npos);
}

TEST_F(RegistryTest, RegisteringServiceTwiceIsIdempotentButDifferentRepoConflicts) {
  EXPECT_EQ(Post("/v1/services", {{"name", "orders"}}).first, 200);
  EXPECT_EQ(Post("/v1/services", {{"name", "orders"}, {"repo", "file:///elsewhere"}}).first, 409);
}

TEST_F(RegistryTest, EveryMutationIsInTheJournalWithItsActor) {
  ASSERT_EQ(Post("/v1/services/orders/versions", OrdersManifest(), deployer_).first, 201);
  auto [status, body] = Get("/v1/events?after=0&limit=1000");
  ASSERT_EQ(status, 200);
  bool found = false;
  for (const auto& event : body["events"]) {
    if (event["kind"] == "version.registered") {
      EXPECT_EQ(event["subject"], "orders@3.1.0");
      EXPECT_EQ(event["actor"], "ci");
      found = true;
    }
  }
  EXPECT_TRUE(found) << body.dump();
}

TEST_F(RegistryTest, EventsPageWithAfter) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        Post("/v1/services/orders/versions", OrdersManifest("1.0." + std::to_string(i))).first,
        201);
  }
  std::vector<int64_t> ids;
  int64_t after = 0;
  for (int page = 0; page < 20; ++page) {
    auto [status, body] = Get("/v1/events?after=" + std::to_string(after) + "&limit=2");
    ASSERT_EQ(status, 200);
    if (body["events"].empty()) break;
    EXPECT_LE(body["events"].size(), 2u);
    for (const auto& e : body["events"]) ids.push_back(e["id"]);
    after = body["next_after"];
  }
  ASSERT_GE(ids.size(), 6u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
  EXPECT_EQ(Get("/v1/events?after=-3").first, 400);
  EXPECT_EQ(Get("/v1/events?limit=abc").first, 400);
}

TEST_F(RegistryTest, EnvironmentsComeFromThePipelines) {
  auto [status, body] = Get("/v1/environments", viewer_);
  ASSERT_EQ(status, 200);
  std::vector<std::string> names;
  for (const auto& env : body["environments"]) names.push_back(env["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"dev", "staging", "prod"}));
  auto [env_status, env] = Get("/v1/environments/staging", viewer_);
  ASSERT_EQ(env_status, 200);
  EXPECT_EQ(env["after"], "dev");
  EXPECT_EQ(Get("/v1/environments/qa").first, 404);
}

}  // namespace
}  // namespace shipd::testing

// Permissions through the real daemon (docs/security.md): a shipd.yaml defines custom roles;
// every representative route answers 403 naming the permission a role lacks and 2xx where the
// role grants it; `shipd token create` refuses unknown roles; shipctl whoami shows a token's
// roles and permissions. Pipelines: tests/data/pipelines/permissions.yaml.
#include <signal.h>

#include <fstream>
#include <set>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

class PermissionsTest : public DaemonTest {
 protected:
  PermissionsTest() : DaemonTest(SourceDir() / "tests/data/pipelines/permissions.yaml") {}

  void SetUp() override {
    config_ = dir_.path() / "shipd.yaml";
    std::ofstream(config_) << R"(roles:
  release-manager: [read, approve:prod, promote:prod]
  stager: [read, register:*, promote:staging]
  breakglass: [read, promote:prod, override:prod]
)";
    const std::vector<std::string> with_config = {"--config", config_.string()};
    admin_ = daemon_.CreateToken("admin-token", "admin", with_config);
    viewer_ = daemon_.CreateToken("dashboard", "viewer", with_config);
    release_manager_ = daemon_.CreateToken("rm", "release-manager", with_config);
    stager_ = daemon_.CreateToken("stager", "stager", with_config);
    breakglass_ = daemon_.CreateToken("breakglass", "breakglass", with_config);
    both_ = daemon_.CreateToken("both", "stager,release-manager", with_config);
    ASSERT_TRUE(daemon_.Start(with_config)) << daemon_.last_error();
  }

  // Expects 403 whose message names `permission`.
  static void ExpectForbidden(const std::pair<int, json>& reply, const std::string& permission) {
    EXPECT_EQ(reply.first, 403) << reply.second.dump();
    const std::string message = reply.second.is_object() && reply.second.contains("error")
                                    ? reply.second["error"].value("message", "")
                                    : "";
    EXPECT_NE(message.find("lacks permission \"" + permission + "\""), std::string::npos)
        << message;
  }

  std::pair<int, json> Promote(const std::string& version, const std::string& env,
                               const std::string& token, const std::string& override_reason = "") {
    json body = {{"service", "billing"}, {"version", version}, {"environment", env}};
    if (!override_reason.empty()) body["override_reason"] = override_reason;
    return Post("/v1/promotions", body, token);
  }

  void Register(const std::string& version) {
    auto [status, body] =
        Post("/v1/services/billing/versions",
             {{"version", version}, {"provides", {{{"api", "billing"}, {"version", version}}}}},
             stager_);
    ASSERT_EQ(status, 201) << body.dump();
  }

  // Long-polls the journal until promotion `id` records an event of kind `kind`.
  bool WaitForEvent(int64_t id, const std::string& kind) {
    int64_t after = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto [status, page] =
          Get("/v1/events?limit=1000&wait_ms=5000&after=" + std::to_string(after), viewer_);
      if (status != 200) return false;
      for (const auto& event : page["events"]) {
        if (event["kind"] == kind && event["data"].is_object() &&
            event["data"].value("promotion", int64_t{0}) == id) {
          return true;
        }
      }
      after = page["next_after"];
    }
    return false;
  }

  std::pair<int, json> Act(int64_t id, const std::string& action, const std::string& token) {
    return Post("/v1/promotions/" + std::to_string(id) + "/" + action, json::object(), token);
  }

  std::filesystem::path config_;
  std::string release_manager_, stager_, breakglass_, both_;
};

TEST_F(PermissionsTest, EachRouteAnswers403ForThePermissionARoleLacks) {
  // register:* — the stager has it; the release manager and the viewer do not.
  ExpectForbidden(Post("/v1/services", {{"name", "billing"}}, release_manager_), "register:*");
  ExpectForbidden(Post("/v1/services", {{"name", "billing"}}, viewer_), "register:*");
  auto [created, service] = Post("/v1/services", {{"name", "billing"}}, stager_);
  ASSERT_EQ(created, 201) << service.dump();
  ExpectForbidden(Post("/v1/services/billing/versions",
                       {{"version", "1.0.0"}, {"provides", json::array()}}, release_manager_),
                  "register:*");
  Register("1.0.0");
  Register("1.1.0");

  // read — every role here has it.
  EXPECT_EQ(Get("/v1/services/billing", release_manager_).first, 200);
  EXPECT_EQ(Get("/v1/services/billing", viewer_).first, 200);

  // promote:ENV — per environment.
  ExpectForbidden(Promote("1.0.0", "staging", release_manager_), "promote:staging");
  ExpectForbidden(Promote("1.0.0", "prod", stager_), "promote:prod");
  ExpectForbidden(Promote("1.0.0", "prod", viewer_), "promote:prod");
  auto staged = Promote("1.0.0", "staging", stager_);
  EXPECT_EQ(staged.first, 201) << staged.second.dump();

  // override:ENV — checked before the gate; promote:prod alone is not enough.
  ExpectForbidden(Promote("1.0.0", "prod", release_manager_, "hotfix"), "override:prod");

  auto [promoted, rollout] = Promote("1.0.0", "prod", release_manager_);
  ASSERT_EQ(promoted, 201) << rollout.dump();
  const int64_t id = rollout["id"];
  ASSERT_TRUE(WaitForEvent(id, "rollout.approval_needed"));

  // approve:ENV for approve; promote:ENV for resume, abort and rollback.
  ExpectForbidden(Act(id, "approve", stager_), "approve:prod");
  ExpectForbidden(Act(id, "approve", breakglass_), "approve:prod");
  ExpectForbidden(Act(id, "abort", stager_), "promote:prod");
  ExpectForbidden(Act(id, "resume", viewer_), "promote:prod");
  ExpectForbidden(Act(id, "rollback", stager_), "promote:prod");
  auto approved = Act(id, "approve", release_manager_);
  EXPECT_EQ(approved.first, 200) << approved.second.dump();
  ASSERT_TRUE(WaitForEvent(id, "rollout.succeeded"));

  auto [second, next] = Promote("1.1.0", "prod", release_manager_);
  ASSERT_EQ(second, 201) << next.dump();
  const int64_t next_id = next["id"];
  ASSERT_TRUE(WaitForEvent(next_id, "rollout.approval_needed"));
  ExpectForbidden(Act(next_id, "abort", stager_), "promote:prod");
  auto aborted = Act(next_id, "abort", release_manager_);
  EXPECT_EQ(aborted.first, 200) << aborted.second.dump();
}

TEST_F(PermissionsTest, SeveralRolesGrantTheirUnion) {
  auto [created, service] = Post("/v1/services", {{"name", "billing"}}, both_);
  ASSERT_EQ(created, 201) << service.dump();
  Register("1.0.0");
  EXPECT_EQ(Promote("1.0.0", "staging", both_).first, 201);
  auto [promoted, rollout] = Promote("1.0.0", "prod", both_);
  EXPECT_EQ(promoted, 201) << rollout.dump();
  ExpectForbidden(Promote("1.0.0", "prod", both_, "hotfix"), "override:prod");
}

TEST_F(PermissionsTest, WhoamiShowsRolesAndPermissions) {
  auto [status, me] = Get("/v1/whoami", release_manager_);
  ASSERT_EQ(status, 200) << me.dump();
  EXPECT_EQ(me["token"], "rm");
  EXPECT_EQ(me["roles"], json::array({"release-manager"}));
  EXPECT_EQ(me["permissions"], json::array({"read", "approve:prod", "promote:prod"}));
  EXPECT_EQ(Get("/v1/whoami", "not-a-token").first, 401);

  auto json_out = daemon_.Shipctl({"-o", "json", "whoami"}, both_);
  ASSERT_EQ(json_out.exit_code, 0) << json_out.err;
  auto parsed = json::parse(json_out.out);
  EXPECT_EQ(parsed["token"], "both");
  EXPECT_EQ(parsed["roles"], json::array({"stager", "release-manager"}));
  EXPECT_EQ(parsed["permissions"],
            json::array({"read", "register:*", "promote:staging", "approve:prod", "promote:prod"}));

  auto table = daemon_.Shipctl({"whoami"}, release_manager_);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("TOKEN"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("release-manager"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("read, approve:prod, promote:prod"), std::string::npos) << table.out;

  auto admin = daemon_.Shipctl({"-o", "json", "whoami"}, admin_);
  ASSERT_EQ(admin.exit_code, 0) << admin.err;
  EXPECT_EQ(json::parse(admin.out)["permissions"], json::array({"admin"}));
}

TEST_F(PermissionsTest, TokenCreateRefusesUnknownRoles) {
  const std::string shipd = (BinDir() / "shipd").string();
  const std::string data = daemon_.data_dir().string();
  auto unknown = RunCommand({shipd, "--data", data, "--config", config_.string(), "token", "create",
                             "x", "--role", "release-manager", "--role", "root"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown role \"root\""), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("release-manager"), std::string::npos) << unknown.err;

  // Without --config only the built-in roles exist.
  auto unconfigured =
      RunCommand({shipd, "--data", data, "token", "create", "y", "--role", "release-manager"});
  EXPECT_NE(unconfigured.exit_code, 0);
  EXPECT_NE(unconfigured.err.find("unknown role \"release-manager\""), std::string::npos)
      << unconfigured.err;

  auto repeated = RunCommand({shipd, "--data", data, "--config", config_.string(), "token",
                              "create", "z", "--role", "viewer", "--role", "stager"});
  ASSERT_EQ(repeated.exit_code, 0) << repeated.err;
  std::string token = repeated.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  auto [status, me] = Get("/v1/whoami", token);
  ASSERT_EQ(status, 200) << me.dump();
  EXPECT_EQ(me["roles"], json::array({"viewer", "stager"}));
}

TEST_F(PermissionsTest, AnAdminListsAndRevokesTokensAndARevokedTokenStopsWorkingAtOnce) {
  auto listed = daemon_.Shipctl({"token", "list"}, admin_);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("stager "), std::string::npos) << listed.out;
  auto [code, tokens] = Get("/v1/tokens", admin_);
  ASSERT_EQ(code, 200);
  ASSERT_EQ(tokens["tokens"].size(), 6u) << tokens.dump();
  for (const auto& token : tokens["tokens"]) {
    EXPECT_FALSE(token.contains("sha256")) << token.dump();  // hashes never leave the store
  }
  ExpectForbidden(Get("/v1/tokens", stager_), "admin");
  EXPECT_EQ(daemon_.Shipctl({"token", "revoke", "dashboard"}, stager_).exit_code, 3);

  // The stager's token works, is revoked, and the very next request is refused.
  ASSERT_EQ(Get("/v1/whoami", stager_).first, 200);
  auto revoked = daemon_.Shipctl({"token", "revoke", "stager"}, admin_);
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(revoked.out, "token stager revoked\n");
  EXPECT_EQ(Get("/v1/whoami", stager_).first, 401);
  EXPECT_EQ(daemon_.Shipctl({"token", "revoke", "stager"}, admin_).exit_code, 3);  // gone
  bool recorded = false;
  const json events = Get("/v1/events?limit=1000", admin_).second["events"];
  for (const auto& event : events) {
    if (event["kind"] == "token.revoked" && event["subject"] == "stager") recorded = true;
  }
  EXPECT_TRUE(recorded);
  EXPECT_EQ(daemon_.Shipctl({"audit", "verify"}, viewer_).exit_code, 0);

  // Offline: `shipd token revoke` against the data directory while the daemon is stopped.
  daemon_.Stop(SIGTERM);
  auto offline = RunCommand({(BinDir() / "shipd").string(), "--data", daemon_.data_dir().string(),
                             "token", "revoke", "dashboard"});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  ASSERT_TRUE(daemon_.Start({"--config", config_.string()})) << daemon_.last_error();
  EXPECT_EQ(Get("/v1/whoami", viewer_).first, 401);
  EXPECT_EQ(Get("/v1/whoami", admin_).first, 200);
}

}  // namespace
}  // namespace shipd::testing

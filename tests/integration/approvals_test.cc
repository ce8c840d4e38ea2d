// Approvals and the hotfix lane through the real daemon (docs/governance.md): prod needs two
// release managers other than the requester; staging is always frozen and only a token with
// override:staging promotes into it, with --override-freeze and a reason. A shipd.yaml defines the
// roles. Pipelines: tests/data/pipelines/approvals.yaml.
#include <csignal>
#include <fstream>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

class ApprovalsApiTest : public DaemonTest {
 protected:
  ApprovalsApiTest() : DaemonTest(SourceDir() / "tests/data/pipelines/approvals.yaml") {}

  void SetUp() override {
    config_ = dir_.path() / "shipd.yaml";
    std::ofstream(config_) << R"(roles:
  release-manager: [read, approve:prod, promote:prod]
  breakglass: [read, promote:*, override:staging]
)";
    admin_ = daemon_.CreateToken("admin-token", "admin", with_config_);
    deployer_ = daemon_.CreateToken("ci", "deployer", with_config_);
    viewer_ = daemon_.CreateToken("dashboard", "viewer", with_config_);
    requester_ = daemon_.CreateToken("lead", "deployer,release-manager", with_config_);
    alice_ = daemon_.CreateToken("alice", "release-manager", with_config_);
    bob_ = daemon_.CreateToken("bob", "viewer,release-manager", with_config_);
    breakglass_ = daemon_.CreateToken("oncall", "breakglass", with_config_);
    ASSERT_TRUE(daemon_.Start(with_config_)) << daemon_.last_error();
    ASSERT_EQ(Post("/v1/services", {{"name", "web"}}).first, 201);
    ASSERT_EQ(Post("/v1/services/web/versions",
                   {{"version", "1.0.0"}, {"artifact", "registry.example.com/web:1.0.0"}})
                  .first,
              201);
  }

  std::pair<int, json> Promote(const std::string& environment, const std::string& token,
                               const json& extra = json::object()) {
    json body = {{"service", "web"}, {"version", "1.0.0"}, {"environment", environment}};
    body.update(extra);
    return Post("/v1/promotions", body, token);
  }
  std::pair<int, json> Approve(int64_t id, const std::string& token) {
    return Post("/v1/promotions/" + std::to_string(id) + "/approve", json::object(), token);
  }
  static std::string Message(const json& reply) {
    return reply.is_object() && reply.contains("error") ? reply["error"].value("message", "")
                                                        : reply.dump();
  }
  // The kinds of the promotion's events, in order.
  std::vector<std::string> Kinds(int64_t id) {
    std::vector<std::string> kinds;
    const json promotion = Get("/v1/promotions/" + std::to_string(id)).second;
    for (const auto& e : promotion["events"]) {
      kinds.push_back(e["kind"]);
    }
    return kinds;
  }
  static bool Has(const std::vector<std::string>& kinds, const std::string& kind) {
    return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
  }

  const std::vector<std::string> with_config_ = {"--config", (dir_.path() / "shipd.yaml").string()};
  std::filesystem::path config_;
  std::string requester_, alice_, bob_, breakglass_;
};

TEST_F(ApprovalsApiTest, TwoReleaseManagersOtherThanTheRequesterLetTheRolloutStart) {
  auto [created, promotion] = Promote("prod", requester_);
  ASSERT_EQ(created, 201) << promotion;
  const int64_t id = promotion["id"];
  EXPECT_EQ(promotion["state"], "waiting");
  EXPECT_EQ(promotion["progress"]["phase"], "approve");
  EXPECT_EQ(promotion["progress"]["reason"],
            "waiting for 2 distinct approvals (one of the roles release-manager; not the "
            "requester)");
  EXPECT_TRUE(Has(Kinds(id), "rollout.approval_needed"));

  // The requester may not approve, though it holds the role.
  auto [own, own_body] = Approve(id, requester_);
  EXPECT_EQ(own, 403);
  EXPECT_NE(Message(own_body).find("token \"lead\" requested promotion"), std::string::npos)
      << own_body;
  EXPECT_NE(Message(own_body).find("not_requester"), std::string::npos) << own_body;
  // approve:prod (the deployer has approve:*) is not enough without one of the roles.
  auto [wrong_role, wrong_body] = Approve(id, deployer_);
  EXPECT_EQ(wrong_role, 403);
  EXPECT_NE(Message(wrong_body).find("needs one of the roles release-manager"), std::string::npos)
      << wrong_body;
  // The route still requires approve:prod: the viewer lacks it.
  auto [viewer, viewer_body] = Approve(id, viewer_);
  EXPECT_EQ(viewer, 403);
  EXPECT_NE(Message(viewer_body).find("lacks permission \"approve:prod\""), std::string::npos);

  auto [first, first_body] = Approve(id, alice_);
  ASSERT_EQ(first, 200) << first_body;
  EXPECT_EQ(first_body["message"], "approved (1 of 2)");
  EXPECT_EQ(first_body["approval"]["approver"], "alice");
  EXPECT_EQ(first_body["state"], "waiting");
  // One token counts once.
  auto [twice, twice_body] = Approve(id, alice_);
  EXPECT_EQ(twice, 409);
  EXPECT_NE(Message(twice_body).find("already approved"), std::string::npos) << twice_body;
  auto shown = Get("/v1/promotions/" + std::to_string(id)).second;
  ASSERT_EQ(shown["approvals"].size(), 1u) << shown;
  EXPECT_EQ(shown["approvals"][0]["approver"], "alice");
  EXPECT_TRUE(shown["approvals"][0]["approved_at"].is_number());
  EXPECT_EQ(shown["state"], "waiting");

  // The third party, through shipctl: the last approval needed; the rollout proceeds.
  auto approved = daemon_.Shipctl({"rollout", "approve", std::to_string(id)}, bob_);
  ASSERT_EQ(approved.exit_code, 0) << approved.err;
  EXPECT_NE(approved.out.find("approved (2 of 2)"), std::string::npos) << approved.out;
  const json done = WaitForRollout(id);
  EXPECT_EQ(done["state"], "succeeded") << done;
  ASSERT_EQ(done["approvals"].size(), 2u);
  EXPECT_EQ(done["approvals"][1]["approver"], "bob");
  size_t approved_events = 0;
  for (const auto& e : done["events"]) {
    if (e["kind"] != "rollout.approved") continue;
    ++approved_events;
    EXPECT_EQ(e["data"]["needed"], 2);
    EXPECT_EQ(e["data"]["count"], approved_events);
  }
  EXPECT_EQ(approved_events, 2u);

  auto shown_by_cli = daemon_.Shipctl({"rollout", "get", std::to_string(id)}, viewer_);
  ASSERT_EQ(shown_by_cli.exit_code, 0) << shown_by_cli.err;
  EXPECT_NE(shown_by_cli.out.find("approved by:  alice (release-manager)"), std::string::npos)
      << shown_by_cli.out;
  EXPECT_NE(shown_by_cli.out.find("approved by:  bob (viewer, release-manager)"), std::string::npos)
      << shown_by_cli.out;
  // Approving a finished rollout is a conflict; through shipctl a 4xx is exit 3.
  EXPECT_EQ(daemon_.Shipctl({"rollout", "approve", std::to_string(id)}, alice_).exit_code, 3);

  auto verified = daemon_.Shipctl({"audit", "verify"}, viewer_);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

TEST_F(ApprovalsApiTest, ApprovalsSurviveAKill) {
  auto [created, promotion] = Promote("prod", requester_);
  ASSERT_EQ(created, 201) << promotion;
  const int64_t id = promotion["id"];
  ASSERT_EQ(Approve(id, alice_).first, 200);

  ASSERT_EQ(daemon_.Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(daemon_.Start(with_config_)) << daemon_.last_error();

  auto shown = Get("/v1/promotions/" + std::to_string(id)).second;
  EXPECT_EQ(shown["state"], "waiting");
  ASSERT_EQ(shown["approvals"].size(), 1u) << shown;
  EXPECT_EQ(shown["approvals"][0]["approver"], "alice");
  EXPECT_EQ(Approve(id, alice_).first, 409);  // still counted, still once
  auto [last, last_body] = Approve(id, bob_);
  ASSERT_EQ(last, 200) << last_body;
  EXPECT_EQ(last_body["message"], "approved (2 of 2)");
  EXPECT_EQ(WaitForRollout(id)["state"], "succeeded");
}

TEST_F(ApprovalsApiTest, AFreezeIsOverriddenOnlyWithOverrideAndAReason) {
  // Refused in the freeze, as any promotion.
  auto [refused, refused_body] = Promote("staging", deployer_);
  EXPECT_EQ(refused, 409);
  EXPECT_NE(Message(refused_body).find("staging is frozen until "), std::string::npos);
  const json hotfix = {{"override_freeze", true}, {"override_freeze_reason", "CVE-2026-1234"}};
  // The deployer lacks override:staging.
  auto [denied, denied_body] = Promote("staging", deployer_, hotfix);
  EXPECT_EQ(denied, 403);
  EXPECT_NE(Message(denied_body).find("lacks permission \"override:staging\""), std::string::npos)
      << denied_body;
  // A reason is required.
  EXPECT_EQ(Promote("staging", breakglass_, {{"override_freeze", true}}).first, 400);
  EXPECT_EQ(
      Promote("staging", breakglass_, {{"override_freeze", true}, {"override_freeze_reason", ""}})
          .first,
      400);
  EXPECT_EQ(Promote("staging", breakglass_, {{"override_freeze_reason", "why"}}).first, 400);

  auto [created, promotion] = Promote("staging", breakglass_, hotfix);
  ASSERT_EQ(created, 201) << promotion;
  EXPECT_EQ(promotion["override_freeze"], true);
  EXPECT_EQ(promotion["override_freeze_reason"], "CVE-2026-1234");
  const json done = WaitForRollout(promotion["id"].get<int64_t>());
  EXPECT_EQ(done["state"], "succeeded") << done;
  bool recorded = false;
  for (const auto& e : done["events"]) {
    if (e["kind"] != "promotion.freeze_overridden") continue;
    recorded = true;
    EXPECT_EQ(e["actor"], "oncall");
    EXPECT_EQ(e["data"]["reason"], "CVE-2026-1234");
    EXPECT_EQ(e["data"]["override_freeze"], true);
    EXPECT_NE(e["data"]["freeze"].get<std::string>().find("staging is frozen until "),
              std::string::npos);
  }
  EXPECT_TRUE(recorded) << done["events"];

  // Every one of those requests is in the audit log.
  int audited = 0;
  const json journal = Get("/v1/events?limit=1000").second;
  for (const auto& e : journal["events"]) {
    if (e["kind"] != "audit.request" || e["data"]["path"] != "/v1/promotions") continue;
    ++audited;
    if (e["data"]["status"] == 201) {
      EXPECT_EQ(e["data"]["token"], "oncall");
    }
  }
  EXPECT_EQ(audited, 6);
  auto verified = daemon_.Shipctl({"audit", "verify"}, viewer_);
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

TEST_F(ApprovalsApiTest, ShipctlPromoteOverridesAFreezeButNotALock) {
  // Refused by the freeze: a "no".
  EXPECT_EQ(daemon_.Shipctl({"promote", "web@1.0.0", "--to", "staging"}, breakglass_).exit_code, 1);
  // The deployer may not override; a missing reason is a usage error: both exit 3.
  auto denied = daemon_.Shipctl(
      {"promote", "web@1.0.0", "--to", "staging", "--override-freeze", "--reason", "CVE-2026-1234"},
      deployer_);
  EXPECT_EQ(denied.exit_code, 3);
  EXPECT_NE(denied.err.find("override:staging"), std::string::npos) << denied.err;
  EXPECT_EQ(
      daemon_.Shipctl({"promote", "web@1.0.0", "--to", "staging", "--override-freeze"}, breakglass_)
          .exit_code,
      3);

  // A lock stays a refusal, override or not.
  ASSERT_EQ(
      daemon_.Shipctl({"lock", "web", "--env", "staging", "--reason", "INC-1"}, admin_).exit_code,
      0);
  auto locked = daemon_.Shipctl(
      {"promote", "web@1.0.0", "--to", "staging", "--override-freeze", "--reason", "CVE-2026-1234"},
      breakglass_);
  EXPECT_EQ(locked.exit_code, 1);
  EXPECT_NE(locked.out.find("refused: web is locked in staging"), std::string::npos) << locked.out;
  ASSERT_EQ(daemon_.Shipctl({"unlock", "web", "--env", "staging"}, admin_).exit_code, 0);

  auto promoted = daemon_.Shipctl({"promote", "web@1.0.0", "--to", "staging", "--override-freeze",
                                   "--reason", "CVE-2026-1234", "--wait"},
                                  breakglass_);
  EXPECT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  auto listed = Get("/v1/promotions?environment=staging").second["promotions"];
  ASSERT_EQ(listed.size(), 1u);
  auto shown =
      daemon_.Shipctl({"rollout", "get", std::to_string(listed[0]["id"].get<int64_t>())}, viewer_);
  EXPECT_NE(shown.out.find("hotfix:       freeze overridden: CVE-2026-1234"), std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("freeze overridden by oncall: CVE-2026-1234"), std::string::npos)
      << shown.out;
}

}  // namespace
}  // namespace shipd::testing

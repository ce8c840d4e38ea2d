// The contract gate through the real daemon and shipctl: can-i-deploy, plan, promote (instant
// until the rollout engine lands), graph, and the exit codes CI scripts rely on.
#include <csignal>
#include <fstream>
#include <map>
#include <string>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

constexpr char kOrdersSpec[] = R"({"openapi": "3.0.3", "info": {"title": "orders", "version": "3"},
  "paths": {
    "/orders": {"get": {"responses": {"200": {"description": "all orders"}}}},
    "/orders/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": true,
                                              "schema": {"type": "string"}}],
                             "responses": {"200": {"description": "one order"}}}}}})";

class GateTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    for (const char* name : {"billing", "orders", "web"}) {
      ASSERT_EQ(Post("/v1/services", {{"name", name}}).first, 201);
    }
    Register("billing", "2.3.0", {{{"api", "billing"}, {"version", "2.3.0"}}}, json::array());
    Register("orders", "3.1.0", {{{"api", "orders"}, {"version", "3.1.0"}, {"spec", kOrdersSpec}}},
             {{{"api", "billing"}, {"range", "^2.1"}}});
    Register("web", "5.2.0", json::array(), {{{"api", "orders"}, {"range", "^3.0"}}});
  }

  void Register(const std::string& service, const std::string& version, json provides,
                json requirements) {
    json manifest = {{"version", version}, {"provides", provides}, {"requires", requirements}};
    auto [status, body] = Post("/v1/services/" + service + "/versions", manifest);
    ASSERT_EQ(status, 201) << body.dump();
  }

  CommandResult Ctl(const std::vector<std::string>& args, const std::string& token = "") {
    return daemon_.Shipctl(args, token.empty() ? deployer_ : token);
  }

  // Promotes through the API and expects success.
  void PromoteOk(const std::string& ref, const std::string& env) {
    auto result = Ctl({"-o", "json", "promote", ref, "--to", env});
    ASSERT_EQ(result.exit_code, 0) << ref << " -> " << env << "\n" << result.out << result.err;
    auto finished = WaitForRollout(nlohmann::json::parse(result.out)["id"].get<int64_t>());
    ASSERT_EQ(finished["state"], "succeeded") << finished.dump();
  }

  void PromoteChain(const std::string& env) {
    PromoteOk("billing@2.3.0", env);
    PromoteOk("orders@3.1.0", env);
    PromoteOk("web@5.2.0", env);
  }
};

TEST_F(GateTest, ConsumerArrivingBeforeItsProviderIsBlockedAndThePlanFixesIt) {
  auto can = Ctl({"can-i-deploy", "orders@3.1.0", "--to", "dev"});
  EXPECT_EQ(can.exit_code, 1) << can.out << can.err;
  EXPECT_NE(can.out.find("unsatisfied-requirement"), std::string::npos) << can.out;

  auto [status, verdict] = Get("/v1/can-i-deploy?service=orders&version=3.1.0&environment=dev");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(verdict["allowed"], false);
  EXPECT_EQ(verdict["decision"], "no");
  EXPECT_EQ(verdict["reasons"][0]["rule"], "unsatisfied-requirement");
  EXPECT_EQ(verdict["reasons"][0]["api"], "billing");
  EXPECT_EQ(verdict["reasons"][0]["requires"], "^2.1");

  auto plan = Ctl({"plan", "orders@3.1.0", "--to", "dev"});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_LT(plan.out.find("billing@2.3.0"), plan.out.find("orders@3.1.0")) << plan.out;
  auto [plan_status, plan_json] = Get("/v1/plan?service=orders&version=3.1.0&environment=dev");
  ASSERT_EQ(plan_status, 200);
  EXPECT_EQ(plan_json["possible"], true);
  ASSERT_EQ(plan_json["steps"].size(), 2u);
  EXPECT_EQ(plan_json["steps"][0]["service"], "billing");

  // Carry the plan out; then the original request is allowed.
  for (const auto& step : plan_json["steps"]) {
    PromoteOk(step["service"].get<std::string>() + "@" + step["version"].get<std::string>(), "dev");
  }
  EXPECT_EQ(Ctl({"can-i-deploy", "web@5.2.0", "--to", "dev"}).exit_code, 0);
}

TEST_F(GateTest, MajorBumpStrandingAConsumerIsRefusedWithTheVerdict) {
  PromoteChain("dev");
  Register("orders", "4.0.0", {{{"api", "orders"}, {"version", "4.0.0"}}},
           {{{"api", "billing"}, {"range", "^2.1"}}});

  auto [status, body] =
      Post("/v1/promotions", {{"service", "orders"}, {"version", "4.0.0"}, {"environment", "dev"}},
           deployer_);
  ASSERT_EQ(status, 409) << body.dump();
  EXPECT_EQ(body["error"]["code"], "blocked");
  const json& reason = body["error"]["details"]["reasons"][0];
  EXPECT_EQ(reason["rule"], "consumer-broken");
  EXPECT_EQ(reason["consumer"], "web@5.2.0");
  EXPECT_EQ(reason["api"], "orders");
  EXPECT_EQ(reason["requires"], "^3.0");
  EXPECT_EQ(reason["would_have"], "4.0.0");

  auto metrics = daemon_.Client(viewer_)->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find(R"(shipd_promotions_total{environment="dev",outcome="blocked"} 1)"),
            std::string::npos)
      << metrics->body;

  auto promote = Ctl({"promote", "orders@4.0.0", "--to", "dev"});
  EXPECT_EQ(promote.exit_code, 1);
  EXPECT_NE(promote.out.find("consumer-broken"), std::string::npos) << promote.out;
  EXPECT_NE(promote.out.find("shipctl plan"), std::string::npos);

  // Nothing changed, and the refusal is in the journal.
  EXPECT_EQ(Get("/v1/environments/dev").second["live"][1]["stable"], "3.1.0");
  bool recorded = false;
  const json journal = Get("/v1/events?limit=1000").second;
  for (const auto& e : journal["events"]) {
    recorded |= e["kind"] == "promotion.blocked" && e["subject"] == "orders@4.0.0";
  }
  EXPECT_TRUE(recorded) << journal.dump();
}

TEST_F(GateTest, MajorBumpStrandingAConsumerIsPlannedWithTheConsumerUpgradeFirst) {
  PromoteChain("dev");
  Register("orders", "4.0.0", {{{"api", "orders"}, {"version", "4.0.0"}}},
           {{{"api", "billing"}, {"range", "^2.1"}}});

  // No version of web accepts orders 4.0.0 yet: no plan, and it says which consumer is stuck.
  auto none = Ctl({"plan", "orders@4.0.0", "--to", "dev"});
  EXPECT_EQ(none.exit_code, 1) << none.out << none.err;
  EXPECT_NE(none.out.find("no plan: orders@4.0.0 cannot go to dev"), std::string::npos) << none.out;
  EXPECT_NE(none.out.find("no-compatible-consumer: orders@4.0.0 would break web@5.2.0 (requires "
                          "orders ^3.0) and no registered version of web accepts orders 4.0.0"),
            std::string::npos)
      << none.out;

  // web 6.0.0 accepts orders 3.x and 4.x: it can go first, then orders.
  Register("web", "6.0.0", json::array(), {{{"api", "orders"}, {"range", ">=3.1.0 <5.0.0"}}});
  EXPECT_EQ(Ctl({"promote", "orders@4.0.0", "--to", "dev"}).exit_code, 1);
  auto plan = Ctl({"plan", "orders@4.0.0", "--to", "dev"});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_LT(plan.out.find("web@6.0.0"), plan.out.find("orders@4.0.0")) << plan.out;
  EXPECT_NE(plan.out.find("accepts orders 4.0.0"), std::string::npos) << plan.out;

  auto [status, plan_json] = Get("/v1/plan?service=orders&version=4.0.0&environment=dev");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(plan_json["possible"], true) << plan_json.dump(2);
  ASSERT_EQ(plan_json["steps"].size(), 2u) << plan_json.dump(2);
  EXPECT_EQ(plan_json["steps"][0]["service"], "web");
  EXPECT_EQ(plan_json["steps"][0]["version"], "6.0.0");
  EXPECT_EQ(plan_json["steps"][0]["reason"],
            "accepts orders 4.0.0 (requires >=3.1.0 <5.0.0); web@5.2.0 does not (requires ^3.0)");
  EXPECT_EQ(plan_json["steps"][1]["service"], "orders");
  EXPECT_EQ(plan_json["steps"][1]["reason"], "requested");
  EXPECT_EQ(plan_json["verdict"]["allowed"], true);

  // Carry the plan out, step by step through the real rollouts.
  for (const auto& step : plan_json["steps"]) {
    PromoteOk(step["service"].get<std::string>() + "@" + step["version"].get<std::string>(), "dev");
  }
  auto [env_status, env] = Get("/v1/environments/dev");
  ASSERT_EQ(env_status, 200);
  std::map<std::string, std::string> stable;
  for (const auto& d : env["live"]) stable[d["service"]] = d["stable"];
  EXPECT_EQ(stable["orders"], "4.0.0") << env.dump();
  EXPECT_EQ(stable["web"], "6.0.0") << env.dump();
  auto done = Ctl({"plan", "orders@4.0.0", "--to", "dev"});
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_NE(done.out.find("already live"), std::string::npos) << done.out;
}

TEST_F(GateTest, PromotionRecordsLiveVersionAndRollbackTarget) {
  PromoteChain("dev");
  Register("orders", "3.2.0", {{{"api", "orders"}, {"version", "3.2.0"}, {"spec", kOrdersSpec}}},
           {{{"api", "billing"}, {"range", "^2.1"}}});
  PromoteOk("orders@3.2.0", "dev");
  auto [status, env] = Get("/v1/environments/dev");
  ASSERT_EQ(status, 200);
  json orders;
  for (const auto& d : env["live"]) {
    if (d["service"] == "orders") orders = d;
  }
  EXPECT_EQ(orders["stable"], "3.2.0");
  auto [list_status, list] = Get("/v1/promotions?service=orders&environment=dev");
  ASSERT_EQ(list_status, 200);
  ASSERT_EQ(list["promotions"].size(), 2u);
  EXPECT_EQ(list["promotions"][0]["version"], "3.2.0");  // newest first
  EXPECT_EQ(list["promotions"][0]["state"], "succeeded");
  EXPECT_EQ(list["promotions"][0]["requested_by"], "ci");
  const int64_t id = list["promotions"][0]["id"];
  auto get = Ctl({"rollout", "get", std::to_string(id)});
  ASSERT_EQ(get.exit_code, 0);
  EXPECT_NE(get.out.find("succeeded"), std::string::npos);
  EXPECT_EQ(Get("/v1/promotions/999999").first, 404);

  auto status_table = Ctl({"status"});
  EXPECT_NE(status_table.out.find("3.2.0"), std::string::npos) << status_table.out;
}

TEST_F(GateTest, LifecycleNeedsUpstreamSuccessUnlessAnAuthorisedOverride) {
  auto blocked = Ctl({"can-i-deploy", "billing@2.3.0", "--to", "staging"});
  EXPECT_EQ(blocked.exit_code, 1);
  EXPECT_NE(blocked.out.find("not-promoted-upstream"), std::string::npos) << blocked.out;

  auto by_deployer =
      Ctl({"promote", "billing@2.3.0", "--to", "staging", "--override-reason", "INC-42 hotfix"});
  EXPECT_EQ(by_deployer.exit_code, 3);
  EXPECT_NE(by_deployer.err.find("override:staging"), std::string::npos) << by_deployer.err;

  auto by_admin = Ctl({"-o", "json", "promote", "billing@2.3.0", "--to", "staging",
                       "--override-reason", "INC-42 hotfix"},
                      admin_);
  ASSERT_EQ(by_admin.exit_code, 0) << by_admin.out << by_admin.err;
  json promotion = json::parse(by_admin.out);
  EXPECT_EQ(promotion["override_reason"], "INC-42 hotfix");
  EXPECT_EQ(promotion["verdict"]["warnings"][0]["rule"], "not-promoted-upstream");

  // Succeeding upstream opens the way without an override, also after a restart.
  PromoteOk("billing@2.3.0", "dev");
  ASSERT_EQ(daemon_.Stop(SIGTERM), 0);
  ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();
  PromoteOk("orders@3.1.0", "dev");
  EXPECT_EQ(Ctl({"can-i-deploy", "orders@3.1.0", "--to", "staging"}).exit_code, 0);
}

TEST_F(GateTest, BreakingOpenApiChangeUnderAMinorBumpIsDishonest) {
  PromoteChain("dev");
  json spec = json::parse(kOrdersSpec);
  spec["paths"].erase("/orders/{id}");
  Register("orders", "3.2.0", {{{"api", "orders"}, {"version", "3.2.0"}, {"spec", spec}}},
           {{{"api", "billing"}, {"range", "^2.1"}}});
  auto [status, verdict] = Get("/v1/can-i-deploy?service=orders&version=3.2.0&environment=dev");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(verdict["decision"], "no");
  ASSERT_FALSE(verdict["reasons"].empty()) << verdict.dump();
  const json& reason = verdict["reasons"][0];
  EXPECT_EQ(reason["rule"], "dishonest-semver");
  EXPECT_NE(reason["findings"].dump().find("/orders/{id}"), std::string::npos) << reason.dump();

  auto can = Ctl({"can-i-deploy", "orders@3.2.0", "--to", "dev"});
  EXPECT_EQ(can.exit_code, 1);
  EXPECT_NE(can.out.find("GET /orders/{id}"), std::string::npos) << can.out;
}

TEST_F(GateTest, UnregisteredVersionIsUnknownNotAnError) {
  auto [status, verdict] = Get("/v1/can-i-deploy?service=orders&version=9.9.9&environment=dev");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(verdict["decision"], "unknown");
  auto can = Ctl({"can-i-deploy", "orders@9.9.9", "--to", "dev"});
  EXPECT_EQ(can.exit_code, 2) << can.out << can.err;
  EXPECT_NE(can.out.find("unknown"), std::string::npos);

  EXPECT_EQ(Ctl({"can-i-deploy", "nope@1.0.0", "--to", "dev"}).exit_code, 3);
  EXPECT_EQ(Ctl({"can-i-deploy", "orders@3.1.0", "--to", "qa"}).exit_code, 3);
  EXPECT_EQ(Get("/v1/can-i-deploy?service=orders").first, 400);
}

TEST_F(GateTest, GraphShowsConsumersAndProviders) {
  PromoteChain("dev");
  auto [status, graph] = Get("/v1/graph?environment=dev");
  ASSERT_EQ(status, 200);
  bool edge = false;
  for (const auto& e : graph["edges"]) {
    edge |= e["from"] == "web@5.2.0" && e["to"] == "orders@3.1.0" && e["satisfied"] == true;
  }
  EXPECT_TRUE(edge) << graph.dump();
  auto dot = Ctl({"graph", "--env", "dev", "--format", "dot"}, viewer_);
  ASSERT_EQ(dot.exit_code, 0) << dot.err;
  EXPECT_NE(dot.out.find("digraph"), std::string::npos);
  EXPECT_NE(dot.out.find("web@5.2.0"), std::string::npos);
  auto table = Ctl({"graph"}, viewer_);
  EXPECT_NE(table.out.find("orders@3.1.0"), std::string::npos) << table.out;
}

TEST_F(GateTest, ViewerCannotPromote) {
  auto [status, body] =
      Post("/v1/promotions", {{"service", "billing"}, {"version", "2.3.0"}, {"environment", "dev"}},
           viewer_);
  EXPECT_EQ(status, 403);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("promote:dev"), std::string::npos);
}

TEST_F(GateTest, ApiDiffExitsOneOnBreakingChanges) {
  const auto old_file = dir_.path() / "old.json";
  const auto new_file = dir_.path() / "new.yaml";
  std::ofstream(old_file) << kOrdersSpec;
  std::ofstream(new_file) << "openapi: 3.0.3\ninfo: {title: orders, version: '4'}\npaths:\n"
                             "  /orders:\n    get:\n      responses:\n"
                             "        '200': {description: all orders}\n";
  auto breaking = Ctl({"api", "diff", old_file.string(), new_file.string()});
  EXPECT_EQ(breaking.exit_code, 1) << breaking.out << breaking.err;
  EXPECT_NE(breaking.out.find("/orders/{id}"), std::string::npos) << breaking.out;
  auto same = Ctl({"api", "diff", old_file.string(), old_file.string()});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  auto missing = Ctl({"api", "diff", old_file.string(), "/nonexistent.yaml"});
  EXPECT_EQ(missing.exit_code, 3);
}

}  // namespace
}  // namespace shipd::testing

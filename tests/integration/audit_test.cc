// The audit log through the daemon: every mutating request leaves an audit.request event with its
// request id, actor, source and status; `shipctl audit verify` checks the journal's hash chain and
// names the row someone changed in the database file while the daemon was stopped.
#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>

#include <string>

#include "integration/fixture.h"

namespace shipd::testing {
namespace {

using nlohmann::json;

class AuditTest : public DaemonTest {
 protected:
  // POSTs with an optional X-Request-Id; returns status and the X-Request-Id answered.
  std::pair<int, std::string> PostWithId(const std::string& path, const json& body,
                                         const std::string& token,
                                         const std::string& request_id = "") {
    auto client = daemon_.Client(token);
    httplib::Headers headers;
    if (!request_id.empty()) headers.emplace("X-Request-Id", request_id);
    auto result = client->Post(path, headers, body.dump(), "application/json");
    if (!result) return {-1, ""};
    return {result->status, result->get_header_value("X-Request-Id")};
  }

  // The audit.request events, oldest first.
  json AuditEvents() {
    json found = json::array();
    const json page = Get("/v1/events?limit=1000").second;
    for (const auto& event : page["events"]) {
      if (event["kind"] == "audit.request") found.push_back(event);
    }
    return found;
  }

  static json ByRequestId(const json& events, const std::string& id) {
    for (const auto& event : events) {
      if (event["data"]["request_id"] == id) return event;
    }
    return nullptr;
  }
};

TEST_F(AuditTest, RecordsEveryMutatingRequestWithIdActorSourceAndOutcome) {
  auto [created, created_id] =
      PostWithId("/v1/services", {{"name", "orders"}}, deployer_, "req-42");
  ASSERT_EQ(created, 201);
  EXPECT_EQ(created_id, "req-42");  // the client's well-formed id is kept

  auto [refused, refused_id] = PostWithId("/v1/services", {{"name", "billing"}}, viewer_);
  ASSERT_EQ(refused, 403);
  EXPECT_EQ(refused_id.size(), 16u);  // generated

  auto [anonymous, anonymous_id] =
      PostWithId("/v1/services", {{"name", "users"}}, "not-a-token", "has spaces!");
  ASSERT_EQ(anonymous, 401);
  EXPECT_NE(anonymous_id, "has spaces!");
  EXPECT_EQ(anonymous_id.size(), 16u);

  // No route takes DELETE: refused by the HTTP library, audited all the same.
  auto deleted = daemon_.Client(admin_)->Delete("/v1/services/orders");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 404);
  const std::string deleted_id = deleted->get_header_value("X-Request-Id");
  EXPECT_EQ(deleted_id.size(), 16u);

  ASSERT_EQ(Get("/v1/services").first, 200);  // reads are not audited

  const json events = AuditEvents();
  ASSERT_EQ(events.size(), 4u) << events.dump(2);

  const json ok = ByRequestId(events, "req-42");
  ASSERT_TRUE(ok.is_object()) << events.dump(2);
  EXPECT_EQ(ok["actor"], "ci");
  EXPECT_EQ(ok["subject"], "POST /v1/services");
  EXPECT_EQ(ok["data"]["token"], "ci");
  EXPECT_EQ(ok["data"]["source"], "127.0.0.1");
  EXPECT_EQ(ok["data"]["method"], "POST");
  EXPECT_EQ(ok["data"]["path"], "/v1/services");
  EXPECT_EQ(ok["data"]["status"], 201);

  const json denied = ByRequestId(events, refused_id);
  ASSERT_TRUE(denied.is_object());
  EXPECT_EQ(denied["actor"], "dashboard");
  EXPECT_EQ(denied["data"]["status"], 403);

  const json unauthenticated = ByRequestId(events, anonymous_id);
  ASSERT_TRUE(unauthenticated.is_object());
  EXPECT_EQ(unauthenticated["actor"], "anonymous");
  EXPECT_EQ(unauthenticated["data"]["token"], "");
  EXPECT_EQ(unauthenticated["data"]["status"], 401);

  const json unrouted = ByRequestId(events, deleted_id);
  ASSERT_TRUE(unrouted.is_object());
  EXPECT_EQ(unrouted["subject"], "DELETE /v1/services/orders");
  EXPECT_EQ(unrouted["data"]["status"], 404);
}

TEST_F(AuditTest, VerifyFindsTheRowChangedWhileTheDaemonWasStopped) {
  ASSERT_EQ(Post("/v1/services", {{"name", "orders"}}).first, 201);
  ASSERT_EQ(Post("/v1/services", {{"name", "billing"}}).first, 201);

  auto intact = daemon_.Shipctl({"audit", "verify"}, viewer_);
  EXPECT_EQ(intact.exit_code, 0) << intact.out << intact.err;
  EXPECT_NE(intact.out.find("audit chain intact"), std::string::npos) << intact.out;

  auto as_json = daemon_.Shipctl({"-o", "json", "audit", "verify"}, viewer_);
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  const json verified = json::parse(as_json.out);
  EXPECT_TRUE(verified["ok"].get<bool>());
  EXPECT_GE(verified["checked"].get<int64_t>(), 4);  // 3 tokens, 2 services, 2 audit events
  EXPECT_TRUE(verified["first_bad_id"].is_null());
  const std::string head = std::to_string(verified["head_id"].get<int64_t>()) + ":" +
                           verified["head_hash"].get<std::string>();
  EXPECT_EQ(daemon_.Shipctl({"audit", "verify", "--head", head}, viewer_).exit_code, 0);
  auto wrong_head =
      daemon_.Shipctl({"audit", "verify", "--head", "1:" + std::string(64, 'a')}, viewer_);
  EXPECT_EQ(wrong_head.exit_code, 1) << wrong_head.out;
  EXPECT_EQ(daemon_.Shipctl({"audit", "verify", "--head", "1:nothex"}, viewer_).exit_code, 3);

  int64_t target = 0;
  const json page = Get("/v1/events?limit=1000").second;
  for (const auto& event : page["events"]) {
    if (event["kind"] == "service.registered" && event["subject"] == "orders") {
      target = event["id"].get<int64_t>();
    }
  }
  ASSERT_GT(target, 0);

  ASSERT_EQ(daemon_.Stop(SIGTERM), 0);
  {
    SQLite::Database raw((daemon_.data_dir() / "shipd.db").string(), SQLite::OPEN_READWRITE);
    raw.exec("DROP TRIGGER events_no_update");
    raw.exec("UPDATE events SET actor = 'someone-else' WHERE id = " + std::to_string(target));
  }
  ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();

  auto tampered = daemon_.Shipctl({"audit", "verify"}, viewer_);
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out << tampered.err;
  EXPECT_NE(tampered.out.find("BROKEN at event " + std::to_string(target)), std::string::npos)
      << tampered.out;
}

TEST_F(AuditTest, VerifyNeedsAToken) {
  auto refused = daemon_.Shipctl({"audit", "verify"}, "");
  EXPECT_EQ(refused.exit_code, 3);
}

}  // namespace
}  // namespace shipd::testing

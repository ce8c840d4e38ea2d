#include "messages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shipd/common/sha256.h"

namespace shipd {
namespace {

using nlohmann::json;

Event MakeEvent(const std::string& kind, const std::string& subject, const json& data) {
  return Event{1842, 1'800'000'000'000, "system", kind, subject, data.dump()};
}

NotificationSink Sink(SinkType type = SinkType::kWebhook) {
  NotificationSink sink;
  sink.name = "ops";
  sink.type = type;
  sink.url = "https://hooks.example.com/shipd";
  sink.secret = type == SinkType::kWebhook ? "s3cret" : "";
  sink.events = DefaultNotificationEvents();
  return sink;
}

TEST(EventSummary, SaysWhatHappenedInOneLine) {
  struct Case {
    Event event;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {MakeEvent("rollout.rolled_back", "orders@3.2.0",
                 {{"environment", "prod"},
                  {"promotion", 12},
                  {"reason", "check errors failed 2 of 3 measurements: 31% > 5%"}}),
       "orders@3.2.0 rolled back in prod: check errors failed 2 of 3 measurements: 31% > 5%"},
      {MakeEvent("rollout.started", "orders@3.2.0",
                 {{"environment", "prod"}, {"strategy", "canary"}, {"previous", "3.1.0"}}),
       "orders@3.2.0 rollout started in prod (canary, replacing 3.1.0)"},
      {MakeEvent("rollout.started", "orders@1.0.0", {{"environment", "dev"}}),
       "orders@1.0.0 rollout started in dev"},
      {MakeEvent("rollout.succeeded", "orders@3.2.0",
                 {{"environment", "prod"}, {"previous", "3.1.0"}}),
       "orders@3.2.0 succeeded in prod (was 3.1.0)"},
      {MakeEvent("promotion.blocked", "web@5.3.0",
                 {{"environment", "prod"},
                  {"verdict",
                   {{"allowed", false},
                    {"reasons",
                     {{{"rule", "requirement-unmet"},
                       {"message", "web@5.3.0 requires orders ^4.0; prod has 3.2.0"}},
                      {{"rule", "lifecycle"}, {"message", "not yet in staging"}}}}}}}),
       "web@5.3.0 blocked from prod: web@5.3.0 requires orders ^4.0; prod has 3.2.0 (and 1 more "
       "reason)"},
      {MakeEvent("rollout.approval_needed", "orders@3.2.0",
                 {{"environment", "prod"}, {"promotion", 12}, {"step", 3}}),
       "orders@3.2.0 needs approval in prod (rollout 12)"},
      {MakeEvent("train.departed", "release-42",
                 {{"train", "release-42"},
                  {"cars", {"orders@3.2.0", {{"service", "web"}, {"version", "5.3.0"}}}}}),
       "train release-42 departed: orders@3.2.0, web@5.3.0"},
      {MakeEvent("train.arrived", "release-42", {{"cars", json::array()}}),
       "train release-42 arrived"},
      // The shapes the trains engine records.
      {MakeEvent("train.departed", "release",
                 {{"train", "release"},
                  {"trip", 3},
                  {"route", {"staging", "prod"}},
                  {"cars",
                   {{{"car", "billing@2.1.0"}, {"depends_on", json::array()}},
                    {{"car", "orders@3.2.0"}, {"depends_on", {"billing@2.1.0"}}}}}}),
       "train release trip 3 departed for staging, prod: billing@2.1.0, orders@3.2.0"},
      {MakeEvent("train.arrived", "release",
                 {{"train", "release"},
                  {"trip", 3},
                  {"environment", "prod"},
                  {"arrived", {"billing@2.1.0"}},
                  {"failed", {"orders@3.2.0"}},
                  {"left", {"web@5.3.0"}}}),
       "train release trip 3 arrived in prod: billing@2.1.0; failed: orders@3.2.0; left: "
       "web@5.3.0"},
      {MakeEvent("service.locked", "orders", {{"environment", "prod"}, {"reason", "incident"}}),
       "service.locked orders in prod: incident"},
  };
  for (const auto& c : cases) EXPECT_EQ(EventSummary(c.event), c.expected) << c.event.kind;
}

TEST(NotificationRequest, WebhookSendsTheEventSignedWithTheSecret) {
  const Event event =
      MakeEvent("rollout.succeeded", "orders@3.2.0", {{"environment", "prod"}, {"promotion", 7}});
  const HttpRequest request = NotificationRequest(Sink(), event);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "https://hooks.example.com/shipd");
  const json body = json::parse(request.body);
  EXPECT_EQ(body, json({{"id", 1842},
                        {"time", 1'800'000'000'000},
                        {"actor", "system"},
                        {"kind", "rollout.succeeded"},
                        {"subject", "orders@3.2.0"},
                        {"data", {{"environment", "prod"}, {"promotion", 7}}}}));
  ASSERT_NE(request.headers.find("X-Shipd-Signature-256"), request.headers.end());
  // What a receiver computes: HMAC-SHA256 of the exact body with the shared secret.
  EXPECT_EQ(request.headers.find("x-shipd-signature-256")->second,
            "sha256=" + HmacSha256Hex("s3cret", request.body));
  EXPECT_EQ(request.headers.find("X-Shipd-Event")->second, "rollout.succeeded");
  EXPECT_EQ(request.headers.find("X-Shipd-Delivery")->second, "ops/1842");
  EXPECT_EQ(request.headers.find("Content-Type")->second, "application/json");
}

TEST(NotificationRequest, SlackSendsTheSummaryAsTextEscaped) {
  const Event event =
      MakeEvent("rollout.rolled_back", "orders@3.2.0",
                {{"environment", "prod"}, {"reason", "errors 31% > 5% & <rising>"}});
  const HttpRequest request = NotificationRequest(Sink(SinkType::kSlack), event);
  EXPECT_EQ(json::parse(request.body),
            json({{"text",
                   "orders@3.2.0 rolled back in prod: errors 31% &gt; 5% &amp; &lt;rising&gt;"}}));
  EXPECT_EQ(request.headers.find("X-Shipd-Signature-256"), request.headers.end());
  EXPECT_EQ(request.headers.find("X-Shipd-Delivery")->second, "ops/1842");
}

TEST(SinkWants, FiltersByKindEnvironmentAndService) {
  NotificationSink sink = Sink();
  const Event started = MakeEvent("rollout.started", "orders@3.2.0", {{"environment", "prod"}});
  const Event step = MakeEvent("rollout.step", "orders@3.2.0", {{"environment", "prod"}});
  EXPECT_TRUE(SinkWants(sink, started));
  EXPECT_FALSE(SinkWants(sink, step));

  sink.environments = {"prod"};
  sink.services = {"orders"};
  EXPECT_TRUE(SinkWants(sink, started));
  EXPECT_FALSE(
      SinkWants(sink, MakeEvent("rollout.started", "orders@3.2.0", {{"environment", "staging"}})));
  EXPECT_FALSE(
      SinkWants(sink, MakeEvent("rollout.started", "web@5.3.0", {{"environment", "prod"}})));
  // A train names its services in its cars and its environments in its route.
  EXPECT_TRUE(SinkWants(
      sink, MakeEvent("train.departed", "release-42",
                      {{"cars", {"web@5.3.0", "orders@3.2.0"}}, {"route", {"staging", "prod"}}})));
  EXPECT_FALSE(
      SinkWants(sink, MakeEvent("train.departed", "release-42", {{"cars", {"orders@3.2.0"}}})));
  EXPECT_TRUE(
      SinkWants(sink, MakeEvent("train.departed", "release",
                                {{"route", {"prod"}}, {"cars", {{{"car", "orders@3.2.0"}}}}})));
  EXPECT_TRUE(SinkWants(sink, MakeEvent("train.arrived", "release",
                                        {{"environment", "prod"},
                                         {"arrived", {"web@5.3.0"}},
                                         {"left", {"orders@3.2.0"}}})));
  sink.events.push_back("train.car_failed");
  EXPECT_TRUE(SinkWants(sink, MakeEvent("train.car_failed", "release",
                                        {{"environment", "prod"}, {"car", "orders@3.2.0"}})));

  sink.events = {"*"};
  EXPECT_FALSE(
      SinkWants(sink, MakeEvent("notification.failed", "orders@3.2.0", {{"environment", "prod"}})));
}

}  // namespace
}  // namespace shipd

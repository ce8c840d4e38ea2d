// The notifier against a real engine and store in a temporary directory, with a fake HTTP client:
// where a new sink starts, what it sends, how it gives up, and resuming after a restart.
#include "shipd/notify/notifier.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fake_http_client.h"
#include "shipd/common/sha256.h"
#include "support/temp_dir.h"
#include "support/test_engine.h"

namespace shipd {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kPipelines[] = R"(
environments:
  - { name: prod, driver: local, strategy: direct }
strategies:
  direct: { steps: [] }
drivers:
  local: { type: local }
)";

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = testing::StartTestEngine(dir_, kPipelines, clock_);
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    engine_ = std::move(engine).value();
    auto cursors = OpenSqliteNotificationCursors((dir_ / "shipd.db").string());
    ASSERT_TRUE(cursors.ok()) << cursors.error().message();
    cursors_ = std::move(cursors).value();

    sink_.name = "ops";
    sink_.url = "http://127.0.0.1:9/hook";
    sink_.secret = "s3cret";
    sink_.events = {"rollout.started", "rollout.succeeded"};
    sink_.backoff = milliseconds(1);
    sink_.max_backoff = milliseconds(1);
  }
  void TearDown() override {
    notifier_.reset();
    engine_.reset();
  }

  // `http` must outlive the notifier (the tests' clients are locals declared before it stops).
  void StartNotifying(FakeHttpClient& http) {
    auto shared = std::shared_ptr<HttpClient>(&http, [](HttpClient*) {});
    auto notifier = StartNotifier(*engine_, {sink_}, shared, *cursors_, clock_);
    ASSERT_TRUE(notifier.ok()) << notifier.error().message();
    notifier_ = std::move(notifier).value();
  }

  void Record(const std::string& kind, const std::string& subject = "orders@1.0.0") {
    ASSERT_TRUE(engine_
                    ->RecordEvent({"ci", ""}, kind, subject,
                                  json{{"environment", "prod"}, {"promotion", 1}}.dump())
                    .ok());
  }

  // The next journal events of `kind` after `after`, waiting for the first up to 10 s.
  std::vector<Event> WaitForKind(const std::string& kind, int64_t after = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::vector<Event> found;
    while (found.empty() && std::chrono::steady_clock::now() < deadline) {
      auto events = engine_->WaitForEvents(after, 100, milliseconds(500));
      if (!events.ok()) break;
      for (const auto& event : *events) {
        if (event.kind == kind) found.push_back(event);
        after = event.id;
      }
    }
    return found;
  }

  static std::string KindOf(const HttpRequest& request) {
    return json::parse(request.body)["kind"].get<std::string>();
  }

  FakeClock clock_;
  testing::TempDir temp_;
  const std::filesystem::path dir_ = temp_.path();
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<NotificationCursors> cursors_;
  NotificationSink sink_;
  std::unique_ptr<Notifier> notifier_;
};

TEST_F(NotifierTest, ANewSinkStartsAtTheEndAndSendsOnlyWantedKindsInOrder) {
  Record("rollout.succeeded", "orders@0.9.0");  // history: not sent
  FakeHttpClient http;
  StartNotifying(http);
  Record("rollout.started");
  Record("rollout.step");
  Record("rollout.succeeded");
  ASSERT_TRUE(http.WaitForRequests(2));
  notifier_->Stop();
  const auto requests = http.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(KindOf(requests[0]), "rollout.started");
  EXPECT_EQ(KindOf(requests[1]), "rollout.succeeded");
  for (const auto& request : requests) {
    EXPECT_EQ(request.headers.find("X-Shipd-Signature-256")->second,
              "sha256=" + HmacSha256Hex("s3cret", request.body));
  }
  const auto stats = notifier_->Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].delivered, 2u);
  EXPECT_EQ(stats[0].failed, 0u);
}

TEST_F(NotifierTest, GivingUpRecordsNotificationFailedWhichIsNeverSent) {
  sink_.events = {"*"};
  sink_.max_attempts = 3;
  FakeHttpClient http;
  http.set_answer([](const HttpRequest&, size_t) { return FakeHttpClient::Status(500); });
  StartNotifying(http);
  Record("rollout.succeeded");
  const auto failed = WaitForKind("notification.failed");
  ASSERT_EQ(failed.size(), 1u);
  const json data = json::parse(failed[0].data);
  EXPECT_EQ(data["sink"], "ops");
  EXPECT_EQ(data["kind"], "rollout.succeeded");
  EXPECT_EQ(data["attempts"], 3);
  EXPECT_EQ(data["error"], "answered 500: ");
  EXPECT_EQ(failed[0].subject, "orders@1.0.0");

  // The next event is sent; the notification.failed before it is not.
  http.set_answer([](const HttpRequest&, size_t) { return FakeHttpClient::Status(200); });
  Record("rollout.started");
  ASSERT_TRUE(http.WaitForRequests(4));
  notifier_->Stop();
  const auto requests = http.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(KindOf(requests[3]), "rollout.started");
  EXPECT_EQ(notifier_->Stats()[0].failed, 1u);
  EXPECT_EQ(notifier_->Stats()[0].retries, 2u);
  std::string metrics;
  RenderNotifierMetrics(notifier_->Stats(), notifier_->Stats()[0].cursor + 3, metrics);
  EXPECT_NE(metrics.find("# TYPE shipd_notifications_delivered_total counter\n"
                         "shipd_notifications_delivered_total{sink=\"ops\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("shipd_notifications_failed_total{sink=\"ops\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("shipd_notification_retries_total{sink=\"ops\"} 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("shipd_notification_lag_events{sink=\"ops\"} 3\n"), std::string::npos);
}

TEST_F(NotifierTest, AfterARestartWhatWasNotSentIsSentAndWhatWasIsNot) {
  sink_.max_attempts = 1000;
  FakeHttpClient down;
  down.set_answer([](const HttpRequest&, size_t) -> Result<HttpResponse> {
    return Error(ErrorCode::kUnavailable, "connection refused");
  });
  StartNotifying(down);
  Record("rollout.started");
  ASSERT_TRUE(down.WaitForRequests(2));  // retrying
  notifier_->Stop();                     // interrupts the retries; the event is not done with
  notifier_.reset();

  FakeHttpClient up;
  StartNotifying(up);
  ASSERT_TRUE(up.WaitForRequests(1));
  Record("rollout.succeeded");
  ASSERT_TRUE(up.WaitForRequests(2));
  notifier_->Stop();
  notifier_.reset();
  const auto requests = up.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(KindOf(requests[0]), "rollout.started");
  EXPECT_EQ(KindOf(requests[1]), "rollout.succeeded");
  // The same delivery id as the attempts before the restart: receivers can drop repeats.
  EXPECT_EQ(requests[0].headers.find("X-Shipd-Delivery")->second,
            down.Requests()[0].headers.find("X-Shipd-Delivery")->second);

  // Everything was delivered: a third start sends nothing more.
  FakeHttpClient again;
  StartNotifying(again);
  Record("rollout.started", "orders@2.0.0");
  ASSERT_TRUE(again.WaitForRequests(1));
  notifier_->Stop();
  ASSERT_EQ(again.Requests().size(), 1u);
  EXPECT_EQ(json::parse(again.Requests()[0].body)["subject"], "orders@2.0.0");
}

}  // namespace
}  // namespace shipd

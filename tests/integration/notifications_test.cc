// Notifications through the real daemon (docs/notifications.md): receivers on loopback verify the
// signature like a user's endpoint would, answer 500 or hang or are down, and the daemon is killed
// with SIGKILL between delivery attempts. Nothing sleeps: waits are on conditions with timeouts.
#include <csignal>
#include <fstream>
#include <set>

#include "integration/fixture.h"
#include "shipd/common/sha256.h"
#include "support/loopback_server.h"

namespace shipd::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecretVariable[] = "SHIPD_TEST_NOTIFY_SECRET";
constexpr char kSecret[] = "n0tify-s3cret";

// A notification receiver. Verifies each request's signature when it has a secret (401 when it
// does not match), answers 500 to the first `fail_first` requests and 503 while refusing, and can
// hold requests until released. Records every request it answered 2xx.
class Receiver {
 public:
  struct Delivery {
    json body;
    std::string event_header;
    std::string delivery_id;
    std::string signature;
  };

  explicit Receiver(std::string secret = "", int fail_first = 0)
      : secret_(std::move(secret)), fail_first_(fail_first), server_([this](httplib::Server& s) {
          s.Post("/hook",
                 [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
        }) {}
  ~Receiver() { Release(); }  // nothing stays held while the server stops

  std::string Url() const { return server_.Url("/hook"); }

  void Refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refusing_ = refuse;
  }
  void Hold() {
    std::lock_guard lock(mu_);
    holding_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      holding_ = false;
    }
    changed_.notify_all();
  }

  std::vector<Delivery> Accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  // Every request, answered or not, by delivery id.
  std::vector<std::string> Attempts() const {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  int Rejected() const {
    std::lock_guard lock(mu_);
    return rejected_;
  }
  int Held() const {
    std::lock_guard lock(mu_);
    return held_;
  }
  bool WaitForAccepted(size_t count, milliseconds within = seconds(30)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, within, [&] { return accepted_.size() >= count; });
  }
  bool WaitForAttempts(size_t count, milliseconds within = seconds(30)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, within, [&] { return attempts_.size() >= count; });
  }
  bool WaitForHeld(int count, milliseconds within = seconds(30)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, within, [&] { return held_ >= count; });
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock lock(mu_);
    attempts_.push_back(req.get_header_value("X-Shipd-Delivery"));
    changed_.notify_all();
    const std::string signature = req.get_header_value("X-Shipd-Signature-256");
    if (!secret_.empty() &&
        !ConstantTimeEquals(signature, "sha256=" + HmacSha256Hex(secret_, req.body))) {
      ++rejected_;
      res.status = 401;
      return;
    }
    if (static_cast<int>(attempts_.size()) <= fail_first_) {
      res.status = 500;
      return;
    }
    if (refusing_) {
      res.status = 503;
      return;
    }
    if (holding_) {
      ++held_;
      changed_.notify_all();
      changed_.wait_for(lock, seconds(60), [&] { return !holding_; });
    }
    accepted_.push_back({json::parse(req.body, nullptr, false),
                         req.get_header_value("X-Shipd-Event"),
                         req.get_header_value("X-Shipd-Delivery"), signature});
    changed_.notify_all();
    res.status = 204;
  }

  const std::string secret_;
  const int fail_first_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Delivery> accepted_;
  std::vector<std::string> attempts_;
  int rejected_ = 0;
  int held_ = 0;
  bool refusing_ = false;
  bool holding_ = false;
  LoopbackServer server_;  // last: stopped (and its handlers finished) before the rest goes
};

std::vector<std::string> Kinds(const std::vector<Receiver::Delivery>& deliveries) {
  std::vector<std::string> kinds;
  for (const auto& d : deliveries) kinds.push_back(d.body["kind"]);
  return kinds;
}

class NotificationsTest : public DaemonTest {
 protected:
  void SetUp() override {
    admin_ = daemon_.CreateToken("admin-token", "admin");
    daemon_.set_env({{kSecretVariable, kSecret}});
  }

  // Starts the daemon with `notifications` (YAML of the notifications: section, indented by two).
  void StartWith(const std::string& notifications) {
    config_ = dir_.path() / "shipd.yaml";
    std::ofstream(config_) << "notifications:\n" << notifications;
    ASSERT_TRUE(daemon_.Start({"--config", config_.string()})) << daemon_.last_error();
  }
  void Restart() {
    ASSERT_TRUE(daemon_.Start({"--config", config_.string()})) << daemon_.last_error();
  }

  // A service with version 1.0.0 that requires nothing.
  void Register(const std::string& service) {
    ASSERT_EQ(Post("/v1/services", {{"name", service}}).first, 201);
    ASSERT_EQ(Post("/v1/services/" + service + "/versions",
                   {{"version", "1.0.0"}, {"artifact", "example.com/" + service + ":1.0.0"}})
                  .first,
              201);
  }

  static std::string Sink(const std::string& name, const std::string& type, const std::string& url,
                          const std::string& more) {
    std::string out = "  " + name + ":\n    type: " + type + "\n    url: " + url + "\n";
    if (type == "webhook") out += std::string("    secret_env: ") + kSecretVariable + "\n";
    return out + more;
  }

  std::filesystem::path config_;
};

TEST_F(NotificationsTest, WebhookReceiverGetsSignedMessagesOfTheKindsItChose) {
  Receiver receiver(kSecret);
  ASSERT_NO_FATAL_FAILURE(
      StartWith(Sink("ops", "webhook", receiver.Url(),
                     "    events: [rollout.started, rollout.succeeded, promotion.blocked]\n")));
  ASSERT_NO_FATAL_FAILURE(Register("billing"));
  ASSERT_EQ(PromoteAndWait("billing", "1.0.0", "dev")["state"], "succeeded");
  // prod comes after staging: the gate blocks it.
  ASSERT_EQ(Post("/v1/promotions",
                 {{"service", "billing"}, {"version", "1.0.0"}, {"environment", "prod"}})
                .first,
            409);

  // A sink sends in journal order, so once the blocked promotion arrived everything before it
  // was judged: rollout.created, rollout.step and the rest were not wanted.
  ASSERT_TRUE(receiver.WaitForAccepted(3));
  const auto deliveries = receiver.Accepted();
  EXPECT_EQ(Kinds(deliveries), (std::vector<std::string>{"rollout.started", "rollout.succeeded",
                                                         "promotion.blocked"}));
  EXPECT_EQ(receiver.Rejected(), 0);
  std::set<std::string> ids;
  for (const auto& d : deliveries) {
    EXPECT_EQ(d.event_header, d.body["kind"]);
    EXPECT_EQ(d.delivery_id, "ops/" + std::to_string(d.body["id"].get<int64_t>()));
    ids.insert(d.delivery_id);
    EXPECT_EQ(d.body["subject"], "billing@1.0.0");
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(deliveries[1].body["data"]["environment"], "dev");
  EXPECT_EQ(deliveries[2].body["data"]["environment"], "prod");
  EXPECT_EQ(deliveries[2].body["data"]["verdict"]["allowed"], false);

  // The body is the event exactly as the journal has it.
  const auto [status, journal] =
      Get("/v1/events?after=" + std::to_string(deliveries[2].body["id"].get<int64_t>() - 1) +
          "&limit=1");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(journal["events"][0], deliveries[2].body);

  auto metrics = daemon_.Client(admin_)->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("shipd_notifications_delivered_total{sink=\"ops\"}"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("shipd_notification_lag_events{sink=\"ops\"}"), std::string::npos);
}

TEST_F(NotificationsTest, AReceiverThatAnswers500FirstGetsTheRetry) {
  Receiver receiver(kSecret, /*fail_first=*/2);
  ASSERT_NO_FATAL_FAILURE(StartWith(Sink("ops", "webhook", receiver.Url(),
                                         "    events: [rollout.succeeded]\n"
                                         "    backoff: 10ms\n")));
  ASSERT_NO_FATAL_FAILURE(Register("billing"));
  ASSERT_EQ(PromoteAndWait("billing", "1.0.0", "dev")["state"], "succeeded");
  ASSERT_TRUE(receiver.WaitForAccepted(1));
  const auto attempts = receiver.Attempts();
  ASSERT_EQ(attempts.size(), 3u);
  // Every attempt carries the same delivery id.
  EXPECT_EQ(attempts[0], attempts[2]);
  EXPECT_EQ(attempts[1], attempts[2]);
  EXPECT_EQ(Kinds(receiver.Accepted()), std::vector<std::string>{"rollout.succeeded"});
}

TEST_F(NotificationsTest, SlackReceiverGetsAOneLineSummary) {
  Receiver receiver;                           // Slack does not verify signatures
  daemon_.set_working_directory(SourceDir());  // the exec driver is tests/data/drivers/...
  daemon_.set_pipelines(SourceDir() / "tests" / "data" / "pipelines" / "rollouts" /
                        "exec_driver_fails.yaml");
  ASSERT_NO_FATAL_FAILURE(
      StartWith(Sink("chat", "slack", receiver.Url(), "    events: [rollout.rolled_back]\n")));
  ASSERT_NO_FATAL_FAILURE(Register("orders"));
  ASSERT_EQ(PromoteAndWait("orders", "1.0.0", "qa")["state"], "rolled_back");
  ASSERT_TRUE(receiver.WaitForAccepted(1));
  const auto delivery = receiver.Accepted().front();
  ASSERT_TRUE(delivery.body.is_object()) << delivery.body;
  ASSERT_EQ(delivery.body.size(), 1u) << delivery.body;
  const std::string text = delivery.body["text"];
  EXPECT_EQ(text.rfind("orders@1.0.0 rolled back in qa: the driver failed to weight", 0), 0u)
      << text;
  EXPECT_NE(text.find("fail_on_weight: refusing 25% for orders@1.0.0 in qa"), std::string::npos)
      << text;
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_EQ(delivery.event_header, "rollout.rolled_back");
  EXPECT_TRUE(delivery.signature.empty());
}

TEST_F(NotificationsTest, TrainDepartureAndArrivalReachAChatChannel) {
  Receiver receiver;
  ASSERT_NO_FATAL_FAILURE(StartWith(
      Sink("chat", "slack", receiver.Url(), "    events: [train.departed, train.arrived]\n")));
  ASSERT_NO_FATAL_FAILURE(Register("billing"));
  ASSERT_EQ(Post("/v1/trains", {{"name", "release"}, {"route", {"dev", "staging"}}}).first, 201);
  ASSERT_EQ(Post("/v1/trains/release/cars", {{"cars", {"billing@1.0.0"}}}).first, 201);
  ASSERT_EQ(Post("/v1/trains/release/depart", json::object()).first, 200);
  ASSERT_TRUE(receiver.WaitForAccepted(2));
  const auto deliveries = receiver.Accepted();
  EXPECT_EQ(deliveries[0].event_header, "train.departed");
  EXPECT_EQ(deliveries[0].body,
            json({{"text", "train release trip 1 departed for dev, staging: billing@1.0.0"}}));
  EXPECT_EQ(deliveries[1].event_header, "train.arrived");
  EXPECT_EQ(deliveries[1].body,
            json({{"text", "train release trip 1 arrived in staging: billing@1.0.0"}}));
}

TEST_F(NotificationsTest, AHangingOrDeadReceiverDelaysNeitherPromotionsNorOtherSinks) {
  Receiver hanging(kSecret);
  hanging.Hold();
  Receiver healthy(kSecret);
  std::string dead_url;
  {
    Receiver gone;  // its port is free again once it is destroyed: connections are refused
    dead_url = gone.Url();
  }
  ASSERT_NO_FATAL_FAILURE(
      StartWith(Sink("hanging", "webhook", hanging.Url(), "    timeout: 60s\n") +
                Sink("dead", "webhook", dead_url, "    max_attempts: 1000\n    backoff: 50ms\n") +
                Sink("healthy", "webhook", healthy.Url(), "")));
  ASSERT_NO_FATAL_FAILURE(Register("billing"));

  ASSERT_EQ(PromoteAndWait("billing", "1.0.0", "dev")["state"], "succeeded");
  ASSERT_TRUE(hanging.WaitForHeld(1));  // its first notification is stuck in the receiver
  ASSERT_EQ(PromoteAndWait("billing", "1.0.0", "staging")["state"], "succeeded");
  ASSERT_EQ(PromoteAndWait("billing", "1.0.0", "prod")["state"], "succeeded");

  // The other sink has everything, while the hanging one still holds its first request.
  ASSERT_TRUE(healthy.WaitForAccepted(6));
  EXPECT_EQ(
      Kinds(healthy.Accepted()),
      (std::vector<std::string>{"rollout.started", "rollout.succeeded", "rollout.started",
                                "rollout.succeeded", "rollout.started", "rollout.succeeded"}));
  EXPECT_EQ(hanging.Held(), 1);
  EXPECT_TRUE(hanging.Accepted().empty());

  // Released, the hanging receiver catches up, in order.
  hanging.Release();
  ASSERT_TRUE(hanging.WaitForAccepted(6));
  EXPECT_EQ(Kinds(hanging.Accepted()), Kinds(healthy.Accepted()));

  // SIGTERM while the dead sink is between retries: a clean exit.
  EXPECT_EQ(daemon_.Stop(SIGTERM), 0) << daemon_.StderrLog();
}

TEST_F(NotificationsTest, AfterKill9EventsNotYetDeliveredAreDelivered) {
  Receiver receiver(kSecret);
  receiver.Refuse(true);
  ASSERT_NO_FATAL_FAILURE(StartWith(Sink("ops", "webhook", receiver.Url(),
                                         "    events: [rollout.started, rollout.succeeded]\n"
                                         "    max_attempts: 1000\n"
                                         "    backoff: 20ms\n"
                                         "    max_backoff: 100ms\n")));
  ASSERT_NO_FATAL_FAILURE(Register("billing"));
  ASSERT_EQ(PromoteAndWait("billing", "1.0.0", "dev")["state"], "succeeded");
  ASSERT_TRUE(receiver.WaitForAttempts(2));  // refused, and retried
  ASSERT_EQ(daemon_.Stop(SIGKILL), 128 + SIGKILL);
  EXPECT_TRUE(receiver.Accepted().empty());

  receiver.Refuse(false);
  ASSERT_NO_FATAL_FAILURE(Restart());
  ASSERT_TRUE(receiver.WaitForAccepted(2)) << daemon_.StderrLog();
  const auto deliveries = receiver.Accepted();
  EXPECT_EQ(Kinds(deliveries), (std::vector<std::string>{"rollout.started", "rollout.succeeded"}));
  EXPECT_EQ(receiver.Rejected(), 0);  // every one signed
  // The first attempts before the kill carried the same delivery id as the one accepted.
  EXPECT_EQ(receiver.Attempts().front(), deliveries.front().delivery_id);
}

TEST_F(NotificationsTest, ABadNotificationsSectionStopsTheDaemonWithFileLineAndColumn) {
  config_ = dir_.path() / "shipd.yaml";
  std::ofstream(config_) << "notifications:\n  ops:\n    type: webhook\n"
                            "    url: http://127.0.0.1:9/hook\n"
                            "    secret_env: SHIPD_TEST_NOTIFY_SECRET\n"
                            "    events: [rollout.sucseeded]\n";
  EXPECT_FALSE(daemon_.Start({"--config", config_.string()}));
  EXPECT_NE(daemon_.last_error().find("shipd.yaml:6:14: notification \"ops\": unknown event kind "
                                      "\"rollout.sucseeded\""),
            std::string::npos)
      << daemon_.last_error();
}

}  // namespace
}  // namespace shipd::testing

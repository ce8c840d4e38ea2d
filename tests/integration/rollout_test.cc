// Rollouts through the real daemon: the local driver running demo-service versions behind its
// weighted proxy (the test sends the traffic), failing http and traffic checks, an exec driver
// that fails, rollouts queueing per service × environment, the lifecycle rules, and the webhook
// driver's signed requests verified by a receiver in the test. Each test has its own pipelines in
// tests/data/pipelines/rollouts/ (written into its temp dir when it needs a port); steps last
// about a second. Nothing sleeps: waits long-poll the journal or wait on a condition.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "integration/fixture.h"
#include "shipd/common/sha256.h"
#include "support/loopback_server.h"

namespace shipd::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::filesystem::path RolloutPipelines(const std::string& name) {
  return SourceDir() / "tests" / "data" / "pipelines" / "rollouts" / name;
}

// Command lines (NULs shown as spaces) of the processes on this machine that contain every one
// of `parts`.
std::vector<std::string> ProcessesWith(const std::vector<std::string>& parts) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    bool all = !cmdline.empty();
    for (const auto& part : parts) all = all && cmdline.find(part) != std::string::npos;
    if (all) found.push_back(pid + ": " + cmdline);
  }
  return found;
}

// Sends GET / to `url` (a driver's proxy) from a background thread until destroyed, and counts
// the answers by the version that served them (the proxy's X-Shipd-Version header).
class TrafficGenerator {
 public:
  struct Tally {
    int64_t answers = 0;
    int64_t errors = 0;  // 5xx, or no answer
  };

  explicit TrafficGenerator(std::string url) : url_(std::move(url)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~TrafficGenerator() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  TrafficGenerator(const TrafficGenerator&) = delete;
  TrafficGenerator& operator=(const TrafficGenerator&) = delete;

  // Waits until `count` more answers than now have arrived; false when `within` passed first.
  bool WaitForMore(int64_t count, milliseconds within = seconds(30)) {
    std::unique_lock lock(mu_);
    const int64_t target = total_ + count;
    return changed_.wait_for(lock, within, [&] { return total_ >= target; });
  }
  const std::string& url() const { return url_; }
  std::map<std::string, Tally> ByVersion() const {
    std::lock_guard lock(mu_);
    return by_version_;
  }

 private:
  void Run() {
    httplib::Client client(url_);
    client.set_keep_alive(true);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      auto answer = client.Get("/");
      lock.lock();
      const std::string version =
          answer ? answer->get_header_value("X-Shipd-Version", 0) : std::string("(no answer)");
      Tally& tally = by_version_[version.empty() ? "(none)" : version];
      ++tally.answers;
      if (!answer || answer->status >= 500) ++tally.errors;
      ++total_;
      changed_.notify_all();
      // Paced rather than flat out: the daemon, its proxy and the versions share the machine
      // with this thread. A few hundred requests a second is plenty for the checks.
      changed_.wait_for(lock, milliseconds(2), [this] { return stop_; });
    }
  }

  const std::string url_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stop_ = false;
  int64_t total_ = 0;
  std::map<std::string, Tally> by_version_;
  std::thread thread_;  // last: starts after everything it uses
};

class DaemonRolloutTest : public DaemonTest {
 protected:
  // Each test starts the daemon itself, with its own pipelines.
  void SetUp() override {}

  void StartDaemon(const std::filesystem::path& pipelines,
                   std::map<std::string, std::string> env = {}) {
    daemon_.set_pipelines(pipelines);
    daemon_.set_env(std::move(env));
    daemon_.set_working_directory(SourceDir());  // exec commands name tests/data/... paths
    DaemonTest::SetUp();
    ASSERT_EQ(Post("/v1/services", {{"name", service_}}).first, 201);
  }

  void AddVersion(const std::string& version, const std::string& artifact) {
    auto [status, body] = Post("/v1/services/" + service_ + "/versions",
                               {{"version", version}, {"artifact", artifact}});
    ASSERT_EQ(status, 201) << body.dump();
  }
  // A demo-service command line for the local driver; `flags` are added at the end.
  std::string DemoService(const std::string& version, const std::string& flags = "") const {
    return "demo-service --name " + service_ + " --version " + version + " --port {{port}}" + flags;
  }

  // Requests a promotion as CI would; returns the rollout's id, 0 when none was created.
  int64_t Promote(const std::string& version, const std::string& environment = "qa") {
    auto [status, body] = Post(
        "/v1/promotions",
        {{"service", service_}, {"version", version}, {"environment", environment}}, deployer_);
    EXPECT_EQ(status, 201) << body.dump();
    return status == 201 ? body["id"].get<int64_t>() : 0;
  }

  // Every event of rollout `id` so far, in journal order.
  std::vector<json> EventsOf(int64_t id) {
    std::vector<json> out;
    int64_t after = 0;
    while (true) {
      const json events =
          Get("/v1/events?limit=1000&after=" + std::to_string(after)).second["events"];
      if (!events.is_array() || events.empty()) return out;
      for (const auto& event : events) {
        if (event["data"].value("promotion", int64_t{0}) == id) out.push_back(event);
      }
      after = events.back()["id"].get<int64_t>();
    }
  }
  static std::vector<std::string> Kinds(const std::vector<json>& events) {
    std::vector<std::string> kinds;
    for (const auto& event : events) kinds.push_back(event["kind"]);
    return kinds;
  }
  static json First(const std::vector<json>& events, const std::string& kind) {
    for (const auto& event : events) {
      if (event["kind"] == kind) return event;
    }
    return nullptr;
  }

  // Waits (long-polling the journal) for the first event of rollout `id` of `kind`; returns it,
  // or null when the rollout finished without one or `within` passed.
  json WaitForEvent(int64_t id, const std::string& kind, milliseconds within = seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    int64_t after = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const json events =
          Get("/v1/events?limit=1000&wait_ms=5000&after=" + std::to_string(after)).second["events"];
      if (!events.is_array()) return nullptr;
      for (const auto& event : events) {
        after = event["id"].get<int64_t>();
        if (event["data"].value("promotion", int64_t{0}) != id) continue;
        if (event["kind"] == kind) return event;
        static const std::set<std::string> kFinal = {"rollout.succeeded", "rollout.rolled_back",
                                                     "rollout.failed", "rollout.aborted"};
        if (kFinal.count(event["kind"]) != 0) return nullptr;
      }
    }
    return nullptr;
  }

  // Waits until rollout `id` finished, or paused (no test here expects a pause: it would
  // otherwise be waited on until the deadline); returns it as GET /v1/promotions/{id} shows it.
  json Outcome(int64_t id) {
    if (id == 0) return nullptr;
    WaitForEvent(id, "rollout.paused");  // returns when it finished, too
    return Get("/v1/promotions/" + std::to_string(id)).second;
  }

  // The local driver's proxy for this service in qa (its {{stable_url}}), as the environment
  // shows it once rollout `id` has set its first weight; empty when it did not get that far.
  std::string ProxyUrl(int64_t id) {
    if (WaitForEvent(id, "rollout.weight_set").is_null()) return "";
    const json live = Live();
    return live.contains("urls") ? live["urls"].value("stable_url", "") : "";
  }

  json Live(const std::string& environment = "qa") {
    const json env = Get("/v1/environments/" + environment).second;
    for (const auto& live : env["live"]) {
      if (live["service"] == service_) return live;
    }
    return nullptr;
  }

  // The service's demo-service processes of `version` still running.
  std::vector<std::string> Running(const std::string& version) const {
    return ProcessesWith({"demo-service", "--name " + service_ + " ", "--version " + version});
  }

  // 1.0.0 as the first, stable version in qa, through the same canary steps, with traffic
  // flowing through the proxy from then on (returned) so that traffic checks have something to
  // judge. The traffic starts as soon as the proxy's URL is known, after the first weight step.
  std::unique_ptr<TrafficGenerator> StableWithTraffic() {
    const int64_t id = Promote("1.0.0");
    const std::string proxy = ProxyUrl(id);
    EXPECT_FALSE(proxy.empty()) << json(EventsOf(id)).dump(1);
    if (proxy.empty()) return nullptr;
    auto traffic = std::make_unique<TrafficGenerator>(proxy);
    const json done = Outcome(id);
    EXPECT_EQ(done["state"], "succeeded") << json(EventsOf(id)).dump(1);
    return traffic;
  }

  const std::string service_ =
      "orders-" + std::to_string(::getpid()) + "-" + std::to_string(++instances_);
  static inline int instances_ = 0;
};

TEST_F(DaemonRolloutTest, CanaryThroughTheLocalDriverSucceeds) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(RolloutPipelines("local_canary.yaml")));
  AddVersion("1.0.0", DemoService("1.0.0"));
  AddVersion("1.1.0", DemoService("1.1.0"));
  auto traffic = StableWithTraffic();
  ASSERT_NE(traffic, nullptr);
  const std::string traffic_url = traffic->url();
  ASSERT_FALSE(Running("1.0.0").empty());

  const int64_t id = Promote("1.1.0");
  ASSERT_NE(id, 0);
  const json done = Outcome(id);
  const auto events = EventsOf(id);
  ASSERT_EQ(done["state"], "succeeded") << json(events).dump(1);

  // Every step in order, and nothing else: no check measured anything but a pass.
  EXPECT_EQ(
      Kinds(events),
      (std::vector<std::string>{
          "rollout.created", "rollout.started", "rollout.step", "rollout.weight_set",
          "rollout.step", "rollout.analysis_passed", "rollout.step", "rollout.weight_set",
          "rollout.step", "rollout.analysis_passed", "rollout.promoting", "rollout.succeeded"}));
  std::vector<std::tuple<int, std::string, int>> steps;  // step, type, weight
  for (const auto& event : events) {
    if (event["kind"] != "rollout.step") continue;
    steps.emplace_back(event["data"]["step"], event["data"]["type"], event["data"]["weight"]);
  }
  EXPECT_EQ(steps,
            (std::vector<std::tuple<int, std::string, int>>{
                {0, "weight", 25}, {1, "analyze", 25}, {2, "weight", 50}, {3, "analyze", 50}}));
  std::vector<int> weights;
  for (const auto& event : events) {
    if (event["kind"] == "rollout.weight_set") weights.push_back(event["data"]["weight"]);
  }
  EXPECT_EQ(weights, (std::vector<int>{25, 50}));
  for (const auto& event : events) {
    if (event["kind"] != "rollout.analysis_passed") continue;
    const json& checks = event["data"]["checks"];
    EXPECT_EQ(checks["healthz"]["last_result"], "pass") << checks;
    EXPECT_GE(checks["healthz"]["measurements"], 2) << checks;
    EXPECT_NE(checks["healthz"]["last_detail"].get<std::string>().find("HTTP 200"),
              std::string::npos);
    EXPECT_EQ(checks["errors"]["last_result"], "pass") << checks;
    EXPECT_NE(checks["errors"]["last_detail"].get<std::string>().find("error rate 0 "),
              std::string::npos)
        << checks;
  }
  EXPECT_EQ(done["progress"]["previous_version"], "1.0.0") << done;
  EXPECT_EQ(done["progress"]["weight"], 100) << done;
  EXPECT_EQ(First(events, "rollout.succeeded")["data"]["previous"], "1.0.0");
  EXPECT_EQ(First(events, "rollout.started")["data"]["previous"], "1.0.0");

  const json live = Live();
  EXPECT_EQ(live["stable"], "1.1.0") << live;
  EXPECT_TRUE(live["canary"].is_null()) << live;
  EXPECT_EQ(live["urls"]["stable_url"], traffic_url) << live;  // the same proxy throughout

  // Both versions served the test's traffic. Once the request that may have been on its way
  // during the promotion is back, only 1.1.0 answers, and 1.0.0's process is gone.
  const auto during = traffic->ByVersion();
  ASSERT_EQ(during.count("1.0.0"), 1u);
  ASSERT_EQ(during.count("1.1.0"), 1u);
  ASSERT_TRUE(traffic->WaitForMore(1));
  const auto settled = traffic->ByVersion();
  ASSERT_TRUE(traffic->WaitForMore(20));
  const auto after = traffic->ByVersion();
  // At least the 20 waited for: the traffic thread may finish one more before it is read.
  EXPECT_GE(after.at("1.1.0").answers - settled.at("1.1.0").answers, 20);
  EXPECT_EQ(after.at("1.0.0").answers, settled.at("1.0.0").answers);
  EXPECT_EQ(after.size(), 2u);  // no answers without a version (the proxy's own 503)
  EXPECT_EQ(after.at("1.1.0").errors, 0);
  // The local driver stops the old stable right after routing away from it, without waiting for
  // requests in flight: the one request this thread may have had there then fails (502).
  EXPECT_LE(after.at("1.0.0").errors, 1);
  EXPECT_EQ(Running("1.0.0"), std::vector<std::string>{});
  EXPECT_EQ(Running("1.1.0").size(), 1u);
}

TEST_F(DaemonRolloutTest, FailingHttpCheckRollsBackWithTheMeasurements) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(RolloutPipelines("http_check_fails.yaml")));
  AddVersion("1.0.0", DemoService("1.0.0"));
  AddVersion("1.1.0", DemoService("1.1.0", " --fail-healthz"));
  ASSERT_EQ(Outcome(Promote("1.0.0"))["state"], "succeeded");

  const int64_t id = Promote("1.1.0");
  const json done = Outcome(id);
  const auto events = EventsOf(id);
  ASSERT_EQ(done["state"], "rolled_back") << json(events).dump(1);

  const json failed = First(events, "check.failed")["data"];
  EXPECT_EQ(failed["check"], "healthz") << failed;
  EXPECT_EQ(failed["result"], "fail");
  EXPECT_TRUE(failed["value"].is_number()) << failed;  // the latency of the 503 answer
  EXPECT_NE(failed["detail"].get<std::string>().find("HTTP 503"), std::string::npos) << failed;
  EXPECT_NE(failed["detail"].get<std::string>().find("unhealthy"), std::string::npos) << failed;
  EXPECT_EQ(failed["failures"], 1);
  EXPECT_EQ(failed["failure_limit"], 2);
  EXPECT_EQ(failed["weight"], 25);

  const json rolling_back = First(events, "rollout.rolling_back")["data"];
  EXPECT_EQ(rolling_back["check"], "healthz");
  EXPECT_TRUE(rolling_back["value"].is_number()) << rolling_back;
  const json rolled_back = First(events, "rollout.rolled_back")["data"];
  const std::string reason = rolled_back["reason"];
  EXPECT_NE(reason.find("check healthz failed 2 of 2 measurements: HTTP 503"), std::string::npos)
      << reason;
  EXPECT_EQ(rolled_back["checks"]["healthz"]["failures"], 2) << rolled_back;
  EXPECT_TRUE(rolled_back["checks"]["healthz"]["last_value"].is_number()) << rolled_back;
  EXPECT_NE(rolled_back["checks"]["healthz"]["last_detail"].get<std::string>().find("HTTP 503"),
            std::string::npos)
      << rolled_back;

  const json live = Live();
  EXPECT_EQ(live["stable"], "1.0.0") << live;
  EXPECT_TRUE(live["canary"].is_null()) << live;
  EXPECT_EQ(Running("1.1.0"), std::vector<std::string>{});
  EXPECT_EQ(Running("1.0.0").size(), 1u);
}

TEST_F(DaemonRolloutTest, FailingTrafficCheckRollsBackOnTheErrorRate) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(RolloutPipelines("traffic_check_fails.yaml")));
  AddVersion("1.0.0", DemoService("1.0.0"));
  AddVersion("1.1.0", DemoService("1.1.0", " --error-rate 0.5"));
  auto traffic = StableWithTraffic();
  ASSERT_NE(traffic, nullptr);

  const int64_t id = Promote("1.1.0");
  const json done = Outcome(id);
  const auto events = EventsOf(id);
  ASSERT_EQ(done["state"], "rolled_back") << json(events).dump(1);

  const json rolling_back = First(events, "rollout.rolling_back")["data"];
  EXPECT_EQ(rolling_back["check"], "errors") << rolling_back;
  // Every second answer of the canary is a 500: the measured rate is about 0.5.
  ASSERT_TRUE(rolling_back["value"].is_number()) << rolling_back;
  EXPECT_NEAR(rolling_back["value"].get<double>(), 0.5, 0.1) << rolling_back;
  const json rolled_back = First(events, "rollout.rolled_back")["data"];
  const std::string reason = rolled_back["reason"];
  EXPECT_NE(reason.find("check errors failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("error rate 0."), std::string::npos) << reason;  // 0.49 (24/49), 0.5 ...
  EXPECT_NE(reason.find("> 0.1"), std::string::npos) << reason;
  EXPECT_EQ(rolled_back["checks"]["errors"]["last_result"], "fail") << rolled_back;

  const json live = Live();
  EXPECT_EQ(live["stable"], "1.0.0") << live;
  EXPECT_TRUE(live["canary"].is_null()) << live;
  EXPECT_EQ(Running("1.1.0"), std::vector<std::string>{});
  EXPECT_EQ(Running("1.0.0").size(), 1u);
  // The stable answered everything it got; the canary's errors reached the test too.
  ASSERT_TRUE(traffic->WaitForMore(20));
  const auto seen = traffic->ByVersion();
  EXPECT_EQ(seen.at("1.0.0").errors, 0);
  ASSERT_EQ(seen.count("1.1.0"), 1u);
  EXPECT_GT(seen.at("1.1.0").errors, 0);
}

TEST_F(DaemonRolloutTest, FailingExecDriverRollsBackWithItsOutput) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(RolloutPipelines("exec_driver_fails.yaml")));
  AddVersion("1.0.0", "registry.example.com/orders:1.0.0");

  const int64_t id = Promote("1.0.0");
  const json done = Outcome(id);
  const auto events = EventsOf(id);
  ASSERT_EQ(done["state"], "rolled_back") << json(events).dump(1);
  EXPECT_EQ(Kinds(events),
            (std::vector<std::string>{"rollout.created", "rollout.started", "rollout.step",
                                      "rollout.rolling_back", "rollout.rolled_back"}));

  // The reason carries the command's exit status and what it printed.
  const std::string refusal = "fail_on_weight: refusing 25% for " + service_ + "@1.0.0 in qa";
  const json rolling_back = First(events, "rollout.rolling_back")["data"];
  const std::string reason = rolling_back["reason"];
  EXPECT_NE(reason.find("the driver failed to weight"), std::string::npos) << reason;
  EXPECT_NE(reason.find("exited with 1"), std::string::npos) << reason;
  EXPECT_NE(reason.find(refusal), std::string::npos) << reason;
  // The detail is what the driver last applied: the deploy, at 0 %.
  EXPECT_NE(rolling_back["detail"].get<std::string>().find("deploy " + service_ + "@1.0.0 at 0%"),
            std::string::npos)
      << rolling_back;
  const json rolled_back = First(events, "rollout.rolled_back")["data"];
  EXPECT_NE(rolled_back["reason"].get<std::string>().find(refusal), std::string::npos)
      << rolled_back;
  EXPECT_NE(rolled_back["detail"].get<std::string>().find("rollback " + service_ + "@1.0.0"),
            std::string::npos)
      << rolled_back;

  // A first deploy rolled back leaves nothing live: the service is not listed.
  EXPECT_TRUE(Live().is_null()) << Live();
}

// A receiver for the webhook driver: verifies each request's signature against the secret it
// expects (401 when it does not match), records the verified ones, and can hold promotions until
// the test lets them go.
class WebhookReceiver {
 public:
  struct Delivery {
    json body;
    std::string action_header;
    std::string idempotency_key;
  };

  explicit WebhookReceiver(std::string secret)
      : secret_(std::move(secret)), server_([this](httplib::Server& server) {
          server.Post(
              R"(/deploy/([a-z0-9-]+))",
              [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
        }) {}
  ~WebhookReceiver() { Release(1000); }  // nothing stays held while the server stops

  std::string Url() const { return server_.Url("/deploy/{{service}}"); }
  std::string Origin() const { return server_.Origin(); }

  std::vector<Delivery> Deliveries() const {
    std::lock_guard lock(mu_);
    return deliveries_;
  }
  int Rejected() const {
    std::lock_guard lock(mu_);
    return rejected_;
  }
  // From now on, promote requests wait until Release() lets them go.
  void HoldPromotions() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  // Waits until `count` promote requests have arrived in all; false when `within` passed first.
  bool WaitForPromotions(int count, milliseconds within = seconds(60)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, within, [&] { return promotions_arrived_ >= count; });
  }
  void Release(int count = 1) {
    std::lock_guard lock(mu_);
    released_ += count;
    changed_.notify_all();
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    const std::string expected = "sha256=" + HmacSha256Hex(secret_, req.body);
    const std::string signature = req.get_header_value("X-Shipd-Signature-256");
    std::unique_lock lock(mu_);
    if (!ConstantTimeEquals(expected, signature)) {
      ++rejected_;
      res.status = 401;
      res.set_content("bad signature", "text/plain");
      return;
    }
    deliveries_.push_back({json::parse(req.body, nullptr, false),
                           req.get_header_value("X-Shipd-Action"),
                           req.get_header_value("Idempotency-Key")});
    if (deliveries_.back().action_header == "promote") {
      const int number = ++promotions_arrived_;
      changed_.notify_all();
      // Held at most 20 s, below the driver's 30 s per attempt, so a test that fails early does
      // not leave the daemon retrying.
      if (hold_) changed_.wait_for(lock, seconds(20), [&] { return released_ >= number; });
    }
    res.set_content(R"({"ok": true})", "application/json");
  }

  const std::string secret_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Delivery> deliveries_;
  int rejected_ = 0;
  bool hold_ = false;
  int promotions_arrived_ = 0;
  int released_ = 0;
  LoopbackServer server_;  // last: stopped (and its handlers finished) before the rest goes
};

constexpr char kHookSecretVariable[] = "SHIPD_TEST_HOOK_SECRET";
constexpr char kHookSecret[] = "s3cr3t-for-the-rollout-test";

// Pipelines for the webhook driver posting to `receiver`, signed with kHookSecretVariable.
std::filesystem::path WebhookPipelines(const std::filesystem::path& dir,
                                       const WebhookReceiver& receiver,
                                       const std::string& strategy) {
  const auto path = dir / "webhook.yaml";
  std::ofstream(path) << "environments:\n"
                         "  - { name: qa, driver: hook, strategy: "
                      << strategy
                      << " }\n"
                         "strategies:\n"
                         "  direct: { steps: [] }\n"
                         "  canary:\n"
                         "    steps:\n"
                         "      - weight: 25\n"
                         "      - weight: 75\n"
                         "drivers:\n"
                         "  hook: { type: webhook, url: \""
                      << receiver.Url() << "\", secret_env: " << kHookSecretVariable << " }\n";
  return path;
}

TEST_F(DaemonRolloutTest, WebhookDriverSignsEveryOperation) {
  WebhookReceiver receiver(kHookSecret);
  ASSERT_NO_FATAL_FAILURE(StartDaemon(WebhookPipelines(dir_.path(), receiver, "canary"),
                                      {{kHookSecretVariable, kHookSecret}}));
  AddVersion("1.0.0", "registry.example.com/orders:1.0.0");
  AddVersion("1.1.0", "registry.example.com/orders:1.1.0");
  ASSERT_EQ(Outcome(Promote("1.0.0"))["state"], "succeeded");
  const int64_t id = Promote("1.1.0");
  const json done = Outcome(id);
  ASSERT_EQ(done["state"], "succeeded") << json(EventsOf(id)).dump(1);

  // Both rollouts, every operation, each signed correctly (the receiver rejected nothing).
  EXPECT_EQ(receiver.Rejected(), 0);
  const auto deliveries = receiver.Deliveries();
  std::vector<std::tuple<std::string, std::string, int>> operations;  // action, version, weight
  std::set<std::string> keys;
  for (const auto& d : deliveries) {
    operations.emplace_back(d.body["action"], d.body["version"], d.body["weight"]);
    EXPECT_EQ(d.action_header, d.body["action"]);
    keys.insert(d.idempotency_key);
  }
  EXPECT_EQ(operations,
            (std::vector<std::tuple<std::string, std::string, int>>{{"deploy", "1.0.0", 0},
                                                                    {"weight", "1.0.0", 25},
                                                                    {"weight", "1.0.0", 75},
                                                                    {"promote", "1.0.0", 100},
                                                                    {"deploy", "1.1.0", 0},
                                                                    {"weight", "1.1.0", 25},
                                                                    {"weight", "1.1.0", 75},
                                                                    {"promote", "1.1.0", 100}}));
  EXPECT_EQ(keys.size(), deliveries.size()) << "one idempotency key per operation";
  ASSERT_EQ(deliveries.size(), 8u);
  // The body as documented: every field, keys in order, no spaces.
  EXPECT_EQ(deliveries[5].body.dump(),
            json({{"action", "weight"},
                  {"artifact", "registry.example.com/orders:1.1.0"},
                  {"environment", "qa"},
                  {"previous_artifact", "registry.example.com/orders:1.0.0"},
                  {"previous_version", "1.0.0"},
                  {"service", service_},
                  {"version", "1.1.0"},
                  {"weight", 25}})
                .dump());
  EXPECT_EQ(deliveries[5].idempotency_key, "rollout-" + std::to_string(id) + "-weight-0");

  // The receiver does check: unsigned and wrongly signed requests are turned away.
  httplib::Client client(receiver.Origin());
  const std::string body = deliveries[5].body.dump();
  EXPECT_EQ(client.Post("/deploy/" + service_, body, "application/json")->status, 401);
  httplib::Headers forged = {
      {"X-Shipd-Signature-256", "sha256=" + HmacSha256Hex("not-the-secret", body)}};
  EXPECT_EQ(client.Post("/deploy/" + service_, forged, body, "application/json")->status, 401);
  EXPECT_EQ(receiver.Rejected(), 2);
}

TEST_F(DaemonRolloutTest, WebhookReceiverRejectingTheSignatureFailsTheRollout) {
  WebhookReceiver receiver("the-receiver-expects-another-secret");
  ASSERT_NO_FATAL_FAILURE(StartDaemon(WebhookPipelines(dir_.path(), receiver, "canary"),
                                      {{kHookSecretVariable, kHookSecret}}));
  AddVersion("1.0.0", "registry.example.com/orders:1.0.0");
  const int64_t id = Promote("1.0.0");
  const json done = Outcome(id);
  const auto events = EventsOf(id);
  // The deploy is refused with 401 (not retried), and so is the rollback that follows: the
  // driver's state needs a person, so the rollout is failed rather than rolled back.
  ASSERT_EQ(done["state"], "failed") << json(events).dump(1);
  EXPECT_TRUE(receiver.Deliveries().empty());
  EXPECT_EQ(receiver.Rejected(), 2);
  const json rolling_back = First(events, "rollout.rolling_back")["data"];
  EXPECT_NE(rolling_back["reason"].get<std::string>().find("the driver failed to deploy"),
            std::string::npos)
      << rolling_back;
  EXPECT_NE(rolling_back["reason"].get<std::string>().find("answered 401: bad signature"),
            std::string::npos)
      << rolling_back;
  const json failed = First(events, "rollout.failed")["data"];
  EXPECT_NE(failed["reason"].get<std::string>().find("could not roll back"), std::string::npos)
      << failed;
  EXPECT_NE(failed["reason"].get<std::string>().find("401"), std::string::npos) << failed;
  EXPECT_NE(failed["cause"].get<std::string>().find("deploy"), std::string::npos) << failed;
}

TEST_F(DaemonRolloutTest, LaterPromotionsWaitTheirTurn) {
  // The webhook driver's receiver holds each promotion until the test lets it go, so the first
  // rollout is certainly still running when the next ones are requested.
  WebhookReceiver receiver(kHookSecret);
  receiver.HoldPromotions();
  ASSERT_NO_FATAL_FAILURE(StartDaemon(WebhookPipelines(dir_.path(), receiver, "direct"),
                                      {{kHookSecretVariable, kHookSecret}}));
  for (const char* v : {"1.0.0", "1.1.0", "1.2.0"}) {
    AddVersion(v, std::string("registry.example.com/orders:") + v);
  }
  const int64_t first = Promote("1.0.0");
  ASSERT_TRUE(receiver.WaitForPromotions(1));

  std::vector<int64_t> later;
  for (const char* v : {"1.1.0", "1.2.0"}) {
    auto [status, body] =
        Post("/v1/promotions", {{"service", service_}, {"version", v}, {"environment", "qa"}},
             deployer_);
    ASSERT_EQ(status, 201) << body.dump();
    EXPECT_EQ(body["state"], "waiting") << body;
    EXPECT_EQ(body["progress"]["behind"], first) << body;
    later.push_back(body["id"]);
    const json waiting = WaitForEvent(later.back(), "rollout.waiting");
    ASSERT_FALSE(waiting.is_null());
    EXPECT_EQ(waiting["data"]["behind"], first) << waiting;
    EXPECT_NE(waiting["data"]["reason"].get<std::string>().find(std::to_string(first)),
              std::string::npos)
        << waiting;
  }
  EXPECT_EQ(Get("/v1/promotions/" + std::to_string(first)).second["state"], "progressing");

  // One at a time, in request order: each starts when the one before it finished.
  receiver.Release();
  EXPECT_EQ(Outcome(first)["state"], "succeeded");
  ASSERT_TRUE(receiver.WaitForPromotions(2));
  EXPECT_EQ(Get("/v1/promotions/" + std::to_string(later[1])).second["state"], "waiting");
  receiver.Release();
  EXPECT_EQ(Outcome(later[0])["state"], "succeeded");
  ASSERT_TRUE(receiver.WaitForPromotions(3));
  receiver.Release();
  EXPECT_EQ(Outcome(later[1])["state"], "succeeded");

  std::vector<std::pair<std::string, std::string>> promoted;  // version, previous_version
  for (const auto& d : receiver.Deliveries()) {
    promoted.emplace_back(d.body["version"], d.body["previous_version"]);
  }
  EXPECT_EQ(promoted, (std::vector<std::pair<std::string, std::string>>{
                          {"1.0.0", ""}, {"1.1.0", "1.0.0"}, {"1.2.0", "1.1.0"}}));
  // The journal agrees: the second started after the first succeeded, the third after the
  // second.
  const auto started = [&](int64_t id) { return First(EventsOf(id), "rollout.started")["id"]; };
  const auto succeeded = [&](int64_t id) { return First(EventsOf(id), "rollout.succeeded")["id"]; };
  EXPECT_GT(started(later[0]), succeeded(first));
  EXPECT_GT(started(later[1]), succeeded(later[0]));
  EXPECT_EQ(Live()["stable"], "1.2.0");
}

// The lifecycle through POST /v1/promotions: 409 with the rule in the verdict, and no rollout.
// gate_test.cc (LifecycleNeedsUpstreamSuccessUnlessAnAuthorisedOverride) covers `after` through
// can-i-deploy and shipctl, and the audited override.
TEST_F(DaemonRolloutTest, AfterAndSoakBlockWithTheLifecycleRule) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(RolloutPipelines("lifecycle.yaml")));
  AddVersion("1.0.0", "registry.example.com/orders:1.0.0");
  const json request = {{"service", service_}, {"version", "1.0.0"}};
  auto promote = [&](const std::string& environment) {
    json body = request;
    body["environment"] = environment;
    return Post("/v1/promotions", body, deployer_);
  };

  auto [after_status, after_body] = promote("staging");
  ASSERT_EQ(after_status, 409) << after_body;
  EXPECT_EQ(after_body["error"]["code"], "blocked");
  const json& not_upstream = after_body["error"]["details"]["reasons"][0];
  EXPECT_EQ(not_upstream["rule"], "not-promoted-upstream") << after_body;
  EXPECT_EQ(not_upstream["upstream"], "dev");
  EXPECT_EQ(not_upstream["environment"], "staging");

  ASSERT_EQ(Outcome(Promote("1.0.0", "dev"))["state"], "succeeded");
  ASSERT_EQ(Outcome(Promote("1.0.0", "staging"))["state"], "succeeded");

  auto [soak_status, soak_body] = promote("prod");
  ASSERT_EQ(soak_status, 409) << soak_body;
  EXPECT_EQ(soak_body["error"]["code"], "blocked");
  const json& soaking = soak_body["error"]["details"]["reasons"][0];
  EXPECT_EQ(soaking["rule"], "soak-not-elapsed") << soak_body;
  EXPECT_EQ(soaking["upstream"], "staging");
  EXPECT_EQ(soaking["soak"], "1h");
  EXPECT_EQ(soaking["soak_ms"], 3'600'000);
  EXPECT_GT(soaking["remaining_ms"].get<int64_t>(), 3'500'000) << soaking;
  EXPECT_LE(soaking["remaining_ms"].get<int64_t>(), 3'600'000) << soaking;
  EXPECT_NE(soak_body["error"]["message"].get<std::string>().find("soak"), std::string::npos)
      << soak_body;

  // Neither request created a rollout; both refusals are in the journal.
  EXPECT_TRUE(Get("/v1/promotions?environment=prod").second["promotions"].empty());
  EXPECT_EQ(Get("/v1/promotions?service=" + service_ + "&environment=staging")
                .second["promotions"]
                .size(),
            1u);
  std::vector<std::string> blocked;
  const json journal = Get("/v1/events?limit=1000").second;
  for (const auto& e : journal["events"]) {
    if (e["kind"] == "promotion.blocked") blocked.push_back(e.dump());
  }
  ASSERT_EQ(blocked.size(), 2u);
  EXPECT_NE(blocked[0].find("not-promoted-upstream"), std::string::npos) << blocked[0];
  EXPECT_NE(blocked[1].find("soak-not-elapsed"), std::string::npos) << blocked[1];

  // shipctl says no (exit 1) and why.
  auto cli = daemon_.Shipctl({"promote", service_ + "@1.0.0", "--to", "prod"}, deployer_);
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
  EXPECT_NE(cli.out.find("soak-not-elapsed"), std::string::npos) << cli.out;
}

}  // namespace
}  // namespace shipd::testing

// WebhookDriver against a real receiver on loopback that checks the signature like a user's
// endpoint would. Backoff goes through a recording sleeper, so nothing waits.
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "driver_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shipd/common/http_client.h"
#include "shipd/common/sha256.h"
#include "shipd/config/pipelines.h"
#include "shipd/drivers/deploy_driver.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kSecret[] = "s3cret";

struct Delivery {
  std::string body;
  std::string signature;
  std::string idempotency_key;
  bool signature_valid = false;
};

// Answers `statuses` in order (the last one repeats) and records every delivery.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses, std::string body = "{}",
                    std::map<std::string, std::string> headers = {})
      : statuses_(std::move(statuses)) {
    server_.server().Post(
        "/deploy", [this, body, headers](const httplib::Request& req, httplib::Response& res) {
          Delivery delivery;
          delivery.body = req.body;
          delivery.signature = req.get_header_value("X-Shipd-Signature-256");
          delivery.idempotency_key = req.get_header_value("Idempotency-Key");
          delivery.signature_valid =
              ConstantTimeEquals(delivery.signature, "sha256=" + HmacSha256Hex(kSecret, req.body));
          std::lock_guard lock(mu_);
          deliveries_.push_back(delivery);
          res.status = statuses_[std::min(deliveries_.size(), statuses_.size()) - 1];
          for (const auto& [name, value] : headers) res.set_header(name, value);
          res.set_content(body, "application/json");
        });
    server_.Start();
  }

  std::string url() const { return server_.url() + "/deploy"; }
  std::vector<Delivery> deliveries() const {
    std::lock_guard lock(mu_);
    return deliveries_;
  }

 private:
  const std::vector<int> statuses_;
  mutable std::mutex mu_;
  std::vector<Delivery> deliveries_;
  testing::LoopbackServer server_;
};

class WebhookDriverTest : public ::testing::Test {
 protected:
  std::unique_ptr<DeployDriver> Make(const std::string& url, const std::string& secret_env) {
    Driver config;
    config.name = "cd-hook";
    config.type = DriverType::kWebhook;
    config.url = url;
    config.secret_env = secret_env;
    deps_.http = http_.get();
    deps_.sleep = [this](milliseconds duration) { sleeps_.push_back(duration); };
    deps_.get_env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto driver = MakeDriver(config, deps_);
    EXPECT_TRUE(driver.ok()) << driver.error().message();
    return driver.ok() ? std::move(*driver) : nullptr;
  }

  static DriverContext Canary(int weight) {
    DriverContext ctx;
    ctx.service = "orders";
    ctx.version = "3.2.0";
    ctx.previous_version = "3.1.0";
    ctx.environment = "prod";
    ctx.artifact = "registry.example.com/orders:3.2.0";
    ctx.weight = weight;
    return ctx;
  }

  std::unique_ptr<HttpClient> http_ = MakeHttplibHttpClient();
  DriverDeps deps_;
  std::vector<milliseconds> sleeps_;
  std::map<std::string, std::string> env_ = {{"CD_HOOK_SECRET", kSecret}};
};

TEST_F(WebhookDriverTest, RetriesServerErrorsWithBackoffUntilAccepted) {
  Receiver receiver({503, 502, 200});
  auto driver = Make(receiver.url(), "CD_HOOK_SECRET");
  auto status = driver->Deploy(Canary(10));
  ASSERT_TRUE(status.ok()) << status.error().message();

  auto deliveries = receiver.deliveries();
  ASSERT_EQ(deliveries.size(), 3u);
  for (const auto& delivery : deliveries) {
    EXPECT_TRUE(delivery.signature_valid) << delivery.signature;
    EXPECT_EQ(delivery.idempotency_key, deliveries[0].idempotency_key);
    EXPECT_EQ(delivery.body, deliveries[0].body);
  }
  EXPECT_EQ(deliveries[0].idempotency_key.size(), 32u);
  EXPECT_THAT(sleeps_, ElementsAre(milliseconds(500), milliseconds(1000)));
  EXPECT_EQ(nlohmann::json::parse(deliveries[0].body),
            nlohmann::json({{"action", "deploy"},
                            {"service", "orders"},
                            {"version", "3.2.0"},
                            {"previous_version", "3.1.0"},
                            {"environment", "prod"},
                            {"weight", 10},
                            {"artifact", "registry.example.com/orders:3.2.0"},
                            {"previous_artifact", ""}}));
  EXPECT_EQ(driver->Status("orders", "prod")->canary_version, "3.2.0");
}

TEST_F(WebhookDriverTest, ClientErrorFailsWithoutRetry) {
  Receiver receiver({422}, R"({"error":"unknown service"})");
  auto driver = Make(receiver.url(), "CD_HOOK_SECRET");
  auto status = driver->SetWeight(Canary(50));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("answered 422"));
  EXPECT_THAT(status.error().message(), HasSubstr("unknown service"));
  EXPECT_EQ(receiver.deliveries().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(WebhookDriverTest, GivesUpAfterMaxAttemptsWithCappedBackoff) {
  Receiver receiver({500});
  deps_.webhook.max_attempts = 6;
  deps_.webhook.max_backoff = milliseconds(3000);
  auto driver = Make(receiver.url(), "CD_HOOK_SECRET");
  auto status = driver->Promote(Canary(100));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(status.error().message(), HasSubstr("gave up after 6 attempts"));
  EXPECT_EQ(receiver.deliveries().size(), 6u);
  EXPECT_THAT(sleeps_, ElementsAre(milliseconds(500), milliseconds(1000), milliseconds(2000),
                                   milliseconds(3000), milliseconds(3000)));
}

TEST_F(WebhookDriverTest, HonoursRetryAfterUpToTheCap) {
  Receiver receiver({429, 200}, "{}", {{"Retry-After", "2"}});
  auto driver = Make(receiver.url(), "CD_HOOK_SECRET");
  ASSERT_TRUE(driver->SetWeight(Canary(50)).ok());
  EXPECT_THAT(sleeps_, ElementsAre(milliseconds(2000)));
}

TEST_F(WebhookDriverTest, RetriesTransportErrors) {
  std::string url;
  {
    testing::LoopbackServer closed;  // a port that was just free: nothing listens there now
    closed.Start();
    url = closed.url() + "/deploy";
  }
  deps_.webhook.max_attempts = 3;
  auto driver = Make(url, "");
  auto status = driver->Deploy(Canary(10));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(sleeps_.size(), 2u);
}

TEST_F(WebhookDriverTest, UnsignedWithoutSecretEnv) {
  Receiver receiver({200});
  auto driver = Make(receiver.url(), "");
  ASSERT_TRUE(driver->Rollback(Canary(0)).ok());
  ASSERT_EQ(receiver.deliveries().size(), 1u);
  EXPECT_EQ(receiver.deliveries()[0].signature, "");
  EXPECT_EQ(driver->Status("orders", "prod")->stable_version, "3.1.0");
}

TEST_F(WebhookDriverTest, RefusesToSendUnsignedWhenTheSecretIsMissing) {
  Receiver receiver({200});
  env_.clear();
  auto driver = Make(receiver.url(), "CD_HOOK_SECRET");
  auto status = driver->Deploy(Canary(10));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("CD_HOOK_SECRET is not set"));
  EXPECT_TRUE(receiver.deliveries().empty());
}

TEST_F(WebhookDriverTest, OperationIdIsTheIdempotencyKey) {
  Receiver receiver({200});
  auto driver = Make(receiver.url(), "CD_HOOK_SECRET");
  auto ctx = Canary(10);
  ctx.variables["operation_id"] = "rollout-42-step-1";
  ASSERT_TRUE(driver->Deploy(ctx).ok());
  ASSERT_TRUE(driver->Deploy(ctx).ok());  // the engine re-applying after a crash
  auto deliveries = receiver.deliveries();
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries[0].idempotency_key, "rollout-42-step-1");
  EXPECT_EQ(deliveries[1].idempotency_key, "rollout-42-step-1");
}

TEST_F(WebhookDriverTest, RendersTheUrlAndTakesUrlsFromTheAnswer) {
  Receiver receiver({200}, R"({"canary_url":"http://10.1.0.7","stable_url":"http://orders"})");
  auto driver = Make(receiver.url() + "?service={{service}}", "CD_HOOK_SECRET");
  ASSERT_TRUE(driver->Deploy(Canary(10)).ok());
  EXPECT_EQ(driver->Urls("orders", "prod").canary_url, "http://10.1.0.7");
  EXPECT_EQ(driver->Urls("orders", "prod").stable_url, "http://orders");
}

}  // namespace
}  // namespace shipd

#include "delivery.h"

#include <gtest/gtest.h>

#include "fake_http_client.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;

class DeliveryTest : public ::testing::Test {
 protected:
  DeliveryTest() {
    sink_.name = "ops";
    sink_.url = "http://127.0.0.1:9/hook";
    sink_.max_attempts = 4;
    sink_.backoff = milliseconds(100);
    sink_.max_backoff = milliseconds(250);
    request_.method = "POST";
    request_.url = sink_.url;
  }

  DeliveryResult Run() {
    return Deliver(sink_, request_, http_, [this](milliseconds duration) {
      waits_.push_back(duration);
      return !stop_after_wait_;
    });
  }

  NotificationSink sink_;
  HttpRequest request_;
  FakeHttpClient http_;
  std::vector<milliseconds> waits_;
  bool stop_after_wait_ = false;
};

TEST_F(DeliveryTest, RetriesServerErrorsWithBackoffUntilAccepted) {
  http_.set_answer([](const HttpRequest&, size_t n) {
    return FakeHttpClient::Status(n == 1 ? 500 : n == 2 ? 429 : 204);
  });
  const DeliveryResult result = Run();
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_EQ(waits_, (std::vector<milliseconds>{milliseconds(100), milliseconds(200)}));
}

TEST_F(DeliveryTest, RetriesTransportErrorsAndGivesUpAfterMaxAttempts) {
  http_.set_answer([](const HttpRequest&, size_t) -> Result<HttpResponse> {
    return Error(ErrorCode::kUnavailable, "POST http://127.0.0.1:9/hook: connection refused");
  });
  const DeliveryResult result = Run();
  EXPECT_EQ(result.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(result.attempts, 4);
  EXPECT_NE(result.error.find("connection refused"), std::string::npos) << result.error;
  // Doubling, capped at max_backoff; no wait after the last attempt.
  EXPECT_EQ(waits_,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(250)}));
}

TEST_F(DeliveryTest, ClientErrorsAreNotRetried) {
  http_.set_answer([](const HttpRequest&, size_t) {
    auto response = FakeHttpClient::Status(401);
    response->body = "bad signature";
    return response;
  });
  const DeliveryResult result = Run();
  EXPECT_EQ(result.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_EQ(result.error, "answered 401: bad signature");
  EXPECT_TRUE(waits_.empty());
}

TEST_F(DeliveryTest, RetryAfterIsHonouredUpToMaxBackoff) {
  http_.set_answer([](const HttpRequest&, size_t n) {
    auto response = FakeHttpClient::Status(n == 1 ? 503 : 200);
    response->headers.emplace("Retry-After", "120");
    return response;
  });
  EXPECT_EQ(Run().outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(waits_, std::vector<milliseconds>{milliseconds(250)});
}

TEST_F(DeliveryTest, StoppingDuringBackoffEndsWithoutGivingUp) {
  http_.set_answer([](const HttpRequest&, size_t) { return FakeHttpClient::Status(502); });
  stop_after_wait_ = true;
  const DeliveryResult result = Run();
  EXPECT_EQ(result.outcome, DeliveryOutcome::kStopped);
  EXPECT_EQ(result.attempts, 1);
}

}  // namespace
}  // namespace shipd

#include "delivery.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace shipd {
namespace {

using std::chrono::milliseconds;

std::string Shorten(const std::string& text, size_t limit = 512) {
  return text.size() <= limit ? text : text.substr(0, limit) + "...";
}

}  // namespace

DeliveryResult Deliver(const NotificationSink& sink, const HttpRequest& request, HttpClient& http,
                       const RetryWait& wait) {
  DeliveryResult result;
  milliseconds backoff = sink.backoff;
  for (int attempt = 1; attempt <= sink.max_attempts; ++attempt) {
    result.attempts = attempt;
    std::optional<milliseconds> asked;
    auto response = http.Send(request);
    if (!response.ok()) {
      result.error = response.error().message();
      if (response.error().code() != ErrorCode::kUnavailable) break;  // cannot be sent at all
    } else if (response->status >= 200 && response->status < 300) {
      result.outcome = DeliveryOutcome::kDelivered;
      result.error.clear();
      return result;
    } else {
      result.error =
          "answered " + std::to_string(response->status) + ": " + Shorten(response->body);
      if (!response->Retryable()) break;
      asked = response->RetryAfter();
    }
    if (attempt == sink.max_attempts) break;
    if (!wait(std::min(std::max(backoff, asked.value_or(milliseconds(0))), sink.max_backoff))) {
      result.outcome = DeliveryOutcome::kStopped;
      return result;
    }
    backoff = std::min(backoff * 2, sink.max_backoff);
  }
  result.outcome = DeliveryOutcome::kFailed;
  return result;
}

}  // namespace shipd

// One notification's delivery with retries: transport errors, 5xx, 408 and 429 are retried with
// exponential backoff (Retry-After in seconds honoured up to max_backoff); other answers end it.
// Private to the notify library (tests include it). Thread-safe if the client is.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "shipd/common/http_client.h"
#include "shipd/config/notifications.h"

namespace shipd {

enum class DeliveryOutcome { kDelivered, kFailed, kStopped };

struct DeliveryResult {
  DeliveryOutcome outcome = DeliveryOutcome::kFailed;
  int attempts = 0;
  std::string error;  // kFailed: the last answer or transport error
};

// Waits `duration` between attempts; returns false when the notifier is stopping (the delivery
// then ends kStopped, to be sent again after a restart).
using RetryWait = std::function<bool(std::chrono::milliseconds duration)>;

DeliveryResult Deliver(const NotificationSink& sink, const HttpRequest& request, HttpClient& http,
                       const RetryWait& wait);

}  // namespace shipd

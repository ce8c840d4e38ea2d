// NotificationSink: one receiver of journal events, from the `notifications:` section of
// shipd.yaml (docs/notifications.md). Plain value type; the pattern helpers are pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

enum class SinkType {
  kWebhook,  // the event as JSON, signed with HMAC-SHA256 (X-Shipd-Signature-256)
  kSlack,    // a Slack incoming-webhook message: {"text": "one-line summary"}
};

struct NotificationSink {
  std::string name;
  SinkType type = SinkType::kWebhook;
  std::string url;     // from url, url_env or url_file
  std::string secret;  // webhook signing key, from secret_env or secret_file; empty for slack
  // Event kinds ("rollout.succeeded") or prefixes ("rollout.*", "*"); notification.* never.
  std::vector<std::string> events;
  std::vector<std::string> environments;                        // empty: every environment
  std::vector<std::string> services;                            // empty: every service
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // per attempt
  int max_attempts = 5;
  std::chrono::milliseconds backoff{std::chrono::seconds(1)};  // before the 2nd attempt; doubles
  std::chrono::milliseconds max_backoff{std::chrono::minutes(1)};
};

// What a sink gets when it names no events: rollout started, succeeded, rolled back, blocked,
// approval needed, train departed and arrived.
const std::vector<std::string>& DefaultNotificationEvents();

// The journal kinds a sink may name (those the engine records, and the train kinds).
const std::vector<std::string>& KnownEventKinds();

// A kind, "domain.*" or "*"; kInvalid (with the known kinds) otherwise, and for notification.*,
// which would notify about notifications.
Status ValidateEventPattern(std::string_view pattern);

// True when `kind` matches one of `patterns`. notification.* kinds never match.
bool MatchesEventPatterns(const std::vector<std::string>& patterns, std::string_view kind);

}  // namespace shipd

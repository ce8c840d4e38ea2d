// What a notification looks like on the wire: which events a sink wants, the one-line summary of
// an event, and the HTTP request of one delivery (body, headers, signature). Pure functions;
// private to the notify library (tests include it).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "shipd/common/http_client.h"
#include "shipd/config/notifications.h"
#include "shipd/model/registry.h"

namespace shipd {

// The event as GET /v1/events shows it: {id, time, actor, kind, subject, data}.
nlohmann::json NotificationEventJson(const Event& event);

// True when the sink wants the event: its kind, environment and service pass the sink's filters.
bool SinkWants(const NotificationSink& sink, const Event& event);

// One line for people: "orders@3.2.0 rolled back in prod: check errors failed 2 of 3 ...".
std::string EventSummary(const Event& event);

// "<sink>/<event id>": the same for every attempt and after restarts, so receivers can drop
// repeats.
std::string DeliveryId(const NotificationSink& sink, const Event& event);

// The POST of one delivery: the event JSON signed with the sink's secret (webhook), or
// {"text": summary} (slack).
HttpRequest NotificationRequest(const NotificationSink& sink, const Event& event);

}  // namespace shipd

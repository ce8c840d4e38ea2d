#include "messages.h"

#include <algorithm>

#include "shipd/common/sha256.h"

namespace shipd {
namespace {

using nlohmann::json;

json DataOf(const Event& event) {
  json data = json::parse(event.data.empty() ? "{}" : event.data, nullptr, false);
  return data.is_object() ? data : json::object();
}

std::string Text(const json& data, const char* key) {
  const auto it = data.find(key);
  if (it == data.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

bool IsTrainEvent(const Event& event) { return event.kind.starts_with("train."); }

// "service@version" labels under `key`: strings, or objects with "car" (train.departed) or
// "service" and "version".
std::vector<std::string> Labels(const json& data, const char* key) {
  std::vector<std::string> out;
  const auto it = data.find(key);
  if (it == data.end() || !it->is_array()) return out;
  for (const auto& car : *it) {
    if (car.is_string()) {
      out.push_back(car.get<std::string>());
    } else if (car.is_object() && car.contains("car")) {
      out.push_back(Text(car, "car"));
    } else if (car.is_object()) {
      const std::string version = Text(car, "version");
      out.push_back(Text(car, "service") + (version.empty() ? "" : "@" + version));
    }
  }
  return out;
}

// Every car a train event names: the one of a train.car_* event, those on board, and on arrival
// those that arrived, failed or left.
std::vector<std::string> Cars(const json& data) {
  std::vector<std::string> out;
  if (const std::string car = Text(data, "car"); !car.empty()) out.push_back(car);  // train.car_*
  for (const char* key : {"cars", "arrived", "failed", "left"}) {
    for (auto& label : Labels(data, key)) out.push_back(std::move(label));
  }
  return out;
}

std::string ServiceOf(const std::string& subject) { return subject.substr(0, subject.find('@')); }

std::vector<std::string> Services(const Event& event, const json& data) {
  if (IsTrainEvent(event)) {
    std::vector<std::string> out;
    for (const auto& car : Cars(data)) out.push_back(ServiceOf(car));
    return out;
  }
  if (const std::string service = Text(data, "service"); !service.empty()) return {service};
  return {ServiceOf(event.subject)};
}

std::vector<std::string> Environments(const json& data) {
  std::vector<std::string> out;
  if (const std::string env = Text(data, "environment"); !env.empty()) out.push_back(env);
  for (const char* key : {"route", "environments"}) {
    const auto it = data.find(key);
    if (it == data.end() || !it->is_array()) continue;
    for (const auto& env : *it) {
      if (env.is_string()) out.push_back(env.get<std::string>());
    }
  }
  return out;
}

bool AnyListed(const std::vector<std::string>& wanted, const std::vector<std::string>& have) {
  return std::any_of(have.begin(), have.end(), [&](const std::string& item) {
    return std::find(wanted.begin(), wanted.end(), item) != wanted.end();
  });
}

std::string JoinComma(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The first reason of a blocked verdict, for people.
std::string BlockedBecause(const json& data) {
  const auto verdict = data.find("verdict");
  if (verdict == data.end() || !verdict->is_object()) return "";
  const auto reasons = verdict->find("reasons");
  if (reasons != verdict->end() && reasons->is_array() && !reasons->empty()) {
    std::string out = Text(reasons->front(), "message");
    if (out.empty()) out = Text(reasons->front(), "rule");
    if (reasons->size() > 1) {
      out += " (and " + std::to_string(reasons->size() - 1) + " more reason" +
             (reasons->size() > 2 ? "s" : "") + ")";
    }
    return out;
  }
  return Text(*verdict, "summary");
}

// Slack reads &, < and > as markup (docs: "Escaping text").
std::string SlackEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

json NotificationEventJson(const Event& event) {
  json data = json::parse(event.data.empty() ? "{}" : event.data, nullptr, false);
  if (data.is_discarded()) data = event.data;
  return {{"id", event.id},     {"time", event.time},       {"actor", event.actor},
          {"kind", event.kind}, {"subject", event.subject}, {"data", std::move(data)}};
}

bool SinkWants(const NotificationSink& sink, const Event& event) {
  if (!MatchesEventPatterns(sink.events, event.kind)) return false;
  if (sink.environments.empty() && sink.services.empty()) return true;
  const json data = DataOf(event);
  if (!sink.environments.empty() && !AnyListed(sink.environments, Environments(data))) {
    return false;
  }
  if (!sink.services.empty() && !AnyListed(sink.services, Services(event, data))) return false;
  return true;
}

std::string EventSummary(const Event& event) {
  const json data = DataOf(event);
  const std::string& subject = event.subject;
  const std::string env = Text(data, "environment");
  const std::string in = env.empty() ? "" : " in " + env;
  const std::string reason = Text(data, "reason");
  const std::string because = reason.empty() ? "" : ": " + reason;
  const std::string previous = Text(data, "previous");
  const std::string& kind = event.kind;
  if (kind == "rollout.started") {
    std::string out = subject + " rollout started" + in;
    const std::string strategy = Text(data, "strategy");
    if (!strategy.empty()) out += " (" + strategy;
    if (!previous.empty())
      out += (strategy.empty() ? " (" : ", ") + std::string("replacing ") + previous;
    if (!strategy.empty() || !previous.empty()) out += ")";
    return out;
  }
  if (kind == "rollout.succeeded") {
    return subject + " succeeded" + in + (previous.empty() ? "" : " (was " + previous + ")");
  }
  if (kind == "rollout.rolled_back") return subject + " rolled back" + in + because;
  if (kind == "rollout.failed") return subject + " failed" + in + because;
  if (kind == "rollout.aborted") return subject + " aborted" + in + because;
  if (kind == "rollout.paused") return subject + " paused" + in + because;
  if (kind == "rollout.approval_needed") {
    const std::string promotion = Text(data, "promotion");
    return subject + " needs approval" + in +
           (promotion.empty() ? "" : " (rollout " + promotion + ")");
  }
  if (kind == "promotion.blocked") {
    const std::string why = BlockedBecause(data);
    return subject + " blocked from " + (env.empty() ? "its environment" : env) +
           (why.empty() ? "" : ": " + why);
  }
  if (kind == "train.departed" || kind == "train.arrived") {
    const std::string train = Text(data, "train").empty() ? subject : Text(data, "train");
    const std::string trip = Text(data, "trip");
    std::string out = "train " + train + (trip.empty() ? "" : " trip " + trip);
    if (kind == "train.departed") {
      std::vector<std::string> route = Labels(data, "route");
      out += " departed" + (route.empty() ? in : " for " + JoinComma(route));
      const auto cars = Labels(data, "cars");
      return out + (cars.empty() ? "" : ": " + JoinComma(cars));
    }
    out += " arrived" + in;
    const auto arrived =
        Labels(data, "arrived").empty() ? Labels(data, "cars") : Labels(data, "arrived");
    if (!arrived.empty()) out += ": " + JoinComma(arrived);
    for (const char* key : {"failed", "left"}) {
      const auto cars = Labels(data, key);
      if (!cars.empty()) out += "; " + std::string(key) + ": " + JoinComma(cars);
    }
    return out;
  }
  return kind + " " + subject + in + because;
}

std::string DeliveryId(const NotificationSink& sink, const Event& event) {
  return sink.name + "/" + std::to_string(event.id);
}

HttpRequest NotificationRequest(const NotificationSink& sink, const Event& event) {
  HttpRequest request;
  request.method = "POST";
  request.url = sink.url;
  request.timeout = sink.timeout;
  request.headers.emplace("Content-Type", "application/json");
  request.headers.emplace("User-Agent", "shipd");
  request.headers.emplace("X-Shipd-Event", event.kind);
  request.headers.emplace("X-Shipd-Delivery", DeliveryId(sink, event));
  switch (sink.type) {
    case SinkType::kWebhook:
      request.body = NotificationEventJson(event).dump();
      request.headers.emplace("X-Shipd-Signature-256",
                              "sha256=" + HmacSha256Hex(sink.secret, request.body));
      break;
    case SinkType::kSlack:
      request.body = json{{"text", SlackEscape(EventSummary(event))}}.dump();
      break;
  }
  return request;
}

}  // namespace shipd

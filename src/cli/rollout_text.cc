#include "rollout_text.h"

#include <algorithm>
#include <vector>

namespace shipd::cli {
namespace {

using nlohmann::json;

std::string Text(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int64_t Int(const json& object, const char* key, int64_t fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<int64_t>() : fallback;
}

// A measured value as people write it: 0.12, 3, "n/a".
std::string Value(const json& value) {
  if (value.is_null()) return "none";
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::string Join(const json& names) {
  std::string out;
  if (!names.is_array()) return Value(names);
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + Value(name);
  return out;
}

// Details are command output or HTTP answers: one line, and not too long to read.
std::string OneLine(const std::string& text) {
  constexpr size_t kMaxDetail = 200;
  std::string out;
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n') {
      if (!out.empty() && !out.ends_with("; ")) out += "; ";
      continue;
    }
    out += c;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  if (out.size() > kMaxDetail) out = out.substr(0, kMaxDetail) + "...";
  return out;
}

std::string Paren(const std::string& detail) {
  return detail.empty() ? "" : " (" + OneLine(detail) + ")";
}
std::string Colon(const std::string& text) { return text.empty() ? "" : ": " + OneLine(text); }

// "2/4", or "2" when the count is unknown.
std::string StepNumber(const json& data, int steps) {
  steps = static_cast<int>(Int(data, "steps", steps));
  const int64_t index = Int(data, "step", -1);
  if (index < 0) return "?";
  return std::to_string(index + 1) + (steps > 0 ? "/" + std::to_string(steps) : "");
}

int StepCount(const json& data) {
  auto it = data.find("steps");
  if (it == data.end()) return 0;
  if (it->is_array()) return static_cast<int>(it->size());
  return it->is_number() ? it->get<int>() : 0;
}

// Per check "errors: 5 measurements, 0 failed, last 0.01 (detail)"; the checks arrive keyed by
// name or as a list of objects with a "check" or "name" key.
std::string CheckSummary(const json& checks) {
  std::vector<std::pair<std::string, json>> items;
  if (checks.is_object()) {
    for (const auto& [name, tally] : checks.items()) items.emplace_back(name, tally);
  } else if (checks.is_array()) {
    for (const auto& tally : checks) {
      std::string name = Text(tally, "check");
      if (name.empty()) name = Text(tally, "name");
      items.emplace_back(name, tally);
    }
  }
  std::string out;
  for (const auto& [name, tally] : items) {
    std::string text = name;
    if (tally.is_object()) {
      text += ": " + std::to_string(Int(tally, "measurements", 0)) + " measured, " +
              std::to_string(Int(tally, "failures", 0)) + " failed";
      if (tally.contains("last_value")) text += ", last " + Value(tally["last_value"]);
      text += Paren(Text(tally, "last_detail"));
    }
    out += (out.empty() ? "" : "; ") + text;
  }
  return out;
}

std::string StepLine(const json& data, int steps, int64_t promotion) {
  const std::string type = Text(data, "type");
  const std::string head = "step " + StepNumber(data, steps) + ": ";
  const int64_t duration = Int(data, "duration_ms", 0);
  if (type == "weight") return head + "weight " + std::to_string(Int(data, "weight", 0)) + "%";
  if (type == "pause") {
    return head + (duration > 0 ? "pause " + FormatMs(duration)
                                : "pause until resumed (shipctl rollout resume " +
                                      std::to_string(promotion) + ")");
  }
  if (type == "analyze") {
    std::string text = head + "analyze " + Join(data.value("checks", json::array()));
    if (duration > 0) text += " for " + FormatMs(duration);
    if (Int(data, "count", 0) > 0) text += ", " + std::to_string(Int(data, "count", 0)) + " times";
    return text + " at weight " + std::to_string(Int(data, "weight", 0)) + "%";
  }
  if (type == "approve") {
    return head + "approve (shipctl rollout approve " + std::to_string(promotion) + ")";
  }
  return head + type;
}

}  // namespace

std::string FormatMs(int64_t ms) {
  if (ms % 1000 != 0 || ms == 0) return std::to_string(ms) + "ms";
  int64_t seconds = ms / 1000;
  std::string out;
  for (auto [unit, size] : {std::pair{"h", 3600}, std::pair{"m", 60}, std::pair{"s", 1}}) {
    if (seconds >= size) {
      out += std::to_string(seconds / size) + unit;
      seconds %= size;
    }
  }
  return out;
}

std::string StepOf(const json& progress) {
  const int64_t step = Int(progress, "step", -1);
  const int64_t steps = Int(progress, "steps", 0);
  if (steps <= 0) return "-";
  if (step < 0) return "-/" + std::to_string(steps);
  // Promoting and done count as past the last step.
  return std::to_string(std::min(step + 1, steps)) + "/" + std::to_string(steps);
}

bool IsTerminalEvent(const std::string& kind) {
  return kind == "rollout.succeeded" || kind == "rollout.rolled_back" || kind == "rollout.failed" ||
         kind == "rollout.aborted" || kind == "promotion.succeeded";
}

std::string DescribeEvent(const json& event, int steps) {
  const std::string kind = Text(event, "kind");
  const std::string actor = Text(event, "actor");
  const json data = event.is_object() && event.contains("data") && event["data"].is_object()
                        ? event["data"]
                        : json::object();
  const int64_t promotion = Int(data, "promotion", 0);
  const std::string reason = Text(data, "reason");
  const std::string detail = Text(data, "detail");
  const std::string previous = Text(data, "previous");
  const std::string by = actor.empty() || actor == "system" ? "" : " by " + actor;

  if (kind == "rollout.created" || kind == "rollout.started") {
    const int count = StepCount(data);
    std::string text = kind == "rollout.created" ? "created" : "started";
    text += ": strategy " + (Text(data, "strategy").empty() ? "?" : Text(data, "strategy")) + ", " +
            std::to_string(count > 0 ? count : steps) + " steps";
    text += previous.empty() ? ", nothing live before" : ", replacing " + previous;
    return text;
  }
  if (kind == "rollout.waiting") {
    const int64_t behind = Int(data, "behind", 0);
    return "waiting" + Colon(reason) +
           (behind > 0 ? " (behind rollout #" + std::to_string(behind) + ")" : "");
  }
  if (kind == "rollout.step") return StepLine(data, steps, promotion);
  if (kind == "rollout.weight_set") {
    return "weight set: " + std::to_string(Int(data, "weight", 0)) + "%" + Paren(detail);
  }
  if (kind == "check.failed" || kind == "check.error" || kind == "check.inconclusive") {
    const std::string what = kind == "check.failed"  ? "failed"
                             : kind == "check.error" ? "could not be measured"
                                                     : "inconclusive";
    std::string text = "check " + Text(data, "check") + " " + what;
    if (data.contains("value")) text += ": value " + Value(data["value"]);
    text += Paren(detail);
    if (data.contains("failures") && data.contains("failure_limit")) {
      text += ", " + std::to_string(Int(data, "failures", 0)) + " of " +
              std::to_string(Int(data, "failure_limit", 0)) + " failures allowed";
    }
    return text;
  }
  if (kind == "rollout.analysis_passed") {
    return "analysis passed" + Colon(CheckSummary(data.value("checks", json::object())));
  }
  if (kind == "rollout.paused") {
    std::string text = "paused" + Colon(reason);
    if (data.contains("verdict") && data["verdict"].is_object()) {
      text += Paren("gate: " + Text(data["verdict"], "summary"));
    }
    return text + " (shipctl rollout resume " + std::to_string(promotion) + ")";
  }
  if (kind == "rollout.approval_needed") {
    return "waiting for approval (shipctl rollout approve " + std::to_string(promotion) + ")";
  }
  if (kind == "rollout.approved") return "approved" + by + Colon(reason);
  if (kind == "rollout.resumed") {
    if (data.value("restart", false)) return "resumed after shipd restarted";
    return "resumed" + by + Colon(reason);
  }
  if (kind == "rollout.promoting") return "promoting: the canary becomes the stable version";
  if (kind == "rollout.succeeded" || kind == "promotion.succeeded") {
    return "succeeded" + (previous.empty() ? "" : " (replaced " + previous + ")");
  }
  if (kind == "rollout.rolling_back" || kind == "rollout.rolled_back") {
    std::string text = kind == "rollout.rolling_back" ? "rolling back" : "rolled back";
    text += Colon(reason);
    const bool tallies = data.contains("checks") && !data["checks"].empty();
    if (!tallies && data.contains("check") && data.contains("value")) {
      text += " (check " + Text(data, "check") + " measured " + Value(data["value"]) + ")";
    }
    const std::string checks = CheckSummary(data.value("checks", json::object()));
    if (!checks.empty()) text += " [" + checks + "]";
    return text;
  }
  if (kind == "rollout.aborted") return "aborted" + by + Colon(reason) + Paren(detail);
  if (kind == "rollout.failed") return "failed" + Colon(reason) + Paren(detail);
  return kind + Colon(reason);
}

std::string DescribeTrainEvent(const nlohmann::json& event) {
  const std::string kind = event.value("kind", std::string());
  const nlohmann::json& data = event["data"];
  auto text = [&data](const char* key) {
    return data.is_object() && data.contains(key) && data[key].is_string()
               ? data[key].get<std::string>()
               : std::string();
  };
  auto list = [&data](const char* key) {
    std::string out;
    if (!data.is_object() || !data.contains(key)) return out;
    for (const auto& item : data[key]) {
      const std::string label =
          item.is_string() ? item.get<std::string>() : item.value("car", std::string("?"));
      out += (out.empty() ? "" : ", ") + label;
    }
    return out;
  };
  const std::string car = text("car");
  const std::string env = text("environment");
  const std::string reason = text("reason");
  if (kind == "train.departed") return "departed with " + list("cars");
  if (kind == "train.car_started") {
    return car + ": rollout #" + std::to_string(data.value("promotion", int64_t{0})) + " in " + env;
  }
  if (kind == "train.car_through") {
    return car + ": through " + env + (reason.empty() ? "" : " (" + reason + ")");
  }
  if (kind == "train.car_waiting") return car + ": waits before " + env + ": " + reason;
  if (kind == "train.car_failed") return car + " failed: " + reason;
  if (kind == "train.car_left") {
    std::string line = car + " left: " + reason;
    if (data.is_object() && data.contains("carried_to")) {
      line += " (carried over to trip " + std::to_string(data["carried_to"].get<int64_t>()) + ")";
    }
    return line;
  }
  if (kind == "train.reached") return "reached " + env;
  if (kind == "train.arrived") {
    std::string line =
        "arrived in " + env + ": " + (list("arrived").empty() ? "no cars" : list("arrived"));
    if (!list("failed").empty()) line += "; failed: " + list("failed");
    if (!list("left").empty()) line += "; left: " + list("left");
    return line;
  }
  return kind + (reason.empty() ? "" : ": " + reason);
}

}  // namespace shipd::cli

#include "shipd/config/notifications.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include "load_util.h"
#include "notifications_loader.h"
#include "shipd/config/pipelines.h"
#include "shipd/model/registry.h"

namespace shipd {
namespace {

constexpr std::string_view kOwnPrefix = "notification.";

std::string_view DomainOf(std::string_view kind) { return kind.substr(0, kind.find('.')); }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The value of `key`: given as is, or read from the environment variable (KEY_env) or the file
// (KEY_file, relative to shipd.yaml) it names.
Result<std::string> ReadValue(const std::filesystem::path& file, const std::string& key,
                              const YAML::Node& value, const std::string& where) {
  const auto text = value.as<std::string>();
  if (key.ends_with("_env")) {
    const char* found = std::getenv(text.c_str());
    if (found == nullptr || *found == '\0') {
      return At(file, value.Mark(), where + "environment variable " + text + " is not set");
    }
    return std::string(found);
  }
  if (key.ends_with("_file")) {
    std::filesystem::path path(text);
    if (!path.is_absolute()) path = file.parent_path() / path;
    bool read = false;
    std::string content = ReadSecretFile(path, &read);
    if (!read || content.empty()) {
      return At(file, value.Mark(), where + "cannot read " + key + " " + path.string());
    }
    return content;
  }
  return text;
}

Result<std::vector<std::string>> ReadList(const std::filesystem::path& file,
                                          const YAML::Node& value, const std::string& what) {
  std::vector<std::string> out;
  if (value.IsScalar()) {
    out.push_back(value.as<std::string>());
    return out;
  }
  if (!value.IsSequence()) return At(file, value.Mark(), what + " must be a list");
  for (const auto& entry : value) {
    if (!entry.IsScalar()) return At(file, entry.Mark(), what + ": each entry must be a scalar");
    out.push_back(entry.as<std::string>());
  }
  return out;
}

Result<std::chrono::milliseconds> ReadDuration(const std::filesystem::path& file,
                                               const YAML::Node& value, const std::string& what) {
  auto duration = ParseDuration(value.as<std::string>());
  if (!duration.ok()) return At(file, value.Mark(), what + ": " + duration.error().message());
  return *duration;
}

Result<NotificationSink> LoadSink(const std::filesystem::path& file, const YAML::Node& key,
                                  const YAML::Node& settings) {
  NotificationSink sink;
  sink.name = key.as<std::string>();
  if (auto valid = ValidateName("notification", sink.name); !valid.ok()) {
    return At(file, key.Mark(), valid.error().message());
  }
  const std::string where = "notification \"" + sink.name + "\": ";
  if (!settings.IsMap()) return At(file, settings.Mark(), where + "must be a mapping");
  bool has_type = false, has_events = false;
  std::optional<YAML::Mark> secret_mark;
  for (const auto& field : settings) {
    const auto name = field.first.as<std::string>();
    const YAML::Node value = field.second;
    if (name == "events" || name == "environments" || name == "services") {
      auto list = ReadList(file, value, where + name);
      if (!list.ok()) return list.error();
      if (name == "events") {
        for (size_t i = 0; i < list->size(); ++i) {
          if (auto valid = ValidateEventPattern((*list)[i]); !valid.ok()) {
            const YAML::Node entry = value.IsSequence() ? value[i] : value;
            return At(file, entry.Mark(), where + valid.error().message());
          }
        }
        if (list->empty()) return At(file, value.Mark(), where + "events must not be empty");
        sink.events = std::move(*list);
        has_events = true;
      } else if (name == "environments") {
        sink.environments = std::move(*list);
      } else {
        sink.services = std::move(*list);
      }
      continue;
    }
    if (!value.IsScalar()) return At(file, value.Mark(), where + name + " must be a scalar");
    if (name == "type") {
      const auto type = value.as<std::string>();
      if (type == "webhook") {
        sink.type = SinkType::kWebhook;
      } else if (type == "slack") {
        sink.type = SinkType::kSlack;
      } else {
        return At(file, value.Mark(),
                  where + "unknown type \"" + type + "\" (known: webhook, slack)");
      }
      has_type = true;
    } else if (name == "url" || name == "url_env" || name == "url_file") {
      auto url = ReadValue(file, name, value, where);
      if (!url.ok()) return url.error();
      if (!url->starts_with("http://") && !url->starts_with("https://")) {
        return At(file, value.Mark(), where + name + " must give an http:// or https:// URL");
      }
      sink.url = std::move(*url);
    } else if (name == "secret_env" || name == "secret_file") {
      auto secret = ReadValue(file, name, value, where);
      if (!secret.ok()) return secret.error();
      sink.secret = std::move(*secret);
      secret_mark = field.first.Mark();
    } else if (name == "secret") {
      return At(file, field.first.Mark(),
                where +
                    "secrets are not kept in the configuration in clear; use secret_env or "
                    "secret_file");
    } else if (name == "timeout" || name == "backoff" || name == "max_backoff") {
      auto duration = ReadDuration(file, value, where + name);
      if (!duration.ok()) return duration.error();
      if (duration->count() <= 0) return At(file, value.Mark(), where + name + " must be > 0");
      (name == "timeout"   ? sink.timeout
       : name == "backoff" ? sink.backoff
                           : sink.max_backoff) = *duration;
    } else if (name == "max_attempts") {
      sink.max_attempts = value.as<int>();
      if (sink.max_attempts < 1) {
        return At(file, value.Mark(), where + "max_attempts must be >= 1");
      }
    } else {
      return At(file, field.first.Mark(),
                where + "unknown key \"" + name +
                    "\" (known: type, url, url_env, url_file, secret_env, secret_file, events, "
                    "environments, services, timeout, max_attempts, backoff, max_backoff)");
    }
  }
  if (!has_type) return At(file, settings.Mark(), where + "type is required (webhook or slack)");
  if (sink.url.empty()) {
    return At(file, settings.Mark(), where + "url (or url_env, url_file) is required");
  }
  if (sink.type == SinkType::kWebhook && sink.secret.empty()) {
    return At(file, settings.Mark(),
              where + "webhook messages are signed: secret_env or secret_file is required");
  }
  if (sink.type == SinkType::kSlack && secret_mark) {
    return At(file, *secret_mark,
              where + "slack messages are not signed (the URL is the secret); remove the secret");
  }
  if (sink.max_backoff < sink.backoff) sink.max_backoff = sink.backoff;
  if (!has_events) sink.events = DefaultNotificationEvents();
  return sink;
}

}  // namespace

const std::vector<std::string>& DefaultNotificationEvents() {
  static const std::vector<std::string> kDefault = {
      "rollout.started",         "rollout.succeeded", "rollout.rolled_back", "promotion.blocked",
      "rollout.approval_needed", "train.departed",    "train.arrived"};
  return kDefault;
}

const std::vector<std::string>& KnownEventKinds() {
  // The kinds the engine, the API and the tag ingestor record (docs/rollouts.md, docs/api.md),
  // and those of release trains. A new kind must be added here to be named on its own.
  static const std::vector<std::string> kKinds = {"audit.request",
                                                  "check.error",
                                                  "check.failed",
                                                  "check.inconclusive",
                                                  "deployment.restore_failed",
                                                  "engine.started",
                                                  "environment.frozen",
                                                  "environment.unfrozen",
                                                  "environments.configured",
                                                  "promotion.blocked",
                                                  "promotion.failed",
                                                  "promotion.freeze_overridden",
                                                  "promotion.refused",
                                                  "promotion.succeeded",
                                                  "rollout.aborted",
                                                  "rollout.analysis_passed",
                                                  "rollout.approval_needed",
                                                  "rollout.approved",
                                                  "rollout.created",
                                                  "rollout.failed",
                                                  "rollout.frozen",
                                                  "rollout.paused",
                                                  "rollout.promoting",
                                                  "rollout.resumed",
                                                  "rollout.rolled_back",
                                                  "rollout.rolling_back",
                                                  "rollout.started",
                                                  "rollout.step",
                                                  "rollout.succeeded",
                                                  "rollout.waiting",
                                                  "rollout.weight_set",
                                                  "service.locked",
                                                  "service.registered",
                                                  "service.unlocked",
                                                  "tag.deleted",
                                                  "tag.ignored",
                                                  "tag.moved",
                                                  "token.created",
                                                  "token.revoked",
                                                  "train.arrived",
                                                  "train.boarded",
                                                  "train.boarding_refused",
                                                  "train.car_failed",
                                                  "train.car_left",
                                                  "train.car_started",
                                                  "train.car_through",
                                                  "train.car_waiting",
                                                  "train.created",
                                                  "train.departed",
                                                  "train.reached",
                                                  "train.skipped",
                                                  "version.ingest_failed",
                                                  "version.registered",
                                                  "webhook.received",
                                                  "webhook.rejected"};
  return kKinds;
}

Status ValidateEventPattern(std::string_view pattern) {
  if (pattern == "*") return Ok();
  if (pattern.starts_with(kOwnPrefix) || pattern == "notification.*") {
    return Error(ErrorCode::kInvalid, "\"" + std::string(pattern) +
                                          "\": notifications are not sent about notifications");
  }
  const auto& known = KnownEventKinds();
  if (pattern.ends_with(".*")) {
    const auto domain = pattern.substr(0, pattern.size() - 2);
    const bool found = std::any_of(known.begin(), known.end(), [&](const std::string& kind) {
      return DomainOf(kind) == domain;
    });
    if (found) return Ok();
    std::set<std::string> domains;
    for (const auto& kind : known) domains.insert(std::string(DomainOf(kind)) + ".*");
    return Error(ErrorCode::kInvalid,
                 "unknown event kind prefix \"" + std::string(pattern) + "\" (known: " +
                     Join(std::vector<std::string>(domains.begin(), domains.end())) + ")");
  }
  if (std::find(known.begin(), known.end(), pattern) != known.end()) return Ok();
  return Error(ErrorCode::kInvalid, "unknown event kind \"" + std::string(pattern) +
                                        "\" (known: " + Join(known) +
                                        ", a prefix such as "
                                        "rollout.*, or *)");
}

bool MatchesEventPatterns(const std::vector<std::string>& patterns, std::string_view kind) {
  if (kind.starts_with(kOwnPrefix)) return false;
  for (const auto& pattern : patterns) {
    if (pattern == "*" || pattern == kind) return true;
    if (pattern.ends_with(".*") && kind.starts_with(pattern.substr(0, pattern.size() - 1))) {
      return true;
    }
  }
  return false;
}

Result<std::vector<NotificationSink>> LoadNotifications(const std::filesystem::path& file,
                                                        const YAML::Node& node) {
  std::vector<NotificationSink> out;
  if (node.IsNull()) return out;
  if (!node.IsMap()) {
    return At(file, node.Mark(),
              "notifications must map sink names to settings, e.g. ops: {type: webhook, ...}");
  }
  for (const auto& item : node) {
    auto sink = LoadSink(file, item.first, item.second);
    if (!sink.ok()) return sink.error();
    for (const auto& other : out) {
      if (other.name == sink->name) {
        return At(file, item.first.Mark(), "notification \"" + sink->name + "\" is defined twice");
      }
    }
    out.push_back(std::move(*sink));
  }
  return out;
}

}  // namespace shipd

#include "driver_util.h"

#include <cctype>

namespace shipd {

std::string_view DriverActionName(DriverAction action) {
  switch (action) {
    case DriverAction::kDeploy:
      return "deploy";
    case DriverAction::kWeight:
      return "weight";
    case DriverAction::kPromote:
      return "promote";
    case DriverAction::kRollback:
      return "rollback";
  }
  return "unknown";
}

Result<std::unique_ptr<DeployDriver>> MakeDriver(const Driver& config, const DriverDeps& deps) {
  Result<std::unique_ptr<DeployDriver>> driver = Error(ErrorCode::kInternal, "no driver");
  switch (config.type) {
    case DriverType::kExec:
      driver = MakeExecDriver(config, deps);
      break;
    case DriverType::kWebhook:
      driver = MakeWebhookDriver(config, deps);
      break;
    case DriverType::kNginx:
      driver = MakeNginxDriver(config, deps);
      break;
    case DriverType::kLocal:
      driver = MakeLocalDriver(config, deps);
      break;
  }
  if (!driver.ok()) return driver.error().WithContext("driver \"" + config.name + "\"");
  return driver;
}

std::map<std::string, std::string> TemplateVariables(const DriverContext& ctx) {
  std::map<std::string, std::string> variables;
  for (std::string_view name : kTemplateVariables) variables[std::string(name)] = "";
  for (const auto& [name, value] : ctx.variables) variables[name] = value;
  variables["service"] = ctx.service;
  variables["version"] = ctx.version;
  variables["previous_version"] = ctx.previous_version;
  variables["environment"] = ctx.environment;
  variables["weight"] = std::to_string(ctx.weight);
  variables["artifact"] = ctx.artifact;
  return variables;
}

Status ValidateContext(const DriverContext& ctx) {
  if (ctx.service.empty() || ctx.environment.empty() || ctx.version.empty()) {
    return Error(ErrorCode::kInvalid, "a driver operation needs service, environment and version");
  }
  if (ctx.weight < 0 || ctx.weight > 100) {
    return Error(ErrorCode::kInvalid,
                 "weight " + std::to_string(ctx.weight) + " is out of range 0-100");
  }
  return Ok();
}

Result<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote == '\'') {
      if (c == '\'') {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    return Error(ErrorCode::kInvalid, std::string("unterminated ") + quote + " in command line");
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string TrimOutput(std::string_view text, size_t limit) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.size() <= limit) return std::string(text);
  return "[...] " + std::string(text.substr(text.size() - limit));
}

std::string Where(std::string_view service, std::string_view environment) {
  return std::string(service) + "/" + std::string(environment);
}

void AppliedStates::Applied(DriverAction action, const DriverContext& ctx, std::string detail) {
  DriverStatus status;
  switch (action) {
    case DriverAction::kDeploy:
    case DriverAction::kWeight:
      if (ctx.version == ctx.previous_version) {
        status.stable_version = ctx.version;
      } else {
        status.stable_version = ctx.previous_version;
        status.canary_version = ctx.version;
        status.weight = ctx.weight;
      }
      break;
    case DriverAction::kPromote:
      status.stable_version = ctx.version;
      break;
    case DriverAction::kRollback:
      status.stable_version = ctx.previous_version;
      break;
  }
  status.detail = std::move(detail);
  std::lock_guard lock(mu_);
  Entry& entry = entries_[{ctx.service, ctx.environment}];
  entry.status = std::move(status);
  for (const char* name : {"canary_url", "stable_url"}) {
    auto it = ctx.variables.find(name);
    if (it == ctx.variables.end() || it->second.empty()) continue;
    (name[0] == 'c' ? entry.urls.canary_url : entry.urls.stable_url) = it->second;
  }
}

void AppliedStates::SetUrls(const DriverContext& ctx, Endpoints urls) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[{ctx.service, ctx.environment}];
  if (!urls.canary_url.empty()) entry.urls.canary_url = std::move(urls.canary_url);
  if (!urls.stable_url.empty()) entry.urls.stable_url = std::move(urls.stable_url);
}

DriverStatus AppliedStates::Status(std::string_view service, std::string_view environment) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({std::string(service), std::string(environment)});
  return it == entries_.end() ? DriverStatus{} : it->second.status;
}

Endpoints AppliedStates::Urls(std::string_view service, std::string_view environment) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find({std::string(service), std::string(environment)});
  return it == entries_.end() ? Endpoints{} : it->second.urls;
}

}  // namespace shipd

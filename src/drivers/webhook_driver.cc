// WebhookDriver: POSTs one JSON document per operation to the configured URL (a template):
//   {"action", "service", "version", "previous_version", "environment", "weight", "artifact",
//    "previous_artifact"}
// signed with HMAC-SHA256 over the exact body (X-Shipd-Signature-256: sha256=<hex>, the key from
// the variable secret_env names; unsigned when secret_env is not configured). Every attempt of
// one operation carries the same Idempotency-Key (ctx.variables["operation_id"], else random).
// 2xx: done; 5xx, 408, 429 and transport errors: retried with exponential backoff (Retry-After
// honoured up to the cap); other answers fail at once. A 2xx JSON answer may carry
// "canary_url" and "stable_url", which Urls() then returns.
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "driver_util.h"
#include "shipd/common/http_client.h"
#include "shipd/common/sha256.h"
#include "shipd/common/template.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;

Endpoints AnnouncedUrls(const std::string& body) {
  Endpoints urls;
  const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return urls;
  if (auto it = json.find("canary_url"); it != json.end() && it->is_string()) {
    urls.canary_url = it->get<std::string>();
  }
  if (auto it = json.find("stable_url"); it != json.end() && it->is_string()) {
    urls.stable_url = it->get<std::string>();
  }
  return urls;
}

class WebhookDriver final : public DeployDriver {
 public:
  WebhookDriver(const Driver& config, const DriverDeps& deps)
      : url_(config.url),
        secret_env_(config.secret_env),
        http_(*deps.http),
        options_(deps.webhook),
        sleep_(deps.sleep ? deps.sleep
                          : [](milliseconds duration) { std::this_thread::sleep_for(duration); }),
        get_env_(deps.get_env ? deps.get_env : [](const std::string& name) {
          const char* value = std::getenv(name.c_str());
          return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
        }) {}

  shipd::Status Deploy(const DriverContext& ctx) override {
    return Send(ctx, DriverAction::kDeploy);
  }
  shipd::Status SetWeight(const DriverContext& ctx) override {
    return Send(ctx, DriverAction::kWeight);
  }
  shipd::Status Promote(const DriverContext& ctx) override {
    return Send(ctx, DriverAction::kPromote);
  }
  shipd::Status Rollback(const DriverContext& ctx) override {
    return Send(ctx, DriverAction::kRollback);
  }
  Result<DriverStatus> Status(std::string_view service,
                              std::string_view environment) const override {
    return states_.Status(service, environment);
  }
  Endpoints Urls(std::string_view service, std::string_view environment) const override {
    return states_.Urls(service, environment);
  }

 private:
  shipd::Status Send(const DriverContext& ctx, DriverAction action) {
    SHIPD_RETURN_IF_ERROR(ValidateContext(ctx));
    const std::string what =
        Where(ctx.service, ctx.environment) + ": " + std::string(DriverActionName(action));
    auto url = RenderTemplate(url_, TemplateVariables(ctx));
    if (!url.ok()) return url.error().WithContext(what);

    HttpRequest request;
    request.method = "POST";
    request.url = *url;
    request.timeout = options_.timeout;
    request.body = nlohmann::json{{"action", DriverActionName(action)},
                                  {"service", ctx.service},
                                  {"version", ctx.version},
                                  {"previous_version", ctx.previous_version},
                                  {"environment", ctx.environment},
                                  {"weight", ctx.weight},
                                  {"artifact", ctx.artifact},
                                  {"previous_artifact", ctx.previous_artifact}}
                       .dump();
    request.headers.emplace("Content-Type", "application/json");
    request.headers.emplace("User-Agent", "shipd");
    request.headers.emplace("X-Shipd-Action", std::string(DriverActionName(action)));
    auto operation = ctx.variables.find("operation_id");
    request.headers.emplace("Idempotency-Key",
                            operation != ctx.variables.end() && !operation->second.empty()
                                ? operation->second
                                : RandomHex(16));
    if (!secret_env_.empty()) {
      const auto secret = get_env_(secret_env_);
      if (!secret || secret->empty()) {
        return Error(ErrorCode::kInvalid, what + ": the signing key variable " + secret_env_ +
                                              " is not set; refusing to send unsigned");
      }
      request.headers.emplace("X-Shipd-Signature-256",
                              "sha256=" + HmacSha256Hex(*secret, request.body));
    }

    std::string last;
    milliseconds backoff = options_.initial_backoff;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      std::optional<milliseconds> wait;
      auto response = http_.Send(request);
      if (!response.ok()) {
        if (response.error().code() != ErrorCode::kUnavailable) {
          return response.error().WithContext(what);
        }
        last = "failed: " + response.error().message();
      } else if (response->status >= 200 && response->status < 300) {
        states_.Applied(action, ctx, TrimOutput(response->body));
        states_.SetUrls(ctx, AnnouncedUrls(response->body));
        return Ok();
      } else if (!response->Retryable()) {
        return Error(ErrorCode::kInvalid, what + ": " + request.url + " answered " +
                                              std::to_string(response->status) + ": " +
                                              TrimOutput(response->body, 1024));
      } else {
        last = "answered " + std::to_string(response->status) + ": " +
               TrimOutput(response->body, 1024);
        wait = response->RetryAfter();
      }
      if (attempt == options_.max_attempts) break;
      sleep_(std::min(std::max(backoff, wait.value_or(milliseconds(0))), options_.max_backoff));
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    return Error(ErrorCode::kUnavailable, what + ": " + request.url + ": gave up after " +
                                              std::to_string(options_.max_attempts) +
                                              " attempts; the last one " + last);
  }

  const std::string url_;
  const std::string secret_env_;
  HttpClient& http_;
  const DriverDeps::Webhook options_;
  const std::function<void(milliseconds)> sleep_;
  const std::function<std::optional<std::string>(const std::string&)> get_env_;
  AppliedStates states_;
};

}  // namespace

Result<std::unique_ptr<DeployDriver>> MakeWebhookDriver(const Driver& config,
                                                        const DriverDeps& deps) {
  if (deps.http == nullptr)
    return Error(ErrorCode::kInvalid, "the webhook driver needs an HTTP client");
  if (config.url.empty()) return Error(ErrorCode::kInvalid, "the webhook driver needs a url");
  if (deps.webhook.max_attempts < 1) {
    return Error(ErrorCode::kInvalid, "webhook max_attempts must be at least 1");
  }
  return std::unique_ptr<DeployDriver>(std::make_unique<WebhookDriver>(config, deps));
}

}  // namespace shipd

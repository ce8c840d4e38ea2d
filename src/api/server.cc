// HttplibApiServer: routes of the REST API v1 on cpp-httplib. Each route is registered with the
// permission it needs; Handle() does authentication, authorisation, metrics and error mapping so
// that route bodies contain only the request's own logic.

#include "shipd/api/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "json_codec.h"
#include "metrics.h"
#include "shipd/api/auth.h"
#include "shipd/common/sha256.h"
#include "shipd/common/yaml_json.h"
#include "shipd/model/manifest.h"

namespace shipd {
namespace {

using nlohmann::json;

struct Reply {
  Reply(int status_code, json json_body) : status(status_code), body(std::move(json_body)) {}
  static Reply Text(std::string text, std::string content_type) {
    Reply reply(200, nullptr);
    reply.text = std::move(text);
    reply.content_type = std::move(content_type);
    return reply;
  }

  int status = 200;
  json body;
  std::string text;  // used instead of body when set (Prometheus text)
  std::string content_type = "application/json";
};

struct Caller {
  std::string token_name;
  std::string role;
  Actor actor;
};

using RouteFn = std::function<Result<Reply>(const httplib::Request&, const Caller&)>;

constexpr int64_t kDefaultEventLimit = 100;
constexpr int64_t kMaxEventLimit = 1000;

Result<int64_t> IntParam(const httplib::Request& req, const char* name, int64_t fallback,
                         int64_t min, int64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    return Error(ErrorCode::kBadRequest, "query parameter " + std::string(name) + "=\"" + text +
                                             "\" must be an integer from " + std::to_string(min) +
                                             " to " + std::to_string(max));
  }
  return value;
}

class HttplibApiServer final : public ApiServer {
 public:
  HttplibApiServer(Engine& engine, const Clock& clock, ApiOptions options)
      : engine_(engine), clock_(clock), options_(options) {
    server_.new_task_queue = [threads = options_.threads] {
      return new httplib::ThreadPool(static_cast<size_t>(threads));
    };
    server_.set_payload_max_length(options_.max_body_bytes);
    server_.set_keep_alive_max_count(100000);
    // Without it, Nagle + delayed ACK hold every keep-alive response back by ~40 ms.
    server_.set_tcp_nodelay(true);
    server_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      // Reached for statuses httplib sets itself (unknown route, body too large, bad request).
      if (!res.body.empty()) return;
      std::string code = "not_found";
      std::string message = "no route for " + req.method + " " + req.path;
      if (res.status == 413) {
        code = "too_large";
        message = "request body exceeds the limit of " + std::to_string(options_.max_body_bytes) +
                  " bytes";
      } else if (res.status == 400) {
        code = "bad_request";
        message = "malformed HTTP request";
      } else if (res.status != 404) {
        code = "http_" + std::to_string(res.status);
        message = "HTTP error " + std::to_string(res.status);
      }
      res.set_content(ErrorJson(code, message).dump(), "application/json");
      metrics_.Observe("unmatched", req.method, res.status, 0);
    });
    server_.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                     std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("{} {}: unhandled exception: {}", req.method, req.path, what);
      res.status = 500;
      res.set_content(ErrorJson("internal", "internal error (logged)").dump(), "application/json");
    });
    RegisterRoutes();
  }

  Result<int> Bind(const std::string& host, int port) override {
    const bool ok =
        port == 0 ? (port = server_.bind_to_any_port(host)) > 0 : server_.bind_to_port(host, port);
    if (!ok) {
      return Error(ErrorCode::kIo, "cannot listen on " + host + ":" + std::to_string(port));
    }
    return port;
  }

  void Run() override {
    server_.listen_after_bind();
    run_returned_ = true;
  }

  void Stop() override {
    // httplib's stop() is a no-op until the accept loop runs; a signal can arrive just before.
    while (!server_.is_running() && !run_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_.stop();
  }

 private:
  void RegisterRoutes() {
    Get("/healthz", "/healthz", "", [](const auto&, const auto&) -> Result<Reply> {
      return Reply{200, {{"status", "ok"}}};
    });
    Get("/readyz", "/readyz", "", [this](const auto&, const auto&) -> Result<Reply> {
      auto state = engine_.Snapshot();
      return Reply{200, {{"status", "ready"}, {"last_event_id", state->last_event_id}}};
    });
    Get("/metrics", "/metrics", "read", [this](const auto&, const auto&) -> Result<Reply> {
      return Reply::Text(RenderMetrics(), "text/plain; version=0.0.4");
    });

    Get("/v1/services", "/v1/services", "read", [this](const auto&, const auto&) -> Result<Reply> {
      auto state = engine_.Snapshot();
      json services = json::array();
      for (const ServiceState* service : state->services.SortedByName()) {
        services.push_back(ServiceSummaryJson(*service));
      }
      return Reply{200, {{"services", std::move(services)}}};
    });
    Post("/v1/services", "/v1/services", "register:*",
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           if (!doc->is_object()) return Error(ErrorCode::kBadRequest, "body must be an object");
           for (const auto& [key, value] : doc->items()) {
             if (key != "name" && key != "repo") {
               return Error(ErrorCode::kInvalid, "unknown key \"" + key + "\" (known: name, repo)");
             }
             if (!value.is_string()) {
               return Error(ErrorCode::kInvalid, key + ": must be a string");
             }
           }
           Service service;
           service.name = doc->value("name", "");
           service.repo = doc->value("repo", "");
           if (auto valid = ValidateName("service", service.name); !valid.ok()) {
             return valid.error();
           }
           auto outcome = engine_.RegisterService(service, caller.actor);
           if (!outcome.ok()) return outcome.error();
           auto state = engine_.Snapshot();
           return Reply{*outcome == Outcome::kCreated ? 201 : 200,
                        ServiceJson(*state->FindService(service.name), *state)};
         });
    Get(R"(/v1/services/([^/]+))", "/v1/services/{name}", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto state = engine_.Snapshot();
          auto service = FindService(*state, req.matches[1]);
          if (!service.ok()) return service.error();
          return Reply{200, ServiceJson(**service, *state)};
        });
    Get(R"(/v1/services/([^/]+)/versions)", "/v1/services/{name}/versions", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto state = engine_.Snapshot();
          auto service = FindService(*state, req.matches[1]);
          if (!service.ok()) return service.error();
          json versions = json::array();
          for (const auto& v : (*service)->versions) versions.push_back(VersionToJson(*v));
          return Reply{200, {{"service", (*service)->service.name}, {"versions", versions}}};
        });
    Post(R"(/v1/services/([^/]+)/versions)", "/v1/services/{name}/versions", "register:*",
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           const std::string service_name = req.matches[1];
           if (auto valid = ValidateName("service", service_name); !valid.ok()) {
             return valid.error();
           }
           auto version = VersionFromManifest(*doc, service_name, "");
           if (!version.ok()) return version.error();
           auto outcome = engine_.RegisterVersion(*version, caller.actor);
           if (!outcome.ok()) return outcome.error();
           auto state = engine_.Snapshot();
           const Version* stored = state->FindService(service_name)->FindVersion(version->version);
           return Reply{*outcome == Outcome::kCreated ? 201 : 200, VersionToJson(*stored)};
         });
    Get(R"(/v1/services/([^/]+)/versions/([^/]+))", "/v1/services/{name}/versions/{version}",
        "read", [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto state = engine_.Snapshot();
          auto service = FindService(*state, req.matches[1]);
          if (!service.ok()) return service.error();
          auto semver = Semver::Parse(req.matches[2].str());
          if (!semver.ok()) return semver.error();
          const Version* found = (*service)->FindVersion(*semver);
          if (found == nullptr) {
            return Error(ErrorCode::kNotFound,
                         "unknown version " + (*service)->service.name + "@" + semver->ToString());
          }
          json out = VersionToJson(*found);
          for (auto& provide : out["provides"]) {
            auto spec = engine_.LoadSpec(found->service, found->version.ToString(),
                                         provide["api"].get<std::string>());
            if (!spec.ok()) return spec.error();
            if (!spec->empty()) provide["spec"] = json::parse(*spec);
          }
          return Reply{200, std::move(out)};
        });

    Get("/v1/environments", "/v1/environments", "read",
        [this](const auto&, const auto&) -> Result<Reply> {
          auto state = engine_.Snapshot();
          json environments = json::array();
          for (const auto& env : state->environments) environments.push_back(EnvironmentJson(*env));
          return Reply{200, {{"environments", std::move(environments)}}};
        });
    Get(R"(/v1/environments/([^/]+))", "/v1/environments/{env}", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto state = engine_.Snapshot();
          const EnvironmentState* env = state->FindEnvironment(req.matches[1].str());
          if (env == nullptr) {
            return Error(ErrorCode::kNotFound, "unknown environment \"" + req.matches[1].str() +
                                                   "\"" + KnownEnvironments(*state));
          }
          return Reply{200, EnvironmentJson(*env)};
        });

    Get("/v1/events", "/v1/events", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto after = IntParam(req, "after", 0, 0, INT64_MAX);
          if (!after.ok()) return after.error();
          auto limit = IntParam(req, "limit", kDefaultEventLimit, 1, kMaxEventLimit);
          if (!limit.ok()) return limit.error();
          auto events = engine_.ListEvents(*after, static_cast<int>(*limit));
          if (!events.ok()) return events.error();
          json list = json::array();
          for (const auto& event : *events) list.push_back(EventJson(event));
          const int64_t next = events->empty() ? *after : events->back().id;
          return Reply{200, {{"events", std::move(list)}, {"next_after", next}}};
        });
  }

  void Get(const std::string& pattern, std::string label, std::string permission, RouteFn fn) {
    server_.Get(pattern, Wrap(std::move(label), std::move(permission), std::move(fn)));
  }
  void Post(const std::string& pattern, std::string label, std::string permission, RouteFn fn) {
    server_.Post(pattern, Wrap(std::move(label), std::move(permission), std::move(fn)));
  }

  httplib::Server::Handler Wrap(std::string label, std::string permission, RouteFn fn) {
    return [this, label = std::move(label), permission = std::move(permission), fn = std::move(fn)](
               const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      Handle(req, res, permission, fn);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.Observe(label, req.method, res.status, seconds);
    };
  }

  void Handle(const httplib::Request& req, httplib::Response& res, const std::string& permission,
              const RouteFn& fn) {
    Caller caller;
    caller.actor.source = req.remote_addr;
    Result<Reply> reply = Error(ErrorCode::kInternal, "unreachable");
    if (auto auth = Authorize(req, permission, caller); !auth.ok()) {
      reply = auth.error();
    } else {
      reply = fn(req, caller);
    }
    if (reply.ok()) {
      res.status = reply->status;
      if (!reply->text.empty()) {
        res.set_content(reply->text, reply->content_type);
      } else {
        res.set_content(reply->body.dump(), reply->content_type);
      }
      return;
    }
    const Error& error = reply.error();
    res.status = HttpStatusOf(error.code());
    std::string message = error.message();
    if (res.status >= 500) {
      const std::string id = RandomHex(8);
      spdlog::error("request {} {} {} failed: {}", id, req.method, req.path, message);
      message = "internal error " + id + " (logged): " + message;
    }
    if (res.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"shipd\"");
    res.set_content(ErrorJson(ErrorCodeName(error.code()), message).dump(), "application/json");
  }

  Status Authorize(const httplib::Request& req, const std::string& permission, Caller& caller) {
    if (permission.empty()) return Ok();
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.empty()) {
      return Error(ErrorCode::kUnauthenticated,
                   "missing Authorization: Bearer <token> header (set SHIP_TOKEN for shipctl)");
    }
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
      return Error(ErrorCode::kUnauthenticated,
                   "the Authorization header must be \"Bearer <token>\"");
    }
    const std::string hash = Sha256Hex(std::string_view(header).substr(kBearer.size()));
    auto token = LookupToken(hash);
    if (!token.ok()) return token.error();
    if (!token->has_value()) return Error(ErrorCode::kUnauthenticated, "invalid token");
    caller.token_name = (*token)->name;
    caller.role = (*token)->role;
    caller.actor.name = (*token)->name;
    const auto* granted = PermissionsOfRole(caller.role);
    if (granted == nullptr || !Grants(*granted, permission)) {
      return Error(ErrorCode::kPermissionDenied, "token \"" + caller.token_name + "\" (role " +
                                                     caller.role + ") lacks permission \"" +
                                                     permission + "\"");
    }
    return Ok();
  }

  // Tokens are immutable once created, so found ones are cached; misses ask the store so that a
  // token created by `shipd token create` while the daemon runs works at once.
  Result<std::optional<TokenRecord>> LookupToken(const std::string& hash) {
    {
      std::lock_guard lock(tokens_mutex_);
      auto it = tokens_.find(hash);
      if (it != tokens_.end()) return std::optional<TokenRecord>(it->second);
    }
    auto found = engine_.FindToken(hash);
    if (!found.ok() || !found->has_value()) return found;
    std::lock_guard lock(tokens_mutex_);
    tokens_.emplace(hash, **found);
    return found;
  }

  Result<json> ParseBody(const httplib::Request& req) {
    if (req.body.empty()) return Error(ErrorCode::kBadRequest, "the request body is empty");
    const std::string type = req.get_header_value("Content-Type");
    if (type.find("yaml") != std::string::npos) return YamlToJson(req.body);
    if (type.find("json") != std::string::npos) {
      try {
        return json::parse(req.body);
      } catch (const json::parse_error& e) {
        return Error(ErrorCode::kBadRequest, std::string("malformed JSON: ") + e.what());
      }
    }
    return ParseJsonOrYaml(req.body);
  }

  static Result<const ServiceState*> FindService(const State& state, const std::string& name) {
    const ServiceState* service = state.FindService(name);
    if (service == nullptr) {
      return Error(ErrorCode::kNotFound, "unknown service \"" + name + "\"");
    }
    return service;
  }

  static std::string KnownEnvironments(const State& state) {
    std::string names;
    for (const auto& env : state.environments) {
      names += (names.empty() ? "" : ", ") + env->environment.name;
    }
    return " (known: " + names + ")";
  }

  std::string RenderMetrics() const {
    auto state = engine_.Snapshot();
    std::string out;
    out += "# HELP shipd_services Registered services.\n# TYPE shipd_services gauge\n";
    out += "shipd_services " + std::to_string(state->services.size()) + "\n";
    out += "# HELP shipd_versions Registered versions.\n# TYPE shipd_versions gauge\n";
    out += "shipd_versions " + std::to_string(state->version_count) + "\n";
    out += "# HELP shipd_last_event_id Id of the newest journal event.\n";
    out += "# TYPE shipd_last_event_id gauge\n";
    out += "shipd_last_event_id " + std::to_string(state->last_event_id) + "\n";
    metrics_.Render(out);
    return out;
  }

  Engine& engine_;
  const Clock& clock_;
  ApiOptions options_;
  httplib::Server server_;
  std::atomic<bool> run_returned_ = false;
  HttpMetrics metrics_;
  std::mutex tokens_mutex_;
  std::unordered_map<std::string, TokenRecord> tokens_;
};

}  // namespace

std::unique_ptr<ApiServer> MakeApiServer(Engine& engine, const Clock& clock, ApiOptions options) {
  return std::make_unique<HttplibApiServer>(engine, clock, options);
}

}  // namespace shipd

// HttplibApiServer: routes of the REST API v1 on cpp-httplib. Each route is registered with the
// permission it needs; Handle() does authentication, authorisation, metrics and error mapping so
// that route bodies contain only the request's own logic.

#include "shipd/api/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "event_stream.h"
#include "json_codec.h"
#include "metrics.h"
#include "shipd/common/sha256.h"
#include "shipd/common/yaml_json.h"
#include "shipd/config/freeze.h"
#include "shipd/contract/graph.h"
#include "shipd/contract/planner.h"
#include "shipd/contract/verdict.h"
#include "shipd/git/tag_event.h"
#include "shipd/model/manifest.h"
#include "shipd/model/permissions.h"
#include "train_json.h"

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
  std::vector<std::string> roles;
  std::vector<std::string> permissions;  // of all its roles
  Actor actor;
};

using RouteFn = std::function<Result<Reply>(const httplib::Request&, const Caller&)>;

constexpr int64_t kDefaultEventLimit = 100;
constexpr int64_t kMaxEventLimit = 1000;
constexpr int64_t kMaxEventWaitMs = 60'000;
// An idle event stream sends a comment this often, so proxies keep it open and a client that
// went away is noticed (by the failing write) and its thread freed.
constexpr auto kStreamKeepAlive = std::chrono::seconds(15);
// An event stream waits for events in slices this long, so it notices a stopping server soon.
constexpr auto kStreamSlice = std::chrono::seconds(1);
constexpr int kStreamBatch = 100;

// Path ids: positive integers; anything else is a bad request rather than an unknown route.
Result<int64_t> PathId(const std::string& kind, const std::string& text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 1) {
    return Error(ErrorCode::kBadRequest,
                 kind + " id must be a positive integer, not \"" + text + "\"");
  }
  return value;
}

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
  HttplibApiServer(Engine& engine, const Clock& clock, ApiOptions options, TagIngestor* ingestor)
      : engine_(engine), clock_(clock), options_(options), ingestor_(ingestor) {
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
      if (req.method != "GET" && req.method != "HEAD") {  // a refused PUT/DELETE is audited too
        Caller caller;
        caller.actor.source = req.remote_addr;
        const std::string request_id = RequestIdOf(req);
        res.set_header("X-Request-Id", request_id);
        Audit(req, res, caller, request_id);
      }
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
    // Open event streams end with their final chunk (a clean end for the client) before the
    // listener closes; each notices within one wait slice.
    {
      std::unique_lock lock(streams_mutex_);
      stopping_ = true;
      streams_done_.wait_for(lock, 2 * kStreamSlice + std::chrono::milliseconds(500),
                             [this] { return open_streams_ == 0; });
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
    // Any valid token may ask what it may do; the answer is only about itself.
    Get("/v1/whoami", "/v1/whoami", std::string(kAnyToken),
        [](const auto&, const Caller& caller) -> Result<Reply> {
          return Reply{200,
                       {{"token", caller.token_name},
                        {"roles", caller.roles},
                        {"permissions", caller.permissions}}};
        });
    Get("/v1/tokens", "/v1/tokens", "admin", [this](const auto&, const auto&) -> Result<Reply> {
      auto tokens = engine_.ListTokens();
      if (!tokens.ok()) return tokens.error();
      json list = json::array();
      for (const TokenRecord& token : *tokens) {
        list.push_back({{"name", token.name},
                        {"roles", SplitRoles(token.role)},
                        {"created_at", FormatUtc(token.created_at)}});
      }
      return Reply{200, {{"tokens", std::move(list)}}};
    });
    Delete(R"(/v1/tokens/([^/]+))", "/v1/tokens/{name}",
           [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
             if (auto allowed = Require(caller, "admin"); !allowed.ok()) return allowed.error();
             const std::string name = req.matches[1].str();
             if (auto revoked = engine_.RevokeToken(name, caller.actor); !revoked.ok()) {
               return revoked.error();
             }
             ForgetToken(name);
             return Reply{200, {{"revoked", name}}};
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
          for (const auto& env : state->environments) {
            environments.push_back(EnvironmentWithUrls(*env));
          }
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
          return Reply{200, EnvironmentWithUrls(*env)};
        });

    Get("/v1/can-i-deploy", "/v1/can-i-deploy", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto request = PromotionFromQuery(req);
          if (!request.ok()) return request.error();
          auto verdict = engine_.CanIDeploy(*request);
          if (!verdict.ok()) {
            // A version not registered (yet) is "unknown", not an error: CI may ask before the
            // tag's webhook has registered it, and retries.
            auto state = engine_.Snapshot();
            auto semver = Semver::Parse(request->version);
            const ServiceState* service = state->FindService(request->service);
            if (verdict.error().code() == ErrorCode::kNotFound && semver.ok() &&
                service != nullptr && service->FindVersion(*semver) == nullptr &&
                state->FindEnvironment(request->environment) != nullptr) {
              const std::string label = request->service + "@" + semver->ToString();
              metrics_.CountVerdict("can-i-deploy", "unknown");
              return Reply{200,
                           {{"allowed", false},
                            {"decision", "unknown"},
                            {"environment", request->environment},
                            {"changes", json::array({label})},
                            {"reasons", json::array({{{"rule", "unknown-version"},
                                                      {"version", label},
                                                      {"message", label + " is not registered"}}})},
                            {"warnings", json::array()},
                            {"summary", label + " is not registered; the answer is unknown"}}};
            }
            return verdict.error();
          }
          json out = VerdictToJson(*verdict);
          out["decision"] = verdict->allowed ? "yes" : "no";
          AddHoldWarnings(*request, out);
          metrics_.CountVerdict("can-i-deploy", out["decision"]);
          return Reply{200, std::move(out)};
        });
    Get("/v1/plan", "/v1/plan", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto request = PromotionFromQuery(req);
          if (!request.ok()) return request.error();
          auto plan = engine_.PlanPromotion(*request);
          if (!plan.ok()) return plan.error();
          return Reply{200, PlanToJson(*plan)};
        });
    Get("/v1/graph", "/v1/graph", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          const std::string format =
              req.has_param("format") ? req.get_param_value("format") : "json";
          if (format != "json" && format != "dot") {
            return Error(ErrorCode::kBadRequest,
                         "format must be json or dot, not \"" + format + "\"");
          }
          auto state = engine_.Snapshot();
          std::vector<const EnvironmentState*> environments;
          if (req.has_param("environment")) {
            const std::string name = req.get_param_value("environment");
            const EnvironmentState* env = state->FindEnvironment(name);
            if (env == nullptr) {
              return Error(ErrorCode::kNotFound,
                           "unknown environment \"" + name + "\"" + KnownEnvironments(*state));
            }
            environments.push_back(env);
          } else {
            for (const auto& env : state->environments) environments.push_back(env.get());
          }
          if (format == "dot") {
            std::string dot;
            for (const auto* env : environments)
              dot += GraphToDot(BuildDependencyGraph(env->index));
            return Reply::Text(std::move(dot), "text/vnd.graphviz");
          }
          if (environments.size() == 1) {
            return Reply{200, GraphToJson(BuildDependencyGraph(environments[0]->index))};
          }
          json graphs = json::array();
          for (const auto* env : environments) {
            graphs.push_back(GraphToJson(BuildDependencyGraph(env->index)));
          }
          return Reply{200, {{"graphs", std::move(graphs)}}};
        });

    Post("/v1/promotions", "/v1/promotions", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           auto request = PromotionFromBody(*doc);
           if (!request.ok()) return request.error();
           if (auto allowed = Require(caller, "promote:" + request->environment); !allowed.ok()) {
             return allowed.error();
           }
           if (!request->override_reason.empty() || request->override_freeze) {
             if (auto allowed = Require(caller, "override:" + request->environment);
                 !allowed.ok()) {
               return allowed.error();
             }
           }
           auto outcome = engine_.Promote(*request, caller.actor);
           if (!outcome.ok()) return outcome.error();
           metrics_.CountVerdict("promotion", outcome->verdict.allowed ? "yes" : "no");
           if (!outcome->promotion.has_value()) {
             metrics_.CountPromotion(request->environment, "blocked");
             json verdict = VerdictToJson(outcome->verdict);
             const std::string summary = verdict["summary"];
             return Reply{409, ErrorJson("blocked", summary, std::move(verdict))};
           }
           metrics_.CountPromotion(request->environment,
                                   std::string(RolloutStateName(outcome->promotion->state)));
           return Reply{201, PromotionJson(*outcome->promotion)};
         });
    RegisterHoldRoutes();
    RegisterTrainRoutes();
    if (options_.test_clock != nullptr) RegisterTestClockRoute();
    Get("/v1/promotions", "/v1/promotions", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          PromotionFilter filter;
          filter.service = req.get_param_value("service");
          filter.environment = req.get_param_value("environment");
          if (req.has_param("state")) {
            filter.state = ParseRolloutState(req.get_param_value("state"));
            if (!filter.state.has_value()) {
              return Error(ErrorCode::kBadRequest,
                           "unknown state \"" + req.get_param_value("state") + "\"");
            }
          }
          auto before = IntParam(req, "before", 0, 0, INT64_MAX);
          if (!before.ok()) return before.error();
          auto limit = IntParam(req, "limit", kDefaultEventLimit, 1, kMaxEventLimit);
          if (!limit.ok()) return limit.error();
          filter.before_id = *before;
          filter.limit = static_cast<int>(*limit);
          auto promotions = engine_.ListPromotions(filter);
          if (!promotions.ok()) return promotions.error();
          json list = json::array();
          for (const auto& p : *promotions) list.push_back(PromotionJson(p));
          return Reply{200, {{"promotions", std::move(list)}}};
        });
    Get(R"(/v1/promotions/([^/]+))", "/v1/promotions/{id}", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto promotion = FindPromotion(req.matches[1].str());
          if (!promotion.ok()) return promotion.error();
          auto history = engine_.PromotionEvents(promotion->id);
          if (!history.ok()) return history.error();
          json out = PromotionJson(*promotion);
          json events = json::array();
          for (const auto& event : *history) events.push_back(EventJson(event));
          out["events"] = std::move(events);
          auto approvals = engine_.PromotionApprovals(promotion->id);
          if (!approvals.ok()) return approvals.error();
          out["approvals"] = ApprovalsJson(*approvals);
          return Reply{200, std::move(out)};
        });
    Post(R"(/v1/promotions/([^/]+)/(approve|resume|abort|rollback))",
         "/v1/promotions/{id}/{action}", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           return ActOnRollout(req, caller);
         });

    for (auto [path, host] : {std::pair{"/v1/hooks/github", GitHost::kGitHub},
                              std::pair{"/v1/hooks/gitlab", GitHost::kGitLab},
                              std::pair{"/v1/hooks/gitea", GitHost::kGitea}}) {
      // Open routes: the delivery's signature (or token) is the authentication.
      Post(path, path, "", [this, host](const httplib::Request& req, const Caller& caller) {
        return HandleWebhook(host, req, caller);
      });
    }
    Get("/v1/repositories", "/v1/repositories", "read",
        [this](const auto&, const auto&) -> Result<Reply> {
          json list = json::array();
          if (ingestor_ != nullptr) {
            for (const auto& r : ingestor_->repositories()) {
              list.push_back({{"service", r.service},
                              {"url", r.url},
                              {"tag_pattern", r.tag_pattern},
                              {"manifest", r.manifest},
                              {"promote_to", r.promote_to},
                              {"poll_interval_ms", r.poll_interval.count()},
                              {"webhook_secret", !r.secret.empty()}});
            }
          }
          return Reply{200, {{"repositories", std::move(list)}}};
        });
    Post(R"(/v1/repositories/([^/]+)/sync)", "/v1/repositories/{service}/sync", "register:*",
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           if (ingestor_ == nullptr) return NoRepositories();
           auto outcomes = ingestor_->SyncNow(req.matches[1].str(), caller.actor);
           if (!outcomes.ok()) return outcomes.error();
           json list = json::array();
           for (const auto& o : *outcomes) list.push_back(OutcomeJson(o));
           return Reply{200, {{"outcomes", std::move(list)}}};
         });
    Post(R"(/v1/services/([^/]+)/versions/from-git)", "/v1/services/{name}/versions/from-git",
         "register:*", [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           if (ingestor_ == nullptr) return NoRepositories();
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           if (!doc->is_object() || !(*doc)["tag"].is_string() || doc->size() != 1) {
             return Error(ErrorCode::kInvalid, "the body must be {\"tag\": \"v1.2.3\"}");
           }
           auto outcome = ingestor_->IngestNow(req.matches[1].str(),
                                               (*doc)["tag"].get<std::string>(), caller.actor);
           if (!outcome.ok()) return outcome.error();
           const std::string& status = outcome->status;
           const int code = status == "registered"  ? 201
                            : status == "unchanged" ? 200
                            : status == "conflict"  ? 409
                                                    : 422;
           if (code >= 400) {
             return Reply{code, ErrorJson(status == "conflict" ? "conflict" : "invalid",
                                          outcome->message, OutcomeJson(*outcome))};
           }
           return Reply{code, OutcomeJson(*outcome)};
         });

    Get("/v1/events", "/v1/events", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto after = IntParam(req, "after", 0, 0, INT64_MAX);
          if (!after.ok()) return after.error();
          auto limit = IntParam(req, "limit", kDefaultEventLimit, 1, kMaxEventLimit);
          if (!limit.ok()) return limit.error();
          auto wait = IntParam(req, "wait_ms", 0, 0, kMaxEventWaitMs);
          if (!wait.ok()) return wait.error();
          auto events = *wait > 0 ? engine_.WaitForEvents(*after, static_cast<int>(*limit),
                                                          std::chrono::milliseconds(*wait))
                                  : engine_.ListEvents(*after, static_cast<int>(*limit));
          if (!events.ok()) return events.error();
          json list = json::array();
          for (const auto& event : *events) list.push_back(EventJson(event));
          const int64_t next = events->empty() ? *after : events->back().id;
          return Reply{200, {{"events", std::move(list)}, {"next_after", next}}};
        });
    Get("/v1/audit/verify", "/v1/audit/verify", "read",
        [this](const httplib::Request& req, const auto&) -> Result<Reply> {
          ChainAnchor anchor;
          auto head_id = IntParam(req, "head_id", 0, 1, INT64_MAX);
          if (!head_id.ok()) return head_id.error();
          anchor.id = *head_id;
          anchor.hash = req.get_param_value("head_hash");
          const bool hex =
              anchor.hash.size() == 64 &&
              std::all_of(anchor.hash.begin(), anchor.hash.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
              });
          if ((anchor.id != 0 || !anchor.hash.empty()) && (anchor.id == 0 || !hex)) {
            return Error(ErrorCode::kBadRequest,
                         "head_id and head_hash go together: an event id and 64 lowercase hex "
                         "digits, as GET /v1/audit/verify answered them");
          }
          auto verified = engine_.VerifyAuditChain(anchor);
          if (!verified.ok()) return verified.error();
          const ChainVerification& v = *verified;
          json body = {{"ok", v.ok},
                       {"checked", v.checked},
                       {"legacy", v.legacy},
                       {"head_id", v.head_id},
                       {"head_hash", v.head_hash}};
          body["first_bad_id"] = v.ok ? json(nullptr) : json(v.first_bad_id);
          body["reason"] = v.ok ? json(nullptr) : json(v.reason);
          return Reply{200, std::move(body)};
        });

    server_.Get("/v1/events/stream", [this](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      OpenEventStream(req, res);
      // Counts the stream's opening; how long it stays open is not a request's latency.
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.Observe("/v1/events/stream", req.method, res.status, seconds);
    });
  }

  // POST /v1/promotions/{id}/approve|resume|abort|rollback with an optional {"reason": "..."}.
  Result<Reply> ActOnRollout(const httplib::Request& req, const Caller& caller) {
    auto promotion = FindPromotion(req.matches[1].str());
    if (!promotion.ok()) return promotion.error();
    const auto action = ParseRolloutAction(req.matches[2].str());
    if (!action.has_value()) {
      return Error(ErrorCode::kInternal, "route matched unknown action " + req.matches[2].str());
    }
    const std::string verb = *action == RolloutAction::kApprove ? "approve:" : "promote:";
    if (auto allowed = Require(caller, verb + promotion->environment); !allowed.ok()) {
      return allowed.error();
    }
    std::string reason;
    if (!req.body.empty()) {
      auto doc = ParseBody(req);
      if (!doc.ok()) return doc.error();
      if (!doc->is_object()) {
        return Error(ErrorCode::kBadRequest,
                     "body must be an object such as {\"reason\": \"...\"}");
      }
      for (const auto& [key, value] : doc->items()) {
        if (key != "reason") {
          return Error(ErrorCode::kInvalid, "unknown key \"" + key + "\" (known: reason)");
        }
        if (!value.is_string()) return Error(ErrorCode::kInvalid, "reason: must be a string");
        reason = value.get<std::string>();
      }
    }
    if (*action == RolloutAction::kApprove) {
      auto approved = engine_.Approve(promotion->id, caller.actor, reason);
      if (!approved.ok()) return approved.error();
      json out = PromotionJson(approved->promotion);
      out["approval"] = ApprovalJson(approved->approval);
      out["approval"]["count"] = approved->count;
      out["approval"]["needed"] = approved->needed;
      out["message"] = "approved (" + std::to_string(approved->count) + " of " +
                       std::to_string(approved->needed) + ")";
      return Reply{200, std::move(out)};
    }
    auto acted = engine_.Act(promotion->id, *action, caller.actor, reason);
    if (!acted.ok()) return acted.error();
    return Reply{200, PromotionJson(*acted)};
  }

  Result<Promotion> FindPromotion(const std::string& id_text) {
    auto id = PathId("promotion", id_text);
    if (!id.ok()) return id.error();
    auto promotion = engine_.GetPromotion(*id);
    if (!promotion.ok()) return promotion.error();
    if (!promotion->has_value()) {
      return Error(ErrorCode::kNotFound, "unknown promotion " + std::to_string(*id));
    }
    return std::move(**promotion);
  }

  json EnvironmentWithUrls(const EnvironmentState& env) const {
    json out = EnvironmentJson(env);
    for (auto& deployment : out["live"]) {
      json urls = EndpointsJson(
          engine_.Urls(deployment["service"].get<std::string>(), env.environment.name));
      if (!urls.empty()) deployment["urls"] = std::move(urls);
    }
    // What holds promotions into it now (docs/governance.md).
    out["locks"] = json::array();
    for (const Hold& hold : engine_.ActiveHolds()) {
      if (!hold.IsFreeze() && hold.environment == env.environment.name) {
        out["locks"].push_back(HoldJson(hold));
      }
    }
    out["freeze"] = nullptr;
    for (const auto& [environment, freeze] : engine_.FreezesInForce()) {
      if (environment != env.environment.name) continue;
      out["freeze"] = {{"from", FormatUtc(freeze.from_ms)},
                       {"until", FormatUtc(freeze.until_ms)},
                       {"reason", freeze.reason}};
    }
    return out;
  }

  // can-i-deploy judges contracts; a lock or a freeze in force would still refuse (or hold) the
  // promotion now, so the answer says so as warnings (the decision is the gate's).
  void AddHoldWarnings(const PromotionRequest& request, json& out) const {
    json& warnings = out["warnings"];
    for (const Hold& hold : engine_.ActiveHolds()) {
      if (hold.IsFreeze() || hold.environment != request.environment ||
          hold.service != request.service) {
        continue;
      }
      std::string message =
          hold.service + " is locked in " + hold.environment + " by " + hold.owner;
      if (hold.expires_at) message += " until " + FormatUtc(*hold.expires_at);
      message += ": " + hold.reason + "; a promotion is refused until it is unlocked";
      warnings.push_back({{"rule", "locked"},
                          {"environment", hold.environment},
                          {"owner", hold.owner},
                          {"reason", hold.reason},
                          {"message", std::move(message)}});
    }
    for (const auto& [environment, freeze] : engine_.FreezesInForce()) {
      if (environment != request.environment) continue;
      std::string message = environment + " is frozen until " + FormatUtc(freeze.until_ms);
      if (!freeze.reason.empty()) message += ": " + freeze.reason;
      message += "; a promotion is refused or waits (on_freeze), unless it overrides the freeze";
      warnings.push_back({{"rule", "frozen"},
                          {"environment", environment},
                          {"until", FormatUtc(freeze.until_ms)},
                          {"reason", freeze.reason},
                          {"message", std::move(message)}});
    }
  }

  // Where one stream is in the journal. Owned by the stream's content provider.
  struct StreamCursor {
    int64_t after = 0;
    EventStreamFilter filter;
    std::chrono::steady_clock::time_point last_write;
    bool released = false;  // guarded by streams_mutex_: counted out of open_streams_ once
  };

  // GET /v1/events/stream: Server-Sent Events from `after` or Last-Event-ID (default: from now),
  // filtered by promotion and kind prefix. The stream holds one server thread while open.
  void OpenEventStream(const httplib::Request& req, httplib::Response& res) {
    Caller caller;
    caller.actor.source = req.remote_addr;
    auto cursor = std::make_shared<StreamCursor>();
    auto prepared = [&]() -> Status {
      SHIPD_RETURN_IF_ERROR(Authorize(req, "read", caller));
      auto after = IntParam(req, "after", -1, 0, INT64_MAX);
      if (!after.ok()) return after.error();
      auto promotion = IntParam(req, "promotion", 0, 1, INT64_MAX);
      if (!promotion.ok()) return promotion.error();
      if (*promotion > 0) cursor->filter.promotion = *promotion;
      cursor->filter.kind_prefix = req.get_param_value("kind");
      // A reconnecting browser repeats the URL and adds where it got to: that wins.
      const auto last_id = ParseLastEventId(req.get_header_value("Last-Event-ID"));
      cursor->after = last_id.has_value() ? *last_id
                      : *after >= 0       ? *after
                                          : engine_.Snapshot()->last_event_id;
      return Ok();
    }();
    if (!prepared.ok()) return WriteError(req, res, prepared.error());
    {
      std::lock_guard lock(streams_mutex_);
      const int limit = MaxStreams();
      if (stopping_) {
        return WriteError(req, res, Error(ErrorCode::kUnavailable, "shipd is stopping"));
      }
      if (open_streams_ >= limit) {
        return WriteError(
            req, res,
            Error(ErrorCode::kUnavailable,
                  "too many open event streams (" + std::to_string(limit) +
                      ", a quarter of http_threads); poll GET /v1/events?after=&wait_ms= instead"));
      }
      ++open_streams_;
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // nginx in front must not buffer the stream
    cursor->last_write = std::chrono::steady_clock::now();
    const std::string opening = SseComment("shipd events after " + std::to_string(cursor->after));
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, cursor, opening, opened = false](size_t, httplib::DataSink& sink) mutable {
          if (!opened) {
            opened = true;
            return sink.write(opening.data(), opening.size());
          }
          return StreamSlice(*cursor, sink);
        },
        [this, cursor](bool) {
          std::lock_guard lock(streams_mutex_);
          if (std::exchange(cursor->released, true)) return;
          --open_streams_;
          streams_done_.notify_all();
        });
  }

  // One wait of at most kStreamSlice; false ends the stream (the client went away).
  bool StreamSlice(StreamCursor& cursor, httplib::DataSink& sink) {
    if (Stopping()) {
      sink.done();
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto keep_alive_at = cursor.last_write + kStreamKeepAlive;
    const auto wait =
        std::max(std::chrono::milliseconds(0),
                 std::min<std::chrono::milliseconds>(
                     kStreamSlice,
                     std::chrono::duration_cast<std::chrono::milliseconds>(keep_alive_at - now)));
    auto events = engine_.WaitForEvents(cursor.after, kStreamBatch, wait);
    if (!events.ok()) {
      spdlog::warn("event stream after {}: {}", cursor.after, events.error().message());
      sink.done();
      return true;
    }
    std::string frames;
    for (const auto& event : *events) {
      cursor.after = event.id;
      json item = EventJson(event);
      if (cursor.filter.Matches(item)) frames += SseFrame(item);
    }
    if (frames.empty() && std::chrono::steady_clock::now() >= keep_alive_at) {
      frames = SseComment("keep-alive");
    }
    if (frames.empty()) return true;
    cursor.last_write = std::chrono::steady_clock::now();
    return sink.write(frames.data(), frames.size());
  }

  bool Stopping() {
    std::lock_guard lock(streams_mutex_);
    return stopping_;
  }

  // A quarter of the threads at most, so open streams cannot starve the other requests.
  int MaxStreams() const { return std::max(1, options_.threads / 4); }

  // Locks and ad-hoc freezes (docs/governance.md). Setting or removing a lock needs lock:ENV,
  // a freeze freeze:ENV (docs/security.md).
  void RegisterHoldRoutes() {
    Get("/v1/locks", "/v1/locks", "read", [this](const auto&, const auto&) -> Result<Reply> {
      json locks = json::array();
      for (const Hold& hold : engine_.ActiveHolds()) {
        if (!hold.IsFreeze()) locks.push_back(HoldJson(hold));
      }
      return Reply{200, {{"locks", std::move(locks)}}};
    });
    Post("/v1/locks", "/v1/locks", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           auto hold = HoldFromBody(*doc, /*lock=*/true);
           if (!hold.ok()) return hold.error();
           if (auto allowed = Require(caller, "lock:" + hold->environment); !allowed.ok()) {
             return allowed.error();
           }
           auto set = engine_.PutHold(std::move(*hold), caller.actor);
           if (!set.ok()) return set.error();
           return Reply{201, HoldJson(*set)};
         });
    Delete(R"(/v1/locks/([^/]+)/([^/]+))", "/v1/locks/{service}/{env}",
           [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
             return RemoveHold(caller, req.matches[2].str(), req.matches[1].str());
           });
    Get("/v1/freezes", "/v1/freezes", "read", [this](const auto&, const auto&) -> Result<Reply> {
      json freezes = json::array();
      for (const Hold& hold : engine_.ActiveHolds()) {
        if (hold.IsFreeze()) freezes.push_back(HoldJson(hold));
      }
      json in_force = json::array();
      for (const auto& [environment, freeze] : engine_.FreezesInForce()) {
        in_force.push_back({{"environment", environment},
                            {"from", FormatUtc(freeze.from_ms)},
                            {"until", FormatUtc(freeze.until_ms)},
                            {"reason", freeze.reason}});
      }
      return Reply{200, {{"freezes", std::move(freezes)}, {"in_force", std::move(in_force)}}};
    });
    Post("/v1/freezes", "/v1/freezes", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           auto hold = HoldFromBody(*doc, /*lock=*/false);
           if (!hold.ok()) return hold.error();
           if (auto allowed = Require(caller, "freeze:" + hold->environment); !allowed.ok()) {
             return allowed.error();
           }
           auto set = engine_.PutHold(std::move(*hold), caller.actor);
           if (!set.ok()) return set.error();
           return Reply{201, HoldJson(*set)};
         });
    Delete(R"(/v1/freezes/([^/]+))", "/v1/freezes/{env}",
           [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
             return RemoveHold(caller, req.matches[1].str(), "");
           });
  }

  // Release trains (docs/trains.md). Changing a train needs train:ENV for every environment of
  // its route: a train promotes into each of them.
  void RegisterTrainRoutes() {
    Get("/v1/trains", "/v1/trains", "read", [this](const auto&, const auto&) -> Result<Reply> {
      json trains = json::array();
      for (const Train& train : engine_.ListTrains()) trains.push_back(TrainJson(train, 1));
      return Reply{200, {{"trains", std::move(trains)}}};
    });
    Post("/v1/trains", "/v1/trains", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           auto spec = TrainFromBody(*doc);
           if (!spec.ok()) return spec.error();
           if (auto allowed = RequireRoute(caller, spec->route); !allowed.ok()) {
             return allowed.error();
           }
           auto created = engine_.CreateTrain(*spec, caller.actor);
           if (!created.ok()) return created.error();
           return Reply{created->outcome == Outcome::kCreated ? 201 : 200,
                        TrainJson(created->train)};
         });
    Get(R"(/v1/trains/([^/]+))", "/v1/trains/{name}", "read",
        [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
          auto train = engine_.GetTrain(req.matches[1].str());
          if (!train) {
            return Error(ErrorCode::kNotFound, "unknown train \"" + req.matches[1].str() + "\"");
          }
          return Reply{200, TrainJson(*train)};
        });
    Post(R"(/v1/trains/([^/]+)/cars)", "/v1/trains/{name}/cars", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto train = TrainToChange(req.matches[1].str(), caller);
           if (!train.ok()) return train.error();
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           auto cars = CarsFromBody(*doc);
           if (!cars.ok()) return cars.error();
           auto boarded = engine_.BoardTrain(train->name, *cars, caller.actor);
           if (!boarded.ok()) return boarded.error();
           if (!boarded->refused.empty()) {
             json environments = json::array();
             std::string message;
             for (const auto& [environment, verdict] : boarded->refused) {
               json judged = VerdictToJson(verdict);
               const std::string summary = judged.value("summary", std::string());
               message += (message.empty() ? "" : "; ") + std::string("in ") + environment + ": " +
                          summary;
               environments.push_back(
                   {{"environment", environment}, {"verdict", std::move(judged)}});
             }
             return Reply{409, ErrorJson("blocked", "cannot board " + train->name + ": " + message,
                                         {{"environments", std::move(environments)}})};
           }
           return Reply{boarded->outcome == Outcome::kCreated ? 201 : 200,
                        TrainJson(boarded->train)};
         });
    Delete(R"(/v1/trains/([^/]+)/cars/([^/]+))", "/v1/trains/{name}/cars/{service}",
           [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
             auto train = TrainToChange(req.matches[1].str(), caller);
             if (!train.ok()) return train.error();
             auto left = engine_.LeaveTrain(train->name, req.matches[2].str(), caller.actor);
             if (!left.ok()) return left.error();
             return Reply{200, TrainJson(left->train)};
           });
    Post(R"(/v1/trains/([^/]+)/depart)", "/v1/trains/{name}/depart", std::string(kDecidedByRoute),
         [this](const httplib::Request& req, const Caller& caller) -> Result<Reply> {
           auto train = TrainToChange(req.matches[1].str(), caller);
           if (!train.ok()) return train.error();
           auto departed = engine_.DepartTrain(train->name, caller.actor);
           if (!departed.ok()) return departed.error();
           return Reply{200, TrainJson(departed->train)};
         });
  }

  // --test-clock only: {"advance": "1h"} moves the clock on, {"set": "2026-12-01T10:00Z"} to
  // an instant (never back). Answers the clock's time.
  void RegisterTestClockRoute() {
    Post("/v1/test/clock", "/v1/test/clock", "admin",
         [this](const httplib::Request& req, const Caller&) -> Result<Reply> {
           auto doc = ParseBody(req);
           if (!doc.ok()) return doc.error();
           FakeClock& clock = *options_.test_clock;
           int64_t by = 0;
           if (doc->is_object() && doc->size() == 1 && doc->contains("advance") &&
               (*doc)["advance"].is_string()) {
             auto duration = ParseDuration((*doc)["advance"].get<std::string>());
             if (!duration.ok()) return duration.error().WithContext("advance");
             by = duration->count();
           } else if (doc->is_object() && doc->size() == 1 && doc->contains("set") &&
                      (*doc)["set"].is_string()) {
             auto at = ParseUtc((*doc)["set"].get<std::string>());
             if (!at.ok()) return at.error().WithContext("set");
             if (*at < clock.NowMs()) {
               return Error(ErrorCode::kInvalid, "set: the test clock never goes back");
             }
             by = *at - clock.NowMs();
           } else {
             return Error(ErrorCode::kInvalid,
                          "expected {\"advance\": \"1h\"} or {\"set\": \"<UTC time>\"}");
           }
           clock.Advance(std::chrono::milliseconds(by));
           return Reply{200, {{"now", FormatUtc(clock.NowMs())}}};
         });
  }

  static Status RequireRoute(const Caller& caller, const std::vector<std::string>& route) {
    for (const std::string& environment : route) {
      if (auto allowed = Require(caller, "train:" + environment); !allowed.ok()) return allowed;
    }
    return Ok();
  }

  // The train a request changes, when it exists and the caller may change it.
  Result<Train> TrainToChange(const std::string& name, const Caller& caller) const {
    auto train = engine_.GetTrain(name);
    if (!train) return Error(ErrorCode::kNotFound, "unknown train \"" + name + "\"");
    if (auto allowed = RequireRoute(caller, train->route); !allowed.ok()) return allowed.error();
    return std::move(*train);
  }

  Result<Reply> RemoveHold(const Caller& caller, const std::string& environment,
                           const std::string& service) {
    const std::string verb = service.empty() ? "freeze:" : "lock:";
    if (auto allowed = Require(caller, verb + environment); !allowed.ok()) {
      return allowed.error();
    }
    if (auto removed = engine_.RemoveHold(environment, service, caller.actor); !removed.ok()) {
      return removed.error();
    }
    json out = {{"environment", environment}, {"removed", true}};
    if (!service.empty()) out["service"] = service;
    return Reply{200, std::move(out)};
  }

  static json HoldJson(const Hold& hold) {
    json out = {{"environment", hold.environment},
                {"owner", hold.owner},
                {"reason", hold.reason},
                {"created_at", FormatUtc(hold.created_at)}};
    if (!hold.IsFreeze()) out["service"] = hold.service;
    out[hold.IsFreeze() ? "until" : "expires_at"] =
        hold.expires_at ? json(FormatUtc(*hold.expires_at)) : json(nullptr);
    return out;
  }

  // Lock: {service, environment, reason, expires_in?: "2h"}. Freeze: {environment, until, reason}.
  Result<Hold> HoldFromBody(const json& doc, bool lock) const {
    if (!doc.is_object()) return Error(ErrorCode::kBadRequest, "body must be an object");
    const char* known =
        lock ? "service, environment, reason, expires_in" : "environment, until, reason";
    Hold hold;
    std::string expires_in, until;
    for (const auto& [key, value] : doc.items()) {
      std::string* field = key == "environment"          ? &hold.environment
                           : key == "reason"             ? &hold.reason
                           : lock && key == "service"    ? &hold.service
                           : lock && key == "expires_in" ? &expires_in
                           : !lock && key == "until"     ? &until
                                                         : nullptr;
      if (field == nullptr) {
        return Error(ErrorCode::kInvalid,
                     "unknown key \"" + key + "\" (known: " + std::string(known) + ")");
      }
      if (!value.is_string()) return Error(ErrorCode::kInvalid, key + ": must be a string");
      *field = value.get<std::string>();
    }
    for (auto [value, name] :
         {std::pair{&hold.environment, "environment"}, std::pair{&hold.reason, "reason"},
          std::pair{lock ? &hold.service : &until, lock ? "service" : "until"}}) {
      if (value->empty()) return Error(ErrorCode::kInvalid, std::string(name) + ": is required");
    }
    if (!expires_in.empty()) {
      auto duration = ParseDuration(expires_in);
      if (!duration.ok()) return duration.error().WithContext("expires_in");
      hold.expires_at = clock_.NowMs() + duration->count();
    }
    if (!until.empty()) {
      auto at = ParseUtc(until);
      if (!at.ok()) return at.error().WithContext("until");
      hold.expires_at = *at;
    }
    return hold;
  }

  void Get(const std::string& pattern, std::string label, std::string permission, RouteFn fn) {
    server_.Get(pattern, Wrap(std::move(label), std::move(permission), std::move(fn)));
  }
  void Post(const std::string& pattern, std::string label, std::string permission, RouteFn fn) {
    server_.Post(pattern, Wrap(std::move(label), std::move(permission), std::move(fn)));
  }
  // DELETE routes check their permission themselves (it names the path's environment).
  void Delete(const std::string& pattern, std::string label, RouteFn fn) {
    server_.Delete(pattern, Wrap(std::move(label), std::string(kDecidedByRoute), std::move(fn)));
  }

  httplib::Server::Handler Wrap(std::string label, std::string permission, RouteFn fn) {
    return [this, label = std::move(label), permission = std::move(permission), fn = std::move(fn)](
               const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      Caller caller;
      const std::string request_id = RequestIdOf(req);
      res.set_header("X-Request-Id", request_id);
      const bool mutating = req.method != "GET" && req.method != "HEAD";
      try {
        Handle(req, res, permission, fn, caller);
      } catch (...) {  // the exception handler answers 500; the audit log must say so too
        res.status = 500;
        if (mutating) Audit(req, res, caller, request_id);
        throw;
      }
      if (mutating) Audit(req, res, caller, request_id);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.Observe(label, req.method, res.status, seconds);
    };
  }

  // The client's X-Request-Id when well-formed (1-64 of [A-Za-z0-9._:-]), else a fresh one.
  static std::string RequestIdOf(const httplib::Request& req) {
    std::string id = req.get_header_value("X-Request-Id");
    const bool well_formed =
        !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
                 c == '-';
        });
    return well_formed ? id : RandomHex(8);
  }

  // Every mutating request, refused ones included, leaves one audit.request event in the
  // hash-chained journal (docs/audit.md). A failure to record is logged: the request's own
  // effect is already committed and its reply decided.
  void Audit(const httplib::Request& req, const httplib::Response& res, const Caller& caller,
             const std::string& request_id) {
    // Method and path are the client's bytes: made valid UTF-8 so the journal stays JSON-clean.
    const std::string method = ValidUtf8(req.method);
    const std::string path = ValidUtf8(req.path);
    std::string actor = caller.token_name;
    if (actor.empty()) {
      constexpr std::string_view kHooks = "/v1/hooks/";
      actor = path.starts_with(kHooks) ? "webhook:" + path.substr(kHooks.size())
                                       : std::string("anonymous");
    }
    const json data = {
        {"request_id", request_id}, {"method", method},           {"path", path},
        {"status", res.status},     {"token", caller.token_name}, {"source", caller.actor.source}};
    if (auto recorded = engine_.RecordEvent(Actor{actor, caller.actor.source}, "audit.request",
                                            method + " " + path, data.dump());
        !recorded.ok()) {
      spdlog::error("request {} {} {}: not recorded in the audit log: {}", request_id, method, path,
                    recorded.error().message());
    }
  }

  static std::string ValidUtf8(const std::string& text) {
    return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace))
        .get<std::string>();
  }

  void Handle(const httplib::Request& req, httplib::Response& res, const std::string& permission,
              const RouteFn& fn, Caller& caller) {
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
    WriteError(req, res, reply.error());
  }

  void WriteError(const httplib::Request& req, httplib::Response& res, const Error& error) {
    res.status = HttpStatusOf(error.code());
    std::string message = error.message();
    if (res.status >= 500 && res.status != 503) {  // 503 is a state, not a bug to look up
      const std::string id = RandomHex(8);
      spdlog::error("request {} {} {} failed: {}", id, req.method, req.path, message);
      message = "internal error " + id + " (logged): " + message;
    }
    if (res.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"shipd\"");
    res.set_content(ErrorJson(ErrorCodeName(error.code()), message).dump(), "application/json");
  }

  // Routes whose permission depends on the request (promote:ENV) authenticate in the wrapper
  // and check the permission themselves with Require().
  static constexpr std::string_view kDecidedByRoute = "(decided by the route)";
  // Routes that only need a valid token (GET /v1/whoami).
  static constexpr std::string_view kAnyToken = "(any valid token)";

  static Status Require(const Caller& caller, const std::string& permission) {
    if (!Grants(caller.permissions, permission)) {
      return Error(ErrorCode::kPermissionDenied, "token \"" + caller.token_name + "\" (roles " +
                                                     JoinRoles(caller.roles) +
                                                     ") lacks permission \"" + permission + "\"");
    }
    return Ok();
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
    caller.roles = SplitRoles((*token)->role);
    caller.permissions = PermissionsOf(options_.roles, caller.roles);
    caller.actor.name = (*token)->name;
    caller.actor.roles = caller.roles;
    if (permission == kDecidedByRoute || permission == kAnyToken) return Ok();
    return Require(caller, permission);
  }

  // Found tokens are cached for a few seconds; misses ask the store, so a token created by
  // `shipd token create` while the daemon runs works at once. Revoking through the API drops the
  // token from the cache at once; `shipd token revoke` (another process) within kTokenCacheTtl.
  static constexpr std::chrono::seconds kTokenCacheTtl{5};
  Result<std::optional<TokenRecord>> LookupToken(const std::string& hash) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(tokens_mutex_);
      auto it = tokens_.find(hash);
      if (it != tokens_.end() && now - it->second.second < kTokenCacheTtl) {
        return std::optional<TokenRecord>(it->second.first);
      }
    }
    auto found = engine_.FindToken(hash);
    std::lock_guard lock(tokens_mutex_);
    if (!found.ok() || !found->has_value()) {
      tokens_.erase(hash);
      return found;
    }
    tokens_.insert_or_assign(hash, std::pair{**found, now});
    return found;
  }

  void ForgetToken(const std::string& name) {
    std::lock_guard lock(tokens_mutex_);
    std::erase_if(tokens_, [&](const auto& entry) { return entry.second.first.name == name; });
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

  static Error NoRepositories() {
    return Error(ErrorCode::kNotFound,
                 "no repositories are configured (repositories: in shipd.yaml)");
  }

  static json OutcomeJson(const IngestOutcome& o) {
    json out = {
        {"tag", o.tag}, {"status", o.status}, {"version", o.version}, {"message", o.message}};
    if (o.promotion != 0) out["promotion"] = o.promotion;
    return out;
  }

  // Identifiers of the repository a payload names, read before it is verified: only to pick the
  // configured repository whose secret verifies it.
  static std::vector<std::string> RepositoryIdsOf(const json& body) {
    std::vector<std::string> ids;
    for (const char* object : {"repository", "project"}) {
      auto it = body.find(object);
      if (it == body.end() || !it->is_object()) continue;
      for (const char* key :
           {"clone_url", "html_url", "ssh_url", "git_url", "git_http_url", "git_ssh_url",
            "http_url", "web_url", "url", "homepage", "full_name", "path_with_namespace"}) {
        auto value = it->find(key);
        if (value != it->end() && value->is_string() && !value->get<std::string>().empty()) {
          ids.push_back(value->get<std::string>());
        }
      }
    }
    return ids;
  }

  Result<Reply> HandleWebhook(GitHost host, const httplib::Request& req, const Caller& caller) {
    const std::string host_name(GitHostName(host));
    const Actor actor{"webhook:" + host_name, caller.actor.source};
    if (ingestor_ == nullptr) return NoRepositories();
    const json untrusted = json::parse(req.body, nullptr, false);
    if (untrusted.is_discarded() || !untrusted.is_object()) {
      return Error(ErrorCode::kBadRequest, "the payload is not a JSON object");
    }
    const auto ids = RepositoryIdsOf(untrusted);
    const auto candidates = ingestor_->FindByIds(ids);
    if (candidates.empty()) {
      return Error(ErrorCode::kNotFound,
                   "unknown repository " + (ids.empty() ? std::string("(none named)") : ids[0]) +
                       ": no service maps to it (repositories: in shipd.yaml)");
    }
    HeaderLookup header = [&req](std::string_view name) -> std::optional<std::string> {
      const std::string key(name);
      if (!req.has_header(key)) return std::nullopt;
      return req.get_header_value(key);
    };
    std::optional<Error> rejection;
    for (const RepositoryConfig* repository : candidates) {
      auto event = ParseTagEvent(host, header, req.body, repository->secret);
      if (!event.ok()) {
        if (event.error().code() == ErrorCode::kUnauthenticated) {
          rejection = event.error();
          continue;  // another repository with the same URL may have another secret
        }
        return event.error();
      }
      return Accept(host_name, *repository, std::move(event).value(), actor, req.body);
    }
    // Nothing is recorded of a forged delivery but the fact that one arrived.
    if (auto status = engine_.RecordEvent(
            actor, "webhook.rejected", candidates[0]->service,
            json{{"reason", rejection->message()}, {"source", caller.actor.source}}.dump());
        !status.ok()) {
      return status.error();
    }
    return *rejection;
  }

  Result<Reply> Accept(const std::string& host_name, const RepositoryConfig& repository,
                       TagEvent event, const Actor& actor, const std::string& body) {
    const std::string kind(TagEventKindName(event.kind));
    if (event.kind == TagEventKind::kPing) return Reply{200, {{"status", "pong"}}};
    if (event.kind == TagEventKind::kIgnored) {
      return Reply{200, {{"status", "ignored"}, {"detail", event.detail}}};
    }
    // Hosts retry deliveries; without an id, the same body is the same delivery.
    const std::string delivery =
        event.delivery_id.empty() ? "sha256:" + Sha256Hex(body) : event.delivery_id;
    auto fresh = engine_.RecordDelivery(
        host_name, delivery, repository.service, actor,
        json{{"event", kind}, {"tag", event.tag}, {"object", event.object_id}}.dump());
    if (!fresh.ok()) return fresh.error();
    if (!*fresh) return Reply{200, {{"status", "duplicate"}, {"delivery", delivery}}};
    const std::string tag = event.tag;
    ingestor_->Enqueue(repository, std::move(event), actor);
    return Reply{202,
                 {{"status", "accepted"},
                  {"delivery", delivery},
                  {"service", repository.service},
                  {"tag", tag},
                  {"event", kind}}};
  }

  static Result<PromotionRequest> PromotionFromQuery(const httplib::Request& req) {
    PromotionRequest request;
    for (auto [field, name] :
         {std::pair{&request.service, "service"}, std::pair{&request.version, "version"},
          std::pair{&request.environment, "environment"}}) {
      if (!req.has_param(name) || req.get_param_value(name).empty()) {
        return Error(ErrorCode::kBadRequest,
                     std::string("missing query parameter ") + name +
                         " (service, version and environment are required)");
      }
      *field = req.get_param_value(name);
    }
    request.override_reason = req.get_param_value("override_reason");
    return request;
  }

  static Result<PromotionRequest> PromotionFromBody(const json& doc) {
    if (!doc.is_object()) return Error(ErrorCode::kBadRequest, "body must be an object");
    PromotionRequest request;
    for (const auto& [key, value] : doc.items()) {
      if (key == "override_freeze") {
        if (!value.is_boolean()) return Error(ErrorCode::kInvalid, key + ": must be true or false");
        request.override_freeze = value.get<bool>();
        continue;
      }
      if (key == "override_freeze_reason") {
        if (!value.is_string()) return Error(ErrorCode::kInvalid, key + ": must be a string");
        request.override_freeze_reason = value.get<std::string>();
        continue;
      }
      std::string* field = key == "service"           ? &request.service
                           : key == "version"         ? &request.version
                           : key == "environment"     ? &request.environment
                           : key == "override_reason" ? &request.override_reason
                                                      : nullptr;
      if (field == nullptr) {
        return Error(ErrorCode::kInvalid, "unknown key \"" + key +
                                              "\" (known: service, version, environment, "
                                              "override_reason, override_freeze, "
                                              "override_freeze_reason)");
      }
      if (!value.is_string()) return Error(ErrorCode::kInvalid, key + ": must be a string");
      *field = value.get<std::string>();
    }
    for (auto [value, name] :
         {std::pair{&request.service, "service"}, std::pair{&request.version, "version"},
          std::pair{&request.environment, "environment"}}) {
      if (value->empty()) return Error(ErrorCode::kInvalid, std::string(name) + ": is required");
    }
    if (request.override_freeze && request.override_freeze_reason.empty()) {
      return Error(ErrorCode::kBadRequest,
                   "override_freeze needs a reason: set override_freeze_reason (shipctl promote "
                   "--override-freeze --reason TEXT)");
    }
    if (!request.override_freeze && !request.override_freeze_reason.empty()) {
      return Error(ErrorCode::kBadRequest,
                   "override_freeze_reason is only valid with \"override_freeze\": true");
    }
    return request;
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
    if (options_.extra_metrics) options_.extra_metrics(out);
    return out;
  }

  Engine& engine_;
  const Clock& clock_;
  ApiOptions options_;
  TagIngestor* ingestor_;
  httplib::Server server_;
  std::atomic<bool> run_returned_ = false;
  HttpMetrics metrics_;
  std::mutex tokens_mutex_;
  // By token hash: the record and when it was read.
  std::unordered_map<std::string, std::pair<TokenRecord, std::chrono::steady_clock::time_point>>
      tokens_;
  std::mutex streams_mutex_;
  std::condition_variable streams_done_;
  int open_streams_ = 0;  // event streams being served
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<ApiServer> MakeApiServer(Engine& engine, const Clock& clock, ApiOptions options,
                                         TagIngestor* ingestor) {
  return std::make_unique<HttplibApiServer>(engine, clock, options, ingestor);
}

}  // namespace shipd

#include "json_codec.h"

#include "shipd/model/manifest.h"
#include "shipd/model/progress_json.h"

namespace shipd {

using nlohmann::json;

int HttpStatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadRequest:
      return 400;
    case ErrorCode::kInvalid:
      return 422;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

json ErrorJson(std::string_view code, std::string_view message, const json& details) {
  json error = {{"code", code}, {"message", message}};
  if (!details.is_null()) error["details"] = details;
  return {{"error", std::move(error)}};
}

json ServiceSummaryJson(const ServiceState& service) {
  json out = {{"name", service.service.name},
              {"repo", service.service.repo},
              {"created_at", service.service.created_at},
              {"version_count", service.versions.size()}};
  out["latest"] =
      service.versions.empty() ? json(nullptr) : json(service.versions.back()->version.ToString());
  return out;
}

json ServiceJson(const ServiceState& service, const State& state) {
  json out = ServiceSummaryJson(service);
  json versions = json::array();
  for (const auto& v : service.versions) versions.push_back(v->version.ToString());
  out["versions"] = std::move(versions);
  json live = json::object();
  for (const auto& env : state.environments) {
    auto it = env->live.find(service.service.name);
    if (it != env->live.end()) live[env->environment.name] = DeploymentJson(it->second);
  }
  out["live"] = std::move(live);
  return out;
}

json DeploymentJson(const Deployment& d) {
  return {{"service", d.service},
          {"stable", d.stable ? json(d.stable->ToString()) : json(nullptr)},
          {"canary", d.canary ? json(d.canary->ToString()) : json(nullptr)},
          {"canary_weight", d.canary_weight},
          {"previous", d.previous ? json(d.previous->ToString()) : json(nullptr)},
          {"updated_at", d.updated_at}};
}

json EnvironmentJson(const EnvironmentState& env) {
  json live = json::array();
  for (const auto& [service, deployment] : env.live) {
    // A first deployment that was rolled back leaves an empty record: nothing runs there.
    if (!deployment.stable && !deployment.canary) continue;
    live.push_back(DeploymentJson(deployment));
  }
  return {{"name", env.environment.name},
          {"position", env.environment.position},
          {"after", env.environment.after.empty() ? json(nullptr) : json(env.environment.after)},
          {"live", std::move(live)}};
}

json EventJson(const Event& event) {
  json data = json::parse(event.data.empty() ? "{}" : event.data, nullptr, false);
  if (data.is_discarded()) data = event.data;
  return {{"id", event.id},     {"time", event.time},       {"actor", event.actor},
          {"kind", event.kind}, {"subject", event.subject}, {"data", std::move(data)}};
}

json PromotionJson(const Promotion& p) {
  json verdict = json::parse(p.verdict.empty() ? "{}" : p.verdict, nullptr, false);
  if (verdict.is_discarded()) verdict = json::object();
  return {{"id", p.id},
          {"service", p.service},
          {"version", p.version.ToString()},
          {"environment", p.environment},
          {"state", RolloutStateName(p.state)},
          {"requested_by", p.requested_by},
          {"override_reason", p.override_reason},
          {"override_freeze", !p.progress.override_freeze_reason.empty()},
          {"override_freeze_reason", p.progress.override_freeze_reason},
          {"verdict", std::move(verdict)},
          {"created_at", p.created_at},
          {"updated_at", p.updated_at},
          {"finished_at", p.finished_at == 0 ? json(nullptr) : json(p.finished_at)},
          {"progress", ProgressToJson(p.progress)}};
}

json EndpointsJson(const Endpoints& endpoints) {
  json out = json::object();
  if (!endpoints.canary_url.empty()) out["canary_url"] = endpoints.canary_url;
  if (!endpoints.stable_url.empty()) out["stable_url"] = endpoints.stable_url;
  return out;
}

json ApprovalJson(const Approval& approval) {
  return {{"promotion", approval.promotion},
          {"step", approval.step},
          {"service", approval.service},
          {"version", approval.version},
          {"environment", approval.environment},
          {"approver", approval.approver},
          {"roles", approval.roles},
          {"reason", approval.reason},
          {"approved_at", approval.created_at}};
}

json ApprovalsJson(const std::vector<Approval>& approvals) {
  json list = json::array();
  for (const Approval& approval : approvals) list.push_back(ApprovalJson(approval));
  return list;
}

}  // namespace shipd

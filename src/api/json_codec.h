// JSON shapes of the REST API v1 (documented in docs/api.md). Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "shipd/common/result.h"
#include "shipd/engine/engine.h"

namespace shipd {

int HttpStatusOf(ErrorCode code);
nlohmann::json ErrorJson(std::string_view code, std::string_view message,
                         const nlohmann::json& details = nullptr);

nlohmann::json ServiceSummaryJson(const ServiceState& service);
nlohmann::json ServiceJson(const ServiceState& service, const State& state);
nlohmann::json DeploymentJson(const Deployment& deployment);
nlohmann::json EnvironmentJson(const EnvironmentState& environment);
nlohmann::json EventJson(const Event& event);
// With its progress (phase, step, weight, reason, check tallies); without its events.
nlohmann::json PromotionJson(const Promotion& promotion);
// One approval: who (token, roles), when (approved_at, ms), at which gate (step; -1: before the
// start), and why.
nlohmann::json ApprovalJson(const Approval& approval);
nlohmann::json ApprovalsJson(const std::vector<Approval>& approvals);
// The non-empty URLs only; {} when the driver knows none.
nlohmann::json EndpointsJson(const Endpoints& endpoints);

}  // namespace shipd

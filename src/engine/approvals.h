// Approvals: the rule each approval gate of a promotion follows — the environment's `approvals`
// (count, roles, not_requester), or one approval from anyone holding approve:ENV when it has
// none — judged for one approver against the approvals already recorded. Pure functions;
// docs/governance.md#approvals.
#pragma once

#include <string>
#include <vector>

#include "shipd/config/pipelines.h"
#include "shipd/engine/engine.h"

namespace shipd {

// How many distinct approvals a gate into the environment needs (1 without `approvals`).
int ApprovalsNeeded(const Environment* config);

// The approvals of `recorded` that belong to gate `step`.
std::vector<Approval> ApprovalsAt(const std::vector<Approval>& recorded, int step);

// Ok when `actor` may add an approval to `promotion` at gate `step`: kPermissionDenied for the
// requester under not_requester or a token without one of the roles, kConflict for a token that
// approved this gate already. `recorded`: the gate's approvals so far.
Status JudgeApprover(const Environment* config, const Promotion& promotion, const Actor& actor,
                     const std::vector<Approval>& recorded);

// Why a rollout waits: "waiting for 2 approvals (one of the roles release-manager; not the
// requester)", or "waiting for approval" without `approvals`.
std::string DescribeApprovalGate(const Environment* config);

}  // namespace shipd

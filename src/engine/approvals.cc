#include "approvals.h"

#include <algorithm>

namespace shipd {

namespace {

std::string Joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

std::string Target(const Promotion& promotion) {
  return "promotion " + std::to_string(promotion.id) + " (" + promotion.service + "@" +
         promotion.version.ToString() + " into " + promotion.environment + ")";
}

}  // namespace

int ApprovalsNeeded(const Environment* config) {
  return config != nullptr && config->approvals ? std::max(1, config->approvals->count) : 1;
}

std::vector<Approval> ApprovalsAt(const std::vector<Approval>& recorded, int step) {
  std::vector<Approval> at;
  for (const Approval& approval : recorded) {
    if (approval.step == step) at.push_back(approval);
  }
  return at;
}

Status JudgeApprover(const Environment* config, const Promotion& promotion, const Actor& actor,
                     const std::vector<Approval>& recorded) {
  const Approvals* rule = config != nullptr && config->approvals ? &*config->approvals : nullptr;
  if (rule != nullptr && rule->not_requester && actor.name == promotion.requested_by) {
    return Error(ErrorCode::kPermissionDenied,
                 "token \"" + actor.name + "\" requested " + Target(promotion) +
                     " and cannot approve it: approvals in " + promotion.environment +
                     " must come from someone other than the requester (not_requester)");
  }
  if (rule != nullptr && !rule->roles.empty()) {
    const bool qualifies = std::any_of(actor.roles.begin(), actor.roles.end(), [&](const auto& r) {
      return std::find(rule->roles.begin(), rule->roles.end(), r) != rule->roles.end();
    });
    if (!qualifies) {
      return Error(ErrorCode::kPermissionDenied,
                   "token \"" + actor.name + "\" (roles " + Joined(actor.roles) +
                       ") cannot approve rollouts into " + promotion.environment +
                       ": an approval there needs one of the roles " + Joined(rule->roles));
    }
  }
  for (const Approval& approval : recorded) {
    if (approval.approver != actor.name) continue;
    return Error(ErrorCode::kConflict,
                 "token \"" + actor.name + "\" already approved " + Target(promotion) +
                     " at this gate; one token counts once (" + std::to_string(recorded.size()) +
                     " of " + std::to_string(ApprovalsNeeded(config)) + " approvals so far)");
  }
  return Ok();
}

std::string DescribeApprovalGate(const Environment* config) {
  if (config == nullptr || !config->approvals) return "waiting for approval";
  const Approvals& rule = *config->approvals;
  const int needed = ApprovalsNeeded(config);
  std::string text =
      "waiting for " + std::to_string(needed) + (needed == 1 ? " approval" : " distinct approvals");
  std::vector<std::string> conditions;
  if (!rule.roles.empty()) conditions.push_back("one of the roles " + Joined(rule.roles));
  if (rule.not_requester) conditions.push_back("not the requester");
  if (!conditions.empty()) {
    text += " (";
    for (size_t i = 0; i < conditions.size(); ++i) text += (i ? "; " : "") + conditions[i];
    text += ")";
  }
  return text;
}

}  // namespace shipd

// The contract gate: rules 1-5 of ARCHITECTURE.md §3, evaluated on a LiveView of the target
// environment for the state after each change in turn. The precise semantics (coexistence, what
// blocks and what warns) are in docs/contracts.md.

#include "shipd/contract/gate.h"

#include <algorithm>
#include <string>
#include <utility>

#include "gate_internal.h"

namespace shipd {

std::string Label(const Version& version) {
  return version.service + "@" + version.version.ToString();
}

bool SameVersion(const Version& a, const Version& b) {
  return &a == &b || (a.service == b.service && a.version == b.version);
}

const Provide* FindProvide(const Version& version, std::string_view api) {
  for (const Provide& provide : version.provides) {
    if (provide.api == api) return &provide;
  }
  return nullptr;
}

std::array<const Version*, 2> LiveVersions(const LiveService& live) {
  return {live.stable.get(), live.canary.get()};
}

void LiveView::Set(std::shared_ptr<const LiveService> live) {
  for (auto& replaced : replaced_) {
    if (replaced->service == live->service) {
      replaced = std::move(live);
      return;
    }
  }
  replaced_.push_back(std::move(live));
}

const LiveService* LiveView::Find(std::string_view service) const {
  for (const auto& replaced : replaced_) {
    if (replaced->service == service) return replaced->empty() ? nullptr : replaced.get();
  }
  return base_->Find(service);
}

bool LiveView::Replaced(std::string_view service) const {
  return std::any_of(replaced_.begin(), replaced_.end(),
                     [&](const auto& live) { return live->service == service; });
}

namespace {

// Whether every live version of `live` provides `api` within `range`; if not, which one fails.
bool ServiceSatisfies(const LiveService& live, std::string_view api, const Range& range,
                      const Version** offender, const Provide** offender_provide) {
  for (const Version* version : LiveVersions(live)) {
    if (version == nullptr) continue;
    const Provide* provide = FindProvide(*version, api);
    if (provide == nullptr || !range.Satisfies(provide->version)) {
      *offender = version;
      *offender_provide = provide;
      return false;
    }
  }
  return true;
}

bool ProvidesInRange(const Version& version, std::string_view api, const Range& range) {
  const Provide* provide = FindProvide(version, api);
  return provide != nullptr && range.Satisfies(provide->version);
}

}  // namespace

RequirementCheck CheckRequirement(const LiveView& view, std::string_view api, const Range& range,
                                  std::string_view blame) {
  RequirementCheck check;
  bool blamed = false;
  view.ForEachProvider(api, [&](const LiveService& live) {
    const Version* offender = nullptr;
    const Provide* provide = nullptr;
    if (ServiceSatisfies(live, api, range, &offender, &provide)) {
      ++check.satisfiers;
      const bool stable = live.stable != nullptr;
      if (check.satisfier == nullptr || (stable && !check.stable_satisfier)) {
        check.satisfier = &live;
      }
      check.stable_satisfier = check.stable_satisfier || stable;
      return;
    }
    // Report the blamed service's offender; otherwise prefer a version that offers the API.
    if (blamed) return;
    if (live.service == blame || check.offender == nullptr ||
        (check.offender_provide == nullptr && provide != nullptr)) {
      check.offender = offender;
      check.offender_provide = provide;
      blamed = live.service == blame;
    }
  });
  check.satisfied = check.satisfiers > 0;
  return check;
}

std::optional<Reason> CheckLifecycle(const Version& version, const std::string& environment,
                                     const GateContext& context) {
  const LifecyclePolicy& policy = context.lifecycle;
  if (policy.after.empty()) return std::nullopt;
  std::optional<TimeMs> at;
  if (context.history != nullptr) at = context.history->SucceededAt(version, policy.after);
  const int64_t soak = policy.soak ? policy.soak->count() : 0;
  if (at && (!policy.soak || context.now - *at >= soak)) return std::nullopt;
  Reason reason;
  reason.version = Label(version);
  reason.environment = environment;
  reason.upstream = policy.after;
  if (!at) {
    reason.rule = kRuleNotPromotedUpstream;
    reason.message = reason.version + " has not succeeded in " + policy.after + "; " + environment +
                     " takes only versions that succeeded there";
    return reason;
  }
  const int64_t elapsed = context.now - *at;
  reason.rule = kRuleSoakNotElapsed;
  reason.succeeded_at = *at;
  reason.soak_ms = soak;
  reason.remaining_ms = soak - elapsed;
  reason.message = reason.version + " succeeded in " + policy.after + " " +
                   FormatDurationMs(std::max<int64_t>(elapsed, 0)) + " ago; " + environment +
                   " requires " + FormatDurationMs(soak) + " of soak (" +
                   FormatDurationMs(*reason.remaining_ms) + " left)";
  return reason;
}

namespace {

// Fills what a requirement would get: the offending provider and its API version, or "none".
void DescribeOffender(const RequirementCheck& check, Reason& reason) {
  if (check.offender != nullptr) reason.provider = Label(*check.offender);
  reason.would_have =
      check.offender_provide != nullptr ? check.offender_provide->version.ToString() : "none";
}

std::string WhatItWouldHave(const Reason& reason) {
  if (reason.provider.empty()) return "no live version provides " + reason.api;
  if (reason.would_have == "none") return reason.provider + " does not provide " + reason.api;
  return "would have " + reason.would_have + " from " + reason.provider;
}

class Evaluation {
 public:
  Evaluation(const GateContext& context, const std::string& environment, Verdict& verdict)
      : context_(context), environment_(environment), verdict_(verdict) {}

  // Rules 1 and 3 (the newcomer's own requirements) in the state after its change.
  void CheckRequirements(const Version& version, const LiveView& after) {
    for (const Require& require : version.requires_) {
      const RequirementCheck check = CheckRequirement(after, require.api, require.range);
      if (check.satisfied && (require.optional || check.satisfier->service == version.service)) {
        continue;
      }
      // Satisfied by a stable: only a lone provider whose rollback target falls short warns.
      const LiveService* satisfier = check.satisfier;
      if (check.satisfied && check.stable_satisfier &&
          (check.satisfiers > 1 || !satisfier->rollback_target ||
           ProvidesInRange(*satisfier->rollback_target, require.api, require.range))) {
        continue;
      }

      Reason reason;
      reason.version = Label(version);
      reason.api = require.api;
      reason.requires_ = require.range.text();
      if (!check.satisfied) {
        DescribeOffender(check, reason);
        reason.rule =
            require.optional ? kRuleOptionalRequirementMissing : kRuleUnsatisfiedRequirement;
        reason.message = reason.version + " requires " + reason.api + " " + reason.requires_ +
                         (require.optional ? " (optional)" : "") + ", but " +
                         WhatItWouldHave(reason);
        (require.optional ? verdict_.warnings : verdict_.reasons).push_back(std::move(reason));
        continue;
      }
      reason.rule = kRuleRollbackUnsafe;
      if (!check.stable_satisfier) {
        // A canary disappears on any failed analysis; nothing would be left to serve the API.
        reason.provider = Label(*satisfier->canary);
        reason.would_have = "none";
        reason.message = reason.version + " requires " + reason.api + " " + reason.requires_ +
                         ", which only the canary " + reason.provider +
                         " provides; a rollback of that canary would strand it. Promote " +
                         reason.provider + " first";
        verdict_.reasons.push_back(std::move(reason));
      } else {
        const Version& target = *satisfier->rollback_target;
        const Provide* old = FindProvide(target, require.api);
        reason.provider = Label(*satisfier->stable);
        reason.rollback_target = Label(target);
        reason.would_have = old != nullptr ? old->version.ToString() : "none";
        reason.message = "rolling " + satisfier->service + " back to " + target.version.ToString() +
                         " would strand " + reason.version + " (requires " + reason.api + " " +
                         reason.requires_ + ", would have " + reason.would_have + ")";
        verdict_.warnings.push_back(std::move(reason));
      }
    }
  }

  // Rule 2: the live consumers of every API the changed service provided or provides.
  void CheckConsumers(const Version& version, const LiveService* current, const LiveService& next,
                      const LiveView& before, const LiveView& after) {
    std::vector<std::string_view> apis;
    for (const LiveService* live : {current, &next}) {
      if (live == nullptr) continue;
      for (const Version* v : LiveVersions(*live)) {
        if (v == nullptr) continue;
        for (const Provide& provide : v->provides) {
          if (std::find(apis.begin(), apis.end(), provide.api) == apis.end()) {
            apis.push_back(provide.api);
          }
        }
      }
    }
    for (std::string_view api : apis) {
      for (const auto& group : after.base().Consumers(api)) {
        auto live_member = [&](const ConsumerSlot& slot) {
          return !after.Replaced(slot.version->service);
        };
        if (std::none_of(group->members.begin(), group->members.end(), live_member)) continue;
        const RequirementCheck check = CheckRequirement(after, api, group->range, version.service);
        if (check.satisfied) continue;
        const bool was = CheckRequirement(before, api, group->range, version.service).satisfied;
        for (const ConsumerSlot& slot : group->members) {
          if (live_member(slot)) ReportConsumer(*slot.version, *slot.require, check, was);
        }
      }
      // Consumers among the services the change set replaced (the newcomer checks itself).
      for (const auto& live : after.replaced()) {
        for (const Version* consumer : LiveVersions(*live)) {
          if (consumer == nullptr || SameVersion(*consumer, version)) continue;
          for (const Require& require : consumer->requires_) {
            if (require.api != api) continue;
            const RequirementCheck check =
                CheckRequirement(after, api, require.range, version.service);
            if (check.satisfied) continue;
            const bool was =
                CheckRequirement(before, api, require.range, version.service).satisfied;
            ReportConsumer(*consumer, require, check, was);
          }
        }
      }
    }
  }

  // Rule 4: a provided API whose major (minor below 1.0.0) did not go up must not break.
  void CheckHonestSemver(const Version& version, const LiveView& before) {
    if (context_.differ == nullptr) return;
    for (const Provide& provide : version.provides) {
      std::vector<const Version*> compared;
      before.ForEachProvider(provide.api, [&](const LiveService& live) {
        for (const Version* old : LiveVersions(live)) {
          if (old == nullptr || SameVersion(*old, version)) continue;
          if (std::find(compared.begin(), compared.end(), old) != compared.end()) continue;
          const Provide* old_provide = FindProvide(*old, provide.api);
          if (old_provide == nullptr ||
              !SameCompatibilityLine(old_provide->version, provide.version))
            continue;
          compared.push_back(old);
          DiffSpecs(version, provide, *old, *old_provide);
        }
      });
    }
  }

  // Rule 5, turned into a warning by an override.
  void CheckLifecycle(const Version& version, const std::string& override_reason) {
    std::optional<Reason> reason = shipd::CheckLifecycle(version, environment_, context_);
    if (!reason) return;
    if (override_reason.empty()) {
      verdict_.reasons.push_back(std::move(*reason));
      return;
    }
    reason->override_reason = override_reason;
    reason->message += " (overridden: " + override_reason + ")";
    verdict_.warnings.push_back(std::move(*reason));
  }

  // Rule 3 for a train: after all cars, rolling a promoted car back must not strand that car's
  // rollback target, whose providers may have moved on within the same train.
  void CheckRollbackTargets(const ChangeSet& changes, const LiveView& final_state) {
    for (size_t i = 0; i < changes.changes.size(); ++i) {
      const Change& change = changes.changes[i];
      if (change.kind != ChangeKind::kPromote) continue;
      const Version& version = *change.version;
      const LiveService* live = final_state.Find(version.service);
      if (live == nullptr || !live->stable || !SameVersion(*live->stable, version) ||
          !live->rollback_target) {
        continue;
      }
      const Version& target = *live->rollback_target;
      LiveView rolled = final_state;
      auto back = std::make_shared<LiveService>();
      back->service = version.service;
      back->stable = live->rollback_target;
      rolled.Set(std::move(back));
      for (const Require& require : target.requires_) {
        if (require.optional) continue;
        const RequirementCheck check = CheckRequirement(rolled, require.api, require.range);
        if (check.satisfied) continue;
        Reason reason;
        reason.rule = kRuleRollbackUnsafe;
        reason.step = static_cast<int>(i + 1);
        reason.version = Label(version);
        reason.rollback_target = Label(target);
        reason.api = require.api;
        reason.requires_ = require.range.text();
        DescribeOffender(check, reason);
        reason.message = "rolling " + version.service + " back to " + target.version.ToString() +
                         " after this change set would strand " + reason.rollback_target +
                         ": it requires " + reason.api + " " + reason.requires_ + ", but " +
                         WhatItWouldHave(reason);
        verdict_.warnings.push_back(std::move(reason));
      }
    }
  }

 private:
  static bool SameCompatibilityLine(const Semver& live, const Semver& candidate) {
    if (candidate < live || candidate.major() != live.major()) return false;
    return candidate.major() != 0 || candidate.minor() == live.minor();
  }

  void DiffSpecs(const Version& version, const Provide& provide, const Version& old,
                 const Provide& old_provide) {
    auto findings = context_.differ->BreakingChanges(old, version, provide.api);
    if (findings.ok() && findings->empty()) return;
    Reason reason;
    reason.version = Label(version);
    reason.api = provide.api;
    reason.against = Label(old);
    reason.from = old_provide.version.ToString();
    reason.to = provide.version.ToString();
    if (!findings.ok()) {
      reason.rule = kRuleSpecDiffFailed;
      reason.message = "cannot compare the " + reason.api + " documents of " + reason.version +
                       " and " + reason.against + ": " + findings.error().message();
      verdict_.reasons.push_back(std::move(reason));
      return;
    }
    const Semver& to = provide.version;
    const std::string needed =
        to.major() == 0 ? "a new minor version (0." + std::to_string(to.minor() + 1) + ".0)"
                        : "a new major version (" + std::to_string(to.major() + 1) + ".0.0)";
    reason.rule = kRuleDishonestSemver;
    reason.findings = std::move(*findings);
    reason.message = reason.version + " provides " + reason.api + " " + reason.to + " with " +
                     std::to_string(reason.findings.size()) + " breaking change" +
                     (reason.findings.size() == 1 ? "" : "s") + " against " + reason.against +
                     " (" + reason.api + " " + reason.from + "); breaking changes need " + needed;
    verdict_.reasons.push_back(std::move(reason));
  }

  void ReportConsumer(const Version& consumer, const Require& require,
                      const RequirementCheck& check, bool was_satisfied) {
    if (!was_satisfied && require.optional) return;
    Reason reason;
    reason.consumer = Label(consumer);
    reason.api = require.api;
    reason.requires_ = require.range.text();
    DescribeOffender(check, reason);
    reason.message = reason.consumer + " requires " + reason.api + " " + reason.requires_ +
                     (require.optional ? " (optional)" : "") + ", but " + WhatItWouldHave(reason);
    if (!was_satisfied) {
      reason.rule = kRuleConsumerAlreadyBroken;
      reason.message += "; it is unsatisfied already";
      verdict_.warnings.push_back(std::move(reason));
    } else if (require.optional) {
      reason.rule = kRuleOptionalConsumerBroken;
      verdict_.warnings.push_back(std::move(reason));
    } else {
      reason.rule = kRuleConsumerBroken;
      verdict_.reasons.push_back(std::move(reason));
    }
  }

  const GateContext& context_;
  const std::string& environment_;
  Verdict& verdict_;
};

}  // namespace

Verdict Evaluate(const ChangeSet& changes, const EnvironmentIndex& target,
                 const GateContext& context) {
  Verdict verdict;
  verdict.environment = target.environment();
  for (const Change& change : changes.changes) {
    verdict.changes.push_back(Label(*change.version) +
                              (change.kind == ChangeKind::kCanary ? " (canary)" : ""));
  }
  Evaluation evaluation(context, verdict.environment, verdict);
  LiveView state(target);
  int step = 0;
  for (const Change& change : changes.changes) {
    ++step;
    const size_t reasons = verdict.reasons.size();
    const size_t warnings = verdict.warnings.size();
    const Version& version = *change.version;
    const LiveService* current = state.Find(version.service);
    auto next = std::make_shared<const LiveService>(
        change.kind == ChangeKind::kPromote
            ? AfterPromotion(current, change.version)
            : AfterCanary(current, change.version, change.canary_weight));

    // "Before" is the state without this version, so re-evaluating a running canary (before a
    // weight increase) still judges what the canary itself breaks.
    LiveView before = state;
    if (current != nullptr && current->canary && SameVersion(*current->canary, version)) {
      auto without = std::make_shared<LiveService>(*current);
      without->canary.reset();
      without->canary_weight = 0;
      before.Set(std::move(without));
    }
    LiveView after = state;
    after.Set(next);

    evaluation.CheckRequirements(version, after);
    evaluation.CheckConsumers(version, current, *next, before, after);
    evaluation.CheckHonestSemver(version, before);
    evaluation.CheckLifecycle(version, changes.override_reason);
    for (size_t i = reasons; i < verdict.reasons.size(); ++i) verdict.reasons[i].step = step;
    for (size_t i = warnings; i < verdict.warnings.size(); ++i) verdict.warnings[i].step = step;
    state = std::move(after);
  }
  if (changes.changes.size() > 1) evaluation.CheckRollbackTargets(changes, state);
  verdict.allowed = verdict.reasons.empty();
  return verdict;
}

}  // namespace shipd

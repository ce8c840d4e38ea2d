// The planner: a depth-first walk over unmet requirements. For each it tries the eligible
// providers newest first and keeps the first whose own sub-plan resolves and whose promotion
// passes the gate after the steps chosen so far. Then, for each live consumer the requested
// version would break, it tries that consumer's registered versions oldest first and keeps the
// first that accepts the requested version and can go before it. The search is bounded (depth,
// candidates, total).

#include "shipd/contract/planner.h"

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gate_internal.h"

namespace shipd {

namespace {

constexpr size_t kMaxDepth = 32;
constexpr size_t kMaxCandidates = 8;  // eligible providers tried per requirement
constexpr size_t kMaxListed = 8;      // registered providers listed in a problem
constexpr int kMaxResolves = 1000;

// Promotions chosen so far, in order, with why.
struct Steps {
  std::vector<Change> changes;
  std::vector<std::string> reasons;
};

// "has not succeeded in staging", "soaking in staging, 5m left".
std::string NotEligibleBecause(const Reason& lifecycle) {
  return lifecycle.rule == kRuleNotPromotedUpstream
             ? "has not succeeded in " + lifecycle.upstream
             : "soaking in " + lifecycle.upstream + ", " +
                   FormatDurationMs(lifecycle.remaining_ms.value_or(0)) + " left";
}

// "orders 4.0.0": what `target` offers of `api`; "orders@4.0.0, which drops orders" when nothing.
std::string Offer(const Version& target, std::string_view api) {
  const Provide* provide = FindProvide(target, api);
  if (provide == nullptr) return Label(target) + ", which drops " + std::string(api);
  return std::string(api) + " " + provide->version.ToString();
}

// The service of a "service@version" label.
std::string_view ServiceOf(std::string_view label) { return label.substr(0, label.rfind('@')); }

class Planner {
 public:
  Planner(const EnvironmentIndex& environment, const ProviderCatalog& catalog,
          const ServiceVersions& versions, const GateContext& context)
      : environment_(&environment), catalog_(catalog), versions_(versions), context_(context) {}

  // Appends to `steps` the promotions `version` needs first (not `version` itself). On failure
  // returns false with `problems` saying why, and `steps` unspecified.
  bool Resolve(const std::shared_ptr<const Version>& version, Steps& steps,
               std::vector<PlanProblem>& problems) {
    if (++resolves_ > kMaxResolves || stack_.size() >= kMaxDepth) {
      PlanProblem problem;
      problem.kind = "search-limit";
      problem.version = Label(*version);
      problem.message = "the dependencies of " + problem.version +
                        " are too deep or too tangled to plan automatically";
      problems.push_back(std::move(problem));
      return false;
    }
    stack_.push_back(version.get());
    bool ok = true;
    for (const Require& require : version->requires_) {
      if (require.optional) continue;
      // The state in which `version` will arrive: after the steps so far, with itself promoted.
      LiveView view(*environment_);
      for (const Change& change : steps.changes) Promote(view, change.version);
      Promote(view, version);
      const RequirementCheck check = CheckRequirement(view, require.api, require.range);
      if (check.satisfied && check.stable_satisfier) continue;
      if (!ResolveRequirement(*version, require, steps, problems)) {
        ok = false;
        break;
      }
    }
    stack_.pop_back();
    return ok;
  }

  // Appends to `steps` an upgrade, with whatever it needs first, of each live consumer that
  // `broken` (the gate's consumer-broken reasons for promoting `target` after `steps`) names. A
  // consumer that cannot be upgraded adds to `problems` and is skipped. Cost: per broken consumer,
  // its registered versions newer than the live one, plus the few it tries.
  void UpgradeConsumers(const std::shared_ptr<const Version>& target,
                        const std::vector<Reason>& broken, Steps& steps,
                        std::vector<PlanProblem>& problems) {
    // By consumer service, in name order so that plans do not depend on the index's layout.
    std::vector<std::pair<std::string_view, const Reason*>> by_service;
    for (const Reason& reason : broken) {
      const std::string_view service = ServiceOf(reason.consumer);
      if (service != target->service) by_service.emplace_back(service, &reason);
    }
    std::stable_sort(by_service.begin(), by_service.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::pair<std::string_view, std::vector<const Reason*>>> consumers;
    for (const auto& [service, reason] : by_service) {
      if (consumers.empty() || consumers.back().first != service)
        consumers.push_back({service, {}});
      consumers.back().second.push_back(reason);
    }

    // The APIs whose providers the target's promotion changes.
    std::vector<std::string_view> apis;
    auto add = [&apis](const Version* version) {
      if (version == nullptr) return;
      for (const Provide& provide : version->provides) {
        if (std::find(apis.begin(), apis.end(), provide.api) == apis.end())
          apis.push_back(provide.api);
      }
    };
    add(target.get());
    if (const LiveService* live = environment_->Find(target->service)) {
      for (const Version* version : LiveVersions(*live)) add(version);
    }

    // Each consumer is planned against the environment with the steps so far applied, so its
    // checks and gate evaluations cost what its own steps touch, not the length of the plan.
    EnvironmentIndex applied = *environment_;
    auto apply = [&applied](const std::shared_ptr<const Version>& version) {
      applied = applied.With(AfterPromotion(applied.Find(version->service), version));
    };
    for (const Change& change : steps.changes) apply(change.version);
    const EnvironmentIndex* original = environment_;
    environment_ = &applied;
    // The target is on the stack: a consumer upgrade that needs it live first is a cycle.
    stack_.push_back(target.get());
    for (const auto& [service, reasons] : consumers) {
      Steps own;
      if (!UpgradeConsumer(target, service, reasons, apis, own, problems)) continue;
      for (size_t i = 0; i < own.changes.size(); ++i) {
        apply(own.changes[i].version);
        steps.changes.push_back(std::move(own.changes[i]));
        steps.reasons.push_back(std::move(own.reasons[i]));
      }
    }
    stack_.pop_back();
    environment_ = original;
  }

 private:
  bool ResolveRequirement(const Version& consumer, const Require& require, Steps& steps,
                          std::vector<PlanProblem>& problems) {
    std::vector<CatalogEntry> candidates;
    std::vector<std::string> rejected;
    size_t unlisted = 0;
    catalog_.ForEachProvider(require.api, [&](const CatalogEntry& entry) {
      std::optional<Reason> lifecycle;
      const bool in_range = require.range.Satisfies(entry.provide->version);
      if (in_range) {
        lifecycle = CheckLifecycle(*entry.version, environment_->environment(), context_);
        if (!lifecycle) {
          candidates.push_back(entry);
          return candidates.size() < kMaxCandidates;
        }
      }
      // Texts only for the few rejections that are listed: a long history has thousands.
      if (rejected.size() >= kMaxListed) {
        ++unlisted;
        return true;
      }
      const std::string what = Label(*entry.version) + " (" + require.api + " " +
                               entry.provide->version.ToString() + ")";
      const std::string why =
          !in_range ? "outside " + require.range.text() : NotEligibleBecause(*lifecycle);
      rejected.push_back(what + ": " + why);
      return true;
    });
    // Equal API versions: prefer a service that already runs in the environment.
    std::stable_sort(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
      if (auto c = a.provide->version <=> b.provide->version; c != 0) return c > 0;
      return Live(a) && !Live(b);
    });

    const std::string label = Label(consumer);
    if (candidates.empty()) {
      PlanProblem problem;
      problem.kind = "no-eligible-provider";
      problem.version = label;
      problem.api = require.api;
      problem.requires_ = require.range.text();
      if (unlisted > 0) rejected.push_back("... and " + std::to_string(unlisted) + " more");
      problem.candidates = std::move(rejected);
      problem.message =
          label + " requires " + require.api + " " + problem.requires_ +
          " and no eligible version provides it" +
          (problem.candidates.empty() ? ": no registered version provides " + require.api
                                      : " (registered: " + problem.candidates.front() +
                                            (problem.candidates.size() > 1 ? ", ..." : "") + ")");
      problems.push_back(std::move(problem));
      return false;
    }

    std::vector<PlanProblem> first_failure;
    for (const CatalogEntry& candidate : candidates) {
      std::vector<PlanProblem> attempt_problems;
      if (TryCandidate(consumer, require, candidate, steps, attempt_problems)) return true;
      if (first_failure.empty()) first_failure = std::move(attempt_problems);
    }
    problems.insert(problems.end(), first_failure.begin(), first_failure.end());
    return false;
  }

  bool TryCandidate(const Version& consumer, const Require& require, const CatalogEntry& candidate,
                    Steps& steps, std::vector<PlanProblem>& problems) {
    const Version& provider = *candidate.version;
    auto in_stack = std::find_if(stack_.begin(), stack_.end(),
                                 [&](const Version* v) { return SameVersion(*v, provider); });
    if (in_stack != stack_.end()) {
      PlanProblem problem;
      problem.kind = "cycle";
      problem.version = Label(consumer);
      for (auto it = in_stack; it != stack_.end(); ++it) problem.cycle.push_back(Label(**it));
      problem.cycle.push_back(Label(provider));
      std::string path;
      for (const std::string& step : problem.cycle) path += (path.empty() ? "" : " -> ") + step;
      problem.message = "dependency cycle: " + path +
                        "; none can go first. Break it with a version that accepts what is live, "
                        "or make one requirement optional";
      problems.push_back(std::move(problem));
      return false;
    }
    Steps trial = steps;
    if (!Resolve(candidate.version, trial, problems)) return false;
    trial.changes.push_back(Change{candidate.version, ChangeKind::kPromote, 0});
    trial.reasons.push_back("provides " + require.api + " " +
                            candidate.provide->version.ToString() + " for " + Label(consumer) +
                            " (requires " + require.range.text() + ")");
    ChangeSet set;
    set.changes = trial.changes;
    Verdict verdict = Evaluate(set, *environment_, context_);
    if (!verdict.allowed) {
      PlanProblem problem;
      problem.kind = "blocked";
      problem.version = Label(provider);
      problem.message = "promoting " + problem.version + " for " + Label(consumer) +
                        " is blocked: " + verdict.reasons.front().message;
      problem.reasons = std::move(verdict.reasons);
      problems.push_back(std::move(problem));
      return false;
    }
    steps = std::move(trial);
    return true;
  }

  // Finds a registered version of `service`, newer than the live one, that accepts `target` and
  // can go before it, and appends it (after what it needs) to `steps`, which start from
  // `environment_`. Returns whether it did; if not, `problems` says why.
  bool UpgradeConsumer(const std::shared_ptr<const Version>& target, std::string_view service,
                       const std::vector<const Reason*>& reasons,
                       const std::vector<std::string_view>& apis, Steps& steps,
                       std::vector<PlanProblem>& problems) {
    LiveView now(*environment_);
    for (const Change& change : steps.changes) Promote(now, change.version);
    const LiveService* live = now.Find(service);
    if (live == nullptr) return true;  // nothing to break; the final gate check has the last word
    const Version& current = live->stable ? *live->stable : *live->canary;
    std::span<const std::shared_ptr<const Version>> registered;
    if (versions_) registered = versions_(service);
    auto newer = std::upper_bound(
        registered.begin(), registered.end(), current.version,
        [](const Semver& v, const std::shared_ptr<const Version>& r) { return v < r->version; });

    // Oldest first: the smallest change. A candidate that can go first as things are is tried
    // at once; one that needs providers of its own is tried after the scan.
    std::vector<std::string> rejected;
    size_t unlisted = 0;
    std::vector<std::shared_ptr<const Version>> deferred;
    std::vector<PlanProblem> first_failure;
    size_t tried = 0;
    auto attempt = [&](const std::shared_ptr<const Version>& candidate) {
      ++tried;
      std::vector<PlanProblem> attempt_problems;
      if (TryConsumer(*target, candidate, reasons, steps, attempt_problems)) return true;
      if (first_failure.empty()) first_failure = std::move(attempt_problems);
      return false;
    };
    for (auto it = newer; it != registered.end() && tried < kMaxCandidates; ++it) {
      const std::shared_ptr<const Version>& candidate = *it;
      const Refusal refusal = Refuses(target, candidate, apis, now);
      std::optional<Reason> lifecycle;
      if (refusal.require == nullptr) {
        lifecycle = CheckLifecycle(*candidate, environment_->environment(), context_);
        if (!lifecycle) {
          if (!Ready(candidate, now)) {
            if (deferred.size() < kMaxCandidates) deferred.push_back(candidate);
          } else if (attempt(candidate)) {
            return true;
          }
          continue;
        }
      }
      // Texts only for the few rejections that are listed.
      if (rejected.size() >= kMaxListed) {
        ++unlisted;
        continue;
      }
      rejected.push_back(
          Label(*candidate) + ": " +
          (lifecycle ? NotEligibleBecause(*lifecycle) : Describe(refusal, *target, *candidate)));
    }
    for (const auto& candidate : deferred) {
      if (tried >= kMaxCandidates) break;
      if (attempt(candidate)) return true;
    }
    if (!first_failure.empty()) {
      problems.insert(problems.end(), first_failure.begin(), first_failure.end());
      return false;
    }

    const Reason& first = *reasons.front();
    PlanProblem problem;
    problem.kind = "no-compatible-consumer";
    problem.version = first.consumer;
    problem.api = first.api;
    problem.requires_ = first.requires_;
    if (unlisted > 0) rejected.push_back("... and " + std::to_string(unlisted) + " more");
    problem.candidates = std::move(rejected);
    std::string broken;
    for (const Reason* reason : reasons) {
      broken += (broken.empty() ? "" : ", ") + reason->consumer + " (requires " + reason->api +
                " " + reason->requires_ + ")";
    }
    problem.message =
        Label(*target) + " would break " + broken + " and no registered version of " +
        std::string(service) + " accepts " + Offer(*target, first.api) +
        (problem.candidates.empty() ? ": none is newer than " + current.version.ToString()
                                    : " (registered: " + problem.candidates.front() +
                                          (problem.candidates.size() > 1 ? ", ..." : "") + ")");
    problems.push_back(std::move(problem));
    return false;
  }

  // Why a consumer version cannot run beside the target: a requirement of its own the target
  // leaves unmet, or (`by_target`) one of the target's that it leaves unmet. Null: none.
  struct Refusal {
    const Require* require = nullptr;
    bool by_target = false;
  };

  // Checks, once `candidate` and then `target` are promoted after `now`, the requirements of
  // either on the other's side: the candidate's of the APIs whose providers the target changes
  // (`apis`), and the target's of the APIs the candidate provides.
  static Refusal Refuses(const std::shared_ptr<const Version>& target,
                         const std::shared_ptr<const Version>& candidate,
                         const std::vector<std::string_view>& apis, const LiveView& now) {
    LiveView after = now;
    Promote(after, candidate);
    Promote(after, target);
    for (const Require& require : candidate->requires_) {
      if (require.optional || std::find(apis.begin(), apis.end(), require.api) == apis.end()) {
        continue;
      }
      if (!CheckRequirement(after, require.api, require.range).satisfied) return {&require, false};
    }
    for (const Require& require : target->requires_) {
      if (require.optional || FindProvide(*candidate, require.api) == nullptr) continue;
      if (!CheckRequirement(after, require.api, require.range).satisfied) return {&require, true};
    }
    return {};
  }

  static std::string Describe(const Refusal& refusal, const Version& target,
                              const Version& candidate) {
    const Require& require = *refusal.require;
    const std::string wants = require.api + " " + require.range.text();
    if (!refusal.by_target) return "requires " + wants;
    return "provides " + Offer(candidate, require.api) + ", but " + Label(target) + " requires " +
           wants;
  }

  // Whether every requirement of `candidate` is met by stable versions once it is promoted after
  // `now`: it can go first without providers of its own.
  static bool Ready(const std::shared_ptr<const Version>& candidate, const LiveView& now) {
    LiveView after = now;
    Promote(after, candidate);
    for (const Require& require : candidate->requires_) {
      if (require.optional) continue;
      const RequirementCheck check = CheckRequirement(after, require.api, require.range);
      if (!check.satisfied || !check.stable_satisfier) return false;
    }
    return true;
  }

  bool TryConsumer(const Version& target, const std::shared_ptr<const Version>& candidate,
                   const std::vector<const Reason*>& reasons, Steps& steps,
                   std::vector<PlanProblem>& problems) {
    Steps trial = steps;
    if (!Resolve(candidate, trial, problems)) return false;
    trial.changes.push_back(Change{candidate, ChangeKind::kPromote, 0});
    trial.reasons.push_back(WhyUpgrade(target, *candidate, reasons));
    ChangeSet set;
    set.changes = trial.changes;
    Verdict verdict = Evaluate(set, *environment_, context_);
    if (!verdict.allowed) {
      PlanProblem problem;
      problem.kind = "blocked";
      problem.version = Label(*candidate);
      problem.message = "upgrading " + candidate->service + " to " + candidate->version.ToString() +
                        " for " + Label(target) + " is blocked: " + verdict.reasons.front().message;
      problem.reasons = std::move(verdict.reasons);
      problems.push_back(std::move(problem));
      return false;
    }
    steps = std::move(trial);
    return true;
  }

  // "accepts orders 4.0.0 (requires >=3.1.0 <5.0.0); web@5.2.0 does not (requires ^3.0)".
  static std::string WhyUpgrade(const Version& target, const Version& candidate,
                                const std::vector<const Reason*>& reasons) {
    std::vector<std::string_view> apis;
    for (const Reason* reason : reasons) {
      if (std::find(apis.begin(), apis.end(), reason->api) == apis.end())
        apis.push_back(reason->api);
    }
    std::string accepts;
    for (std::string_view api : apis) {
      const Require* require = nullptr;
      for (const Require& r : candidate.requires_) {
        if (r.api == api && !r.optional) require = &r;
      }
      accepts += (accepts.empty() ? "accepts " : " and ") + Offer(target, api) +
                 (require != nullptr ? " (requires " + require->range.text() + ")"
                                     : " (does not require " + std::string(api) + ")");
    }
    std::string out = accepts;
    for (const Reason* reason : reasons) {
      out += "; " + reason->consumer + " does not (requires " +
             (apis.size() > 1 ? reason->api + " " : "") + reason->requires_ + ")";
    }
    return out;
  }

  static void Promote(LiveView& view, const std::shared_ptr<const Version>& version) {
    view.Set(
        std::make_shared<const LiveService>(AfterPromotion(view.Find(version->service), version)));
  }

  bool Live(const CatalogEntry& entry) const {
    return environment_->Find(entry.version->service) != nullptr;
  }

  // What the steps are planned against: the environment, or while consumers are upgraded the
  // environment with the steps chosen before them applied.
  const EnvironmentIndex* environment_;
  const ProviderCatalog& catalog_;
  const ServiceVersions& versions_;
  const GateContext& context_;
  std::vector<const Version*> stack_;  // versions being resolved, outermost first
  int resolves_ = 0;
};

}  // namespace

Plan PlanPromotion(const std::shared_ptr<const Version>& target,
                   const EnvironmentIndex& environment, const ProviderCatalog& catalog,
                   const ServiceVersions& versions, const GateContext& context,
                   std::string_view override_reason) {
  Plan plan;
  plan.service = target->service;
  plan.version = target->version;
  plan.environment = environment.environment();
  const LiveService* live = environment.Find(target->service);
  if (live != nullptr && live->stable && SameVersion(*live->stable, *target) && !live->canary) {
    plan.possible = true;
    plan.verdict.environment = plan.environment;
    return plan;
  }

  Planner planner(environment, catalog, versions, context);
  Steps steps;
  if (!planner.Resolve(target, steps, plan.problems)) {
    if (auto lifecycle = CheckLifecycle(*target, plan.environment, context);
        lifecycle && override_reason.empty()) {
      plan.problems.push_back(
          PlanProblem{"not-eligible", lifecycle->message, lifecycle->version, "", "", {}, {}, {}});
    }
    return plan;
  }
  auto evaluate = [&] {
    ChangeSet set;
    set.changes = steps.changes;
    set.changes.push_back(Change{target, ChangeKind::kPromote, 0});
    set.override_reason = std::string(override_reason);
    return Evaluate(set, environment, context);
  };
  plan.verdict = evaluate();
  // Live consumers the target would break: upgrade them first.
  const int target_step = static_cast<int>(steps.changes.size() + 1);
  std::vector<Reason> broken;
  for (const Reason& reason : plan.verdict.reasons) {
    if (reason.rule == kRuleConsumerBroken && reason.step == target_step) broken.push_back(reason);
  }
  if (!broken.empty()) {
    const size_t before = steps.changes.size();
    planner.UpgradeConsumers(target, broken, steps, plan.problems);
    if (steps.changes.size() != before) plan.verdict = evaluate();
  }
  steps.changes.push_back(Change{target, ChangeKind::kPromote, 0});
  steps.reasons.push_back("requested");
  if (!plan.verdict.allowed) {
    PlanProblem problem;
    problem.kind = "blocked";
    problem.version = Label(*target);
    problem.message = "after these promotions " + problem.version +
                      " is still blocked: " + plan.verdict.reasons.front().message;
    problem.reasons = plan.verdict.reasons;
    plan.problems.push_back(std::move(problem));
  }
  for (size_t i = 0; i < steps.changes.size(); ++i) {
    const Version& version = *steps.changes[i].version;
    plan.steps.push_back(
        PlanStep{version.service, version.version, plan.environment, steps.reasons[i]});
  }
  plan.possible = plan.problems.empty();
  return plan;
}

}  // namespace shipd

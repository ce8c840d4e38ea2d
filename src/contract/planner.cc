// The planner: a depth-first walk over unmet requirements. For each it tries the eligible
// providers newest first and keeps the first whose own sub-plan resolves and whose promotion
// passes the gate after the steps chosen so far; the search is bounded (depth, candidates, total).

#include "shipd/contract/planner.h"

#include <algorithm>
#include <optional>
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

class Planner {
 public:
  Planner(const EnvironmentIndex& environment, const ProviderCatalog& catalog,
          const GateContext& context)
      : environment_(environment), catalog_(catalog), context_(context) {}

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
      LiveView view(environment_);
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
        lifecycle = CheckLifecycle(*entry.version, environment_.environment(), context_);
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
      const std::string why = !in_range ? "outside " + require.range.text()
                              : lifecycle->rule == kRuleNotPromotedUpstream
                                  ? "has not succeeded in " + lifecycle->upstream
                                  : "soaking in " + lifecycle->upstream + ", " +
                                        FormatDurationMs(lifecycle->remaining_ms.value_or(0)) +
                                        " left";
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
    Verdict verdict = Evaluate(set, environment_, context_);
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

  static void Promote(LiveView& view, const std::shared_ptr<const Version>& version) {
    view.Set(
        std::make_shared<const LiveService>(AfterPromotion(view.Find(version->service), version)));
  }

  bool Live(const CatalogEntry& entry) const {
    return environment_.Find(entry.version->service) != nullptr;
  }

  const EnvironmentIndex& environment_;
  const ProviderCatalog& catalog_;
  const GateContext& context_;
  std::vector<const Version*> stack_;  // versions being resolved, outermost first
  int resolves_ = 0;
};

}  // namespace

Plan PlanPromotion(const std::shared_ptr<const Version>& target,
                   const EnvironmentIndex& environment, const ProviderCatalog& catalog,
                   const GateContext& context, std::string_view override_reason) {
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

  Planner planner(environment, catalog, context);
  Steps steps;
  if (!planner.Resolve(target, steps, plan.problems)) {
    if (auto lifecycle = CheckLifecycle(*target, plan.environment, context);
        lifecycle && override_reason.empty()) {
      plan.problems.push_back(
          PlanProblem{"not-eligible", lifecycle->message, lifecycle->version, "", "", {}, {}, {}});
    }
    return plan;
  }
  steps.changes.push_back(Change{target, ChangeKind::kPromote, 0});
  steps.reasons.push_back("requested");
  ChangeSet set;
  set.changes = steps.changes;
  set.override_reason = std::string(override_reason);
  plan.verdict = Evaluate(set, environment, context);
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

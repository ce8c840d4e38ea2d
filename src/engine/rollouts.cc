// The rollout state machine. Read docs/rollouts.md first: states, phases and events are described
// there. Shape of the code: a transition is Commit() (store first, memory after) followed by
// Continue(), which performs the side effect the persisted phase calls for. After a crash, Resume
// calls the same Continue() on what was persisted, so "what to do next" has one definition.
#include "rollouts.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "approvals.h"
#include "holds.h"
#include "shipd/contract/verdict.h"
#include "shipd/model/progress_json.h"

namespace shipd {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

const Actor kSystem{"system", ""};

// The local driver's proxy, seen by traffic checks.
class DriverTraffic final : public TrafficSource {
 public:
  explicit DriverTraffic(std::shared_ptr<DeployDriver> driver) : driver_(std::move(driver)) {}
  std::optional<TrafficSample> Sample(const std::string& service,
                                      const std::string& environment) const override {
    auto report = driver_->Traffic(service, environment);
    if (!report) return std::nullopt;
    auto convert = [](const TrafficCounters& c) {
      return VersionTraffic{c.requests, c.errors, c.latency_p50_ms, c.latency_p99_ms};
    };
    return TrafficSample{convert(report->canary), convert(report->stable), report->window};
  }

 private:
  std::shared_ptr<DeployDriver> driver_;
};

bool IsRollbackPhase(std::string_view phase) { return phase == "rollback" || phase == "abort"; }

json TalliesJson(const RolloutProgress& progress) { return ProgressToJson(progress)["checks"]; }

// The analyze step at `step` of `strategy`; null when there is none there any more (the pipelines
// changed across a restart while a rollout was analysing).
const AnalyzeStep* AnalysisAt(const Strategy* strategy, int step) {
  if (strategy == nullptr || step < 0 || static_cast<size_t>(step) >= strategy->steps.size()) {
    return nullptr;
  }
  return std::get_if<AnalyzeStep>(&strategy->steps[static_cast<size_t>(step)]);
}

std::string Summary(const Verdict& verdict) {
  return VerdictToJson(verdict).value("summary", std::string("the contract gate blocks it"));
}

}  // namespace

struct Rollouts::Runtime {
  Promotion promotion;
  std::shared_ptr<const Version> version;
  uint64_t generation = 0;  // changes with every transition; stale callbacks are ignored
  bool op_in_flight = false;
  bool reapply = false;  // after a restart: re-apply the weight before continuing the step
  int measuring = 0;     // measurements of this generation in flight
  int scheduled = 0;     // measurements of this generation waiting for their timer
  // Events written by the next Commit, before its own (Carry).
  std::vector<Event> carried;

  int64_t id() const { return promotion.id; }
  RolloutProgress& progress() { return promotion.progress; }
  Lane lane() const { return {promotion.service, promotion.environment}; }
  std::string label() const { return promotion.service + "@" + promotion.version.ToString(); }
};

Rollouts::Rollouts(RolloutHost& host, const Pipelines& pipelines, RolloutDeps deps,
                   const Clock& clock, Strand strand)
    : host_(host),
      pipelines_(pipelines),
      deps_(std::move(deps)),
      clock_(clock),
      strand_(std::move(strand)),
      workers_(std::max<size_t>(1, deps_.workers)),
      wake_(clock_, strand_, [this] { OnWake(); }) {
  for (const auto& [name, driver] : deps_.drivers) {
    if (driver) traffic_.emplace(name, std::make_unique<DriverTraffic>(driver));
  }
}

Rollouts::~Rollouts() { Shutdown(); }

void Rollouts::Shutdown() {
  if (stopping_) return;
  stopping_ = true;
  wake_.Stop();
  workers_.join();  // operations in flight finish; their results are ignored
}

// ---------------------------------------------------------------------------------------------
// Creating, admitting, starting.

Status Rollouts::CanRun(std::string_view environment) const {
  const Environment* env = EnvironmentConfig(environment);
  if (env == nullptr) {
    return Error(ErrorCode::kNotFound, "unknown environment \"" + std::string(environment) + "\"");
  }
  if (!DriverOf(environment)) {
    return Error(ErrorCode::kUnavailable, "environment \"" + env->name + "\" uses driver \"" +
                                              env->driver + "\", which is not available");
  }
  return Ok();
}

Result<Promotion> Rollouts::Create(Promotion promotion, json created_data, const Actor& actor) {
  if (auto status = CanRun(promotion.environment); !status.ok()) return status.error();
  const Environment* env = EnvironmentConfig(promotion.environment);
  const Strategy& strategy = pipelines_.strategies.at(env->strategy);
  const Deployment current = CurrentDeployment(promotion.service, promotion.environment);
  promotion.state = RolloutState::kQueued;
  const std::string override_freeze_reason = promotion.progress.override_freeze_reason;
  promotion.progress = RolloutProgress{};
  promotion.progress.override_freeze_reason = override_freeze_reason;
  promotion.progress.strategy = strategy.name;
  promotion.progress.steps = static_cast<int>(strategy.steps.size());
  promotion.progress.previous_version = current.stable ? current.stable->ToString() : "";

  auto runtime = std::make_unique<Runtime>();
  runtime->promotion = promotion;
  auto snapshot = host_.Snapshot();
  if (const ServiceState* service = snapshot->FindService(promotion.service)) {
    runtime->version = service->FindShared(promotion.version);
  }
  if (!runtime->version) return Error(ErrorCode::kNotFound, "unknown version " + runtime->label());

  created_data["strategy"] = strategy.name;
  created_data["steps"] = strategy.steps.size();
  created_data["previous"] = promotion.progress.previous_version;
  std::vector<Event> events;
  if (auto it = created_data.find("override_freeze"); it != created_data.end()) {
    events.push_back(MakeEvent(actor, "promotion.freeze_overridden", promotion, *it));
  }
  events.insert(events.begin(),
                MakeEvent(actor, "rollout.created", promotion, std::move(created_data)));
  auto ids = host_.store().InsertPromotion(promotion, std::nullopt, events);
  if (!ids.ok()) return ids.error();
  host_.PublishEventId(ids->back(), promotion.id);

  Runtime& r = *runtime;
  r.generation = next_generation_++;
  active_.emplace(r.id(), std::move(runtime));
  lanes_[r.lane()].push_back(r.id());
  Admit(r);
  auto* still = Find(promotion.id);
  if (still != nullptr) return still->promotion;
  auto stored = host_.store().GetPromotion(promotion.id);
  if (!stored.ok()) return stored.error();
  return stored->value_or(promotion);
}

void Rollouts::Admit(Runtime& r) {
  if (r.promotion.state == RolloutState::kQueued) {
    const Environment* config = EnvironmentConfig(r.promotion.environment);
    if (config != nullptr && config->approvals) {
      auto recorded = host_.store().ListApprovals(r.id());
      if (!recorded.ok() ||
          static_cast<int>(ApprovalsAt(*recorded, -1).size()) < ApprovalsNeeded(config)) {
        AwaitApprovals(r);
        return;
      }
    }
  }
  const auto& lane = lanes_[r.lane()];
  if (!lane.empty() && lane.front() != r.id()) {
    Runtime* ahead = Find(lane.front());
    const std::string reason = "waiting for rollout " + std::to_string(lane.front()) +
                               (ahead ? " (" + ahead->label() + ")" : std::string()) + " of " +
                               r.promotion.service + " in " + r.promotion.environment +
                               " to finish";
    Commit(
        r,
        [&](Promotion& p) {
          p.state = RolloutState::kWaiting;
          p.progress.phase = "queued";
          p.progress.behind = lane.front();
          p.progress.reason = reason;
        },
        "rollout.waiting", {{"behind", lane.front()}, {"reason", reason}}, kSystem);
    return;
  }
  Start(r, kSystem);
}

void Rollouts::Start(Runtime& r, const Actor& actor) {
  const Deployment current = CurrentDeployment(r.promotion.service, r.promotion.environment);
  const std::string previous = current.stable ? current.stable->ToString() : "";
  if ((r.progress().phase == "queued" && r.progress().behind != 0) ||
      r.progress().phase == "frozen" || r.progress().phase == "approve") {
    // It waited (behind another rollout, for a freeze to end, or for approvals): the world may
    // have changed since the request was judged.
    auto state = host_.Snapshot();
    const EnvironmentState* env = state->FindEnvironment(r.promotion.environment);
    Verdict verdict = host_.Evaluate(*state, r.version, *env, ChangeKind::kPromote, 0,
                                     r.promotion.override_reason);
    if (!verdict.allowed) {
      PauseRollout(r, "the contract gate now blocks it: " + Summary(verdict), "start", actor,
                   {{"verdict", VerdictToJson(verdict)}});
      return;
    }
  }
  if (Freeze(r, -1, actor)) return;
  if (current.stable == r.promotion.version && !current.canary) {
    Finish(r, RolloutState::kSucceeded, "rollout.succeeded", actor,
           {{"previous", previous}, {"reason", "already the stable version"}});
    return;
  }
  // Nothing of it ran yet, so it follows the strategy its environment has now: after a restart
  // with other pipelines, the one it was created with may be gone (and would count as direct).
  const std::string strategy_name = EnvironmentConfig(r.promotion.environment)->strategy;
  const Strategy& strategy = pipelines_.strategies.at(strategy_name);
  const bool direct = strategy.steps.empty();
  Deployment deployment = current;
  deployment.environment = r.promotion.environment;
  deployment.service = r.promotion.service;
  if (!direct) {
    deployment.canary = r.promotion.version;
    deployment.canary_weight = 0;
    deployment.updated_at = clock_.NowMs();
  }
  const bool ok = Commit(
      r,
      [&](Promotion& p) {
        p.state = RolloutState::kProgressing;
        p.progress.strategy = strategy_name;
        p.progress.phase = direct ? "promote" : "deploy";
        p.progress.step = direct ? 0 : -1;
        p.progress.steps = static_cast<int>(strategy.steps.size());
        p.progress.weight = 0;
        p.progress.previous_version = previous;
        p.progress.behind = 0;
        p.progress.reason.clear();
        p.progress.step_started_at = clock_.NowMs();
      },
      "rollout.started",
      {{"previous", previous}, {"strategy", strategy_name}, {"steps", strategy.steps.size()}},
      actor, direct ? std::nullopt : std::optional<Deployment>(deployment));
  if (ok) Continue(r);
}

// ---------------------------------------------------------------------------------------------
// Steps.

void Rollouts::EnterStep(Runtime& r, int step, const Actor& actor) {
  const Strategy* strategy = StrategyOf(r);
  if (strategy == nullptr) {
    StartRollback(r, "strategy \"" + r.progress().strategy + "\" is no longer in the pipelines",
                  false, kSystem);
    return;
  }
  const TimeMs now = clock_.NowMs();
  if (step >= static_cast<int>(strategy->steps.size())) {
    auto state = host_.Snapshot();
    const EnvironmentState* env = state->FindEnvironment(r.promotion.environment);
    Verdict verdict = host_.Evaluate(*state, r.version, *env, ChangeKind::kPromote, 0,
                                     r.promotion.override_reason);
    if (!verdict.allowed) {
      r.progress().step = step;
      PauseRollout(r, "the contract gate now blocks promoting it: " + Summary(verdict), "step",
                   actor, {{"verdict", VerdictToJson(verdict)}});
      return;
    }
    if (Commit(
            r,
            [&](Promotion& p) {
              p.state = RolloutState::kProgressing;  // it may come from an approve step
              p.progress.phase = "promote";
              p.progress.step = step;
              p.progress.step_started_at = now;
              p.progress.step_ends_at = 0;
              p.progress.checks.clear();
            },
            "rollout.promoting", {{"previous", r.progress().previous_version}}, actor)) {
      Continue(r);
    }
    return;
  }

  const Step& definition = strategy->steps[static_cast<size_t>(step)];
  json data = {{"step", step}, {"steps", strategy->steps.size()}};
  const Environment* env_config = EnvironmentConfig(r.promotion.environment);
  const std::string approval_reason = DescribeApprovalGate(env_config);
  auto enter = [&](const std::string& phase, RolloutState state, TimeMs ends, int weight,
                   std::optional<Deployment> deployment) {
    return Commit(
        r,
        [&](Promotion& p) {
          p.state = state;
          p.progress.phase = phase;
          p.progress.step = step;
          p.progress.weight = weight;
          p.progress.step_started_at = now;
          p.progress.step_ends_at = ends;
          p.progress.remaining_ms = -1;
          p.progress.resume_phase.clear();
          p.progress.reason.clear();
          p.progress.checks.clear();
          if (phase == "analyze") {
            for (const auto& check : std::get<AnalyzeStep>(definition).checks) {
              p.progress.checks[check] = CheckTally{};
            }
          }
          if (state == RolloutState::kPaused) {
            p.progress.reason = "pause step: waiting for an operator to resume";
            p.progress.resume_phase = "next";
          }
          if (state == RolloutState::kWaiting) p.progress.reason = approval_reason;
        },
        "rollout.step", data, actor, std::move(deployment), true,
        state == RolloutState::kPaused    ? "rollout.paused"
        : state == RolloutState::kWaiting ? "rollout.approval_needed"
                                          : "");
  };

  if (const auto* weight = std::get_if<WeightStep>(&definition)) {
    data["type"] = "weight";
    data["weight"] = weight->percent;
    if (weight->percent > r.progress().weight) {
      if (Freeze(r, step, actor)) return;  // holds its current weight until the freeze ends
      auto state = host_.Snapshot();
      const EnvironmentState* env = state->FindEnvironment(r.promotion.environment);
      Verdict verdict = host_.Evaluate(*state, r.version, *env, ChangeKind::kCanary,
                                       weight->percent, r.promotion.override_reason);
      if (!verdict.allowed) {
        r.progress().step = step;
        PauseRollout(r,
                     "the contract gate now blocks " + std::to_string(weight->percent) +
                         "% on the canary: " + Summary(verdict),
                     "step", actor, {{"verdict", VerdictToJson(verdict)}});
        return;
      }
    }
    Deployment deployment = CurrentDeployment(r.promotion.service, r.promotion.environment);
    deployment.canary = r.promotion.version;
    deployment.canary_weight = weight->percent;
    deployment.updated_at = now;
    if (enter("weight", RolloutState::kProgressing, 0, weight->percent, deployment)) Continue(r);
  } else if (const auto* pause = std::get_if<PauseStep>(&definition)) {
    data["type"] = "pause";
    if (pause->duration) {
      data["duration_ms"] = pause->duration->count();
      if (enter("pause", RolloutState::kProgressing, now + pause->duration->count(),
                r.progress().weight, std::nullopt)) {
        Continue(r);
      }
    } else {
      data["reason"] = "pause step: waiting for an operator to resume";
      enter("pause", RolloutState::kPaused, 0, r.progress().weight, std::nullopt);
    }
  } else if (const auto* analyze = std::get_if<AnalyzeStep>(&definition)) {
    data["type"] = "analyze";
    data["checks"] = analyze->checks;
    if (analyze->duration.count() > 0) data["duration_ms"] = analyze->duration.count();
    if (analyze->count > 0) data["count"] = analyze->count;
    const TimeMs ends = analyze->duration.count() > 0 ? now + analyze->duration.count() : 0;
    if (enter("analyze", RolloutState::kProgressing, ends, r.progress().weight, std::nullopt)) {
      Continue(r);
    }
  } else {
    data["type"] = "approve";
    data["reason"] = approval_reason;
    data["needed"] = ApprovalsNeeded(env_config);
    if (env_config != nullptr && env_config->approvals) {
      data["roles"] = env_config->approvals->roles;
      data["not_requester"] = env_config->approvals->not_requester;
    }
    enter("approve", RolloutState::kWaiting, 0, r.progress().weight, std::nullopt);
  }
}

bool Rollouts::Freeze(Runtime& r, int step, const Actor& actor) {
  if (!r.progress().override_freeze_reason.empty()) return false;  // the hotfix lane
  const TimeMs now = clock_.NowMs();
  auto freeze = FreezeInForce(*host_.Snapshot(), EnvironmentConfig(r.promotion.environment),
                              r.promotion.environment, now);
  if (!freeze) return false;
  const std::string reason = "frozen until " + FormatUtc(freeze->until_ms) +
                             (freeze->reason.empty() ? std::string() : ": " + freeze->reason);
  const bool ok = Commit(
      r,
      [&](Promotion& p) {
        p.state = RolloutState::kWaiting;
        p.progress.phase = "frozen";
        p.progress.step = step;
        p.progress.step_ends_at = freeze->until_ms;
        p.progress.reason = reason;
      },
      "rollout.frozen",
      {{"step", step}, {"until", FormatUtc(freeze->until_ms)}, {"reason", reason}}, actor);
  if (ok) AddTimer(freeze->until_ms, r, TimerKind::kStepEnd);
  return true;
}

void Rollouts::Thaw(Runtime& r) {
  if (r.progress().step < 0) {
    Start(r, kSystem);
  } else {
    EnterStep(r, r.progress().step, kSystem);
  }
}

// ---------------------------------------------------------------------------------------------
// Approvals (approvals.h has the rule).

void Rollouts::AwaitApprovals(Runtime& r) {
  const Environment* config = EnvironmentConfig(r.promotion.environment);
  const std::string reason = DescribeApprovalGate(config);
  json data = {{"step", -1}, {"needed", ApprovalsNeeded(config)}, {"reason", reason}};
  if (config != nullptr && config->approvals) {
    data["roles"] = config->approvals->roles;
    data["not_requester"] = config->approvals->not_requester;
  }
  Commit(
      r,
      [&](Promotion& p) {
        p.state = RolloutState::kWaiting;
        p.progress.phase = "approve";
        p.progress.step = -1;
        p.progress.reason = reason;
      },
      "rollout.approval_needed", std::move(data), kSystem);
}

void Rollouts::PassApprovalGate(Runtime& r, const Actor& actor) {
  if (r.progress().step < 0) {
    Admit(r);  // its lane may be busy: then it waits its turn
  } else {
    EnterStep(r, r.progress().step + 1, actor);
  }
}

Result<ApprovalOutcome> Rollouts::Approve(int64_t id, const Actor& actor,
                                          const std::string& reason) {
  Runtime* r = Find(id);
  if (r == nullptr) {
    auto acted = Act(id, RolloutAction::kApprove, actor, reason);  // finished: not found/409
    if (!acted.ok()) return acted.error();
    return Error(ErrorCode::kConflict, "rollout " + std::to_string(id) + " is finished");
  }
  const std::string phase = r->progress().phase;
  if (r->promotion.state != RolloutState::kWaiting || phase != "approve") {
    return Error(ErrorCode::kConflict, "rollout " + std::to_string(id) + " is " +
                                           std::string(RolloutStateName(r->promotion.state)) +
                                           " (" + phase + "): it is not waiting for an approval");
  }
  const Environment* config = EnvironmentConfig(r->promotion.environment);
  const int step = r->progress().step;
  auto recorded = host_.store().ListApprovals(id);
  if (!recorded.ok()) return recorded.error();
  const std::vector<Approval> gate = ApprovalsAt(*recorded, step);
  if (auto judged = JudgeApprover(config, r->promotion, actor, gate); !judged.ok()) {
    return judged.error();
  }
  ApprovalOutcome outcome;
  outcome.approval = Approval{id,
                              step,
                              r->promotion.service,
                              r->promotion.version.ToString(),
                              r->promotion.environment,
                              actor.name,
                              actor.roles,
                              reason,
                              clock_.NowMs()};
  outcome.count = static_cast<int>(gate.size()) + 1;
  outcome.needed = ApprovalsNeeded(config);
  json data = {{"approver", actor.name},
               {"roles", actor.roles},
               {"reason", reason},
               {"step", step},
               {"count", outcome.count},
               {"needed", outcome.needed},
               {"state", RolloutStateName(r->promotion.state)},
               {"phase", phase},
               {"weight", r->progress().weight}};
  auto ids = host_.store().InsertApproval(
      outcome.approval, {MakeEvent(actor, "rollout.approved", r->promotion, std::move(data))});
  if (!ids.ok()) return ids.error();
  host_.PublishEventId(ids->back());
  if (outcome.count >= outcome.needed) PassApprovalGate(*r, actor);
  if (Runtime* after = Find(id)) {
    outcome.promotion = after->promotion;
  } else {
    auto stored = host_.store().GetPromotion(id);
    if (!stored.ok()) return stored.error();
    if (stored->has_value()) outcome.promotion = **stored;
  }
  return outcome;
}

void Rollouts::Continue(Runtime& r) {
  if (stopping_) return;
  if (r.promotion.state == RolloutState::kQueued) {
    Admit(r);
    return;
  }
  if (r.promotion.state != RolloutState::kProgressing) return;
  const std::string& phase = r.progress().phase;
  if (phase == "deploy") {
    RunDriver(r, DriverAction::kDeploy, r.progress().weight);
  } else if (phase == "weight") {
    RunDriver(r, DriverAction::kWeight, r.progress().weight);
  } else if (phase == "promote") {
    RunDriver(r, DriverAction::kPromote, 100);
  } else if (IsRollbackPhase(phase)) {
    RunDriver(r, DriverAction::kRollback, 0);
  } else if (r.reapply) {
    RunDriver(r, DriverAction::kDeploy, r.progress().weight);  // then OnDriverDone continues
  } else if (phase == "analyze") {
    if (r.progress().step_ends_at != 0) AddTimer(r.progress().step_ends_at, r, TimerKind::kStepEnd);
    ScheduleMeasurements(r);
  } else if (phase == "pause") {
    AddTimer(r.progress().step_ends_at, r, TimerKind::kStepEnd);
  } else {
    StartRollback(r, "unknown phase \"" + phase + "\"", false, kSystem);
  }
}

void Rollouts::StartRollback(Runtime& r, const std::string& reason, bool abort, const Actor& actor,
                             json extra) {
  extra["reason"] = reason;
  if (!r.progress().checks.empty()) extra["checks"] = TalliesJson(r.progress());
  const bool ok = Commit(
      r,
      [&](Promotion& p) {
        p.state = RolloutState::kProgressing;
        p.progress.phase = abort ? "abort" : "rollback";
        p.progress.reason = reason;
        p.progress.resume_phase.clear();
        p.progress.step_ends_at = 0;
        p.progress.remaining_ms = -1;
      },
      "rollout.rolling_back", std::move(extra), actor);
  if (ok) Continue(r);
}

void Rollouts::PauseRollout(Runtime& r, const std::string& reason, const std::string& resume_phase,
                            const Actor& actor, json extra) {
  const TimeMs now = clock_.NowMs();
  const TimeMs ends = r.progress().step_ends_at;
  extra["reason"] = reason;
  if (!r.progress().checks.empty()) extra["checks"] = TalliesJson(r.progress());
  Commit(
      r,
      [&](Promotion& p) {
        p.state = RolloutState::kPaused;
        p.progress.reason = reason;
        p.progress.resume_phase = resume_phase;
        p.progress.remaining_ms = ends > 0 ? std::max<int64_t>(0, ends - now) : -1;
        p.progress.step_ends_at = 0;
      },
      "rollout.paused", std::move(extra), actor);
}

void Rollouts::Finish(Runtime& r, RolloutState state, const std::string& kind, const Actor& actor,
                      json extra) {
  const TimeMs now = clock_.NowMs();
  std::optional<Deployment> deployment;
  Deployment current = CurrentDeployment(r.promotion.service, r.promotion.environment);
  current.environment = r.promotion.environment;
  current.service = r.promotion.service;
  if (state == RolloutState::kSucceeded) {
    if (current.stable != r.promotion.version) current.previous = current.stable;
    current.stable = r.promotion.version;
    current.canary.reset();
    current.canary_weight = 0;
    current.updated_at = now;
    deployment = current;
  } else if ((state == RolloutState::kRolledBack || state == RolloutState::kAborted) &&
             current.canary == r.promotion.version) {
    current.canary.reset();
    current.canary_weight = 0;
    current.updated_at = now;
    deployment = current;
  }
  if (!r.progress().checks.empty() && !extra.contains("checks")) {
    extra["checks"] = TalliesJson(r.progress());
  }
  const std::string reason = extra.value("reason", r.progress().reason);
  const bool ok = Commit(
      r,
      [&](Promotion& p) {
        p.state = state;
        p.progress.phase = "done";
        p.progress.reason = reason;
        p.progress.step_ends_at = 0;
        p.progress.weight = state == RolloutState::kSucceeded ? 100
                            : state == RolloutState::kFailed  ? p.progress.weight
                                                              : 0;
        p.finished_at = now;
      },
      kind, std::move(extra), actor, deployment);
  if (!ok) return;
  host_.RolloutFinished(r.promotion);
  const Lane lane = r.lane();
  const int64_t id = r.id();
  active_.erase(id);  // r is gone from here on
  auto& queue = lanes_[lane];
  queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
  StartNextInLane(lane);
}

void Rollouts::StartNextInLane(const Lane& lane) {
  auto it = lanes_.find(lane);
  if (it == lanes_.end()) return;
  if (it->second.empty()) {
    lanes_.erase(it);
    return;
  }
  Runtime* next = Find(it->second.front());
  if (next == nullptr) return;
  if (next->promotion.state == RolloutState::kWaiting && next->progress().phase == "queued") {
    Start(*next, kSystem);
  }
}

// ---------------------------------------------------------------------------------------------
// Operator actions.

Result<Promotion> Rollouts::Act(int64_t id, RolloutAction action, const Actor& actor,
                                const std::string& reason) {
  const std::string verb(RolloutActionName(action));
  const std::string by = actor.name + (reason.empty() ? "" : ": " + reason);
  Runtime* r = Find(id);
  if (r == nullptr) {
    auto stored = host_.store().GetPromotion(id);
    if (!stored.ok()) return stored.error();
    if (!stored->has_value()) {
      return Error(ErrorCode::kNotFound, "unknown rollout " + std::to_string(id));
    }
    const Promotion& p = **stored;
    const std::string state(RolloutStateName(p.state));
    if (action == RolloutAction::kRollback && p.state == RolloutState::kFailed) {
      // The rollback failed before; try it again, unless another rollout took the lane.
      const Lane lane{p.service, p.environment};
      if (auto it = lanes_.find(lane); it != lanes_.end() && !it->second.empty()) {
        return Error(ErrorCode::kConflict, "rollout " + std::to_string(it->second.front()) +
                                               " of " + p.service + " in " + p.environment +
                                               " is in progress; abort it first");
      }
      auto runtime = std::make_unique<Runtime>();
      runtime->promotion = p;
      auto snapshot = host_.Snapshot();
      if (const ServiceState* service = snapshot->FindService(p.service)) {
        runtime->version = service->FindShared(p.version);
      }
      Runtime& revived = *runtime;
      revived.generation = next_generation_++;
      revived.promotion.finished_at = 0;
      active_.emplace(id, std::move(runtime));
      lanes_[lane].push_front(id);
      StartRollback(revived, "rolled back by " + by, false, actor);
    } else {
      std::string message =
          "rollout " + std::to_string(id) + " is " + state + ": nothing to " + verb;
      if (action == RolloutAction::kRollback && p.state == RolloutState::kSucceeded) {
        message +=
            "; to go back, promote the previous version through the gate: shipctl "
            "promote " +
            p.service + "@" +
            (p.progress.previous_version.empty() ? "PREVIOUS" : p.progress.previous_version) +
            " --to " + p.environment;
      }
      return Error(ErrorCode::kConflict, message);
    }
  } else {
    const std::string state(RolloutStateName(r->promotion.state));
    const std::string phase = r->progress().phase;
    auto conflict = [&](const std::string& why) {
      return Error(ErrorCode::kConflict,
                   "rollout " + std::to_string(id) + " is " + state + " (" + phase + "): " + why);
    };
    switch (action) {
      case RolloutAction::kApprove: {
        auto approved = Approve(id, actor, reason);
        if (!approved.ok()) return approved.error();
        return approved->promotion;
      }
      case RolloutAction::kResume: {
        if (r->promotion.state != RolloutState::kPaused) {
          return conflict("only a paused rollout can be resumed");
        }
        const std::string to = r->progress().resume_phase;
        const TimeMs now = clock_.NowMs();
        const bool timed = to == "analyze" || to == "pause";
        if (!Commit(
                *r,
                [&](Promotion& p) {
                  p.state = RolloutState::kProgressing;
                  if (timed) {
                    p.progress.phase = to;
                    p.progress.step_ends_at =
                        p.progress.remaining_ms >= 0 ? now + p.progress.remaining_ms : 0;
                  }
                  p.progress.remaining_ms = -1;
                  p.progress.resume_phase.clear();
                  p.progress.reason.clear();
                },
                "rollout.resumed", {{"reason", reason}, {"to", to}}, actor)) {
          break;
        }
        if (to == "next") {
          EnterStep(*r, r->progress().step + 1, actor);
        } else if (to == "step") {
          EnterStep(*r, r->progress().step, actor);
        } else if (to == "start") {
          r->promotion.state = RolloutState::kWaiting;  // Start() judges it again
          r->progress().phase = "queued";
          r->progress().behind = -1;
          Start(*r, actor);
        } else {
          Continue(*r);
        }
        break;
      }
      case RolloutAction::kAbort:
        if (IsRollbackPhase(phase)) return conflict("it is already being rolled back");
        if (phase == "queued" ||
            ((phase == "frozen" || phase == "approve") && r->progress().step < 0)) {
          Finish(*r, RolloutState::kAborted, "rollout.aborted", actor,
                 {{"reason", "aborted by " + by + " before it started"}});
        } else {
          StartRollback(*r, "aborted by " + by, true, actor);
        }
        break;
      case RolloutAction::kRollback:
        if (IsRollbackPhase(phase)) return conflict("it is already being rolled back");
        if (phase == "queued" || (phase == "approve" && r->progress().step < 0)) {
          return conflict("it has not started; abort it instead");
        }
        StartRollback(*r, "rolled back by " + by, false, actor);
        break;
    }
  }
  if (Runtime* after = Find(id)) return after->promotion;
  auto stored = host_.store().GetPromotion(id);
  if (!stored.ok()) return stored.error();
  if (!stored->has_value()) return Error(ErrorCode::kNotFound, "unknown rollout");
  return **stored;
}

// ---------------------------------------------------------------------------------------------
// Driver operations and measurements: on the worker pool, results back on the strand.

void Rollouts::RunDriver(Runtime& r, DriverAction action, int weight) {
  auto driver = DriverOf(r.promotion.environment);
  if (!driver) {
    Finish(r, RolloutState::kFailed, "rollout.failed", kSystem,
           {{"reason", "the environment's driver is not available"}});
    return;
  }
  r.op_in_flight = true;
  const milliseconds deadline = ProgressDeadline(r.promotion.environment);
  AddTimer(clock_.NowMs() + deadline.count(), r, TimerKind::kDeadline);
  DriverContext ctx = ContextOf(r, weight);
  const int64_t id = r.id();
  const uint64_t generation = r.generation;
  boost::asio::post(workers_, [this, driver, ctx = std::move(ctx), action, id, generation] {
    Status status = Ok();
    try {
      switch (action) {
        case DriverAction::kDeploy:
          status = driver->Deploy(ctx);
          break;
        case DriverAction::kWeight:
          status = driver->SetWeight(ctx);
          break;
        case DriverAction::kPromote:
          status = driver->Promote(ctx);
          break;
        case DriverAction::kRollback:
          status = driver->Rollback(ctx);
          break;
      }
    } catch (const std::exception& e) {
      status = Error(ErrorCode::kInternal, std::string("driver threw: ") + e.what());
    }
    std::string detail;
    if (auto s = driver->Status(ctx.service, ctx.environment); s.ok()) detail = s->detail;
    if (detail.size() > 2048) detail.resize(2048);
    boost::asio::post(strand_, [this, id, generation, action, status, detail] {
      OnDriverDone(id, generation, action, status, detail);
    });
  });
}

void Rollouts::OnDriverDone(int64_t id, uint64_t generation, DriverAction action,
                            const Status& status, const std::string& detail) {
  if (stopping_) return;
  Runtime* r = Find(id);
  if (r == nullptr || r->generation != generation) return;  // overtaken (deadline, operator)
  r->op_in_flight = false;
  const std::string phase = r->progress().phase;
  const std::string what(DriverActionName(action));
  if (!status.ok()) {
    const std::string message = status.error().message();
    if (IsRollbackPhase(phase)) {
      Finish(*r, RolloutState::kFailed, "rollout.failed", kSystem,
             {{"reason", "the driver could not roll back: " + message},
              {"detail", detail},
              {"cause", r->progress().reason}});
    } else {
      StartRollback(*r, "the driver failed to " + what + ": " + message, false, kSystem,
                    {{"detail", detail}});
    }
    return;
  }
  if (r->reapply) {
    r->reapply = false;
    Continue(*r);
    return;
  }
  if (phase == "deploy") {
    EnterStep(*r, 0, kSystem);
  } else if (phase == "weight") {
    Carry(*r, "rollout.weight_set", {{"weight", r->progress().weight}, {"detail", detail}});
    EnterStep(*r, r->progress().step + 1, kSystem);
  } else if (phase == "promote") {
    Finish(*r, RolloutState::kSucceeded, "rollout.succeeded", kSystem,
           {{"previous", r->progress().previous_version}, {"detail", detail}});
  } else if (phase == "rollback") {
    Finish(*r, RolloutState::kRolledBack, "rollout.rolled_back", kSystem,
           {{"reason", r->progress().reason}, {"detail", detail}});
  } else if (phase == "abort") {
    Finish(*r, RolloutState::kAborted, "rollout.aborted", kSystem,
           {{"reason", r->progress().reason}, {"detail", detail}});
  }
}

void Rollouts::ScheduleMeasurements(Runtime& r) {
  for (const auto& [check, tally] : r.progress().checks) Measure(r, check);
}

void Rollouts::Measure(Runtime& r, const std::string& check) {
  auto it = deps_.checks.find(check);
  if (it == deps_.checks.end() || !it->second) {
    StartRollback(r, "check \"" + check + "\" is not available", false, kSystem);
    return;
  }
  std::shared_ptr<HealthCheck> health = it->second;
  CheckContext context;
  context.variables = VariablesOf(r, r.progress().weight);
  if (const Environment* env = EnvironmentConfig(r.promotion.environment)) {
    if (auto t = traffic_.find(env->driver); t != traffic_.end()) context.traffic = t->second.get();
  }
  context.working_directory = deps_.check_working_directory;
  const int64_t id = r.id();
  const uint64_t generation = r.generation;
  const TimeMs started = clock_.NowMs();
  ++r.measuring;
  boost::asio::post(workers_,
                    [this, health, context = std::move(context), id, generation, check, started] {
                      Measurement measurement = health->Measure(context);
                      measurement.at = started;  // the engine's schedule counts from when it asked
                      boost::asio::post(strand_, [this, id, generation, check, measurement] {
                        OnMeasured(id, generation, check, measurement);
                      });
                    });
}

void Rollouts::OnMeasured(int64_t id, uint64_t generation, const std::string& check,
                          const Measurement& m) {
  if (stopping_) return;
  Runtime* r = Find(id);
  if (r == nullptr || r->generation != generation) return;
  --r->measuring;
  if (r->promotion.state != RolloutState::kProgressing || r->progress().phase != "analyze") return;
  const Check& config = pipelines_.checks.at(check);
  CheckTally& tally = r->progress().checks[check];
  ++tally.measurements;
  tally.last_result = std::string(MeasurementResultName(m.result));
  tally.last_value = m.value;
  tally.last_detail = m.detail;
  json data = {{"check", check},
               {"result", tally.last_result},
               {"value", m.value ? json(*m.value) : json(nullptr)},
               {"detail", m.detail},
               {"step", r->progress().step},
               {"weight", r->progress().weight}};
  switch (m.result) {
    case MeasurementResult::kPass:
      tally.consecutive_errors = 0;
      break;
    case MeasurementResult::kFail:
      tally.consecutive_errors = 0;
      ++tally.failures;
      data["failures"] = tally.failures;
      data["failure_limit"] = config.failure_limit;
      if (tally.failures >= config.failure_limit) {
        StartRollback(*r,
                      "check " + check + " failed " + std::to_string(tally.failures) + " of " +
                          std::to_string(tally.measurements) + " measurements: " + m.detail,
                      false, kSystem, {{"check", check}, {"value", data["value"]}});
        return;
      }
      if (!Commit(
              *r, [](Promotion&) {}, "check.failed", data, kSystem, std::nullopt, false)) {
        return;
      }
      break;
    case MeasurementResult::kError:
      ++tally.consecutive_errors;
      data["consecutive_errors"] = tally.consecutive_errors;
      data["consecutive_error_limit"] = config.consecutive_error_limit;
      if (tally.consecutive_errors >= config.consecutive_error_limit) {
        StartRollback(*r,
                      "check " + check + " could not be measured " +
                          std::to_string(tally.consecutive_errors) + " times in a row: " + m.detail,
                      false, kSystem, {{"check", check}});
        return;
      }
      if (!Commit(
              *r, [](Promotion&) {}, "check.error", data, kSystem, std::nullopt, false)) {
        return;
      }
      break;
    case MeasurementResult::kInconclusive:
      // Not enough data yet (a canary that just got traffic): judged when the analysis ends.
      break;
  }
  const AnalyzeStep* analyze = AnalysisAt(StrategyOf(*r), r->progress().step);
  const TimeMs next = m.at + config.interval.count();
  const TimeMs ends = r->progress().step_ends_at;
  const bool more =
      analyze != nullptr &&
      ((analyze->count > 0 && tally.measurements < analyze->count) || (ends > 0 && next < ends));
  if (more) {
    ++r->scheduled;
    AddTimer(std::max(next, clock_.NowMs()), *r, TimerKind::kMeasure, check);
  } else {
    // Otherwise the next measurement's result asks again. Also rolls the rollout back when the
    // analysis is gone from the strategy.
    MaybeFinishAnalysis(*r);
  }
}

void Rollouts::MaybeFinishAnalysis(Runtime& r) {
  const AnalyzeStep* analyze = AnalysisAt(StrategyOf(r), r.progress().step);
  if (analyze == nullptr) {
    StartRollback(r,
                  "strategy \"" + r.progress().strategy +
                      "\" no longer has this analysis as step " +
                      std::to_string(r.progress().step) + " (the pipelines changed)",
                  false, kSystem);
    return;
  }
  const TimeMs ends = r.progress().step_ends_at;
  if (ends > 0 && clock_.NowMs() < ends) return;
  // A measurement started (or due) in time counts; its result calls again.
  if (r.measuring > 0 || r.scheduled > 0) return;
  const int wanted = std::max(1, analyze->count);
  for (const auto& [check, tally] : r.progress().checks) {
    if (tally.measurements < wanted) return;
  }
  for (const auto& [check, tally] : r.progress().checks) {
    if (tally.last_result != "inconclusive") continue;
    // A person decides: resume accepts the analysis and goes on; abort or rollback do not.
    PauseRollout(
        r,
        "check " + check + " was still inconclusive when the analysis ended: " + tally.last_detail,
        "next", kSystem, {{"check", check}});
    return;
  }
  Carry(r, "rollout.analysis_passed",
        {{"step", r.progress().step}, {"checks", TalliesJson(r.progress())}});
  EnterStep(r, r.progress().step + 1, kSystem);
}

// ---------------------------------------------------------------------------------------------
// Timers.

void Rollouts::AddTimer(TimeMs at, const Runtime& r, TimerKind kind, std::string check) {
  const bool earliest = timers_.empty() || at < timers_.begin()->first;
  timers_.emplace(at, Timer{r.id(), r.generation, kind, std::move(check)});
  if (earliest) ArmWake();
}

void Rollouts::ArmWake() {
  if (stopping_) return;
  wake_.Arm(timers_.empty() ? std::nullopt : std::optional<TimeMs>(timers_.begin()->first));
}

void Rollouts::OnWake() {
  if (stopping_) return;
  const TimeMs now = clock_.NowMs();
  std::vector<Timer> due;
  while (!timers_.empty() && timers_.begin()->first <= now) {
    due.push_back(std::move(timers_.begin()->second));
    timers_.erase(timers_.begin());
  }
  // Measurements that were due start before an analysis that ends now is judged, so it waits for
  // them (when the clock jumped, or the strand was busy).
  std::stable_partition(due.begin(), due.end(),
                        [](const Timer& t) { return t.kind != TimerKind::kStepEnd; });
  for (const Timer& timer : due) {
    Runtime* r = Find(timer.id);
    if (r == nullptr || r->generation != timer.generation) continue;
    const std::string& phase = r->progress().phase;
    const bool progressing = r->promotion.state == RolloutState::kProgressing;
    switch (timer.kind) {
      case TimerKind::kStepEnd:
        if (phase == "frozen" && r->promotion.state == RolloutState::kWaiting) Thaw(*r);
        if (!progressing) break;
        if (phase == "pause") EnterStep(*r, r->progress().step + 1, kSystem);
        if (phase == "analyze") MaybeFinishAnalysis(*r);
        break;
      case TimerKind::kMeasure:
        --r->scheduled;
        if (progressing && phase == "analyze") Measure(*r, timer.check);
        break;
      case TimerKind::kDeadline:
        if (!r->op_in_flight) break;
        r->op_in_flight = false;
        if (IsRollbackPhase(phase)) {
          Finish(*r, RolloutState::kFailed, "rollout.failed", kSystem,
                 {{"reason",
                   "the rollback did not finish within the progress deadline (" +
                       FormatDurationMs(ProgressDeadline(r->promotion.environment).count()) + ")"},
                  {"cause", r->progress().reason}});
        } else {
          StartRollback(*r,
                        "progress deadline: the driver did not finish (" + phase + ") within " +
                            FormatDurationMs(ProgressDeadline(r->promotion.environment).count()),
                        false, kSystem);
        }
        break;
      case TimerKind::kRetry:
        Continue(*r);
        break;
    }
  }
  ArmWake();
}

// ---------------------------------------------------------------------------------------------
// Persistence.

bool Rollouts::Commit(Runtime& r, const std::function<void(Promotion&)>& change,
                      const std::string& kind, json data, const Actor& actor,
                      std::optional<Deployment> deployment, bool new_generation,
                      const std::string& also) {
  Promotion next = r.promotion;
  change(next);
  next.updated_at = clock_.NowMs();
  data["state"] = RolloutStateName(next.state);
  data["phase"] = next.progress.phase;
  if (!data.contains("weight")) data["weight"] = next.progress.weight;
  std::vector<Event> events = std::move(r.carried);
  r.carried.clear();
  events.push_back(MakeEvent(actor, kind, next, data));
  if (!also.empty()) events.push_back(MakeEvent(actor, also, next, std::move(data)));
  auto ids = host_.store().UpdatePromotion(next, deployment, events);
  if (!ids.ok()) {
    spdlog::error("rollout {} ({} in {}): {}: {}; retrying in 2s", r.id(), r.label(),
                  r.promotion.environment, kind, ids.error().message());
    AddTimer(clock_.NowMs() + 2000, r, TimerKind::kRetry);
    return false;
  }
  r.promotion = std::move(next);
  if (new_generation) {
    r.generation = next_generation_++;
    r.measuring = 0;  // what is in flight or scheduled belongs to the old generation: ignored
    r.scheduled = 0;
  }
  if (deployment) {
    const bool succeeded = r.promotion.state == RolloutState::kSucceeded;
    host_.PublishDeployment(
        *deployment, succeeded ? std::optional<TimeMs>(r.promotion.updated_at) : std::nullopt,
        ids->back(), 0);
  } else {
    host_.PublishEventId(ids->back());
  }
  return true;
}

void Rollouts::Carry(Runtime& r, const std::string& kind, json data) {
  data["state"] = RolloutStateName(r.promotion.state);
  data["phase"] = r.progress().phase;
  if (!data.contains("weight")) data["weight"] = r.progress().weight;
  r.carried.push_back(MakeEvent(kSystem, kind, r.promotion, std::move(data)));
}

Event Rollouts::MakeEvent(const Actor& actor, const std::string& kind, const Promotion& promotion,
                          json data) const {
  data["promotion"] = promotion.id;
  data["environment"] = promotion.environment;
  if (!actor.source.empty()) data["source"] = actor.source;
  return Event{0,
               clock_.NowMs(),
               actor.name,
               kind,
               promotion.service + "@" + promotion.version.ToString(),
               data.dump()};
}

// ---------------------------------------------------------------------------------------------
// Resuming after a restart.

void Rollouts::Resume(std::vector<Promotion> active) {
  auto snapshot = host_.Snapshot();
  std::sort(active.begin(), active.end(), [](const Promotion& a, const Promotion& b) {
    // The one that was running in its lane first, then the waiting ones in request order.
    const bool a_runs = a.progress.phase != "queued";
    const bool b_runs = b.progress.phase != "queued";
    if (a_runs != b_runs) return a_runs;
    return a.id < b.id;
  });
  int resumed = 0;
  std::vector<Runtime*> order;
  std::vector<Runtime*> stranded;  // their environment, or its driver, is gone from the pipelines
  for (auto& promotion : active) {
    auto runtime = std::make_unique<Runtime>();
    runtime->promotion = std::move(promotion);
    if (const ServiceState* service = snapshot->FindService(runtime->promotion.service)) {
      runtime->version = service->FindShared(runtime->promotion.version);
    }
    runtime->generation = next_generation_++;
    Runtime* r = runtime.get();
    active_.emplace(r->id(), std::move(runtime));
    if (!CanRun(r->promotion.environment).ok()) {
      stranded.push_back(r);  // in no lane: finishing it below starts nothing there
      continue;
    }
    lanes_[r->lane()].push_back(r->id());
    order.push_back(r);
  }
  auto started = host_.store().AppendEvents({Event{0, clock_.NowMs(), "system", "engine.started",
                                                   "", json{{"resumed", order.size()}}.dump()}});
  if (started.ok()) host_.PublishEventId(started->back());
  for (Runtime* r : stranded) {
    Finish(*r, RolloutState::kFailed, "rollout.failed", kSystem,
           {{"reason", "cannot continue after the restart: " +
                           CanRun(r->promotion.environment).error().message() +
                           " (the pipelines changed)"}});
  }

  for (Runtime* r : order) {
    if (!r->version) {
      spdlog::error("rollout {}: version {} is not registered; cannot resume", r->id(), r->label());
      continue;
    }
    const TimeMs now = clock_.NowMs();
    const int64_t remaining = r->progress().step_ends_at > 0
                                  ? std::max<int64_t>(0, r->progress().step_ends_at - now)
                                  : -1;
    if (r->promotion.state == RolloutState::kWaiting && r->progress().phase == "frozen") {
      AddTimer(r->progress().step_ends_at, *r, TimerKind::kStepEnd);  // at once when it ended
    }
    if (r->promotion.state == RolloutState::kProgressing) {
      ++resumed;
      r->reapply = r->progress().phase == "analyze" || r->progress().phase == "pause";
      if (Commit(
              *r, [](Promotion&) {}, "rollout.resumed",
              {{"restart", true},
               {"step", r->progress().step},
               {"remaining_ms", remaining},
               {"reason", "the daemon restarted; re-applying weight " +
                              std::to_string(r->progress().weight) + "% and continuing"}},
              kSystem)) {
        Continue(*r);
      }
    }
  }
  // Lanes whose running rollout finished just before the crash: start the next one. Starting
  // one may finish it at once (and free it), so from here on rollouts are looked up by id.
  std::vector<int64_t> ids;
  for (const Runtime* r : order) ids.push_back(r->id());
  std::vector<Lane> lanes;
  for (const auto& [lane, queue] : lanes_) lanes.push_back(lane);
  for (const auto& lane : lanes) StartNextInLane(lane);
  for (const int64_t id : ids) {
    Runtime* r = Find(id);
    if (r != nullptr && r->promotion.state == RolloutState::kQueued) Admit(*r);
  }
  // A gate whose last approval was recorded just before the crash (or that needs fewer now).
  for (const int64_t id : ids) {
    Runtime* r = Find(id);
    if (r == nullptr || r->promotion.state != RolloutState::kWaiting ||
        r->progress().phase != "approve") {
      continue;
    }
    auto recorded = host_.store().ListApprovals(id);
    if (recorded.ok() && static_cast<int>(ApprovalsAt(*recorded, r->progress().step).size()) >=
                             ApprovalsNeeded(EnvironmentConfig(r->promotion.environment))) {
      PassApprovalGate(*r, kSystem);
    }
  }
  spdlog::info("rollouts: {} not finished, {} resumed", order.size(), resumed);
  RestoreEphemeral();
}

void Rollouts::RestoreEphemeral() {
  auto snapshot = host_.Snapshot();
  for (const auto& env : snapshot->environments) {
    auto driver = DriverOf(env->environment.name);
    if (!driver || !driver->Ephemeral()) continue;
    for (const auto& [service, deployment] : env->live) {
      if (!deployment.stable) continue;
      if (lanes_.count({service, env->environment.name}) != 0) continue;  // its rollout does it
      const ServiceState* entry = snapshot->FindService(service);
      auto version = entry ? entry->FindShared(*deployment.stable) : nullptr;
      if (!version) continue;
      DriverContext ctx;
      ctx.service = service;
      ctx.version = deployment.stable->ToString();
      ctx.environment = env->environment.name;
      ctx.artifact = version->artifact;
      ctx.weight = 100;
      boost::asio::post(workers_, [this, driver, ctx] {
        auto status = driver->Promote(ctx);
        if (status.ok()) return;
        spdlog::error("restarting {}@{} in {}: {}", ctx.service, ctx.version, ctx.environment,
                      status.error().message());
        const std::string message = status.error().message();
        boost::asio::post(strand_, [this, ctx, message] {
          if (stopping_) return;
          auto ids = host_.store().AppendEvents(
              {Event{0, clock_.NowMs(), "system", "deployment.restore_failed",
                     ctx.service + "@" + ctx.version,
                     json{{"environment", ctx.environment}, {"error", message}}.dump()}});
          if (ids.ok()) host_.PublishEventId(ids->back());
        });
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

Rollouts::Runtime* Rollouts::Find(int64_t id) {
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : it->second.get();
}

const Environment* Rollouts::EnvironmentConfig(std::string_view name) const {
  return pipelines_.FindEnvironment(name);
}

const Strategy* Rollouts::StrategyOf(const Runtime& r) const {
  auto it = pipelines_.strategies.find(r.promotion.progress.strategy);
  return it == pipelines_.strategies.end() ? nullptr : &it->second;
}

std::shared_ptr<DeployDriver> Rollouts::DriverOf(std::string_view environment) const {
  const Environment* env = EnvironmentConfig(environment);
  if (env == nullptr) return nullptr;
  auto it = deps_.drivers.find(env->driver);
  return it == deps_.drivers.end() ? nullptr : it->second;
}

Endpoints Rollouts::Urls(std::string_view service, std::string_view environment) const {
  auto driver = DriverOf(environment);
  return driver ? driver->Urls(service, environment) : Endpoints{};
}

milliseconds Rollouts::ProgressDeadline(std::string_view environment) const {
  const Environment* env = EnvironmentConfig(environment);
  return env && env->progress_deadline ? *env->progress_deadline : deps_.progress_deadline;
}

Deployment Rollouts::CurrentDeployment(const std::string& service,
                                       const std::string& environment) const {
  auto snapshot = host_.Snapshot();
  Deployment deployment;
  deployment.service = service;
  deployment.environment = environment;
  if (const EnvironmentState* env = snapshot->FindEnvironment(environment)) {
    if (auto it = env->live.find(service); it != env->live.end()) deployment = it->second;
  }
  return deployment;
}

std::map<std::string, std::string> Rollouts::VariablesOf(const Runtime& r, int weight) const {
  const Endpoints urls = Urls(r.promotion.service, r.promotion.environment);
  return {{"service", r.promotion.service},
          {"version", r.promotion.version.ToString()},
          {"previous_version", r.promotion.progress.previous_version},
          {"environment", r.promotion.environment},
          {"weight", std::to_string(weight)},
          {"artifact", r.version ? r.version->artifact : ""},
          {"canary_url", urls.canary_url},
          {"stable_url", urls.stable_url}};
}

DriverContext Rollouts::ContextOf(const Runtime& r, int weight) const {
  DriverContext ctx;
  ctx.service = r.promotion.service;
  ctx.version = r.promotion.version.ToString();
  ctx.previous_version = r.promotion.progress.previous_version;
  ctx.environment = r.promotion.environment;
  ctx.artifact = r.version ? r.version->artifact : "";
  if (!ctx.previous_version.empty()) {
    auto snapshot = host_.Snapshot();
    if (const ServiceState* service = snapshot->FindService(ctx.service)) {
      if (auto previous = Semver::Parse(ctx.previous_version); previous.ok()) {
        if (const Version* v = service->FindVersion(*previous)) ctx.previous_artifact = v->artifact;
      }
    }
  }
  ctx.weight = weight;
  ctx.variables = VariablesOf(r, weight);
  ctx.variables["operation_id"] = "rollout-" + std::to_string(r.promotion.id) + "-" +
                                  r.promotion.progress.phase + "-" +
                                  std::to_string(r.promotion.progress.step);
  return ctx;
}

}  // namespace shipd

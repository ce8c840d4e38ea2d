// StrandEngine: the Engine on one Boost.Asio io_context thread. Callers post a task to the strand
// and wait for its future; the task writes to the store first and publishes a new snapshot after.

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "holds.h"
#include "rollouts.h"
#include "shipd/engine/engine.h"
#include "shipd/model/manifest.h"
#include "store_spec_differ.h"
#include "trains.h"

namespace shipd {

const Version* ServiceState::FindVersion(const Semver& version) const {
  auto it = std::lower_bound(
      versions.begin(), versions.end(), version,
      [](const std::shared_ptr<const Version>& v, const Semver& s) { return v->version < s; });
  if (it == versions.end() || (*it)->version != version) return nullptr;
  // Precedence ignores build metadata; the registry treats 1.0.0+a and 1.0.0+b as one version.
  return it->get();
}

ServiceIndex::ServiceIndex(std::vector<std::shared_ptr<const ServiceState>> services) {
  std::array<std::shared_ptr<Shard>, kShards> shards;
  for (auto& service : services) {
    auto& shard = shards[ShardOf(service->service.name)];
    if (!shard) shard = std::make_shared<Shard>();
    const std::string name = service->service.name;
    size_ += shard->insert_or_assign(name, std::move(service)).second ? 1 : 0;
  }
  for (size_t i = 0; i < kShards; ++i) shards_[i] = std::move(shards[i]);
}

size_t ServiceIndex::ShardOf(std::string_view name) {
  return std::hash<std::string_view>{}(name) % kShards;
}

std::shared_ptr<const Version> ServiceState::FindShared(const Semver& version) const {
  auto it = std::lower_bound(
      versions.begin(), versions.end(), version,
      [](const std::shared_ptr<const Version>& v, const Semver& s) { return v->version < s; });
  if (it == versions.end() || (*it)->version != version) return nullptr;
  return *it;
}

std::optional<TimeMs> EnvironmentState::SucceededAt(std::string_view service,
                                                    const Semver& version) const {
  auto it = succeeded.find(service);
  if (it == succeeded.end()) return std::nullopt;
  auto found = it->second->find(version.ToString());
  if (found == it->second->end()) return std::nullopt;
  return found->second;
}

const ServiceState* ServiceIndex::Find(std::string_view name) const {
  const auto& shard = shards_[ShardOf(name)];
  if (!shard) return nullptr;
  auto it = shard->find(name);
  return it == shard->end() ? nullptr : it->second.get();
}

void ServiceIndex::Put(std::shared_ptr<const ServiceState> service) {
  auto& slot = shards_[ShardOf(service->service.name)];
  auto shard = slot ? std::make_shared<Shard>(*slot) : std::make_shared<Shard>();
  const std::string name = service->service.name;
  size_ += shard->insert_or_assign(name, std::move(service)).second ? 1 : 0;
  slot = std::move(shard);
}

std::vector<const ServiceState*> ServiceIndex::SortedByName() const {
  std::vector<const ServiceState*> out;
  out.reserve(size_);
  for (const auto& shard : shards_) {
    if (!shard) continue;
    for (const auto& [name, service] : *shard) out.push_back(service.get());
  }
  std::sort(out.begin(), out.end(), [](const ServiceState* a, const ServiceState* b) {
    return a->service.name < b->service.name;
  });
  return out;
}

const ServiceState* State::FindService(std::string_view name) const { return services.Find(name); }

const EnvironmentState* State::FindEnvironment(std::string_view name) const {
  for (const auto& env : environments) {
    if (env->environment.name == name) return env.get();
  }
  return nullptr;
}

namespace {

// The gate's view of the lifecycle history: one snapshot's record of successes.
class SnapshotHistory final : public PromotionHistory {
 public:
  explicit SnapshotHistory(const State& state) : state_(state) {}
  std::optional<TimeMs> SucceededAt(const Version& version,
                                    std::string_view environment) const override {
    const EnvironmentState* env = state_.FindEnvironment(environment);
    return env == nullptr ? std::nullopt : env->SucceededAt(version.service, version.version);
  }

 private:
  const State& state_;
};

// A promotion request resolved against one snapshot.
struct ResolvedRequest {
  std::shared_ptr<const Version> version;
  const EnvironmentState* environment = nullptr;
};

Result<ResolvedRequest> Resolve(const State& state, const PromotionRequest& request) {
  const EnvironmentState* env = state.FindEnvironment(request.environment);
  if (env == nullptr) {
    std::string known;
    for (const auto& e : state.environments) {
      known += (known.empty() ? "" : ", ") + e->environment.name;
    }
    return Error(ErrorCode::kNotFound,
                 "unknown environment \"" + request.environment + "\" (known: " + known + ")");
  }
  const ServiceState* service = state.FindService(request.service);
  if (service == nullptr) {
    return Error(ErrorCode::kNotFound, "unknown service \"" + request.service + "\"");
  }
  auto semver = Semver::Parse(request.version);
  if (!semver.ok()) return semver.error();
  auto version = service->FindShared(*semver);
  if (version == nullptr) {
    return Error(ErrorCode::kNotFound, "unknown version " + request.service + "@" +
                                           semver->ToString() + " (not registered)");
  }
  return ResolvedRequest{std::move(version), env};
}

class StrandEngine final : public Engine, private RolloutHost, private TrainHost {
 public:
  StrandEngine(std::unique_ptr<Store> store, const Pipelines& pipelines, const Clock& clock)
      : store_(std::move(store)),
        pipelines_(pipelines),
        clock_(clock),
        differ_(*store_, clock),
        strand_(boost::asio::make_strand(io_)),
        work_(boost::asio::make_work_guard(io_)) {}

  ~StrandEngine() override { Stop(); }

  Status Load(RolloutDeps deps) {
    const Pipelines& pipelines = pipelines_;
    auto contents = store_->LoadAll();
    if (!contents.ok()) return contents.error().WithContext("loading the store");
    auto state = std::make_shared<State>();
    std::map<std::string, std::shared_ptr<ServiceState>, std::less<>> services;
    for (auto& service : contents->services) {
      auto entry = std::make_shared<ServiceState>();
      entry->service = std::move(service);
      services.emplace(entry->service.name, entry);
    }
    for (auto& version : contents->versions) {
      auto it = services.find(version.service);
      if (it == services.end()) continue;  // foreign keys make this impossible
      InternRanges(version);
      it->second->versions.push_back(std::make_shared<const Version>(std::move(version)));
      ++state->version_count;
    }
    std::vector<std::shared_ptr<const ServiceState>> loaded;
    for (auto& [name, entry] : services) {
      std::sort(entry->versions.begin(), entry->versions.end(),
                [](const auto& a, const auto& b) { return a->version < b->version; });
      entry->versions.shrink_to_fit();
      loaded.push_back(std::move(entry));
    }
    std::vector<std::shared_ptr<const Version>> all_versions;
    all_versions.reserve(state->version_count);
    for (const auto& entry : loaded) {
      all_versions.insert(all_versions.end(), entry->versions.begin(), entry->versions.end());
    }
    state->catalog = ProviderCatalog::Build(all_versions);
    state->services = ServiceIndex(std::move(loaded));
    state->last_event_id = contents->last_event_id;
    state->last_promotion_id = contents->last_promotion_id;
    state->holds = std::move(contents->holds);

    // The pipelines define the environments; record changes in the journal.
    std::vector<EnvironmentRecord> records;
    int position = 0;
    for (const auto& env : pipelines.environments) {
      records.push_back({env.name, position++, env.after.value_or("")});
    }
    bool changed = records.size() != contents->environments.size();
    for (size_t i = 0; !changed && i < records.size(); ++i) {
      const auto& a = records[i];
      const auto& b = contents->environments[i];
      changed = a.name != b.name || a.position != b.position || a.after != b.after;
    }
    if (changed) {
      nlohmann::json names = nlohmann::json::array();
      for (const auto& r : records) names.push_back(r.name);
      Event event{0,        clock_.NowMs(),
                  "system", "environments.configured",
                  "",       nlohmann::json{{"environments", names}}.dump()};
      auto ids = store_->SyncEnvironments(records, {event});
      if (!ids.ok()) return ids.error().WithContext("recording environments");
      state->last_event_id = ids->back();
    }
    const VersionLookup lookup = [&state](std::string_view service, const Semver& version) {
      const ServiceState* entry = state->FindService(service);
      return entry == nullptr ? nullptr : entry->FindShared(version);
    };
    for (auto& record : records) {
      auto env = std::make_shared<EnvironmentState>();
      const auto& config = pipelines.environments[static_cast<size_t>(record.position)];
      env->lifecycle = {config.after.value_or(""), config.soak};
      env->environment = std::move(record);
      std::vector<LiveService> live;
      for (const auto& deployment : contents->deployments) {
        if (deployment.environment != env->environment.name) continue;
        env->live.emplace(deployment.service, deployment);
        live.push_back(LiveServiceFromDeployment(deployment, lookup));
      }
      env->index = EnvironmentIndex::Build(env->environment.name, std::move(live));
      std::map<std::string, std::map<std::string, TimeMs>, std::less<>> succeeded;
      for (const auto& promotion : contents->succeeded_promotions) {
        if (promotion.environment != env->environment.name) continue;
        succeeded[promotion.service][promotion.version.ToString()] = promotion.finished_at;
      }
      for (auto& [service, versions] : succeeded) {
        env->succeeded.emplace(
            service, std::make_shared<const std::map<std::string, TimeMs>>(std::move(versions)));
      }
      state->environments.push_back(std::move(env));
    }
    Publish(std::move(state));
    rollouts_ = std::make_unique<Rollouts>(static_cast<RolloutHost&>(*this), pipelines_,
                                           std::move(deps), clock_, strand_);
    trains_ = std::make_unique<Trains>(static_cast<TrainHost&>(*this), pipelines_, clock_, strand_);
    thread_ = std::thread([this] { io_.run(); });
    // Unfinished rollouts continue before the daemon answers anyone.
    auto resumed = RunOnStrand<bool>([&]() -> Result<bool> {
      rollouts_->Resume(std::move(contents->active_promotions));
      return true;
    });
    if (!resumed.ok()) return resumed.error().WithContext("resuming rollouts");
    auto trains = RunOnStrand<bool>([&]() -> Result<bool> {
      trains_->Resume(std::move(contents->trains));
      return true;
    });
    if (!trains.ok()) return trains.error().WithContext("resuming trains");
    return Ok();
  }

  std::shared_ptr<const State> Snapshot() const override {
    std::lock_guard lock(snapshot_mutex_);
    return snapshot_;
  }

  Result<Outcome> RegisterService(const Service& service, const Actor& actor) override {
    return RunOnStrand<Outcome>([&]() -> Result<Outcome> {
      auto state = Snapshot();
      if (const ServiceState* existing = state->FindService(service.name)) {
        if (existing->service.repo == service.repo) return Outcome::kUnchanged;
        return Error(ErrorCode::kConflict, "service \"" + service.name +
                                               "\" is already registered with repo \"" +
                                               existing->service.repo + "\"");
      }
      Service record = service;
      record.created_at = clock_.NowMs();
      Event event = MakeEvent(actor, "service.registered", record.name, {{"repo", record.repo}});
      auto ids = store_->InsertService(record, {event});
      if (!ids.ok()) return ids.error();
      auto next = std::make_shared<State>(*state);
      auto entry = std::make_shared<ServiceState>();
      entry->service = std::move(record);
      next->services.Put(std::move(entry));
      next->last_event_id = ids->back();
      Publish(std::move(next));
      return Outcome::kCreated;
    });
  }

  Result<Outcome> RegisterVersion(const Version& version, const Actor& actor) override {
    return RunOnStrand<Outcome>([&]() -> Result<Outcome> {
      auto state = Snapshot();
      const ServiceState* found = state->FindService(version.service);
      if (found == nullptr) {
        return Error(ErrorCode::kNotFound, "unknown service \"" + version.service +
                                               "\": register it first (shipctl service add " +
                                               version.service + ")");
      }
      const ServiceState& service = *found;
      const std::string label = version.service + "@" + version.version.ToString();
      if (const Version* existing = service.FindVersion(version.version)) {
        if (existing->content_hash == version.content_hash) return Outcome::kUnchanged;
        return Error(ErrorCode::kConflict,
                     "version " + version.service + "@" + existing->version.ToString() +
                         " is already registered with different content (versions are "
                         "immutable; register a new version instead)");
      }
      auto record = std::make_shared<Version>(version);
      record->created_at = clock_.NowMs();
      nlohmann::json provides = nlohmann::json::array();
      for (const auto& p : record->provides) provides.push_back(p.api + "@" + p.version.ToString());
      nlohmann::json requirements = nlohmann::json::array();
      for (const auto& r : record->requires_) requirements.push_back(r.api + " " + r.range.text());
      Event event = MakeEvent(actor, "version.registered", label,
                              {{"provides", provides},
                               {"requires", requirements},
                               {"commit", record->commit},
                               {"content_sha256", record->content_hash}});
      auto ids = store_->InsertVersion(*record, {event});
      if (!ids.ok()) return ids.error();
      // Specs live in the store only; memory holds the contracts the gate needs.
      for (auto& p : record->provides) std::string().swap(p.spec);
      InternRanges(*record);

      auto next_service = std::make_shared<ServiceState>(service);
      auto& versions = next_service->versions;
      auto pos = std::upper_bound(
          versions.begin(), versions.end(), record->version,
          [](const Semver& s, const std::shared_ptr<const Version>& v) { return s < v->version; });
      std::shared_ptr<const Version> shared = std::move(record);
      versions.insert(pos, shared);
      auto next = std::make_shared<State>(*state);
      next->catalog = next->catalog.With(std::move(shared));
      next->services.Put(std::move(next_service));
      ++next->version_count;
      next->last_event_id = ids->back();
      Publish(std::move(next));
      return Outcome::kCreated;
    });
  }

  Result<Verdict> CanIDeploy(const PromotionRequest& request) const override {
    auto state = Snapshot();
    auto resolved = Resolve(*state, request);
    if (!resolved.ok()) return resolved.error();
    return Evaluate(*state, *resolved, request.override_reason);
  }

  Result<Plan> PlanPromotion(const PromotionRequest& request) const override {
    auto state = Snapshot();
    auto resolved = Resolve(*state, request);
    if (!resolved.ok()) return resolved.error();
    SnapshotHistory history(*state);
    GateContext context{resolved->environment->lifecycle, clock_.NowMs(), &history, &differ_};
    const ServiceVersions versions = [&state](std::string_view service) {
      const ServiceState* entry = state->FindService(service);
      return entry == nullptr ? std::span<const std::shared_ptr<const Version>>()
                              : std::span<const std::shared_ptr<const Version>>(entry->versions);
    };
    return shipd::PlanPromotion(resolved->version, resolved->environment->index, state->catalog,
                                versions, context, request.override_reason);
  }

  Result<PromotionOutcome> Promote(const PromotionRequest& request, const Actor& actor) override {
    if (request.override_freeze && request.override_freeze_reason.empty()) {
      return Error(ErrorCode::kBadRequest, "overriding a freeze needs a reason");
    }
    return RunOnStrand<PromotionOutcome>([&] { return PromoteOnStrand(request, actor, {}); });
  }

  // Release trains.
  Result<TrainChange> CreateTrain(const Train& spec, const Actor& actor) override {
    return RunOnStrand<TrainChange>([&] { return trains_->Create(spec, actor); });
  }
  Result<TrainChange> BoardTrain(const std::string& name, const std::vector<CarRequest>& cars,
                                 const Actor& actor) override {
    return RunOnStrand<TrainChange>([&] { return trains_->Board(name, cars, actor); });
  }
  Result<TrainChange> LeaveTrain(const std::string& name, const std::string& service,
                                 const Actor& actor) override {
    return RunOnStrand<TrainChange>([&] { return trains_->Leave(name, service, actor); });
  }
  Result<TrainChange> DepartTrain(const std::string& name, const Actor& actor) override {
    return RunOnStrand<TrainChange>([&] { return trains_->Depart(name, actor); });
  }
  std::optional<Train> GetTrain(std::string_view name) const override { return trains_->Get(name); }
  std::vector<Train> ListTrains() const override { return trains_->List(); }

  // Promote, on the strand. `train` (a car's train and trip) rides in the rollout.created event.
  Result<PromotionOutcome> PromoteOnStrand(const PromotionRequest& request, const Actor& actor,
                                           const nlohmann::json& train) {
    auto state = Snapshot();
    auto resolved = Resolve(*state, request);
    if (!resolved.ok()) return resolved.error();
    const Version& version = *resolved->version;
    const EnvironmentState& env = *resolved->environment;
    const std::string label = version.service + "@" + version.version.ToString();
    if (auto held = Held(*state, version.service, env.environment.name, request.override_freeze);
        !held.ok()) {
      // Refused before the gate is asked: an operator's hold is not a contract verdict.
      nlohmann::json refused = {{"environment", env.environment.name},
                                {"reason", held.error().message()}};
      auto ids = store_->AppendEvents({MakeEvent(actor, "promotion.refused", label, refused)});
      if (!ids.ok()) return ids.error();
      PublishEventId(ids->back());
      return held.error();
    }
    PromotionOutcome outcome;
    outcome.verdict = Evaluate(*state, *resolved, request.override_reason);
    const nlohmann::json verdict_json = VerdictToJson(outcome.verdict);
    nlohmann::json data = {{"environment", env.environment.name}, {"verdict", verdict_json}};
    if (!request.override_reason.empty()) data["override_reason"] = request.override_reason;
    if (request.override_freeze) {
      data["override_freeze"] = FreezeOverride(*state, request, actor);
    }

    if (!outcome.verdict.allowed) {
      // Blocked is a verdict, not a rollout; the journal still records who asked.
      auto ids = store_->AppendEvents({MakeEvent(actor, "promotion.blocked", label, data)});
      if (!ids.ok()) return ids.error();
      PublishEventId(ids->back());
      return outcome;
    }

    if (auto runnable = rollouts_->CanRun(env.environment.name); !runnable.ok()) {
      return runnable.error();
    }
    const TimeMs now = clock_.NowMs();
    Promotion promotion;
    promotion.id = state->last_promotion_id + 1;
    promotion.service = version.service;
    promotion.version = version.version;
    promotion.environment = env.environment.name;
    promotion.requested_by = actor.name;
    promotion.override_reason = request.override_reason;
    if (request.override_freeze) {
      promotion.progress.override_freeze_reason = request.override_freeze_reason;
    }
    promotion.verdict = verdict_json.dump();
    promotion.created_at = promotion.updated_at = now;
    if (train.is_object()) data.update(train);
    auto created = rollouts_->Create(std::move(promotion), std::move(data), actor);
    if (!created.ok()) return created.error();
    outcome.promotion = std::move(*created);
    return outcome;
  }

  Result<std::vector<Promotion>> ListPromotions(const PromotionFilter& filter) override {
    return RunOnStrand<std::vector<Promotion>>([&] { return store_->ListPromotions(filter); });
  }

  Result<std::optional<Promotion>> GetPromotion(int64_t id) override {
    return RunOnStrand<std::optional<Promotion>>([&] { return store_->GetPromotion(id); });
  }

  Result<std::vector<Event>> PromotionEvents(int64_t id) override {
    return RunOnStrand<std::vector<Event>>([&] { return store_->PromotionEvents(id, 10000); });
  }

  Result<Promotion> Act(int64_t id, RolloutAction action, const Actor& actor,
                        const std::string& reason) override {
    return RunOnStrand<Promotion>([&] { return rollouts_->Act(id, action, actor, reason); });
  }

  Result<ApprovalOutcome> Approve(int64_t id, const Actor& actor,
                                  const std::string& reason) override {
    return RunOnStrand<ApprovalOutcome>([&] { return rollouts_->Approve(id, actor, reason); });
  }

  Result<std::vector<Approval>> PromotionApprovals(int64_t id) override {
    return RunOnStrand<std::vector<Approval>>([&] { return store_->ListApprovals(id); });
  }

  Result<Hold> PutHold(Hold hold, const Actor& actor) override {
    return RunOnStrand<Hold>([&]() -> Result<Hold> {
      auto state = Snapshot();
      if (state->FindEnvironment(hold.environment) == nullptr) {
        return Error(ErrorCode::kNotFound, "unknown environment \"" + hold.environment + "\"");
      }
      if (!hold.IsFreeze() && state->FindService(hold.service) == nullptr) {
        return Error(ErrorCode::kNotFound, "unknown service \"" + hold.service + "\"");
      }
      const TimeMs now = clock_.NowMs();
      if (hold.IsFreeze() && !hold.expires_at) {
        return Error(ErrorCode::kInvalid, "a freeze needs an end (until)");
      }
      if (hold.expires_at && *hold.expires_at <= now) {
        return Error(ErrorCode::kInvalid,
                     "the end " + FormatUtc(*hold.expires_at) + " is not in the future");
      }
      hold.owner = actor.name;
      hold.created_at = now;
      nlohmann::json data = {{"environment", hold.environment}, {"reason", hold.reason}};
      if (hold.expires_at) data["until"] = FormatUtc(*hold.expires_at);
      const bool freeze = hold.IsFreeze();
      auto ids = store_->PutHold(
          hold, {MakeEvent(actor, freeze ? "environment.frozen" : "service.locked",
                           freeze ? hold.environment : hold.service, std::move(data))});
      if (!ids.ok()) return ids.error();
      auto next = std::make_shared<State>(*state);
      std::erase_if(next->holds, [&](const Hold& h) {
        return h.environment == hold.environment && h.service == hold.service;
      });
      next->holds.push_back(hold);
      next->last_event_id = ids->back();
      Publish(std::move(next));
      return hold;
    });
  }

  Status RemoveHold(const std::string& environment, const std::string& service,
                    const Actor& actor) override {
    auto removed = RunOnStrand<bool>([&]() -> Result<bool> {
      const bool freeze = service.empty();
      auto ids = store_->DeleteHold(
          environment, service,
          {MakeEvent(actor, freeze ? "environment.unfrozen" : "service.unlocked",
                     freeze ? environment : service, {{"environment", environment}})});
      if (!ids.ok()) return ids.error();
      auto next = std::make_shared<State>(*Snapshot());
      std::erase_if(next->holds, [&](const Hold& h) {
        return h.environment == environment && h.service == service;
      });
      next->last_event_id = ids->back();
      Publish(std::move(next));
      return true;
    });
    if (!removed.ok()) return removed.error();
    return Ok();
  }

  std::vector<Hold> ActiveHolds() const override {
    auto state = Snapshot();
    const TimeMs now = clock_.NowMs();
    std::vector<Hold> active;
    for (const Hold& hold : state->holds) {
      if (hold.ActiveAt(now)) active.push_back(hold);
    }
    std::sort(active.begin(), active.end(), [](const Hold& a, const Hold& b) {
      return std::tie(a.environment, a.service) < std::tie(b.environment, b.service);
    });
    return active;
  }

  std::vector<std::pair<std::string, FreezeSpan>> FreezesInForce() const override {
    auto state = Snapshot();
    const TimeMs now = clock_.NowMs();
    std::vector<std::pair<std::string, FreezeSpan>> frozen;
    for (const auto& env : state->environments) {
      const std::string& name = env->environment.name;
      if (auto freeze = FreezeInForce(*state, pipelines_.FindEnvironment(name), name, now)) {
        frozen.emplace_back(name, std::move(*freeze));
      }
    }
    return frozen;
  }

  Endpoints Urls(std::string_view service, std::string_view environment) const override {
    return rollouts_->Urls(service, environment);
  }

  Result<std::vector<Event>> ListEvents(int64_t after, int limit) override {
    return RunOnStrand<std::vector<Event>>([&] { return store_->ListEvents(after, limit); });
  }

  Result<ChainVerification> VerifyAuditChain(const ChainAnchor& anchor) override {
    return store_->VerifyChain(anchor);  // thread-safe: a connection of its own
  }

  Result<std::vector<Event>> WaitForEvents(int64_t after, int limit,
                                           std::chrono::milliseconds timeout) override {
    {
      std::unique_lock lock(snapshot_mutex_);
      published_.wait_for(lock, timeout,
                          [&] { return snapshot_->last_event_id > after || stopping_; });
    }
    return ListEvents(after, limit);
  }

  Status RecordEvent(const Actor& actor, const std::string& kind, const std::string& subject,
                     const std::string& data_json) override {
    auto done = RunOnStrand<bool>([&]() -> Result<bool> {
      auto data = nlohmann::json::parse(data_json, nullptr, false);
      if (data.is_discarded()) data = nlohmann::json::object();
      auto ids = store_->AppendEvents({MakeEvent(actor, kind, subject, std::move(data))});
      if (!ids.ok()) return ids.error();
      PublishEventId(ids->back());
      return true;
    });
    if (!done.ok()) return done.error();
    return Ok();
  }

  Result<bool> RecordDelivery(const std::string& host, const std::string& delivery_id,
                              const std::string& service, const Actor& actor,
                              const std::string& data_json) override {
    return RunOnStrand<bool>([&]() -> Result<bool> {
      auto data = nlohmann::json::parse(data_json, nullptr, false);
      if (data.is_discarded()) data = nlohmann::json::object();
      data["delivery"] = delivery_id;
      auto event = MakeEvent(actor, "webhook.received", service, std::move(data));
      auto ids = store_->RecordDelivery(host, delivery_id, service, event.time, {event});
      if (!ids.ok()) {
        if (ids.error().code() == ErrorCode::kConflict) return false;
        return ids.error();
      }
      PublishEventId(ids->back());
      return true;
    });
  }

  Result<std::string> LoadSpec(const std::string& service, const std::string& version,
                               const std::string& api) override {
    return store_->LoadSpec(service, version, api);  // thread-safe: the store's read connection
  }

  Result<std::optional<TokenRecord>> FindToken(const std::string& sha256_hex) override {
    return store_->FindToken(sha256_hex);
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    return RunOnStrand<std::vector<TokenRecord>>([&]() -> Result<std::vector<TokenRecord>> {
      auto tokens = store_->ListTokens();
      if (!tokens.ok()) return tokens.error();
      for (auto& token : *tokens) token.sha256_hex.clear();
      return tokens;
    });
  }

  Status RevokeToken(const std::string& name, const Actor& actor) override {
    auto done = RunOnStrand<bool>([&]() -> Result<bool> {
      auto ids = store_->DeleteToken(name, {MakeEvent(actor, "token.revoked", name, {})});
      if (!ids.ok()) return ids.error();
      PublishEventId(ids->back());
      return true;
    });
    if (!done.ok()) return done.error();
    return Ok();
  }

  void Stop() override {
    {
      std::lock_guard lock(snapshot_mutex_);
      stopping_ = true;
    }
    published_.notify_all();  // long-polling readers return at once
    if (rollouts_) {
      // Timers stop; driver operations in flight finish (their results are not applied).
      (void)RunOnStrand<bool>([&]() -> Result<bool> {
        if (trains_) trains_->Shutdown();
        rollouts_->Shutdown();
        return true;
      });
    }
    {
      std::lock_guard lock(stop_mutex_);
      if (stopped_) return;
      stopped_ = true;
      work_.reset();
    }
    if (thread_.joinable()) thread_.join();  // runs every task already posted
  }

 private:
  template <typename T, typename Fn>
  Result<T> RunOnStrand(Fn&& fn) {
    std::promise<Result<T>> promise;
    auto future = promise.get_future();
    {
      // Posting under the lock: a task posted before Stop() is run before the thread exits.
      std::lock_guard lock(stop_mutex_);
      if (stopped_) return Error(ErrorCode::kUnavailable, "shipd is shutting down");
      boost::asio::post(strand_, [&] {
        try {
          promise.set_value(fn());
        } catch (const std::exception& e) {
          promise.set_value(Error(ErrorCode::kInternal, std::string("engine: ") + e.what()));
        }
      });
    }
    return future.get();
  }

  Event MakeEvent(const Actor& actor, std::string kind, std::string subject,
                  nlohmann::json data) const {
    if (!actor.source.empty()) data["source"] = actor.source;
    return Event{0, clock_.NowMs(), actor.name, std::move(kind), std::move(subject), data.dump()};
  }

  // RolloutHost, TrainHost.
  Store& store() override { return *store_; }

  void RolloutFinished(const Promotion& promotion) override {
    if (trains_) trains_->PromotionFinished(promotion);
  }

  Verdict EvaluateSet(const State& state,
                      const std::vector<std::shared_ptr<const Version>>& versions,
                      const EnvironmentState& environment) const override {
    SnapshotHistory history(state);
    GateContext context{LifecyclePolicy{}, clock_.NowMs(), &history, &differ_};
    ChangeSet changes;
    for (const auto& version : versions)
      changes.changes.push_back({version, ChangeKind::kPromote, 0});
    return shipd::Evaluate(changes, environment.index, context);
  }

  Verdict Judge(const State& state, std::shared_ptr<const Version> version,
                const EnvironmentState& environment) const override {
    return Evaluate(state, std::move(version), environment, ChangeKind::kPromote, 0, "");
  }

  Result<PromotionOutcome> PromoteCar(const PromotionRequest& request, const Actor& actor,
                                      const nlohmann::json& train) override {
    return PromoteOnStrand(request, actor, train);
  }

  void PublishEvents(int64_t last_event_id) override { PublishEventId(last_event_id, 0); }

  Verdict Evaluate(const State& state, std::shared_ptr<const Version> version,
                   const EnvironmentState& environment, ChangeKind kind, int weight,
                   const std::string& override_reason) const override {
    SnapshotHistory history(state);
    GateContext context{environment.lifecycle, clock_.NowMs(), &history, &differ_};
    ChangeSet changes{{Change{std::move(version), kind, weight}}, override_reason};
    return shipd::Evaluate(changes, environment.index, context);
  }

  void PublishDeployment(const Deployment& deployment, std::optional<TimeMs> succeeded_at,
                         int64_t last_event_id, int64_t last_promotion_id) override {
    auto state = Snapshot();
    auto next = std::make_shared<State>(*state);
    const VersionLookup lookup = [&state](std::string_view service, const Semver& version) {
      const ServiceState* entry = state->FindService(service);
      return entry == nullptr ? nullptr : entry->FindShared(version);
    };
    for (auto& slot : next->environments) {
      if (slot->environment.name != deployment.environment) continue;
      auto env = std::make_shared<EnvironmentState>(*slot);
      env->live[deployment.service] = deployment;
      env->index = env->index.With(LiveServiceFromDeployment(deployment, lookup));
      if (succeeded_at && deployment.stable) {
        auto versions = std::make_shared<std::map<std::string, TimeMs>>();
        if (auto it = env->succeeded.find(deployment.service); it != env->succeeded.end()) {
          *versions = *it->second;
        }
        (*versions)[deployment.stable->ToString()] = *succeeded_at;
        env->succeeded[deployment.service] = std::move(versions);
      }
      slot = std::move(env);
    }
    next->last_event_id = std::max(next->last_event_id, last_event_id);
    next->last_promotion_id = std::max(next->last_promotion_id, last_promotion_id);
    Publish(std::move(next));
  }

  // kConflict naming the lock, or the freeze when the environment refuses requests in a freeze
  // (unless the request overrides freezes: the hotfix lane; a lock still refuses it).
  Status Held(const State& state, const std::string& service, const std::string& environment,
              bool override_freeze) const {
    const TimeMs now = clock_.NowMs();
    if (const Hold* lock = LockInForce(state, service, environment, now)) {
      return Error(ErrorCode::kConflict, DescribeLock(*lock) + " (shipctl unlock " + service +
                                             " --env " + environment + ")");
    }
    const Environment* config = pipelines_.FindEnvironment(environment);
    if (override_freeze) return Ok();
    if (config != nullptr && config->on_freeze == OnFreeze::kWait) return Ok();  // it waits
    if (auto freeze = FreezeInForce(state, config, environment, now)) {
      return Error(ErrorCode::kConflict, DescribeFreeze(environment, *freeze));
    }
    return Ok();
  }

  // The data of a promotion.freeze_overridden event: who, why, and the freeze in force (null
  // when the environment was not frozen at the request).
  nlohmann::json FreezeOverride(const State& state, const PromotionRequest& request,
                                const Actor& actor) const {
    nlohmann::json freeze = nullptr;
    if (auto span = FreezeInForce(state, pipelines_.FindEnvironment(request.environment),
                                  request.environment, clock_.NowMs())) {
      freeze = DescribeFreeze(request.environment, *span);
    }
    return {{"override_freeze", true},
            {"reason", request.override_freeze_reason},
            {"actor", actor.name},
            {"freeze", std::move(freeze)}};
  }

  Verdict Evaluate(const State& state, const ResolvedRequest& resolved,
                   const std::string& override_reason) const {
    SnapshotHistory history(state);
    GateContext context{resolved.environment->lifecycle, clock_.NowMs(), &history, &differ_};
    ChangeSet changes{{Change{resolved.version, ChangeKind::kPromote, 0}}, override_reason};
    return shipd::Evaluate(changes, resolved.environment->index, context);
  }

  // Versions share one parsed Range per distinct text (the few ranges of a fleet repeat across
  // thousands of versions). Strand only.
  void InternRanges(Version& version) {
    for (auto& require : version.requires_) {
      auto [it, inserted] = ranges_.try_emplace(require.range.text(), require.range);
      if (!inserted) require.range = it->second;
    }
  }

  void Publish(std::shared_ptr<const State> state) {
    {
      std::lock_guard lock(snapshot_mutex_);
      snapshot_ = std::move(state);
    }
    published_.notify_all();
  }

  // A mutation whose only change is new journal events (and promotion ids). Strand only.
  void PublishEventId(int64_t last_event_id, int64_t last_promotion_id = 0) override {
    auto next = std::make_shared<State>(*Snapshot());
    next->last_event_id = std::max(next->last_event_id, last_event_id);
    next->last_promotion_id = std::max(next->last_promotion_id, last_promotion_id);
    Publish(std::move(next));
  }

  std::unique_ptr<Store> store_;
  const Pipelines pipelines_;
  const Clock& clock_;
  StoreSpecDiffer differ_;
  boost::asio::io_context io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unordered_map<std::string, Range> ranges_;  // strand only
  std::unique_ptr<Rollouts> rollouts_;             // strand only, except Urls()
  std::unique_ptr<Trains> trains_;                 // strand only, except Get() and List()

  mutable std::mutex snapshot_mutex_;
  std::condition_variable published_;  // notified after each Publish
  bool stopping_ = false;              // guarded by snapshot_mutex_
  std::shared_ptr<const State> snapshot_;

  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Engine>> StartEngine(std::unique_ptr<Store> store,
                                            const Pipelines& pipelines, const Clock& clock,
                                            RolloutDeps deps) {
  auto engine = std::make_unique<StrandEngine>(std::move(store), pipelines, clock);
  if (auto status = engine->Load(std::move(deps)); !status.ok()) return status.error();
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace shipd

namespace shipd {

namespace {
constexpr std::array<std::pair<RolloutAction, std::string_view>, 4> kActionNames = {{
    {RolloutAction::kApprove, "approve"},
    {RolloutAction::kResume, "resume"},
    {RolloutAction::kAbort, "abort"},
    {RolloutAction::kRollback, "rollback"},
}};
}  // namespace

std::string_view RolloutActionName(RolloutAction action) {
  for (const auto& [value, name] : kActionNames) {
    if (value == action) return name;
  }
  return "unknown";
}

std::optional<RolloutAction> ParseRolloutAction(std::string_view name) {
  for (const auto& [value, text] : kActionNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

}  // namespace shipd

// GitTagIngestor: the TagIngestor over libgit2 mirrors, with one worker thread for webhook jobs
// and poll deadlines. Every path ends in Ingest(), which reads the tag's manifest and registers
// the version through the engine.

#include "shipd/engine/tag_ingestor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "shipd/git/repository.h"

namespace shipd {
namespace {

using Steady = std::chrono::steady_clock;

struct Repository {
  RepositoryConfig config;
  TagPattern pattern;
  std::string normalized_url;
  std::mutex mutex;  // guards mirror: libgit2 objects are used by one thread at a time
  std::unique_ptr<GitMirror> mirror;
  Steady::time_point next_poll = Steady::time_point::max();
  // "tag commit" pairs that failed or conflicted: reconciliation reports each once, not per poll.
  std::set<std::string> settled;
};

struct Job {
  Repository* repository;
  TagEvent event;
  Actor actor;
};

class GitTagIngestor final : public TagIngestor {
 public:
  GitTagIngestor(Engine& engine, std::vector<RepositoryConfig> configs,
                 std::filesystem::path mirrors_dir)
      : engine_(engine), mirrors_dir_(std::move(mirrors_dir)) {
    for (auto& config : configs) {
      auto repository = std::make_unique<Repository>();
      auto pattern = TagPattern::Parse(config.tag_pattern);
      repository->pattern = pattern.ok() ? *pattern : TagPattern();
      repository->normalized_url = NormalizeRepositoryId(config.url);
      if (config.poll_interval.count() > 0) {
        // The first reconciliation runs soon after start (webhooks lost while shipd was down),
        // but not before a short interval would have run it anyway.
        repository->next_poll = Steady::now() + std::min<std::chrono::milliseconds>(
                                                    config.poll_interval, std::chrono::seconds(10));
      }
      repository->config = std::move(config);
      configs_.push_back(repository->config);
      repositories_.push_back(std::move(repository));
    }
    worker_ = std::thread([this] { Run(); });
  }

  ~GitTagIngestor() override { Stop(); }

  const std::vector<RepositoryConfig>& repositories() const override { return configs_; }

  const RepositoryConfig* FindByService(std::string_view service) const override {
    const Repository* repository = Find(service);
    return repository == nullptr ? nullptr : &repository->config;
  }

  std::vector<const RepositoryConfig*> FindByIds(
      const std::vector<std::string>& repository_ids) const override {
    std::vector<const RepositoryConfig*> found;
    for (const auto& repository : repositories_) {
      for (const auto& id : repository_ids) {
        if (NormalizeRepositoryId(id) == repository->normalized_url ||
            (!id.empty() &&
             repository->normalized_url.ends_with("/" + NormalizeRepositoryId(id)))) {
          found.push_back(&repository->config);
          break;
        }
      }
    }
    return found;
  }

  void Enqueue(const RepositoryConfig& config, TagEvent event, Actor actor) override {
    Repository* repository = Find(config.service);
    if (repository == nullptr) return;
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back({repository, std::move(event), std::move(actor)});
    }
    wake_.notify_one();
  }

  Result<IngestOutcome> IngestNow(std::string_view service, std::string_view tag,
                                  const Actor& actor) override {
    Repository* repository = Find(service);
    if (repository == nullptr) return NoRepository(service);
    std::lock_guard lock(repository->mutex);
    if (auto fetched = Fetch(*repository); !fetched.ok()) return fetched.error();
    return Ingest(*repository, std::string(tag), actor);
  }

  Result<std::vector<IngestOutcome>> SyncNow(std::string_view service,
                                             const Actor& actor) override {
    Repository* repository = Find(service);
    if (repository == nullptr) return NoRepository(service);
    return Sync(*repository, actor);
  }

  void Stop() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

 private:
  static Error NoRepository(std::string_view service) {
    return Error(ErrorCode::kNotFound, "no repository is configured for service \"" +
                                           std::string(service) +
                                           "\" (repositories: in shipd.yaml)");
  }

  Repository* Find(std::string_view service) const {
    for (const auto& repository : repositories_) {
      if (repository->config.service == service) return repository.get();
    }
    return nullptr;
  }

  // The worker: webhook jobs first, then due reconciliations.
  void Run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (!jobs_.empty()) {
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        Process(job);
        lock.lock();
        continue;
      }
      auto next = Steady::time_point::max();
      Repository* due = nullptr;
      for (const auto& repository : repositories_) {
        if (repository->next_poll < next) {
          next = repository->next_poll;
          due = repository.get();
        }
      }
      if (due != nullptr && next <= Steady::now()) {
        due->next_poll = Steady::now() + due->config.poll_interval;
        lock.unlock();
        auto outcomes = Sync(*due, Actor{"git-poll", due->config.url});
        if (!outcomes.ok()) {
          spdlog::warn("reconciling {}: {}", due->config.service, outcomes.error().message());
        }
        lock.lock();
        continue;
      }
      if (next == Steady::time_point::max()) {
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      } else {
        wake_.wait_until(lock, next, [&] { return stopping_ || !jobs_.empty(); });
      }
    }
  }

  void Process(const Job& job) {
    Repository& repository = *job.repository;
    const std::string& service = repository.config.service;
    if (job.event.kind == TagEventKind::kTagDeleted) {
      Record(job.actor, "tag.deleted", service,
             {{"tag", job.event.tag},
              {"note", "versions are immutable; a version registered from this tag stays"}});
      return;
    }
    std::lock_guard lock(repository.mutex);
    if (auto fetched = Fetch(repository); !fetched.ok()) {
      Record(job.actor, "version.ingest_failed", service,
             {{"tag", job.event.tag}, {"error", fetched.error().message()}});
      return;
    }
    auto outcome = Ingest(repository, job.event.tag, job.actor);
    if (!outcome.ok()) {
      spdlog::warn("ingesting {} {}: {}", service, job.event.tag, outcome.error().message());
    }
  }

  Result<std::vector<IngestOutcome>> Sync(Repository& repository, const Actor& actor) {
    std::lock_guard lock(repository.mutex);
    if (auto fetched = Fetch(repository); !fetched.ok()) return fetched.error();
    auto tags = repository.mirror->ListTags();
    if (!tags.ok()) return tags.error();
    auto state = engine_.Snapshot();
    const ServiceState* service = state->FindService(repository.config.service);
    std::vector<IngestOutcome> outcomes;
    for (const auto& tag : *tags) {
      auto version = repository.pattern.Match(tag.name);
      if (!version.ok()) continue;  // not a version tag: reconciliation passes over it quietly
      if (service != nullptr) {
        const Version* known = service->FindVersion(*version);
        if (known != nullptr && known->commit == tag.commit) continue;  // already registered
      }
      const std::string key = tag.name + " " + tag.commit;
      if (repository.settled.count(key) != 0) continue;
      auto outcome = Ingest(repository, tag.name, actor);
      if (!outcome.ok()) return outcome.error();
      if (outcome->status == "failed" || outcome->status == "conflict") {
        repository.settled.insert(key);
      }
      outcomes.push_back(std::move(outcome).value());
    }
    return outcomes;
  }

  Status Fetch(Repository& repository) {
    if (!repository.mirror) {
      auto mirror =
          OpenMirror(repository.config.url, mirrors_dir_ / (repository.config.service + ".git"));
      if (!mirror.ok())
        return mirror.error().WithContext("opening mirror of " + repository.config.url);
      repository.mirror = std::move(mirror).value();
    }
    auto fetched = repository.mirror->FetchTags();
    if (!fetched.ok())
      return fetched.error().WithContext("fetching tags of " + repository.config.url);
    return Ok();
  }

  // Reads the version a tag names and registers it. The mirror must be fetched and locked.
  Result<IngestOutcome> Ingest(Repository& repository, const std::string& tag_name,
                               const Actor& actor) {
    const std::string& service = repository.config.service;
    IngestOutcome outcome;
    outcome.tag = tag_name;
    auto semver = repository.pattern.Match(tag_name);
    if (!semver.ok()) {
      outcome.status = "ignored";
      outcome.message = semver.error().message();
      Record(actor, "tag.ignored", service, {{"tag", tag_name}, {"reason", outcome.message}});
      return outcome;
    }
    outcome.version = service + "@" + semver->ToString();
    auto failed = [&](const Error& error) {
      outcome.status = "failed";
      outcome.message = error.message();
      Record(actor, "version.ingest_failed", outcome.version,
             {{"tag", tag_name}, {"error", outcome.message}});
      return outcome;
    };
    auto tag = repository.mirror->ResolveTag(tag_name);
    if (!tag.ok()) return failed(tag.error());
    auto version = ReadVersionAtTag(*repository.mirror, service, *tag, repository.pattern,
                                    repository.config.manifest);
    if (!version.ok()) return failed(version.error());

    if (engine_.Snapshot()->FindService(service) == nullptr) {
      auto registered = engine_.RegisterService({service, repository.config.url, 0}, actor);
      if (!registered.ok()) return failed(registered.error());
    }
    auto registered = engine_.RegisterVersion(*version, actor);
    if (!registered.ok()) {
      if (registered.error().code() != ErrorCode::kConflict) return failed(registered.error());
      // Same version, other content: the tag moved (or was registered by other means). Never a
      // silent overwrite: versions are immutable.
      const ServiceState* known = engine_.Snapshot()->FindService(service);
      const Version* existing = known == nullptr ? nullptr : known->FindVersion(version->version);
      outcome.status = "conflict";
      outcome.message = registered.error().message();
      Record(actor, "tag.moved", outcome.version,
             {{"tag", tag_name},
              {"registered_commit", existing == nullptr ? "" : existing->commit},
              {"tag_commit", tag->commit},
              {"note", "the registered version is kept; tag a new version instead"}});
      return outcome;
    }
    outcome.status = *registered == Outcome::kCreated ? "registered" : "unchanged";
    if (*registered == Outcome::kCreated && !repository.config.promote_to.empty()) {
      auto promoted = engine_.Promote(
          {service, version->version.ToString(), repository.config.promote_to, ""}, actor);
      if (!promoted.ok()) {
        outcome.message = "promotion to " + repository.config.promote_to +
                          " failed: " + promoted.error().message();
        Record(actor, "promotion.failed", outcome.version,
               {{"environment", repository.config.promote_to}, {"error", outcome.message}});
      } else if (promoted->promotion.has_value()) {
        outcome.promotion = promoted->promotion->id;
      } else {
        outcome.message = "promotion to " + repository.config.promote_to + " was blocked";
      }
    }
    return outcome;
  }

  void Record(const Actor& actor, const std::string& kind, const std::string& subject,
              const nlohmann::json& data) {
    if (auto status = engine_.RecordEvent(actor, kind, subject, data.dump()); !status.ok()) {
      spdlog::error("recording {} for {}: {}", kind, subject, status.error().message());
    }
  }

  Engine& engine_;
  const std::filesystem::path mirrors_dir_;
  std::vector<std::unique_ptr<Repository>> repositories_;
  std::vector<RepositoryConfig> configs_;

  std::mutex mutex_;  // guards jobs_, stopping_ and every next_poll
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<TagIngestor> StartTagIngestor(Engine& engine,
                                              std::vector<RepositoryConfig> repositories,
                                              std::filesystem::path mirrors_dir) {
  return std::make_unique<GitTagIngestor>(engine, std::move(repositories), std::move(mirrors_dir));
}

}  // namespace shipd

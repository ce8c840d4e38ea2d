// TagIngestor: turns Git tags into registered versions. It keeps a bare mirror of each configured
// repository under the data directory, processes verified webhook deliveries on its own worker
// thread (fetches never block the engine or an HTTP thread), reconciles each repository's tags on
// its poll interval, and registers through Engine::RegisterVersion — webhook, poll and on-demand
// registration share one code path, so they cannot disagree. Thread-safe; a repository's mirror
// is used by one thread at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shipd/config/daemon_config.h"
#include "shipd/engine/engine.h"
#include "shipd/git/tag_event.h"

namespace shipd {

// What became of one tag.
struct IngestOutcome {
  std::string tag;
  std::string status;   // registered, unchanged, ignored, failed, conflict
  std::string version;  // service@version when the tag names one
  std::string message;
  int64_t promotion = 0;  // the promotion started by promote_to, 0 when none
};

class TagIngestor {
 public:
  virtual ~TagIngestor() = default;

  virtual const std::vector<RepositoryConfig>& repositories() const = 0;
  virtual const RepositoryConfig* FindByService(std::string_view service) const = 0;
  // The configured repositories a delivery's payload names (unverified: for choosing the secret).
  virtual std::vector<const RepositoryConfig*> FindByIds(
      const std::vector<std::string>& repository_ids) const = 0;

  // Queues a verified tag event; returns at once.
  virtual void Enqueue(const RepositoryConfig& repository, TagEvent event, Actor actor) = 0;
  // Fetches and ingests one tag now.
  virtual Result<IngestOutcome> IngestNow(std::string_view service, std::string_view tag,
                                          const Actor& actor) = 0;
  // Fetches and ingests every tag of the repository whose version is not registered yet.
  virtual Result<std::vector<IngestOutcome>> SyncNow(std::string_view service,
                                                     const Actor& actor) = 0;
  // Finishes the job in progress and stops the worker.
  virtual void Stop() = 0;
};

// Starts the worker thread; mirrors live in `mirrors_dir/<service>.git`.
std::unique_ptr<TagIngestor> StartTagIngestor(Engine& engine,
                                              std::vector<RepositoryConfig> repositories,
                                              std::filesystem::path mirrors_dir);

}  // namespace shipd

// ApiServer: the REST API v1 (ARCHITECTURE.md §5) over cpp-httplib. Routes read the engine's
// current snapshot or send commands to it; every route but /healthz, /readyz and the webhooks
// needs a bearer token whose roles grant the route's permission (docs/security.md).
// Bind() then Run() on one thread; Stop() from any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "shipd/common/clock.h"
#include "shipd/common/result.h"
#include "shipd/engine/engine.h"
#include "shipd/engine/tag_ingestor.h"
#include "shipd/model/permissions.h"

namespace shipd {

struct ApiOptions {
  size_t max_body_bytes = 1024 * 1024;
  int threads = 32;  // at most a quarter serve event streams (GET /v1/events/stream)
  RoleTable roles = BuiltinRoles();  // what the roles tokens carry grant
  // Appends more metric families (Prometheus text) to GET /metrics; called on each scrape.
  std::function<void(std::string&)> extra_metrics;
  // Set when shipd runs with --test-clock: POST /v1/test/clock moves it (admin only). Null: the
  // route does not exist.
  FakeClock* test_clock = nullptr;
};

class ApiServer {
 public:
  virtual ~ApiServer() = default;
  // Returns the bound port (useful with port 0).
  virtual Result<int> Bind(const std::string& host, int port) = 0;
  // Serves until Stop(); returns when the listener is closed.
  virtual void Run() = 0;
  virtual void Stop() = 0;
};

// `ingestor` may be null (no repositories configured): the webhook routes then answer 404.
std::unique_ptr<ApiServer> MakeApiServer(Engine& engine, const Clock& clock, ApiOptions options,
                                         TagIngestor* ingestor = nullptr);

}  // namespace shipd

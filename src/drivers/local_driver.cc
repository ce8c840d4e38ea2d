// LocalDriver: every version of a service runs as a local process (its artifact is the command
// line, e.g. "demo-service --name orders --version 3.2.0 --port {{port}}") on a free loopback
// port, supervised; each service × environment has a WeightedProxy in front. Operations on one
// service × environment are serialised; different ones run in parallel.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "driver_util.h"
#include "process_supervisor.h"
#include "shipd/common/template.h"
#include "weighted_proxy.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;

constexpr std::array<const char*, 8> kInheritedVariables = {"PATH", "HOME",   "USER", "LOGNAME",
                                                            "LANG", "LC_ALL", "TZ",   "TMPDIR"};

// A loopback port that was free a moment ago (the process binds it next).
Result<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error(ErrorCode::kIo, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  const int error = errno;
  ::close(fd);
  if (port <= 0) return Error(ErrorCode::kIo, std::string("bind: ") + std::strerror(error));
  return port;
}

bool Listening(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string LogTail(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return TrimOutput(text.str(), 2048);
}

std::string DirectUrl(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// One running version.
struct Instance {
  std::string version;
  std::string artifact;
  int port = 0;
  int64_t process = 0;  // ProcessSupervisor id
};

// One service in one environment.
struct Slot {
  std::mutex mu;  // serialises operations here
  std::unique_ptr<WeightedProxy> proxy;
  std::map<std::string, Instance> instances;  // by version
  std::string stable;                         // versions; empty when none
  std::string canary;
  int weight = 0;
};

struct Wanted {
  std::string version;
  std::string artifact;  // empty: keep whatever runs
};

class LocalDriver final : public DeployDriver {
 public:
  LocalDriver(const DriverDeps& deps, std::filesystem::path work_dir)
      : options_(deps.local),
        clock_(*deps.clock),
        work_dir_(std::move(work_dir)),
        supervisor_({deps.local.stop_grace, std::chrono::seconds(5)}) {}

  ~LocalDriver() override {
    // Proxies first (no request reaches a dying process), then the supervisor kills everything.
    std::lock_guard lock(mu_);
    slots_.clear();
  }

  shipd::Status Deploy(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kDeploy);
  }
  shipd::Status SetWeight(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kWeight);
  }
  shipd::Status Promote(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kPromote);
  }
  shipd::Status Rollback(const DriverContext& ctx) override {
    return Apply(ctx, DriverAction::kRollback);
  }

  Result<DriverStatus> Status(std::string_view service,
                              std::string_view environment) const override {
    DriverStatus status;
    auto slot = FindSlot(service, environment);
    if (!slot) return status;
    std::lock_guard lock(slot->mu);
    status.stable_version = slot->stable;
    status.canary_version = slot->canary;
    status.weight = slot->canary.empty() ? 0 : slot->weight;
    std::ostringstream detail;
    for (const auto& [version, instance] : slot->instances) {
      DriverInstance out;
      out.version = version;
      out.role = version == slot->canary ? "canary" : "stable";
      out.url = DirectUrl(instance.port);
      if (auto state = supervisor_.State(instance.process)) {
        out.pid = state->pid;
        out.running = state->running;
        out.restarts = state->restarts;
        if (!state->last_exit.empty()) {
          detail << version << " last died with " << state->last_exit << "; ";
        }
      }
      status.instances.push_back(std::move(out));
    }
    if (slot->proxy) detail << "proxy " << slot->proxy->url();
    status.detail = detail.str();
    return status;
  }

  bool Ephemeral() const override { return true; }

  Endpoints Urls(std::string_view service, std::string_view environment) const override {
    Endpoints urls;
    auto slot = FindSlot(service, environment);
    if (!slot) return urls;
    std::lock_guard lock(slot->mu);
    if (slot->proxy) urls.stable_url = slot->proxy->url();
    const std::string& direct = slot->canary.empty() ? slot->stable : slot->canary;
    if (auto it = slot->instances.find(direct); it != slot->instances.end()) {
      urls.canary_url = DirectUrl(it->second.port);
    }
    return urls;
  }

  std::optional<TrafficReport> Traffic(std::string_view service,
                                       std::string_view environment) const override {
    auto slot = FindSlot(service, environment);
    if (!slot) return std::nullopt;
    std::lock_guard lock(slot->mu);
    if (!slot->proxy) return std::nullopt;
    return slot->proxy->Traffic();
  }

 private:
  std::shared_ptr<Slot> FindSlot(std::string_view service, std::string_view environment) const {
    std::lock_guard lock(mu_);
    auto it = slots_.find({std::string(service), std::string(environment)});
    return it == slots_.end() ? nullptr : it->second;
  }

  std::shared_ptr<Slot> FindOrAddSlot(const std::string& service, const std::string& environment) {
    std::lock_guard lock(mu_);
    auto& slot = slots_[{service, environment}];
    if (!slot) slot = std::make_shared<Slot>();
    return slot;
  }

  shipd::Status Apply(const DriverContext& ctx, DriverAction action) {
    SHIPD_RETURN_IF_ERROR(ValidateContext(ctx));
    auto slot = FindOrAddSlot(ctx.service, ctx.environment);
    std::lock_guard lock(slot->mu);
    if (!slot->proxy) {
      auto proxy = WeightedProxy::Start(clock_, options_.traffic_window);
      if (!proxy.ok()) return proxy.error().WithContext(Where(ctx.service, ctx.environment));
      slot->proxy = std::move(*proxy);
    }
    std::optional<Wanted> stable;
    std::optional<Wanted> canary;
    int weight = 0;
    switch (action) {
      case DriverAction::kDeploy:
      case DriverAction::kWeight:
        if (!ctx.previous_version.empty() && ctx.previous_version != ctx.version) {
          stable = Wanted{ctx.previous_version, ctx.previous_artifact};
          canary = Wanted{ctx.version, ctx.artifact};
          weight = ctx.weight;
        } else if (ctx.previous_version == ctx.version) {
          stable = Wanted{ctx.version, ctx.artifact};
        } else {
          canary = Wanted{ctx.version, ctx.artifact};  // nothing else runs: it gets everything
          weight = 100;
        }
        break;
      case DriverAction::kPromote:
        stable = Wanted{ctx.version, ctx.artifact};
        break;
      case DriverAction::kRollback:
        if (!ctx.previous_version.empty()) {
          stable = Wanted{ctx.previous_version, ctx.previous_artifact};
        }
        break;
    }
    auto converged = Converge(*slot, ctx, stable, canary, weight,
                              /*remove_on_failure=*/action == DriverAction::kRollback);
    if (!converged.ok()) {
      return converged.error().WithContext(std::string(DriverActionName(action)));
    }
    return Ok();
  }

  // Starts what is wanted and missing, routes, then stops what is no longer wanted. When a
  // version cannot be started nothing changes, unless `remove_on_failure` (rollback: the canary
  // goes regardless).
  shipd::Status Converge(Slot& slot, const DriverContext& ctx, const std::optional<Wanted>& stable,
                         const std::optional<Wanted>& canary, int weight, bool remove_on_failure) {
    std::optional<Error> failure;
    std::optional<WeightedProxy::Backend> stable_backend;
    std::optional<WeightedProxy::Backend> canary_backend;
    for (const auto* wanted : {&stable, &canary}) {
      if (!*wanted) continue;
      auto port = Ensure(slot, ctx, **wanted);
      if (!port.ok()) {
        failure = port.error();
        break;
      }
      (wanted == &stable ? stable_backend : canary_backend) =
          WeightedProxy::Backend{(*wanted)->version, *port};
    }
    if (failure && !remove_on_failure) return *failure;
    slot.proxy->Route(stable_backend, canary_backend, weight);
    slot.stable = stable_backend ? stable_backend->version : "";
    slot.canary = canary_backend ? canary_backend->version : "";
    slot.weight = weight;
    for (auto it = slot.instances.begin(); it != slot.instances.end();) {
      if (it->first == slot.stable || it->first == slot.canary) {
        ++it;
        continue;
      }
      supervisor_.Stop(it->second.process);
      it = slot.instances.erase(it);
    }
    if (failure) return *failure;
    return Ok();
  }

  // The port `wanted` listens on, starting it when it does not run yet.
  Result<int> Ensure(Slot& slot, const DriverContext& ctx, const Wanted& wanted) {
    auto it = slot.instances.find(wanted.version);
    if (it != slot.instances.end()) {
      if (wanted.artifact.empty() || wanted.artifact == it->second.artifact) {
        return it->second.port;
      }
      supervisor_.Stop(it->second.process);  // same version, another artifact: start afresh
      slot.instances.erase(it);
    }
    const std::string name = Where(ctx.service, ctx.environment) + "@" + wanted.version;
    if (wanted.artifact.empty()) {
      return Error(ErrorCode::kInvalid, name + " does not run here and no artifact was given");
    }
    auto port = FreePort();
    if (!port.ok()) return port.error();
    auto argv = SplitCommandLine(wanted.artifact);
    if (!argv.ok()) return argv.error().WithContext(name + ": artifact");
    const std::map<std::string, std::string> variables = {{"service", ctx.service},
                                                          {"version", wanted.version},
                                                          {"environment", ctx.environment},
                                                          {"port", std::to_string(*port)}};
    for (auto& arg : *argv) {
      auto rendered = RenderTemplate(arg, variables);
      if (!rendered.ok()) return rendered.error().WithContext(name + ": artifact");
      arg = std::move(*rendered);
    }
    if (argv->empty()) return Error(ErrorCode::kInvalid, name + ": the artifact is empty");

    SupervisedSpec spec;
    spec.name = name;
    spec.argv = std::move(*argv);
    spec.search_path = options_.search_path;
    for (const char* variable : kInheritedVariables) {
      if (const char* value = std::getenv(variable)) spec.env[variable] = value;
    }
    spec.env["PORT"] = std::to_string(*port);
    spec.env["SHIP_SERVICE"] = ctx.service;
    spec.env["SHIP_VERSION"] = wanted.version;
    spec.env["SHIP_ENVIRONMENT"] = ctx.environment;
    spec.log_file = work_dir_ / ctx.service / ctx.environment / (wanted.version + ".log");
    auto process = supervisor_.Start(spec);
    if (!process.ok()) return process.error();

    // Ready once it accepts connections; dying first (or never listening) fails the operation.
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    while (!Listening(*port)) {
      auto state = supervisor_.State(*process);
      const bool died = !state || !state->running || !state->last_exit.empty();
      if (died || std::chrono::steady_clock::now() >= deadline) {
        supervisor_.Stop(*process);
        const std::string why =
            died ? "exited (" + (state ? state->last_exit : std::string("gone")) + ")"
                 : "did not listen within " + FormatDuration(options_.start_timeout);
        return Error(ErrorCode::kUnavailable, name + " " + why + " on port " +
                                                  std::to_string(*port) +
                                                  "; its output: " + LogTail(spec.log_file));
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    slot.instances[wanted.version] = Instance{wanted.version, wanted.artifact, *port, *process};
    return *port;
  }

  const DriverDeps::Local options_;
  const Clock& clock_;
  const std::filesystem::path work_dir_;
  ProcessSupervisor supervisor_;  // destroyed last: kills every process
  mutable std::mutex mu_;         // guards slots_ (the map, not the slots)
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Slot>> slots_;
};

}  // namespace

Result<std::unique_ptr<DeployDriver>> MakeLocalDriver(const Driver& config,
                                                      const DriverDeps& deps) {
  (void)config;
  if (deps.clock == nullptr) return Error(ErrorCode::kInvalid, "the local driver needs a clock");
  std::filesystem::path work_dir = deps.local.work_dir;
  if (work_dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "shipd-local-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Error(ErrorCode::kIo,
                   "cannot create a work directory: " + std::string(std::strerror(errno)));
    }
    work_dir = pattern;
  }
  return std::unique_ptr<DeployDriver>(std::make_unique<LocalDriver>(deps, std::move(work_dir)));
}

}  // namespace shipd

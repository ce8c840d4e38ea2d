// shipd: the daemon. Loads configuration and pipelines, opens the store, starts the engine and
// the REST API, and shuts down cleanly on SIGTERM/SIGINT. The only place that names concrete
// implementations.

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "shipd/api/server.h"
#include "shipd/checks/health_check.h"
#include "shipd/common/clock.h"
#include "shipd/common/http_client.h"
#include "shipd/common/process.h"
#include "shipd/common/sha256.h"
#include "shipd/config/daemon_config.h"
#include "shipd/config/freeze.h"
#include "shipd/config/pipelines.h"
#include "shipd/drivers/deploy_driver.h"
#include "shipd/engine/engine.h"
#include "shipd/engine/tag_ingestor.h"
#include "shipd/model/permissions.h"
#include "shipd/notify/notifier.h"
#include "shipd/store/notification_cursors.h"
#include "shipd/store/store.h"

namespace shipd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// One JSON object per line: {"time":..., "level":..., "msg":...}.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    nlohmann::json line = {{"time_ms", ms},
                           {"level", spdlog::level::to_string_view(msg.level).data()},
                           {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    const std::string text = line.dump() + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

void SetUpLogging(const DaemonConfig& config) {
  auto logger = spdlog::stderr_logger_mt("shipd");
  if (config.log_format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_default_logger(logger);
}

Result<std::unique_ptr<Store>> OpenStore(const DaemonConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Error(ErrorCode::kIo,
                 "cannot create data directory " + config.data_dir.string() + ": " + ec.message());
  }
  return OpenSqliteStore({config.DatabasePath().string(), ""});
}

// `role_args` are --role values, each one role or a comma list; the token carries them all. The
// roles are checked against the built-in ones and those of shipd.yaml (when --config is given).
int ListTokens(const DaemonConfig& config) {
  auto store = OpenStore(config);
  if (!store.ok()) {
    std::cerr << "shipd: " << store.error().message() << "\n";
    return kExitError;
  }
  auto tokens = (*store)->ListTokens();
  if (!tokens.ok()) {
    std::cerr << "shipd: " << tokens.error().message() << "\n";
    return kExitError;
  }
  for (const TokenRecord& token : *tokens) {
    std::cout << token.name << "\t" << token.role << "\t" << FormatUtc(token.created_at) << "\n";
  }
  return kExitOk;
}

int RevokeToken(const DaemonConfig& config, const std::string& name) {
  auto store = OpenStore(config);
  if (!store.ok()) {
    std::cerr << "shipd: " << store.error().message() << "\n";
    return kExitError;
  }
  SystemClock clock;
  Event event{0, clock.NowMs(), "cli", "token.revoked", name, "{}"};
  if (auto deleted = (*store)->DeleteToken(name, {event}); !deleted.ok()) {
    std::cerr << "shipd: " << deleted.error().message() << "\n";
    return deleted.error().code() == ErrorCode::kNotFound ? kExitUsage : kExitError;
  }
  std::cout << "token " << name << " revoked\n";
  return kExitOk;
}

int CreateToken(const DaemonConfig& config, const std::string& name,
                const std::vector<std::string>& role_args) {
  std::vector<std::string> roles;
  for (const auto& arg : role_args) {
    for (auto& role : SplitRoles(arg)) {
      if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
    }
  }
  const std::string role = JoinRoles(roles);
  if (auto valid = ValidateRoleNames(config.roles, roles); !valid.ok()) {
    std::cerr << "shipd: " << valid.error().message() << "\n";
    return kExitUsage;
  }
  if (name.empty()) {
    std::cerr << "shipd: token name must not be empty\n";
    return kExitUsage;
  }
  auto store = OpenStore(config);
  if (!store.ok()) {
    std::cerr << "shipd: " << store.error().message() << "\n";
    return kExitError;
  }
  const std::string token = "shipd_" + RandomHex(24);
  SystemClock clock;
  TokenRecord record{name, Sha256Hex(token), role, clock.NowMs()};
  const std::string data = nlohmann::json{{"role", role}, {"roles", roles}}.dump();
  Event event{0, record.created_at, "cli", "token.created", name, data};
  if (auto status = (*store)->InsertToken(record, {event}); !status.ok()) {
    std::cerr << "shipd: " << status.error().message() << "\n";
    return kExitError;
  }
  std::cout << token << std::endl;
  return kExitOk;
}

// The directory of the running binary: the local driver finds demo-service and friends there.
std::filesystem::path BinaryDirectory() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : self.parent_path();
}

Result<RolloutDeps> RolloutDependencies(const DaemonConfig& config, const Pipelines& pipelines,
                                        ProcessRunner& processes, HttpClient& http,
                                        const Clock& clock) {
  RolloutDeps deps;
  DriverDeps driver_deps;
  driver_deps.processes = &processes;
  driver_deps.http = &http;
  driver_deps.clock = &clock;
  driver_deps.local.work_dir = config.data_dir / "local";
  if (auto bin = BinaryDirectory(); !bin.empty()) driver_deps.local.search_path.push_back(bin);
  for (const auto& [name, driver] : pipelines.drivers) {
    auto made = MakeDriver(driver, driver_deps);
    if (!made.ok()) return made.error();
    deps.drivers.emplace(name, std::shared_ptr<DeployDriver>(std::move(*made)));
  }
  for (const auto& [name, check] : pipelines.checks) {
    auto made = MakeHealthCheck(check, processes, http, clock);
    if (!made.ok()) return made.error();
    deps.checks.emplace(name, std::shared_ptr<HealthCheck>(std::move(*made)));
  }
  deps.workers = 8;
  deps.check_working_directory = std::filesystem::current_path().string();
  return deps;
}

// `test_clock_start`: run on a clock that stands still and moves only through
// POST /v1/test/clock (integration tests of schedules); nullopt: the system clock.
int Serve(const DaemonConfig& config, std::optional<int64_t> test_clock_start) {
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto pipelines = LoadPipelines(config.pipelines);
  if (!pipelines.ok()) {
    spdlog::critical("{}", pipelines.error().message());
    std::cerr << "shipd: " << pipelines.error().message() << std::endl;
    return kExitUsage;
  }
  auto listen = ParseListenAddress(config.listen);
  if (!listen.ok()) {
    std::cerr << "shipd: " << listen.error().message() << std::endl;
    return kExitUsage;
  }
  auto store = OpenStore(config);
  if (!store.ok()) {
    std::cerr << "shipd: " << store.error().message() << std::endl;
    return kExitError;
  }
  SystemClock system_clock;
  std::unique_ptr<FakeClock> test_clock;
  if (test_clock_start) {
    test_clock = std::make_unique<FakeClock>(*test_clock_start);
    spdlog::warn("running on a test clock at {}: time moves only through POST /v1/test/clock",
                 FormatUtc(*test_clock_start));
  }
  const Clock& clock = test_clock ? static_cast<const Clock&>(*test_clock) : system_clock;
  // Drivers and checks are built once from the pipelines; the engine owns them from here on.
  auto processes = MakePosixProcessRunner();
  auto http = MakeHttplibHttpClient();
  auto deps = RolloutDependencies(config, *pipelines, *processes, *http, clock);
  if (!deps.ok()) {
    std::cerr << "shipd: " << deps.error().message() << std::endl;
    return kExitUsage;
  }
  auto engine = StartEngine(std::move(store).value(), *pipelines, clock, std::move(*deps));
  if (!engine.ok()) {
    std::cerr << "shipd: " << engine.error().message() << std::endl;
    return kExitError;
  }
  // Notifications tail the journal on threads of their own (docs/notifications.md).
  std::unique_ptr<NotificationCursors> cursors;
  std::unique_ptr<Notifier> notifier;
  if (!config.notifications.empty()) {
    auto started = [&]() -> Result<std::unique_ptr<Notifier>> {
      auto opened = OpenSqliteNotificationCursors(config.DatabasePath().string());
      if (!opened.ok()) return opened.error();
      cursors = std::move(opened).value();
      return StartNotifier(**engine, config.notifications, MakeHttplibHttpClient(), *cursors,
                           clock);
    }();
    if (!started.ok()) {
      std::cerr << "shipd: notifications: " << started.error().message() << std::endl;
      (*engine)->Stop();
      return kExitError;
    }
    notifier = std::move(started).value();
  }
  std::unique_ptr<TagIngestor> ingestor;
  if (!config.repositories.empty()) {
    ingestor = StartTagIngestor(**engine, config.repositories, config.data_dir / "mirrors");
    spdlog::info("{} repositories mapped for tag webhooks", config.repositories.size());
  }
  ApiOptions api_options;
  api_options.max_body_bytes = config.max_body_bytes;
  api_options.threads = config.http_threads;
  api_options.roles = config.roles;
  api_options.test_clock = test_clock.get();
  if (notifier) {
    api_options.extra_metrics = [&notifier, &engine](std::string& out) {
      RenderNotifierMetrics(notifier->Stats(), (*engine)->Snapshot()->last_event_id, out);
    };
  }
  auto api = MakeApiServer(**engine, clock, api_options, ingestor.get());
  auto port = api->Bind(listen->first, listen->second);
  if (!port.ok()) {
    std::cerr << "shipd: " << port.error().message() << std::endl;
    return kExitError;
  }
  const std::string url = "http://" + listen->first + ":" + std::to_string(*port);
  spdlog::info("database {}, pipelines {}, {} environments", config.DatabasePath().string(),
               config.pipelines.string(), pipelines->environments.size());
  spdlog::info("listening on {}", url);
  // Scripts and tests read the bound port from this line.
  std::cout << "shipd listening on " << url << std::endl;

  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("received {}, shutting down", received == SIGTERM ? "SIGTERM" : "SIGINT");
    api->Stop();
  });
  api->Run();
  if (ingestor) ingestor->Stop();  // finishes the tag in progress
  if (notifier) notifier->Stop();  // saves the cursors; what is not sent goes after a restart
  (*engine)->Stop();               // finishes the transaction in progress
  if (waiter.joinable()) {
    // Run() returned without a signal only if the listener failed; wake the waiter.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace
}  // namespace shipd

int main(int argc, char** argv) {
  using shipd::DaemonConfig;
  CLI::App app{"shipd — deployment control plane daemon"};
  app.set_version_flag("--version", "shipd 0.1.0");
  std::string config_file;
  std::string listen, data, pipelines, log_format, log_level;
  app.add_option("--config", config_file, "shipd.yaml configuration file")
      ->check(CLI::ExistingFile);
  app.add_option("--listen", listen, "host:port to listen on (port 0 picks a free port)");
  app.add_option("--data", data, "data directory (holds shipd.db)");
  app.add_option("--pipelines", pipelines, "pipelines file or directory");
  app.add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error");
  std::string test_clock;
  app.add_option("--test-clock", test_clock,
                 "run on a clock that starts at this UTC time (2026-12-01T09:00Z) and moves only "
                 "through POST /v1/test/clock; for tests, never for production");

  auto* token = app.add_subcommand("token", "manage API tokens");
  auto* create = token->add_subcommand("create", "create a token and print it once");
  std::string token_name;
  std::vector<std::string> token_roles;
  create->add_option("name", token_name, "token name (shown in the audit log)")->required();
  create
      ->add_option("--role", token_roles,
                   "admin, deployer, viewer or a role of shipd.yaml; repeat it or give a comma "
                   "list for several")
      ->required();
  auto* list = token->add_subcommand("list", "list tokens: name, roles, created");
  auto* revoke = token->add_subcommand(
      "revoke", "delete a token (a running shipd stops accepting it within 5 seconds)");
  std::string revoke_name;
  revoke->add_option("name", revoke_name, "token name")->required();
  token->require_subcommand(1);

  CLI11_PARSE(app, argc, argv);

  DaemonConfig config;
  if (!config_file.empty()) {
    auto loaded = shipd::LoadDaemonConfig(config_file);
    if (!loaded.ok()) {
      std::cerr << "shipd: " << loaded.error().message() << std::endl;
      return 2;
    }
    config = std::move(loaded).value();
  }
  if (!listen.empty()) config.listen = listen;
  if (!data.empty()) config.data_dir = data;
  if (!pipelines.empty()) config.pipelines = pipelines;
  if (!log_format.empty()) config.log_format = log_format;
  if (!log_level.empty()) config.log_level = log_level;

  shipd::SetUpLogging(config);
  if (*create) return shipd::CreateToken(config, token_name, token_roles);
  if (*list) return shipd::ListTokens(config);
  if (*revoke) return shipd::RevokeToken(config, revoke_name);
  std::optional<int64_t> test_clock_start;
  if (!test_clock.empty()) {
    auto start = shipd::ParseUtc(test_clock);
    if (!start.ok()) {
      std::cerr << "shipd: --test-clock: " << start.error().message() << std::endl;
      return 2;
    }
    test_clock_start = *start;
  }
  return shipd::Serve(config, test_clock_start);
}

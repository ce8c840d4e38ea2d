// rollout_bench: many concurrent rollouts through the real engine, in-process, on the system
// clock, with a real SQLite store in a temporary directory, a cheap fake driver (FakeDriver
// without recording) and a real http check (MakeHealthCheck over the httplib client) measured
// every second against one loopback HTTP server. The server runs in a forked child process, so
// the figures of this process are the engine's (plus this program's negligible bookkeeping); the
// child's CPU is printed apart.
//
// It registers N services with versions 1.0.0 and 2.0.0, makes 1.0.0 stable in environment
// `bench` with a direct strategy (first pass), restarts the engine on the same database with the
// canary strategy below, then promotes all N 2.0.0 at once and waits until every rollout has
// finished:
//
//   weight 10, analyze {checks: [http], duration: A}, weight 50, pause P, analyze {.., duration: A}
//
// Prints one figure per line ("name value") on stdout; progress goes to stderr. Exit status 0
// when every rollout succeeded, 1 otherwise, 2 for bad usage. Not part of the tests; see
// docs/benchmarks.md ("Concurrent rollouts").
//
//   rollout_bench [--rollouts N] [--analyze 30s] [--pause 10s] [--interval 1s] [--workers 8]
//                 [--check http|none] [--dir /tmp] [--keep]
//
// --check none replaces the http check by one that passes at once without any I/O, to tell the
// cost of the measurements from the cost of the state machine. --dir puts the database elsewhere
// (/dev/shm: a tmpfs, where fsync costs nothing).

#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shipd/checks/health_check.h"
#include "shipd/common/clock.h"
#include "shipd/common/http_client.h"
#include "shipd/common/process.h"
#include "shipd/config/pipelines.h"
#include "shipd/engine/engine.h"
#include "shipd/model/manifest.h"
#include "shipd/store/store.h"
#include "support/fake_driver.h"

namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;
using shipd::TimeMs;

struct Options {
  int rollouts = 1000;
  std::string analyze = "30s";
  std::string pause = "10s";
  std::string interval = "1s";
  size_t workers = 8;  // what the daemon uses
  bool http_check = true;
  bool keep = false;
  std::filesystem::path dir = std::filesystem::temp_directory_path();  // holds the data directory
};

void Print(const std::string& name, double value, int decimals = 1) {
  std::printf("%-40s %.*f\n", name.c_str(), decimals, value);
  std::fflush(stdout);
}

void PrintInt(const std::string& name, int64_t value) {
  std::printf("%-40s %" PRId64 "\n", name.c_str(), value);
  std::fflush(stdout);
}

void PrintText(const std::string& name, const std::string& value) {
  std::printf("%-40s %s\n", name.c_str(), value.c_str());
  std::fflush(stdout);
}

// ---- What this process costs ----

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // this process's threads only; the forked server is apart
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// VmRSS or VmHWM of /proc/<pid>/status, in MB.
double StatusMb(const char* field, const std::string& pid = "self") {
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  const size_t length = std::char_traits<char>::length(field);
  while (std::getline(status, line)) {
    if (line.compare(0, length, field) == 0) {
      return std::strtod(line.c_str() + length, nullptr) / 1024.0;
    }
  }
  return 0;
}

// utime + stime of another process, in seconds.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  size_t at = close + 2;
  while (at < text.size()) {
    size_t space = text.find(' ', at);
    if (space == std::string::npos) space = text.size();
    fields.push_back(text.substr(at, space - at));
    at = space + 1;
  }
  if (fields.size() < 13) return 0;  // fields[0] is field 3 (state); utime, stime are 14, 15
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) /
         ticks;
}

double Seconds(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// ---- The loopback server, in a child process ----

struct Server {
  pid_t pid = 0;
  int port = 0;
};

// Forks before any thread exists. The child serves GET /healthz until SIGTERM (or until this
// process dies).
std::optional<Server> ForkServer() {
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    httplib::Server server;
    server.set_tcp_nodelay(true);
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    if (write(fds[1], &port, sizeof port) != sizeof port) _exit(1);
    close(fds[1]);
    server.listen_after_bind();
    _exit(0);
  }
  close(fds[1]);
  int port = 0;
  const bool ok = read(fds[0], &port, sizeof port) == sizeof port && port > 0;
  close(fds[0]);
  if (!ok) return std::nullopt;
  return Server{pid, port};
}

// ---- Checks ----

// Counts the measurements of the check it wraps and histograms their values (ms).
class CountingCheck final : public shipd::HealthCheck {
 public:
  explicit CountingCheck(std::shared_ptr<shipd::HealthCheck> inner) : inner_(std::move(inner)) {}

  shipd::Measurement Measure(const shipd::CheckContext& context) override {
    shipd::Measurement m = inner_->Measure(context);
    results_[static_cast<size_t>(m.result)].fetch_add(1, std::memory_order_relaxed);
    if (m.value) {
      const auto ms = std::clamp<int64_t>(static_cast<int64_t>(*m.value), 0, kBuckets - 1);
      latency_ms_[static_cast<size_t>(ms)].fetch_add(1, std::memory_order_relaxed);
    }
    return m;
  }

  int64_t total() const {
    int64_t sum = 0;
    for (const auto& count : results_) sum += count.load();
    return sum;
  }
  int64_t count(shipd::MeasurementResult result) const {
    return results_[static_cast<size_t>(result)].load();
  }
  // The value (ms) below which `q` of the measurements with a value fall.
  int64_t ValuePercentile(double q) const {
    int64_t all = 0;
    for (const auto& count : latency_ms_) all += count.load();
    if (all == 0) return 0;
    int64_t seen = 0;
    for (size_t ms = 0; ms < latency_ms_.size(); ++ms) {
      seen += latency_ms_[ms].load();
      if (static_cast<double>(seen) >= q * static_cast<double>(all)) {
        return static_cast<int64_t>(ms);
      }
    }
    return kBuckets - 1;
  }

 private:
  static constexpr int64_t kBuckets = 10001;
  std::shared_ptr<shipd::HealthCheck> inner_;
  std::array<std::atomic<int64_t>, 4> results_{};
  std::array<std::atomic<int64_t>, kBuckets> latency_ms_{};
};

class InstantPass final : public shipd::HealthCheck {
 public:
  shipd::Measurement Measure(const shipd::CheckContext&) override {
    return {shipd::MeasurementResult::kPass, 0.0, "instant pass", 0};
  }
};

// ---- Pipelines ----

std::string PipelinesYaml(const Options& options, int port, bool canary) {
  std::string yaml = "environments:\n  - { name: bench, driver: fake, strategy: " +
                     std::string(canary ? "canary" : "direct") + " }\n";
  yaml += "strategies:\n  direct: { steps: [] }\n  canary:\n    steps:\n";
  yaml += "      - weight: 10\n";
  yaml += "      - analyze: { checks: [http], duration: " + options.analyze + " }\n";
  yaml += "      - weight: 50\n";
  yaml += "      - pause: " + options.pause + "\n";
  yaml += "      - analyze: { checks: [http], duration: " + options.analyze + " }\n";
  yaml += "checks:\n  http: { type: http, url: \"http://127.0.0.1:" + std::to_string(port) +
          "/healthz?service={{service}}\", interval: " + options.interval +
          ", timeout: 5s, failure_limit: 3 }\n";
  yaml += "drivers:\n  fake: { type: exec, command: [\"true\"] }\n";
  return yaml;
}

// ---- The run ----

struct Sample {
  double t = 0;    // seconds since the promotions started
  double cpu = 0;  // CPU seconds of this process so far
  double rss_mb = 0;
  int64_t measurements = 0;
  int64_t last_event_id = 0;
};

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};

Percentiles Summarise(std::vector<int64_t> values) {
  Percentiles p;
  p.n = values.size();
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  auto at = [&](double q) {
    const size_t i = std::min(values.size() - 1,
                              static_cast<size_t>(q * static_cast<double>(values.size() - 1)));
    return static_cast<double>(values[i]);
  };
  p.p50 = at(0.50);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  p.max = static_cast<double>(values.back());
  double sum = 0;
  for (int64_t v : values) sum += static_cast<double>(v);
  p.mean = sum / static_cast<double>(values.size());
  return p;
}

void PrintPercentiles(const std::string& name, const Percentiles& p) {
  PrintInt(name + "_count", static_cast<int64_t>(p.n));
  Print(name + "_p50_ms", p.p50, 0);
  Print(name + "_p95_ms", p.p95, 0);
  Print(name + "_p99_ms", p.p99, 0);
  Print(name + "_max_ms", p.max, 0);
  Print(name + "_mean_ms", p.mean, 1);
}

// Counts the live deployments of `bench` whose stable is `version` and that have no canary.
int CountStable(const shipd::Engine& engine, const shipd::Semver& version) {
  auto state = engine.Snapshot();
  const shipd::EnvironmentState* env = state->FindEnvironment("bench");
  if (env == nullptr) return 0;
  int count = 0;
  for (const auto& [service, deployment] : env->live) {
    if (deployment.stable == version && !deployment.canary) ++count;
  }
  return count;
}

std::string ServiceName(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "svc-%04d", i);
  return name;
}

int ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--keep") {
      options.keep = true;
      continue;
    }
    if (flag == "--help" || flag == "-h" || i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: rollout_bench [--rollouts N] [--analyze 30s] [--pause 10s] "
                   "[--interval 1s]\n"
                   "                     [--workers 8] [--check http|none] [--dir /tmp] "
                   "[--keep]\n");
      return 2;
    }
    const std::string value = argv[++i];
    bool ok = true;
    if (flag == "--rollouts") {
      options.rollouts = std::atoi(value.c_str());
      ok = options.rollouts > 0 && options.rollouts <= 9999;
    } else if (flag == "--analyze") {
      options.analyze = value;
      ok = shipd::ParseDuration(value).ok();
    } else if (flag == "--pause") {
      options.pause = value;
      ok = shipd::ParseDuration(value).ok();
    } else if (flag == "--interval") {
      options.interval = value;
      ok = shipd::ParseDuration(value).ok();
    } else if (flag == "--workers") {
      options.workers = static_cast<size_t>(std::atoi(value.c_str()));
      ok = options.workers > 0 && options.workers <= 256;
    } else if (flag == "--dir") {
      options.dir = value;
      ok = std::filesystem::is_directory(options.dir);
    } else if (flag == "--check") {
      options.http_check = value == "http";
      ok = value == "http" || value == "none";
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "rollout_bench: bad value for %s: %s\n", argv[i - 1], value.c_str());
      return 2;
    }
  }
  return 0;
}

struct Fixture {
  Options options;
  Server server;
  std::filesystem::path dir;
  shipd::SystemClock clock;
  std::unique_ptr<shipd::ProcessRunner> processes = shipd::MakePosixProcessRunner();
  std::unique_ptr<shipd::HttpClient> http = shipd::MakeHttplibHttpClient();
  std::shared_ptr<shipd::testing::FakeDriver> driver =
      std::make_shared<shipd::testing::FakeDriver>(/*record=*/false);
  std::shared_ptr<CountingCheck> check;                      // of the engine started last
  std::vector<std::unique_ptr<shipd::Pipelines>> pipelines;  // each engine's, kept alive
};

shipd::Result<std::unique_ptr<shipd::Engine>> Start(Fixture& f, bool canary) {
  auto pipelines =
      shipd::ParsePipelines(PipelinesYaml(f.options, f.server.port, canary), "bench.yaml");
  if (!pipelines.ok()) return pipelines.error();
  f.pipelines.push_back(std::make_unique<shipd::Pipelines>(std::move(*pipelines)));
  const shipd::Pipelines& loaded = *f.pipelines.back();
  std::shared_ptr<shipd::HealthCheck> inner;
  if (f.options.http_check) {
    auto made = shipd::MakeHealthCheck(loaded.checks.at("http"), *f.processes, *f.http, f.clock);
    if (!made.ok()) return made.error();
    inner = std::move(*made);
  } else {
    inner = std::make_shared<InstantPass>();
  }
  f.check = std::make_shared<CountingCheck>(std::move(inner));
  auto store = shipd::OpenSqliteStore({(f.dir / "shipd.db").string(), ""});
  if (!store.ok()) return store.error();
  shipd::RolloutDeps deps;
  deps.drivers["fake"] = f.driver;
  deps.checks["http"] = f.check;
  deps.workers = f.options.workers;
  return shipd::StartEngine(std::move(*store), loaded, f.clock, std::move(deps));
}

// Waits until `n` services run `version` as their stable in `bench`, or `timeout` passes.
bool WaitStable(const shipd::Engine& engine, const shipd::Semver& version, int n,
                std::chrono::seconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (CountStable(engine, version) < n) {
    if (Steady::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return true;
}

int Run(Fixture& f) {
  const Options& o = f.options;
  const shipd::Actor actor{"bench", ""};
  const shipd::Semver v1(1, 0, 0);
  const shipd::Semver v2(2, 0, 0);

  // Registration and the first pass (direct).
  auto engine = Start(f, /*canary=*/false);
  if (!engine.ok()) {
    std::fprintf(stderr, "rollout_bench: %s\n", engine.error().message().c_str());
    return 1;
  }
  auto started = Steady::now();
  for (int i = 0; i < o.rollouts; ++i) {
    const std::string name = ServiceName(i);
    if (auto done = (*engine)->RegisterService({name, "", 0}, actor); !done.ok()) {
      std::fprintf(stderr, "rollout_bench: %s\n", done.error().message().c_str());
      return 1;
    }
    for (const char* v : {"1.0.0", "2.0.0"}) {
      auto version = shipd::VersionFromManifest(json{{"artifact", name + ":{{version}}"}}, name, v);
      if (!version.ok() || !(*engine)->RegisterVersion(*version, actor).ok()) {
        std::fprintf(stderr, "rollout_bench: cannot register %s@%s\n", name.c_str(), v);
        return 1;
      }
    }
  }
  Print("register_seconds", Seconds(started, Steady::now()), 2);
  started = Steady::now();
  for (int i = 0; i < o.rollouts; ++i) {
    auto outcome = (*engine)->Promote({ServiceName(i), "1.0.0", "bench", ""}, actor);
    if (!outcome.ok() || !outcome->promotion) {
      std::fprintf(stderr, "rollout_bench: promoting %s@1.0.0 failed\n", ServiceName(i).c_str());
      return 1;
    }
  }
  if (!WaitStable(**engine, v1, o.rollouts, std::chrono::seconds(120))) {
    std::fprintf(stderr, "rollout_bench: 1.0.0 did not become stable everywhere\n");
    return 1;
  }
  Print("first_pass_direct_seconds", Seconds(started, Steady::now()), 2);
  (*engine)->Stop();
  engine->reset();

  // The measured pass: the canary strategy, every 2.0.0 at once.
  engine = Start(f, /*canary=*/true);
  if (!engine.ok()) {
    std::fprintf(stderr, "rollout_bench: %s\n", engine.error().message().c_str());
    return 1;
  }
  shipd::Engine& e = **engine;
  const int64_t first_event = e.Snapshot()->last_event_id;
  const double rss_before = StatusMb("VmRSS:");
  const double hwm_before = StatusMb("VmHWM:");
  Print("rss_before_rollouts_mb", rss_before);
  Print("peak_rss_before_rollouts_mb", hwm_before);
  std::fprintf(stderr, "rollout_bench: promoting %d services\n", o.rollouts);

  std::vector<Sample> samples;
  std::mutex samples_mutex;
  std::atomic<bool> sampling{true};
  const auto t0 = Steady::now();
  const double cpu0 = CpuSeconds();
  const double server_cpu0 = ProcessCpuSeconds(f.server.pid);
  auto sample = [&] {
    Sample s;
    s.t = Seconds(t0, Steady::now());
    s.cpu = CpuSeconds() - cpu0;
    s.rss_mb = StatusMb("VmRSS:");
    s.measurements = f.check->total();
    s.last_event_id = e.Snapshot()->last_event_id;
    std::lock_guard lock(samples_mutex);
    samples.push_back(s);
  };
  sample();
  std::thread sampler([&] {
    auto next = t0;
    while (sampling.load()) {
      next += std::chrono::seconds(1);
      std::this_thread::sleep_until(next);
      sample();
    }
  });

  int promoted = 0;
  for (int i = 0; i < o.rollouts; ++i) {
    auto outcome = e.Promote({ServiceName(i), "2.0.0", "bench", ""}, actor);
    if (outcome.ok() && outcome->promotion) ++promoted;
  }
  const double submitted_at = Seconds(t0, Steady::now());
  std::fprintf(stderr, "rollout_bench: %d rollouts started in %.2f s; waiting\n", promoted,
               submitted_at);

  // The first success ends the window in which all N rollouts run at once.
  double first_done_at = 0;
  const auto expected = *shipd::ParseDuration(o.analyze) * 2 + *shipd::ParseDuration(o.pause);
  const auto deadline = t0 + expected * 2 + std::chrono::seconds(120);
  int done = 0;
  while (true) {
    done = CountStable(e, v2);
    if (done > 0 && first_done_at == 0) first_done_at = Seconds(t0, Steady::now());
    if (done >= promoted || Steady::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double all_done_at = Seconds(t0, Steady::now());
  const double cpu_total = CpuSeconds() - cpu0;
  const double server_cpu = ProcessCpuSeconds(f.server.pid) - server_cpu0;
  sampling = false;
  sampler.join();
  const double hwm = StatusMb("VmHWM:");
  const int64_t measurements = f.check->total();

  // The journal of the measured pass, read after the fact (reading it during the run would add
  // to the engine's work).
  std::vector<shipd::Event> events;
  for (int64_t after = first_event;;) {
    auto page = e.ListEvents(after, 10000);
    if (!page.ok() || page->empty()) break;
    after = page->back().id;
    for (auto& event : *page) events.push_back(std::move(event));
  }
  e.Stop();

  // Lateness of each timed step: the rollout's next transition event (not check.*) minus the
  // step's start plus its duration, both from the journal's event times.
  std::map<int64_t, std::vector<const shipd::Event*>> by_promotion;
  std::vector<json> data(events.size());
  std::map<std::string, int64_t> kinds;
  for (size_t i = 0; i < events.size(); ++i) {
    data[i] = json::parse(events[i].data, nullptr, false);
    ++kinds[events[i].kind];
    if (data[i].is_object() && data[i].contains("promotion")) {
      by_promotion[data[i]["promotion"].get<int64_t>()].push_back(&events[i]);
    }
  }
  std::vector<int64_t> late_all, late_analyze, late_pause;
  // Per timed step (by index): over how long its N ends were spread, and its N next transitions.
  struct Spread {
    TimeMs first_end = INT64_MAX, last_end = 0, first_next = INT64_MAX, last_next = 0;
  };
  std::map<int, Spread> spreads;
  for (const auto& [id, list] : by_promotion) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i]->kind != "rollout.step") continue;
      const json step = json::parse(list[i]->data);
      const std::string type = step.value("type", "");
      if ((type != "pause" && type != "analyze") || !step.contains("duration_ms")) continue;
      const TimeMs ends = list[i]->time + step["duration_ms"].get<int64_t>();
      for (size_t j = i + 1; j < list.size(); ++j) {
        if (list[j]->kind.rfind("check.", 0) == 0) continue;
        const int64_t late = list[j]->time - ends;
        Spread& spread = spreads[step.value("step", -1)];
        spread.first_end = std::min(spread.first_end, ends);
        spread.last_end = std::max(spread.last_end, ends);
        spread.first_next = std::min(spread.first_next, list[j]->time);
        spread.last_next = std::max(spread.last_next, list[j]->time);
        late_all.push_back(late);
        (type == "pause" ? late_pause : late_analyze).push_back(late);
        break;
      }
    }
  }

  // The window in which all N rollouts ran at once: from the last promotion request to the
  // first success, in whole samples.
  Sample from, to;
  for (const Sample& s : samples) {
    if (s.t >= submitted_at && from.t == 0) from = s;
    if (s.t <= first_done_at) to = s;
  }
  double window_rss_max = 0;
  double peak_1s_cpu = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    if (s.t >= from.t && s.t <= to.t) window_rss_max = std::max(window_rss_max, s.rss_mb);
    const double dt = s.t - samples[i - 1].t;
    if (dt > 0) peak_1s_cpu = std::max(peak_1s_cpu, (s.cpu - samples[i - 1].cpu) / dt * 100);
  }

  PrintInt("rollouts", o.rollouts);
  PrintText("strategy", "weight 10, analyze " + o.analyze + ", weight 50, pause " + o.pause +
                            ", analyze " + o.analyze);
  PrintText("check", o.http_check ? "http every " + o.interval + " (loopback server, child process)"
                                  : "none (instant pass every " + o.interval + ")");
  PrintInt("workers", static_cast<int64_t>(o.workers));
  PrintText("database", f.dir.string());
  PrintInt("rollouts_succeeded", done);
  for (const char* kind :
       {"rollout.rolled_back", "rollout.failed", "rollout.paused", "check.failed", "check.error"}) {
    PrintInt(std::string("events_") + kind, kinds[kind]);
  }
  Print("submit_seconds", submitted_at, 2);
  Print("first_succeeded_seconds", first_done_at, 2);
  Print("all_succeeded_seconds", all_done_at, 2);
  Print("window_seconds", to.t - from.t, 1);
  const double window = std::max(1e-9, to.t - from.t);
  Print("window_cpu_percent", (to.cpu - from.cpu) / window * 100);
  Print("window_measurements_per_second",
        static_cast<double>(to.measurements - from.measurements) / window);
  Print("window_events_per_second",
        static_cast<double>(to.last_event_id - from.last_event_id) / window);
  Print("window_rss_max_mb", window_rss_max);
  Print("whole_run_cpu_percent", cpu_total / all_done_at * 100);
  Print("whole_run_cpu_seconds", cpu_total, 2);
  Print("peak_1s_cpu_percent", peak_1s_cpu);
  Print("whole_run_measurements_per_second", static_cast<double>(measurements) / all_done_at);
  PrintInt("events_written", static_cast<int64_t>(events.size()));
  Print("whole_run_events_per_second", static_cast<double>(events.size()) / all_done_at);
  Print("peak_rss_mb", hwm);
  Print("server_cpu_percent", server_cpu / all_done_at * 100);
  PrintInt("measurements", measurements);
  PrintInt("measurements_failed", f.check->count(shipd::MeasurementResult::kFail));
  PrintInt("measurements_error", f.check->count(shipd::MeasurementResult::kError));
  Print("check_latency_p50_ms", static_cast<double>(f.check->ValuePercentile(0.50)), 0);
  Print("check_latency_p99_ms", static_cast<double>(f.check->ValuePercentile(0.99)), 0);
  PrintPercentiles("lateness", Summarise(late_all));
  PrintPercentiles("lateness_analyze", Summarise(late_analyze));
  PrintPercentiles("lateness_pause", Summarise(late_pause));
  for (const auto& [step, spread] : spreads) {
    const std::string name = "step" + std::to_string(step);
    PrintInt(name + "_ends_spread_ms", spread.last_end - spread.first_end);
    PrintInt(name + "_next_transitions_spread_ms", spread.last_next - spread.first_next);
  }

  std::fprintf(stderr,
               "rollout_bench: timeline (s, cpu %% of a core, rss MB, measurements/s, "
               "events/s)\n");
  for (size_t i = 1; i < samples.size(); ++i) {
    const Sample& a = samples[i - 1];
    const Sample& b = samples[i];
    const double dt = std::max(1e-9, b.t - a.t);
    std::fprintf(stderr, "  %5.1f %6.1f %6.1f %7.0f %7.0f\n", b.t, (b.cpu - a.cpu) / dt * 100,
                 b.rss_mb, static_cast<double>(b.measurements - a.measurements) / dt,
                 static_cast<double>(b.last_event_id - a.last_event_id) / dt);
  }
  return done == o.rollouts ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (int status = ParseOptions(argc, argv, options); status != 0) return status;
  signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);  // the engine's info lines would mix with the figures
  auto server = ForkServer();              // before any thread
  if (!server) {
    std::fprintf(stderr, "rollout_bench: cannot start the loopback server\n");
    return 1;
  }
  Fixture f;
  f.options = options;
  f.server = *server;
  f.dir = options.dir / ("shipd-rollout-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(f.dir);
  std::filesystem::create_directories(f.dir);
  int status = Run(f);
  kill(f.server.pid, SIGTERM);
  waitpid(f.server.pid, nullptr, 0);
  if (options.keep) {
    std::fprintf(stderr, "rollout_bench: kept %s\n", f.dir.c_str());
  } else {
    std::filesystem::remove_all(f.dir);
  }
  return status;
}

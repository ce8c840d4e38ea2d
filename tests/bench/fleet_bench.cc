// fleet_bench: generates a consistent fleet (N services, each providing the API named after
// itself in M increasing versions, each version requiring K APIs of other services with ranges
// that some generated version satisfies) and registers it with a running shipd over the REST
// API, on keep-alive connections. Prints one figure per line ("name value") on stdout; progress
// and errors go to stderr. Exit status: 0 when every request was acknowledged, 1 otherwise,
// 2 for bad usage. Run by tests/bench/run.sh; see docs/benchmarks.md.
//
// For the contract gate (tests/bench/gate_http.sh) it can also generate a DAG-shaped fleet
// (--shape dag: the generator of tests/bench/gate_bench.cc, plus a 6-deep dependency chain),
// promote every service's first version through the environments (--promote dev,staging,...),
// and time GET /v1/can-i-deploy for random service@version pairs (--can-i-deploy N) and
// GET /v1/plan for the chain (--plan N), one request at a time over one keep-alive connection.

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dag_fleet.h"
#include "shipd/common/sha256.h"

namespace {

using namespace shipd::bench;  // NOLINT(google-build-using-namespace): the shared fleet
using Clock = std::chrono::steady_clock;

struct Options {
  std::string server = "http://127.0.0.1:7700";
  std::string token;
  std::string prefix = "svc";
  int services = 2000;
  int versions = 50;
  int requires_per_version = 3;
  uint64_t seed = 1;
  int clients = 1;
  // The contract gate's benchmark (all off by default).
  bool dag = false;                       // --shape dag
  bool register_fleet = true;             // --register no: the fleet is there already
  std::vector<std::string> promote;       // --promote dev,staging,perf,prod
  std::vector<std::string> environments;  // --environments (default: the --promote list)
  int can_i_deploy = 0;                   // GET /v1/can-i-deploy requests to time
  int plan = 0;                           // GET /v1/plan requests to time
  int warmup = 1000;                      // untimed requests before the can-i-deploy ones
  std::string paths_out;                  // --paths-out FILE: can-i-deploy paths for wrk
  int paths = 10000;
};

void Usage() {
  std::fprintf(
      stderr,
      "usage: fleet_bench --server URL --token TOKEN [--services N] [--versions M]\n"
      "                   [--requires K] [--seed S] [--clients C] [--prefix P]\n"
      "  registers N services x M versions (each requiring K other services' APIs)\n"
      "  with C concurrent keep-alive clients; the token needs register:* (admin).\n"
      "  TOKEN defaults to $SHIP_TOKEN. Service names are P-0000, P-0001, ...\n"
      "contract gate options:\n"
      "  --shape registry|dag   dag: providers are lower-indexed services, first versions\n"
      "                         satisfy each other, plus the chain P-chain-f ... P-chain-a\n"
      "  --register yes|no      no: the fleet is registered already (same options)\n"
      "  --promote E1,E2,...    promote every first version into E1, then E2, ... (in\n"
      "                         dependency order), and the chain's newest versions into\n"
      "                         all but the last (needs promote:*)\n"
      "  --environments E1,...  environments of the can-i-deploy requests (default:\n"
      "                         the --promote list)\n"
      "  --can-i-deploy N       time N GET /v1/can-i-deploy, random service@version\n"
      "  --warmup W             untimed requests before those (default 1000)\n"
      "  --plan N               time N GET /v1/plan for P-chain-a's newest version\n"
      "                         into the last environment\n"
      "  --paths-out FILE       write --paths N (default 10000) random can-i-deploy\n"
      "                         paths, one a line, for wrk\n");
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool ParseInt(const char* text, long long min, long long max, long long& out) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return false;
  out = value;
  return true;
}

// Returns 0 on success, or the exit status to use.
int ParseOptions(int argc, char** argv, Options& options) {
  if (const char* token = std::getenv("SHIP_TOKEN")) options.token = token;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      Usage();
      return 2;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "fleet_bench: %s needs a value\n", argv[i]);
      return 2;
    }
    const char* value = argv[++i];
    long long number = 0;
    bool ok = true;
    if (flag == "--server") {
      options.server = value;
    } else if (flag == "--token") {
      options.token = value;
    } else if (flag == "--prefix") {
      options.prefix = value;
    } else if (flag == "--services") {
      ok = ParseInt(value, 1, 9999, number);
      options.services = static_cast<int>(number);
    } else if (flag == "--versions") {
      ok = ParseInt(value, 1, 100000, number);
      options.versions = static_cast<int>(number);
    } else if (flag == "--requires") {
      ok = ParseInt(value, 0, 1000, number);
      options.requires_per_version = static_cast<int>(number);
    } else if (flag == "--seed") {
      ok = ParseInt(value, 0, INT64_MAX, number);
      options.seed = static_cast<uint64_t>(number);
    } else if (flag == "--clients") {
      ok = ParseInt(value, 1, 256, number);
      options.clients = static_cast<int>(number);
    } else if (flag == "--shape") {
      ok = std::string_view(value) == "dag" || std::string_view(value) == "registry";
      options.dag = std::string_view(value) == "dag";
    } else if (flag == "--register") {
      ok = std::string_view(value) == "yes" || std::string_view(value) == "no";
      options.register_fleet = std::string_view(value) == "yes";
    } else if (flag == "--promote") {
      options.promote = SplitList(value);
      ok = !options.promote.empty();
    } else if (flag == "--environments") {
      options.environments = SplitList(value);
      ok = !options.environments.empty();
    } else if (flag == "--can-i-deploy") {
      ok = ParseInt(value, 0, 100000000, number);
      options.can_i_deploy = static_cast<int>(number);
    } else if (flag == "--plan") {
      ok = ParseInt(value, 0, 100000000, number);
      options.plan = static_cast<int>(number);
    } else if (flag == "--warmup") {
      ok = ParseInt(value, 0, 100000000, number);
      options.warmup = static_cast<int>(number);
    } else if (flag == "--paths-out") {
      options.paths_out = value;
    } else if (flag == "--paths") {
      ok = ParseInt(value, 1, 100000000, number);
      options.paths = static_cast<int>(number);
    } else {
      std::fprintf(stderr, "fleet_bench: unknown option %s\n", argv[i - 1]);
      Usage();
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "fleet_bench: bad value for %s: \"%s\"\n", argv[i - 1], value);
      return 2;
    }
  }
  if (options.token.empty()) {
    std::fprintf(stderr, "fleet_bench: no token (--token or $SHIP_TOKEN)\n");
    return 2;
  }
  if (options.requires_per_version >= options.services) {
    std::fprintf(stderr, "fleet_bench: --requires must be less than --services\n");
    return 2;
  }
  if (options.environments.empty()) options.environments = options.promote;
  const bool gate = !options.promote.empty() || options.can_i_deploy > 0 || options.plan > 0 ||
                    !options.paths_out.empty();
  if (gate && !options.dag) {
    std::fprintf(stderr,
                 "fleet_bench: --promote, --can-i-deploy, --plan and --paths-out need --shape "
                 "dag (the registry fleet's first versions do not satisfy each other)\n");
    return 2;
  }
  if ((options.can_i_deploy > 0 || options.plan > 0 || !options.paths_out.empty()) &&
      options.environments.empty()) {
    std::fprintf(stderr, "fleet_bench: no environments (--promote or --environments)\n");
    return 2;
  }
  if (options.plan > 0 && options.versions < 2) {
    std::fprintf(stderr, "fleet_bench: --plan needs --versions of at least 2\n");
    return 2;
  }
  return 0;
}

// Deterministic for a seed: only the raw mt19937_64 output is used (the standard distributions
// differ between library implementations).
std::vector<ServiceSpec> GenerateFleet(const Options& options) {
  std::mt19937_64 rng(options.seed);
  auto below = [&rng](uint64_t bound) { return rng() % bound; };
  std::vector<ServiceSpec> fleet(static_cast<size_t>(options.services));
  for (size_t i = 0; i < fleet.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "%s-%04zu", options.prefix.c_str(), i);
    fleet[i].name = name;
    SemverTriple v;
    for (int j = 0; j < options.versions; ++j) {
      if (j > 0) {
        const uint64_t roll = below(100);
        if (roll < 5) {
          v = {v.major + 1, 0, 0};
        } else if (roll < 35) {
          v = {v.major, v.minor + 1, 0};
        } else {
          ++v.patch;
        }
      }
      fleet[i].versions.push_back(v);
    }
  }
  // Requirements need every provider's versions, hence the second pass.
  for (size_t i = 0; i < fleet.size(); ++i) {
    for (int j = 0; j < options.versions; ++j) {
      std::vector<Requirement> requirements;
      while (requirements.size() < static_cast<size_t>(options.requires_per_version)) {
        const int provider = static_cast<int>(below(fleet.size()));
        if (static_cast<size_t>(provider) == i) continue;
        if (std::any_of(requirements.begin(), requirements.end(),
                        [provider](const Requirement& r) { return r.provider == provider; })) {
          continue;
        }
        const auto& versions = fleet[static_cast<size_t>(provider)].versions;
        const SemverTriple& target = versions[below(versions.size())];
        char range[48];
        std::snprintf(range, sizeof(range), "^%" PRIu64 ".%" PRIu64, target.major, target.minor);
        requirements.push_back({provider, range});
      }
      fleet[i].requirements.push_back(std::move(requirements));
    }
  }
  return fleet;
}

// ---- Registration ----

std::string VersionBody(const std::vector<ServiceSpec>& fleet, size_t service, size_t index) {
  const ServiceSpec& spec = fleet[service];
  const std::string version = spec.versions[index].ToString();
  nlohmann::json requirements = nlohmann::json::array();
  for (const Requirement& r : spec.requirements[index]) {
    requirements.push_back(
        {{"api", fleet[static_cast<size_t>(r.provider)].name}, {"range", r.range}});
  }
  nlohmann::json openapi = {
      {"openapi", "3.0.3"},
      {"info", {{"title", spec.name}, {"version", version}}},
      {"paths",
       {{"/v1/" + spec.name, {{"get", {{"responses", {{"200", {{"description", "ok"}}}}}}}}}}}};
  nlohmann::json body = {
      {"version", version},
      {"artifact", "registry.example.com/" + spec.name + ":" + version},
      {"commit", shipd::Sha256Hex(spec.name + "@" + version).substr(0, 12)},
      {"provides", {{{"api", spec.name}, {"version", version}, {"spec", std::move(openapi)}}}},
      {"requires", std::move(requirements)}};
  return body.dump();
}

// What one phase (services or versions) observed, summed over the clients.
struct PhaseResult {
  int64_t created = 0;    // 201: a new row, acknowledged after the fsync
  int64_t unchanged = 0;  // 200: already registered with the same content (no write)
  int64_t failed = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
};

class Phase {
 public:
  explicit Phase(std::string name) : name_(std::move(name)) {}

  // Runs `work(index, client, result)` on `clients` threads, each with its own keep-alive
  // connection.
  template <typename Work>
  PhaseResult Run(const Options& options, int clients, Work&& work) {
    PhaseResult total;
    std::mutex mutex;
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        httplib::Client client(options.server);
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);  // as curl and most HTTP clients do
        client.set_bearer_token_auth(options.token.c_str());
        client.set_connection_timeout(5, 0);
        client.set_read_timeout(60, 0);
        client.set_write_timeout(60, 0);
        PhaseResult mine;
        work(c, client, mine);
        std::lock_guard lock(mutex);
        total.created += mine.created;
        total.unchanged += mine.unchanged;
        total.failed += mine.failed;
        total.latencies_ms.insert(total.latencies_ms.end(), mine.latencies_ms.begin(),
                                  mine.latencies_ms.end());
      });
    }
    for (auto& thread : threads) thread.join();
    total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return total;
  }

  // Sends one POST and records its outcome; false when the run should stop.
  bool Post(httplib::Client& client, const std::string& path, const std::string& body,
            PhaseResult& result) {
    const auto start = Clock::now();
    auto response = client.Post(path.c_str(), body, "application/json");
    result.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (response && response->status == 201) {
      ++result.created;
      return true;
    }
    if (response && response->status == 200) {
      ++result.unchanged;
      return true;
    }
    ++result.failed;
    std::lock_guard lock(error_mutex_);
    if (response) {
      std::fprintf(stderr, "fleet_bench: %s: POST %s: HTTP %d: %s\n", name_.c_str(), path.c_str(),
                   response->status, response->body.c_str());
    } else {
      std::fprintf(stderr, "fleet_bench: %s: POST %s: %s\n", name_.c_str(), path.c_str(),
                   httplib::to_string(response.error()).c_str());
    }
    stop_ = true;
    return false;
  }

  bool stopped() const { return stop_; }

 private:
  std::string name_;
  std::mutex error_mutex_;
  std::atomic<bool> stop_{false};
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

void PrintPhase(const char* name, const char* rate_name, PhaseResult& result) {
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  const double rate = result.seconds > 0 ? static_cast<double>(result.created) / result.seconds : 0;
  std::printf("%s_registered %" PRId64 "\n", name, result.created);
  std::printf("%s_unchanged %" PRId64 "\n", name, result.unchanged);
  std::printf("%s_failed %" PRId64 "\n", name, result.failed);
  std::printf("%s_elapsed_seconds %.2f\n", name, result.seconds);
  std::printf("%s %.0f\n", rate_name, rate);
  std::printf("%s_latency_ms_p50 %.2f\n", name, Percentile(result.latencies_ms, 0.50));
  std::printf("%s_latency_ms_p99 %.2f\n", name, Percentile(result.latencies_ms, 0.99));
  std::printf("%s_latency_ms_max %.2f\n", name,
              result.latencies_ms.empty() ? 0.0 : result.latencies_ms.back());
  std::fflush(stdout);
}

// ---- The contract gate's requests ----

void Configure(httplib::Client& client, const Options& options) {
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_bearer_token_auth(options.token.c_str());
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(60, 0);
  client.set_write_timeout(60, 0);
}

double Microseconds(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::micro>(end - start).count();
}

void PrintLatencyUs(const std::string& name, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  std::printf("%s_p50_us %.1f\n", name.c_str(), Percentile(us, 0.50));
  std::printf("%s_p90_us %.1f\n", name.c_str(), Percentile(us, 0.90));
  std::printf("%s_p99_us %.1f\n", name.c_str(), Percentile(us, 0.99));
  std::printf("%s_p999_us %.1f\n", name.c_str(), Percentile(us, 0.999));
  std::printf("%s_max_us %.1f\n", name.c_str(), us.empty() ? 0.0 : us.back());
  std::printf("%s_mean_us %.1f\n", name.c_str(),
              us.empty() ? 0.0 : sum / static_cast<double>(us.size()));
}

// Every first version into each environment in turn, providers first (they are lower-indexed),
// then the chain's newest versions into every environment but the last, so that the last one
// has to plan the whole chain. One client: promotions are serialised by the engine anyway.
bool PromoteFleet(const Options& options, const std::vector<ServiceSpec>& fleet) {
  struct Job {
    size_t service;
    size_t version;
    const std::string* environment;
  };
  std::vector<Job> jobs;
  for (const std::string& environment : options.promote) {
    for (size_t i = 0; i < fleet.size(); ++i) jobs.push_back({i, 0, &environment});
  }
  const size_t chain = fleet.size() - kChainLength;
  for (size_t e = 0; e + 1 < options.promote.size(); ++e) {
    for (size_t c = chain; c < fleet.size(); ++c) {
      jobs.push_back({c, fleet[c].versions.size() - 1, &options.promote[e]});
    }
  }
  Phase phase("promotions");
  PhaseResult result = phase.Run(options, 1, [&](int, httplib::Client& client, PhaseResult& mine) {
    for (const Job& job : jobs) {
      const nlohmann::json body = {{"service", fleet[job.service].name},
                                   {"version", fleet[job.service].versions[job.version].ToString()},
                                   {"environment", *job.environment}};
      if (!phase.Post(client, "/v1/promotions", body.dump(), mine)) return;
    }
  });
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  std::printf("promotions_created %" PRId64 "\n", result.created);
  std::printf("promotions_failed %" PRId64 "\n", result.failed);
  std::printf("promotions_elapsed_seconds %.2f\n", result.seconds);
  std::printf("promotions_per_second %.0f\n",
              result.seconds > 0 ? static_cast<double>(result.created) / result.seconds : 0.0);
  std::printf("promotion_latency_ms_p50 %.2f\n", Percentile(result.latencies_ms, 0.50));
  std::printf("promotion_latency_ms_p99 %.2f\n", Percentile(result.latencies_ms, 0.99));
  std::fflush(stdout);
  return result.failed == 0 && result.unchanged == 0;
}

std::string CanIDeployPath(const std::vector<ServiceSpec>& fleet,
                           const std::vector<std::string>& environments, const Request& r) {
  return "/v1/can-i-deploy?service=" + fleet[r.service].name +
         "&version=" + fleet[r.service].versions[r.version].ToString() +
         "&environment=" + environments[r.environment];
}

// Random service@version (the fleet proper, not the chain) into a random environment, one
// request at a time on one keep-alive connection.
bool TimeCanIDeploy(const Options& options, const std::vector<ServiceSpec>& fleet) {
  const auto& environments = options.environments;
  RequestStream stream(options.seed, static_cast<size_t>(options.services),
                       static_cast<size_t>(options.versions), environments.size());
  httplib::Client client(options.server);
  Configure(client, options);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(options.can_i_deploy));
  int64_t yes = 0;
  int64_t no = 0;
  int64_t unknown = 0;
  size_t bytes = 0;
  const auto start_all = Clock::now();
  for (int n = 0; n < options.warmup + options.can_i_deploy; ++n) {
    if (n == options.warmup) {
      yes = no = unknown = 0;
      bytes = 0;
    }
    const std::string path = CanIDeployPath(fleet, environments, stream.Next());
    const auto start = Clock::now();
    auto response = client.Get(path.c_str());
    const auto end = Clock::now();
    if (!response || response->status != 200) {
      std::fprintf(stderr, "fleet_bench: GET %s: %s\n", path.c_str(),
                   response ? (std::to_string(response->status) + " " + response->body).c_str()
                            : httplib::to_string(response.error()).c_str());
      return false;
    }
    if (n >= options.warmup) us.push_back(Microseconds(start, end));
    const auto verdict = nlohmann::json::parse(response->body, nullptr, false);
    const std::string decision =
        verdict.is_object() ? verdict.value("decision", std::string()) : std::string();
    yes += decision == "yes" ? 1 : 0;
    no += decision == "no" ? 1 : 0;
    unknown += decision != "yes" && decision != "no" ? 1 : 0;
    bytes += response->body.size();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start_all).count();
  const auto runs = static_cast<double>(std::max(1, options.can_i_deploy));
  std::printf("can_i_deploy_requests %d\n", options.can_i_deploy);
  std::printf("can_i_deploy_warmup %d\n", options.warmup);
  std::printf("can_i_deploy_allowed_fraction %.3f\n", static_cast<double>(yes) / runs);
  std::printf("can_i_deploy_unknown %" PRId64 "\n", unknown);
  std::printf("can_i_deploy_response_bytes_mean %.0f\n", static_cast<double>(bytes) / runs);
  std::printf("can_i_deploy_sequential_per_second %.0f\n",
              static_cast<double>(options.warmup + options.can_i_deploy) / seconds);
  PrintLatencyUs("can_i_deploy", us);
  std::fflush(stdout);
  return unknown == 0 && no + yes == options.can_i_deploy;
}

// P-chain-a's newest version into the last environment: each link of the chain needs the next
// one promoted first, so the plan has 6 steps. The first request is timed apart (the engine's
// OpenAPI differ loads and compares the chain's documents then, and remembers the answers).
bool TimePlan(const Options& options, const std::vector<ServiceSpec>& fleet) {
  const ServiceSpec& target = fleet.back();
  const std::string path = "/v1/plan?service=" + target.name +
                           "&version=" + target.versions.back().ToString() +
                           "&environment=" + options.environments.back();
  httplib::Client client(options.server);
  Configure(client, options);
  std::vector<double> us;
  double first_us = 0;
  size_t steps = 0;
  bool possible = false;
  for (int n = 0; n <= options.plan; ++n) {
    const auto start = Clock::now();
    auto response = client.Get(path.c_str());
    const auto end = Clock::now();
    if (!response || response->status != 200) {
      std::fprintf(stderr, "fleet_bench: GET %s: %s\n", path.c_str(),
                   response ? (std::to_string(response->status) + " " + response->body).c_str()
                            : httplib::to_string(response.error()).c_str());
      return false;
    }
    if (n == 0) {
      first_us = Microseconds(start, end);
      const auto plan = nlohmann::json::parse(response->body, nullptr, false);
      possible = plan.is_object() && plan.value("possible", false);
      steps = plan.is_object() && plan.contains("steps") ? plan["steps"].size() : 0;
      if (!possible || steps != kChainLength) {
        std::fprintf(stderr, "fleet_bench: the chain did not plan in %zu steps: %s\n", kChainLength,
                     response->body.c_str());
      }
    } else {
      us.push_back(Microseconds(start, end));
    }
  }
  std::printf("plan_chain6_possible %d\n", possible ? 1 : 0);
  std::printf("plan_chain6_steps %zu\n", steps);
  std::printf("plan_chain6_first_us %.1f\n", first_us);
  std::printf("plan_chain6_requests %d\n", options.plan);
  PrintLatencyUs("plan_chain6", us);
  std::fflush(stdout);
  return possible && steps == kChainLength;
}

bool WritePaths(const Options& options, const std::vector<ServiceSpec>& fleet) {
  std::ofstream out(options.paths_out);
  RequestStream stream(options.seed + 7, static_cast<size_t>(options.services),
                       static_cast<size_t>(options.versions), options.environments.size());
  for (int n = 0; n < options.paths; ++n) {
    out << CanIDeployPath(fleet, options.environments, stream.Next()) << '\n';
  }
  out.close();
  if (!out) {
    std::fprintf(stderr, "fleet_bench: cannot write %s\n", options.paths_out.c_str());
    return false;
  }
  return true;
}

// The contract gate's phases that were asked for; the exit status.
int RunGate(const Options& options, const std::vector<ServiceSpec>& fleet) {
  if (!options.promote.empty() && !PromoteFleet(options, fleet)) return 1;
  if (!options.paths_out.empty() && !WritePaths(options, fleet)) return 1;
  if (options.can_i_deploy > 0 && !TimeCanIDeploy(options, fleet)) return 1;
  if (options.plan > 0 && !TimePlan(options, fleet)) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (int status = ParseOptions(argc, argv, options); status != 0) return status;

  const std::vector<ServiceSpec> fleet =
      options.dag ? GenerateDagFleet(options.prefix, options.services, options.versions,
                                     options.requires_per_version, options.seed, true)
                  : GenerateFleet(options);
  const int clients = std::min(options.clients, options.services);
  const size_t total_versions = fleet.size() * static_cast<size_t>(options.versions);
  std::printf("server %s\n", options.server.c_str());
  std::printf("fleet_services %d\n", options.services);
  std::printf("fleet_versions_per_service %d\n", options.versions);
  std::printf("fleet_requires_per_version %d\n", options.requires_per_version);
  std::printf("fleet_seed %" PRIu64 "\n", options.seed);
  std::printf("clients %d\n", clients);
  if (options.dag) {
    std::printf("fleet_shape dag\n");
    std::printf("fleet_chain_services %zu\n", kChainLength);
  }
  std::fflush(stdout);
  if (!options.register_fleet) return RunGate(options, fleet);

  // Client c registers services c, c + clients, ...: each service's versions stay in order.
  Phase services("services");
  PhaseResult service_result =
      services.Run(options, clients, [&](int c, httplib::Client& client, PhaseResult& result) {
        for (size_t i = static_cast<size_t>(c); i < fleet.size() && !services.stopped();
             i += static_cast<size_t>(clients)) {
          const nlohmann::json body = {
              {"name", fleet[i].name},
              {"repo", "https://git.example.com/" + fleet[i].name + ".git"}};
          if (!services.Post(client, "/v1/services", body.dump(), result)) return;
        }
      });
  PrintPhase("services", "service_registrations_per_second", service_result);
  if (service_result.failed > 0) return 1;

  Phase versions("versions");
  std::atomic<size_t> done{0};
  const auto versions_start = Clock::now();
  PhaseResult version_result =
      versions.Run(options, clients, [&](int c, httplib::Client& client, PhaseResult& result) {
        for (size_t i = static_cast<size_t>(c); i < fleet.size() && !versions.stopped();
             i += static_cast<size_t>(clients)) {
          const std::string path = "/v1/services/" + fleet[i].name + "/versions";
          for (size_t j = 0; j < fleet[i].versions.size(); ++j) {
            if (!versions.Post(client, path, VersionBody(fleet, i, j), result)) return;
            const size_t n = ++done;
            if (n % 10000 == 0) {
              const double seconds =
                  std::chrono::duration<double>(Clock::now() - versions_start).count();
              std::fprintf(stderr, "fleet_bench: %zu/%zu versions in %.1f s\n", n, total_versions,
                           seconds);
            }
          }
        }
      });
  PrintPhase("versions", "registrations_per_second", version_result);
  if (version_result.unchanged > 0) {
    std::fprintf(stderr,
                 "fleet_bench: %" PRId64
                 " versions were already registered (200): they wrote nothing and are not in "
                 "registrations_per_second; use a fresh data directory or another --prefix\n",
                 version_result.unchanged);
  }
  if (version_result.failed > 0) return 1;
  return RunGate(options, fleet);
}

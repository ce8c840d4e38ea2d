// fleet_bench: generates a consistent fleet (N services, each providing the API named after
// itself in M increasing versions, each version requiring K APIs of other services with ranges
// that some generated version satisfies) and registers it with a running shipd over the REST
// API, on keep-alive connections. Prints one figure per line ("name value") on stdout; progress
// and errors go to stderr. Exit status: 0 when every request was acknowledged, 1 otherwise,
// 2 for bad usage. Run by tests/bench/run.sh; see docs/benchmarks.md.

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shipd/common/sha256.h"

namespace {

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
};

struct SemverTriple {
  uint64_t major = 1;
  uint64_t minor = 0;
  uint64_t patch = 0;

  std::string ToString() const {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  }
};

struct Requirement {
  int provider = 0;   // index of the providing service
  std::string range;  // "^major.minor" of one of the provider's versions
};

struct ServiceSpec {
  std::string name;
  std::vector<SemverTriple> versions;                  // strictly increasing
  std::vector<std::vector<Requirement>> requirements;  // per version
};

void Usage() {
  std::fprintf(stderr,
               "usage: fleet_bench --server URL --token TOKEN [--services N] [--versions M]\n"
               "                   [--requires K] [--seed S] [--clients C] [--prefix P]\n"
               "  registers N services x M versions (each requiring K other services' APIs)\n"
               "  with C concurrent keep-alive clients; the token needs register:* (admin).\n"
               "  TOKEN defaults to $SHIP_TOKEN. Service names are P-0000, P-0001, ...\n");
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

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (int status = ParseOptions(argc, argv, options); status != 0) return status;

  const std::vector<ServiceSpec> fleet = GenerateFleet(options);
  const int clients = std::min(options.clients, options.services);
  const size_t total_versions = fleet.size() * static_cast<size_t>(options.versions);
  std::printf("server %s\n", options.server.c_str());
  std::printf("fleet_services %d\n", options.services);
  std::printf("fleet_versions_per_service %d\n", options.versions);
  std::printf("fleet_requires_per_version %d\n", options.requires_per_version);
  std::printf("fleet_seed %" PRIu64 "\n", options.seed);
  std::printf("clients %d\n", clients);
  std::fflush(stdout);

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
  return version_result.failed > 0 ? 1 : 0;
}

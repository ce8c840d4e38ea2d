// gate_bench: the contract gate and the planner in-process, over a generated fleet. Builds the
// fleet in memory (N services x M versions, K requirements per version, providers of a service
// are lower-indexed services so the graph is a DAG), four environments dev -> staging -> perf ->
// prod with every service's first version live and about 5 % canaries, the EnvironmentIndex of
// each and the ProviderCatalog, and a fake PromotionHistory. Then it times Evaluate (what
// GET /v1/can-i-deploy runs) over many random service@version/environment requests, once per
// history length (default 100 and 1,000 versions per service), and PlanPromotion for a 6-deep
// dependency chain. Prints one figure per line ("name value") on stdout; progress goes to stderr.
// Exit status: 0 when every check held (the chain plans in 6 steps), 1 otherwise, 2 for bad usage.
// Not part of the tests; see docs/benchmarks.md ("Contract gate").
//
//   gate_bench [--services N] [--versions M[,M...]] [--requires K] [--seed S] [--requests R]
//              [--plan-runs P] [--spec-diff-requests D]
//
// The fleet generator is the one of `fleet_bench --shape dag` (same seed, same fleet, same
// request sequence), so the in-process figures and the HTTP ones of tests/bench/gate_http.sh
// describe the same fleet. The fleet and the requests come from dag_fleet.h, as in fleet_bench.

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dag_fleet.h"
#include "shipd/contract/gate.h"
#include "shipd/contract/index.h"
#include "shipd/contract/openapi_diff.h"
#include "shipd/contract/planner.h"
#include "shipd/contract/verdict.h"
#include "shipd/model/range.h"
#include "shipd/model/registry.h"
#include "shipd/model/semver.h"

namespace {

using namespace shipd::bench;  // NOLINT(google-build-using-namespace): the shared fleet

using Clock = std::chrono::steady_clock;
using shipd::TimeMs;

constexpr std::array<const char*, 4> kEnvironments = {"dev", "staging", "perf", "prod"};
constexpr size_t kProd = 3;
constexpr TimeMs kSucceededAt = 1'790'000'000'000;        // when the live versions succeeded
constexpr TimeMs kNow = kSucceededAt + 24 * 3600 * 1000;  // a day later

struct Options {
  int services = 2000;
  std::vector<int> versions = {100, 1000};
  int requires_per_version = 5;
  uint64_t seed = 1;
  int requests = 200000;
  int plan_runs = 2000;
  int spec_diff_requests = 20000;
};

// The OpenAPI document fleet_bench registers with every version.
std::string OpenApiText(const std::string& service, const std::string& version) {
  nlohmann::json doc = {
      {"openapi", "3.0.3"},
      {"info", {{"title", service}, {"version", version}}},
      {"paths",
       {{"/v1/" + service, {{"get", {{"responses", {{"200", {{"description", "ok"}}}}}}}}}}}};
  return doc.dump();
}

// ---- The in-memory fleet ----

using VersionPtr = std::shared_ptr<const shipd::Version>;

// When versions succeeded, per environment: a bit mask per version.
class FakeHistory final : public shipd::PromotionHistory {
 public:
  void Add(const shipd::Version* version, size_t environment) {
    masks_[version] |= static_cast<uint8_t>(1u << environment);
  }
  std::optional<TimeMs> SucceededAt(const shipd::Version& version,
                                    std::string_view environment) const override {
    size_t e = 0;
    while (e < kEnvironments.size() && environment != kEnvironments[e]) ++e;
    if (e == kEnvironments.size()) return std::nullopt;
    auto it = masks_.find(&version);
    if (it == masks_.end() || (it->second & (1u << e)) == 0) return std::nullopt;
    return kSucceededAt;
  }

 private:
  std::unordered_map<const shipd::Version*, uint8_t> masks_;
};

// The answer of a differ whose cache already holds the pair: no breaking change.
class NoFindingsDiffer final : public shipd::SpecDiffer {
 public:
  shipd::Result<std::vector<shipd::SpecFinding>> BreakingChanges(const shipd::Version&,
                                                                 const shipd::Version&,
                                                                 std::string_view) const override {
    ++calls;
    return std::vector<shipd::SpecFinding>{};
  }
  mutable int64_t calls = 0;
};

// What the engine's StoreSpecDiffer does on a cache miss, minus the two SQLite reads: parse both
// stored documents and diff them.
class ParsingDiffer final : public shipd::SpecDiffer {
 public:
  shipd::Result<std::vector<shipd::SpecFinding>> BreakingChanges(const shipd::Version& live,
                                                                 const shipd::Version& candidate,
                                                                 std::string_view) const override {
    ++calls;
    const auto old_doc =
        nlohmann::json::parse(OpenApiText(live.service, live.version.ToString()), nullptr, false);
    const auto new_doc = nlohmann::json::parse(
        OpenApiText(candidate.service, candidate.version.ToString()), nullptr, false);
    auto diff = shipd::DiffOpenApi(old_doc, new_doc, {.now_ms = kNow});
    if (!diff.ok()) return diff.error();
    std::vector<shipd::SpecFinding> findings;
    for (const auto& finding : diff->findings) {
      if (finding.severity == shipd::OpenApiDiff::Severity::kBreaking) {
        findings.push_back({finding.method + " " + finding.path, finding.message});
      }
    }
    return findings;
  }
  mutable int64_t calls = 0;
};

struct Fleet {
  std::vector<ServiceSpec> specs;
  size_t services = 0;                            // of the fleet proper; the chain follows
  std::vector<std::vector<VersionPtr>> versions;  // per spec, per version index
  shipd::ProviderCatalog catalog;
  std::vector<shipd::EnvironmentIndex> environments;
  FakeHistory history;        // first versions everywhere; chain heads in dev, staging, perf
  FakeHistory dense_history;  // the same, and every chain version in dev, staging, perf
  size_t canaries = 0;
  size_t live_consumer_slots_max = 0;
};

bool SatisfiedByAll(const shipd::Range& range, const shipd::LiveService& live,
                    const std::string& api) {
  for (const auto* version : {live.stable.get(), live.canary.get()}) {
    if (version == nullptr) continue;
    bool ok = false;
    for (const auto& provide : version->provides) {
      ok = ok || (provide.api == api && range.Satisfies(provide.version));
    }
    if (!ok) return false;
  }
  return true;
}

Fleet BuildFleet(const Options& options, int versions) {
  Fleet fleet;
  fleet.specs = GenerateDagFleet("svc", options.services, versions, options.requires_per_version,
                                 options.seed, true);
  fleet.services = static_cast<size_t>(options.services);
  std::unordered_map<std::string, shipd::Range> ranges;  // interned, as the engine does
  auto intern = [&ranges](const std::string& text) {
    auto it = ranges.find(text);
    if (it == ranges.end()) it = ranges.emplace(text, *shipd::Range::Parse(text)).first;
    return it->second;
  };
  std::vector<VersionPtr> all;
  all.reserve(fleet.specs.size() * static_cast<size_t>(versions));
  fleet.versions.resize(fleet.specs.size());
  for (size_t i = 0; i < fleet.specs.size(); ++i) {
    const ServiceSpec& spec = fleet.specs[i];
    for (size_t j = 0; j < spec.versions.size(); ++j) {
      const SemverTriple& t = spec.versions[j];
      auto version = std::make_shared<shipd::Version>();
      version->service = spec.name;
      version->version = shipd::Semver(t.major, t.minor, t.patch);
      version->provides.push_back(shipd::Provide{spec.name, version->version, ""});
      version->requires_.reserve(spec.requirements[j].size());
      for (const Requirement& r : spec.requirements[j]) {
        version->requires_.push_back(shipd::Require{
            fleet.specs[static_cast<size_t>(r.provider)].name, intern(r.range), false});
      }
      fleet.versions[i].push_back(version);
      all.push_back(std::move(version));
    }
  }
  fleet.catalog = shipd::ProviderCatalog::Build(all);
  all.clear();
  all.shrink_to_fit();

  // Every environment runs every first version; about 5 % of the services also run their second
  // version as a canary at 10 %, where it keeps every consumer and its own requirements whole.
  std::mt19937_64 rng(options.seed + 1);
  for (size_t e = 0; e < kEnvironments.size(); ++e) {
    std::vector<shipd::LiveService> live(fleet.specs.size());
    for (size_t i = 0; i < fleet.specs.size(); ++i) {
      live[i].service = fleet.specs[i].name;
      live[i].stable = fleet.versions[i][0];
      fleet.history.Add(fleet.versions[i][0].get(), e);
      fleet.dense_history.Add(fleet.versions[i][0].get(), e);
      const bool roll = rng() % 100 < 5;
      if (!roll || i >= fleet.services || fleet.versions[i].size() < 2) continue;
      const VersionPtr& second = fleet.versions[i][1];
      if (second->version.major() != live[i].stable->version.major()) continue;
      bool ok = true;
      for (size_t k = 0; k < second->requires_.size(); ++k) {
        const auto& require = second->requires_[k];
        const auto p = static_cast<size_t>(fleet.specs[i].requirements[1][k].provider);
        ok = ok && SatisfiedByAll(require.range, live[p], require.api);
      }
      if (!ok) continue;
      live[i].canary = second;
      live[i].canary_weight = 10;
      ++fleet.canaries;
    }
    fleet.environments.push_back(shipd::EnvironmentIndex::Build(kEnvironments[e], std::move(live)));
  }
  for (size_t c = fleet.services; c < fleet.specs.size(); ++c) {
    for (size_t e = 0; e < kProd; ++e) {
      fleet.history.Add(fleet.versions[c].back().get(), e);
      for (const auto& version : fleet.versions[c]) fleet.dense_history.Add(version.get(), e);
    }
  }
  for (size_t i = 0; i < fleet.services; ++i) {
    size_t slots = 0;
    for (const auto& group : fleet.environments[kProd].Consumers(fleet.specs[i].name)) {
      slots += group->members.size();
    }
    fleet.live_consumer_slots_max = std::max(fleet.live_consumer_slots_max, slots);
  }
  return fleet;
}

// ---- Measuring ----

struct Samples {
  std::vector<double> us;

  void Add(Clock::time_point start, Clock::time_point end) {
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  double Percentile(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    const auto index = static_cast<size_t>(p * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(index, us.size() - 1)];
  }
  double Mean() const {
    double sum = 0;
    for (double v : us) sum += v;
    return us.empty() ? 0 : sum / static_cast<double>(us.size());
  }
};

void Print(const std::string& name, double value, int decimals = 2) {
  std::printf("%-44s %.*f\n", name.c_str(), decimals, value);
}

void PrintInt(const std::string& name, int64_t value) {
  std::printf("%-44s %" PRId64 "\n", name.c_str(), value);
}

void PrintLatency(const std::string& name, Samples& samples) {
  Print(name + "_p50_us", samples.Percentile(0.50));
  Print(name + "_p90_us", samples.Percentile(0.90));
  Print(name + "_p99_us", samples.Percentile(0.99));
  Print(name + "_p999_us", samples.Percentile(0.999));
  Print(name + "_max_us", samples.us.empty() ? 0 : samples.us.back());
  Print(name + "_mean_us", samples.Mean());
}

double RssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

std::vector<shipd::GateContext> Contexts(const shipd::PromotionHistory& history,
                                         const shipd::SpecDiffer* differ) {
  std::vector<shipd::GateContext> contexts;
  for (size_t e = 0; e < kEnvironments.size(); ++e) {
    shipd::LifecyclePolicy lifecycle;
    if (e > 0) lifecycle.after = kEnvironments[e - 1];
    contexts.push_back(shipd::GateContext{lifecycle, kNow, &history, differ});
  }
  return contexts;
}

shipd::ChangeSet Promotion(const VersionPtr& version) {
  shipd::ChangeSet changes;
  changes.changes.push_back(shipd::Change{version, shipd::ChangeKind::kPromote, 0});
  return changes;
}

// Times `runs` random requests (after `warmup` untimed ones); `body` does one request.
template <typename Body>
Samples TimeRequests(const Fleet& fleet, uint64_t seed, int warmup, int runs, Body&& body) {
  RequestStream stream(seed, fleet.services, fleet.versions[0].size(), kEnvironments.size());
  Samples samples;
  samples.us.reserve(static_cast<size_t>(runs));
  for (int n = 0; n < warmup + runs; ++n) {
    const Request r = stream.Next();
    const VersionPtr& version = fleet.versions[r.service][r.version];
    const auto start = Clock::now();
    body(version, r.environment);
    const auto end = Clock::now();
    if (n >= warmup) samples.Add(start, end);
  }
  return samples;
}

bool MeasureFleet(const Options& options, int versions) {
  const std::string tag = "v" + std::to_string(versions) + "_";
  std::fprintf(stderr, "gate_bench: building %d services x %d versions\n", options.services,
               versions);
  const auto build_start = Clock::now();
  const Fleet fleet = BuildFleet(options, versions);
  const double build_seconds = std::chrono::duration<double>(Clock::now() - build_start).count();
  size_t total_versions = 0;
  for (const auto& v : fleet.versions) total_versions += v.size();
  PrintInt(tag + "services", static_cast<int64_t>(fleet.specs.size()));
  PrintInt(tag + "versions_per_service", versions);
  PrintInt(tag + "versions_total", static_cast<int64_t>(total_versions));
  PrintInt(tag + "catalog_versions", static_cast<int64_t>(fleet.catalog.size()));
  PrintInt(tag + "live_per_environment", static_cast<int64_t>(fleet.environments[0].size()));
  PrintInt(tag + "canaries_all_environments", static_cast<int64_t>(fleet.canaries));
  PrintInt(tag + "max_live_consumers_of_one_api",
           static_cast<int64_t>(fleet.live_consumer_slots_max));
  Print(tag + "build_seconds", build_seconds);
  Print(tag + "rss_mb", RssMb(), 1);
  std::fflush(stdout);

  NoFindingsDiffer differ;
  const auto contexts = Contexts(fleet.history, &differ);
  const int warmup = std::min(20000, options.requests / 5);

  // 1. can-i-deploy: Evaluate for one promotion (the change set built inside the timing, as the
  // engine does), random requests; the verdict is destroyed after the clock stops.
  {
    RequestStream stream(options.seed, fleet.services, fleet.versions[0].size(),
                         kEnvironments.size());
    int64_t allowed = 0;
    int64_t reasons = 0;
    int64_t warnings = 0;
    Samples all;
    Samples allowed_us;
    Samples blocked_us;
    // By the size of the verdict: reasons and warnings listed (each is a few formatted strings).
    constexpr std::array<size_t, 4> kListedUpTo = {0, 5, 20, SIZE_MAX};
    std::array<Samples, kListedUpTo.size()> by_listed;
    all.us.reserve(static_cast<size_t>(options.requests));
    for (int n = 0; n < warmup + options.requests; ++n) {
      const Request r = stream.Next();
      const VersionPtr& version = fleet.versions[r.service][r.version];
      if (n == warmup) differ.calls = 0;
      const auto start = Clock::now();
      const shipd::Verdict verdict = shipd::Evaluate(
          Promotion(version), fleet.environments[r.environment], contexts[r.environment]);
      const auto end = Clock::now();
      if (n < warmup) continue;
      allowed += verdict.allowed ? 1 : 0;
      reasons += static_cast<int64_t>(verdict.reasons.size());
      warnings += static_cast<int64_t>(verdict.warnings.size());
      all.Add(start, end);
      (verdict.allowed ? allowed_us : blocked_us).Add(start, end);
      const size_t listed = verdict.reasons.size() + verdict.warnings.size();
      size_t bucket = 0;
      while (listed > kListedUpTo[bucket]) ++bucket;
      by_listed[bucket].Add(start, end);
    }
    const auto runs = static_cast<double>(options.requests);
    PrintInt(tag + "gate_requests", options.requests);
    Print(tag + "gate_allowed_fraction", static_cast<double>(allowed) / runs, 3);
    Print(tag + "gate_reasons_per_request", static_cast<double>(reasons) / runs);
    Print(tag + "gate_warnings_per_request", static_cast<double>(warnings) / runs);
    Print(tag + "gate_spec_diffs_per_request", static_cast<double>(differ.calls) / runs);
    PrintLatency(tag + "gate", all);
    Print(tag + "gate_allowed_p99_us", allowed_us.Percentile(0.99));
    Print(tag + "gate_blocked_p99_us", blocked_us.Percentile(0.99));
    const std::array<const char*, kListedUpTo.size()> names = {"0", "1to5", "6to20", "over20"};
    for (size_t b = 0; b < by_listed.size(); ++b) {
      const std::string name = tag + "gate_listed_" + names[b];
      Print(name + "_fraction", static_cast<double>(by_listed[b].us.size()) / runs, 3);
      Print(name + "_p50_us", by_listed[b].Percentile(0.50));
      Print(name + "_p99_us", by_listed[b].Percentile(0.99));
    }
    std::fflush(stdout);
  }

  // 1b. The same request with the same statistics whatever the history: the version right after
  // the live one (index 1) of a random service, into a random environment. The random mix above
  // is not: with longer histories a random version is further from what runs (more majors, more
  // reasons), so this is the like-for-like comparison between history lengths.
  {
    std::mt19937_64 rng(options.seed + 2);
    Samples samples;
    int64_t next_allowed = 0;
    const auto runs = static_cast<size_t>(std::max(1, options.requests / 2));
    for (size_t n = 0; n < runs + 1000; ++n) {
      const size_t i = rng() % fleet.services;
      const size_t e = rng() % kEnvironments.size();
      const auto start = Clock::now();
      const shipd::Verdict verdict =
          shipd::Evaluate(Promotion(fleet.versions[i][1]), fleet.environments[e], contexts[e]);
      const auto end = Clock::now();
      if (n < 1000) continue;
      next_allowed += verdict.allowed ? 1 : 0;
      samples.Add(start, end);
    }
    Print(tag + "gate_next_allowed_fraction",
          static_cast<double>(next_allowed) / static_cast<double>(runs), 3);
    Print(tag + "gate_next_p50_us", samples.Percentile(0.50));
    Print(tag + "gate_next_p99_us", samples.Percentile(0.99));
    Print(tag + "gate_next_p999_us", samples.Percentile(0.999));
  }

  // 2. The popular APIs: promotions of the first 8 services, each with hundreds of live consumers.
  {
    std::mt19937_64 rng(options.seed + 3);
    const auto runs = static_cast<size_t>(std::max(1, options.requests / 10));
    Samples samples;
    int64_t platform_allowed = 0;
    int64_t platform_broken = 0;
    for (size_t n = 0; n < runs + 1000; ++n) {
      const size_t i = rng() % std::min(kPlatformServices, fleet.services);
      const size_t j = rng() % fleet.versions[i].size();
      const size_t e = rng() % kEnvironments.size();
      const auto start = Clock::now();
      shipd::Verdict verdict =
          shipd::Evaluate(Promotion(fleet.versions[i][j]), fleet.environments[e], contexts[e]);
      const auto end = Clock::now();
      if (n < 1000) continue;
      platform_allowed += verdict.allowed ? 1 : 0;
      for (const auto& reason : verdict.reasons) platform_broken += reason.consumer.empty() ? 0 : 1;
      samples.Add(start, end);
    }
    Print(tag + "gate_platform_allowed_fraction",
          static_cast<double>(platform_allowed) / static_cast<double>(runs), 3);
    Print(tag + "gate_platform_consumers_broken_per_request",
          static_cast<double>(platform_broken) / static_cast<double>(runs));
    PrintLatency(tag + "gate_platform", samples);
  }

  // 2b. The same popular APIs, versions on the live major only: every consumer stays satisfied, so
  // the verdict has no consumer to report and this is the cost of checking hundreds of them.
  {
    std::mt19937_64 rng(options.seed + 4);
    std::vector<std::vector<size_t>> compatible(std::min(kPlatformServices, fleet.services));
    for (size_t i = 0; i < compatible.size(); ++i) {
      for (size_t j = 0; j < fleet.versions[i].size(); ++j) {
        if (fleet.versions[i][j]->version.major() == fleet.versions[i][0]->version.major()) {
          compatible[i].push_back(j);
        }
      }
    }
    const auto runs = static_cast<size_t>(std::max(1, options.requests / 10));
    Samples samples;
    int64_t broken = 0;
    for (size_t n = 0; n < runs + 1000; ++n) {
      const size_t i = rng() % compatible.size();
      const size_t j = compatible[i][rng() % compatible[i].size()];
      const size_t e = rng() % kEnvironments.size();
      const auto start = Clock::now();
      shipd::Verdict verdict =
          shipd::Evaluate(Promotion(fleet.versions[i][j]), fleet.environments[e], contexts[e]);
      const auto end = Clock::now();
      if (n < 1000) continue;
      for (const auto& reason : verdict.reasons) broken += reason.consumer.empty() ? 0 : 1;
      samples.Add(start, end);
    }
    Print(tag + "gate_platform_compatible_consumers_broken_per_request",
          static_cast<double>(broken) / static_cast<double>(runs));
    Print(tag + "gate_platform_compatible_p50_us", samples.Percentile(0.50));
    Print(tag + "gate_platform_compatible_p99_us", samples.Percentile(0.99));
  }

  // 3. What the HTTP handler adds in-process: the verdict as JSON text.
  {
    const int runs = std::max(1, options.requests / 4);
    Samples samples = TimeRequests(
        fleet, options.seed, warmup / 4, runs, [&](const VersionPtr& version, size_t e) {
          const shipd::Verdict verdict =
              shipd::Evaluate(Promotion(version), fleet.environments[e], contexts[e]);
          nlohmann::json out = shipd::VerdictToJson(verdict);
          out["decision"] = verdict.allowed ? "yes" : "no";
          const std::string text = out.dump();
          if (text.empty()) std::abort();
        });
    Print(tag + "gate_with_json_p50_us", samples.Percentile(0.50));
    Print(tag + "gate_with_json_p99_us", samples.Percentile(0.99));
  }

  // 4. Rule 4 with a differ cache miss: both documents parsed and diffed (no SQLite).
  if (options.spec_diff_requests > 0) {
    ParsingDiffer parsing;
    const auto parsing_contexts = Contexts(fleet.history, &parsing);
    Samples samples = TimeRequests(fleet, options.seed, 1000, options.spec_diff_requests,
                                   [&](const VersionPtr& version, size_t e) {
                                     const shipd::Verdict verdict =
                                         shipd::Evaluate(Promotion(version), fleet.environments[e],
                                                         parsing_contexts[e]);
                                     if (verdict.environment.empty()) std::abort();
                                   });
    Print(tag + "gate_uncached_spec_diff_p50_us", samples.Percentile(0.50));
    Print(tag + "gate_uncached_spec_diff_p99_us", samples.Percentile(0.99));
  }
  std::fflush(stdout);

  // 5. The planner: svc-chain-a's newest version into prod, where the chain runs its first
  // versions; each link needs the next one promoted first (6 steps).
  bool ok = true;
  const VersionPtr& target = fleet.versions[fleet.specs.size() - 1].back();
  std::unordered_map<std::string_view, size_t> spec_of;  // service name -> index in specs
  for (size_t i = 0; i < fleet.specs.size(); ++i) spec_of.emplace(fleet.specs[i].name, i);
  const shipd::ServiceVersions registered = [&](std::string_view service) {
    auto it = spec_of.find(service);
    return it == spec_of.end() ? std::span<const VersionPtr>()
                               : std::span<const VersionPtr>(fleet.versions[it->second]);
  };
  for (int dense = 0; dense < 2; ++dense) {
    const FakeHistory& history = dense != 0 ? fleet.dense_history : fleet.history;
    const auto plan_contexts = Contexts(history, &differ);
    Samples samples;
    shipd::Plan plan;
    for (int n = 0; n < options.plan_runs + 50; ++n) {
      const auto start = Clock::now();
      plan = shipd::PlanPromotion(target, fleet.environments[kProd], fleet.catalog, registered,
                                  plan_contexts[kProd]);
      const auto end = Clock::now();
      if (n >= 50) samples.Add(start, end);
    }
    const std::string name = tag + (dense != 0 ? "plan_chain6_dense" : "plan_chain6");
    PrintInt(name + "_steps", static_cast<int64_t>(plan.steps.size()));
    PrintInt(name + "_possible", plan.possible ? 1 : 0);
    Print(name + "_p50_us", samples.Percentile(0.50));
    Print(name + "_p90_us", samples.Percentile(0.90));
    Print(name + "_p99_us", samples.Percentile(0.99));
    Print(name + "_max_us", samples.us.empty() ? 0 : samples.us.back());
    if (!plan.possible || plan.steps.size() != kChainLength) {
      ok = false;
      std::fprintf(stderr, "gate_bench: the chain did not plan in %zu steps: %s\n", kChainLength,
                   shipd::PlanToJson(plan).dump().c_str());
    }
  }
  std::fflush(stdout);
  return ok;
}

bool ParseInt(const char* text, long long min, long long max, long long& out) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return false;
  out = value;
  return true;
}

int ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h" || i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: gate_bench [--services N] [--versions M[,M...]] [--requires K] "
                   "[--seed S]\n"
                   "                  [--requests R] [--plan-runs P] [--spec-diff-requests D]\n");
      return 2;
    }
    const char* value = argv[++i];
    long long number = 0;
    bool ok = true;
    if (flag == "--services") {
      ok = ParseInt(value, 3, 9999, number);
      options.services = static_cast<int>(number);
    } else if (flag == "--versions") {
      options.versions.clear();
      std::string text = value;
      size_t start = 0;
      while (ok && start <= text.size()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        ok = ParseInt(text.substr(start, comma - start).c_str(), 2, 100000, number);
        options.versions.push_back(static_cast<int>(number));
        start = comma + 1;
      }
    } else if (flag == "--requires") {
      ok = ParseInt(value, 0, 100, number);
      options.requires_per_version = static_cast<int>(number);
    } else if (flag == "--seed") {
      ok = ParseInt(value, 0, INT64_MAX, number);
      options.seed = static_cast<uint64_t>(number);
    } else if (flag == "--requests") {
      ok = ParseInt(value, 1, 100000000, number);
      options.requests = static_cast<int>(number);
    } else if (flag == "--plan-runs") {
      ok = ParseInt(value, 1, 10000000, number);
      options.plan_runs = static_cast<int>(number);
    } else if (flag == "--spec-diff-requests") {
      ok = ParseInt(value, 0, 100000000, number);
      options.spec_diff_requests = static_cast<int>(number);
    } else {
      std::fprintf(stderr, "gate_bench: unknown option %s\n", argv[i - 1]);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "gate_bench: bad value for %s: \"%s\"\n", argv[i - 1], value);
      return 2;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (int status = ParseOptions(argc, argv, options); status != 0) return status;
  PrintInt("fleet_services", options.services);
  PrintInt("fleet_requires_per_version", options.requires_per_version);
  PrintInt("fleet_seed", static_cast<int64_t>(options.seed));
  PrintInt("environments", static_cast<int64_t>(kEnvironments.size()));
  std::fflush(stdout);
  bool ok = true;
  for (int versions : options.versions) ok = MeasureFleet(options, versions) && ok;
  return ok ? 0 : 1;
}

// The "dag" fleet of the contract gate's benchmarks and the sequence of requests made of it, shared
// by gate_bench (in-process) and fleet_bench (over HTTP) so that both measure the same fleet and
// the same requests. Header-only; deterministic for a seed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace shipd::bench {

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

constexpr size_t kPlatformServices = 8;  // the popular APIs of the dag fleet
constexpr size_t kChainLength = 6;

inline std::string Caret(uint64_t major, uint64_t minor) {
  return "^" + std::to_string(major) + "." + std::to_string(minor);
}

// N services P-0000.. whose first versions start at 1..3.0..9.0 and then bump (5 % major, 30 %
// minor, 65 % patch); version j of service i requires min(K, i) distinct lower-indexed services
// (a quarter of the picks among the first 8, the popular APIs) with a range ^MAJOR.MINOR taken
// from a provider version no later than j, so every range is satisfiable, and the first versions'
// ranges are satisfied by the providers' first versions. With `chain`, six more services
// P-chain-f, P-chain-e, ..., P-chain-a follow (providers first): only minor and patch bumps from
// 1.0.0; version j of each requires the next one's version j (^1.MINOR) and the first versions of
// P-0000 and P-0001. Only the raw mt19937_64 output is used, so a seed gives the same fleet
// everywhere.
inline std::vector<ServiceSpec> GenerateDagFleet(const std::string& prefix, int services,
                                                 int versions, int requires_per_version,
                                                 uint64_t seed, bool chain) {
  std::mt19937_64 rng(seed);
  auto below = [&rng](uint64_t bound) { return rng() % bound; };
  std::vector<ServiceSpec> fleet(static_cast<size_t>(services));
  const auto count = static_cast<size_t>(versions);
  for (size_t i = 0; i < fleet.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "%s-%04zu", prefix.c_str(), i);
    fleet[i].name = name;
    SemverTriple v{1 + below(3), below(10), 0};
    for (size_t j = 0; j < count; ++j) {
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
  for (size_t i = 0; i < fleet.size(); ++i) {
    const size_t wanted = std::min(static_cast<size_t>(requires_per_version), i);
    for (size_t j = 0; j < count; ++j) {
      std::vector<Requirement> requirements;
      while (requirements.size() < wanted) {
        const size_t provider = below(4) == 0
                                    ? static_cast<size_t>(below(std::min(i, kPlatformServices)))
                                    : static_cast<size_t>(below(i));
        if (std::any_of(requirements.begin(), requirements.end(), [provider](const auto& r) {
              return static_cast<size_t>(r.provider) == provider;
            })) {
          continue;
        }
        const auto& offered = fleet[provider].versions;
        const size_t k = j == 0 ? 0 : static_cast<size_t>(below(std::min(j, count - 1) + 1));
        const SemverTriple& target = offered[k];
        const uint64_t minor = j == 0 ? below(target.minor + 1) : target.minor;
        requirements.push_back({static_cast<int>(provider), Caret(target.major, minor)});
      }
      fleet[i].requirements.push_back(std::move(requirements));
    }
  }
  if (!chain) return fleet;
  const size_t base = fleet.size();
  for (size_t c = 0; c < kChainLength; ++c) {
    ServiceSpec spec;
    spec.name = prefix + "-chain-" + static_cast<char>('f' - c);
    SemverTriple v{1, 0, 0};
    for (size_t j = 0; j < count; ++j) {
      if (j > 0) {
        if (below(100) < 30) {
          v = {v.major, v.minor + 1, 0};
        } else {
          ++v.patch;
        }
      }
      spec.versions.push_back(v);
    }
    fleet.push_back(std::move(spec));
  }
  for (size_t c = 0; c < kChainLength; ++c) {
    ServiceSpec& spec = fleet[base + c];
    for (size_t j = 0; j < count; ++j) {
      std::vector<Requirement> requirements;
      if (c > 0) {
        const SemverTriple& next = fleet[base + c - 1].versions[j];
        requirements.push_back({static_cast<int>(base + c - 1), Caret(next.major, next.minor)});
      }
      for (size_t p = 0; p < std::min<size_t>(2, base); ++p) {
        const SemverTriple& first = fleet[p].versions[0];
        requirements.push_back({static_cast<int>(p), Caret(first.major, first.minor)});
      }
      spec.requirements.push_back(std::move(requirements));
    }
  }
  return fleet;
}

// The random can-i-deploy requests: a service of the fleet (not the chain), one of its versions
// and one of the environments, uniformly.
struct Request {
  size_t service = 0;
  size_t version = 0;
  size_t environment = 0;
};

class RequestStream {
 public:
  RequestStream(uint64_t seed, size_t services, size_t versions, size_t environments)
      : rng_(seed * 1000003 + 17),
        services_(services),
        versions_(versions),
        environments_(environments) {}

  Request Next() {
    Request r;
    r.service = static_cast<size_t>(rng_() % services_);
    r.version = static_cast<size_t>(rng_() % versions_);
    r.environment = static_cast<size_t>(rng_() % environments_);
    return r;
  }

 private:
  std::mt19937_64 rng_;
  size_t services_;
  size_t versions_;
  size_t environments_;
};

}  // namespace shipd::bench

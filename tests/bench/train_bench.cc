// Release trains through the real engine (SQLite store, system clock, a fake driver, direct
// strategy): boarding N cars at once — the gate orders and judges them against both route
// environments — and a trip of N cars from departure to arrival through staging and prod.
// The cars form a tree: car i requires the API of car (i-1)/2, so the travel order has log N
// levels and the cars of a level run side by side.
// Usage: train_bench [CARS...]   (default: 10 50 200)
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shipd/engine/engine.h"
#include "shipd/model/manifest.h"
#include "support/fake_driver.h"
#include "support/test_engine.h"

namespace {

using nlohmann::json;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

constexpr char kPipelines[] = R"(
environments:
  - { name: staging, driver: fake, strategy: direct }
  - { name: prod, after: staging, driver: fake, strategy: direct }
strategies:
  direct: { steps: [] }
drivers:
  fake: { type: exec, command: ["true"] }
)";

int Run(int cars) {
  std::string pattern = (std::filesystem::temp_directory_path() / "train-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return 3;
  const std::filesystem::path dir = pattern;
  shipd::SystemClock clock;
  shipd::RolloutDeps deps;
  deps.drivers["fake"] = std::make_shared<shipd::testing::FakeDriver>(false);
  deps.workers = 8;
  auto engine = shipd::testing::StartTestEngine(dir, kPipelines, clock, std::move(deps));
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.error().message().c_str());
    return 3;
  }
  const shipd::Actor actor{"bench", ""};
  std::vector<shipd::CarRequest> requests;
  for (int i = 0; i < cars; ++i) {
    const std::string name = "svc-" + std::to_string(i);
    json manifest = {{"artifact", name + ":{{version}}"},
                     {"provides", {{{"api", name}, {"version", "1.0.0"}}}},
                     {"requires", json::array()}};
    if (i > 0) {
      manifest["requires"].push_back(
          {{"api", "svc-" + std::to_string((i - 1) / 2)}, {"range", "^1.0"}});
    }
    auto version = shipd::VersionFromManifest(manifest, name, "1.0.0");
    if (!version.ok() || !(*engine)->RegisterService({name, "", 0}, actor).ok() ||
        !(*engine)->RegisterVersion(*version, actor).ok()) {
      return 3;
    }
    requests.push_back({name, "1.0.0"});
  }
  shipd::Train spec;
  spec.name = "bench";
  spec.route = {"staging", "prod"};
  if (!(*engine)->CreateTrain(spec, actor).ok()) return 3;
  // Boarded leaves first: the gate has to find the order.
  std::reverse(requests.begin(), requests.end());
  auto start = std::chrono::steady_clock::now();
  auto boarded = (*engine)->BoardTrain("bench", requests, actor);
  const double board = Seconds(start);
  if (!boarded.ok() || !boarded->refused.empty()) {
    std::fprintf(stderr, "boarding failed\n");
    return 3;
  }
  start = std::chrono::steady_clock::now();
  if (!(*engine)->DepartTrain("bench", actor).ok()) return 3;
  const double depart = Seconds(start);
  int64_t after = 0;
  bool arrived = false;
  while (!arrived && Seconds(start) < 600) {
    auto events = (*engine)->WaitForEvents(after, 1000, std::chrono::milliseconds(1000));
    if (!events.ok()) return 3;
    for (const auto& event : *events) {
      after = event.id;
      if (event.kind == "train.arrived") arrived = true;
    }
  }
  const double travel = Seconds(start);
  const shipd::TrainTrip& trip = *(*engine)->GetTrain("bench")->FindTrip(1);
  int ok = 0;
  for (const auto& car : trip.cars) ok += car.state == shipd::CarState::kArrived;
  std::printf(
      "%4d cars: board %7.1f ms (ordered and judged in 2 environments), depart %6.1f ms, "
      "departure to arrival %6.2f s (%d rollouts, %.1f ms each), %d/%d arrived\n",
      cars, board * 1e3, depart * 1e3, travel, 2 * cars, travel * 1e3 / (2 * cars), ok, cars);
  (*engine)->Stop();
  std::filesystem::remove_all(dir);
  return arrived ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {10, 50, 200};
  for (int cars : sizes) {
    if (int status = Run(cars); status != 0) return status;
  }
  return 0;
}

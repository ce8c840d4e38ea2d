// WeightedProxy: the local driver's front door for one service in one environment — an HTTP
// reverse proxy on its own loopback port that splits requests between the stable and the canary
// backend by smooth weighted round-robin (deterministic: at weight 10 exactly 1 request in every
// 10 goes to the canary) and records every answer per version for the traffic check.
// Thread-safe. Requests and answers are buffered whole (no streaming, no upgrades).
#pragma once

#include <httplib.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "shipd/common/clock.h"
#include "shipd/common/result.h"
#include "shipd/drivers/deploy_driver.h"

namespace shipd {

class WeightedProxy {
 public:
  struct Backend {
    std::string version;
    int port = 0;  // on 127.0.0.1
  };

  // Listens on 127.0.0.1 at a free port. `clock` must outlive the proxy.
  static Result<std::unique_ptr<WeightedProxy>> Start(const Clock& clock,
                                                      std::chrono::milliseconds window);
  ~WeightedProxy();
  WeightedProxy(const WeightedProxy&) = delete;
  WeightedProxy& operator=(const WeightedProxy&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Sends canary_weight percent of the requests to `canary`, the rest to `stable`; a missing
  // backend gets nothing (with neither, requests get 503). Restarts the round-robin cycle when
  // anything changed, and forgets the traffic of versions no longer routed.
  void Route(std::optional<Backend> stable, std::optional<Backend> canary, int canary_weight);
  // The current split's counters over the window that ends now.
  TrafficReport Traffic() const;

 private:
  struct Sample {
    int64_t at_ms;
    double latency_ms;
    bool error;
  };
  enum Slot { kStable = 0, kCanary = 1 };

  WeightedProxy(const Clock& clock, std::chrono::milliseconds window);
  void Handle(const httplib::Request& request, httplib::Response& response);
  std::optional<Backend> Pick();
  void Record(const std::string& version, double latency_ms, bool error);
  TrafficCounters CountersLocked(const std::string& version, int64_t now_ms) const;

  const Clock& clock_;
  const std::chrono::milliseconds window_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;

  mutable std::mutex mu_;
  std::array<std::optional<Backend>, 2> backends_;
  std::array<int, 2> weights_{100, 0};
  std::array<int, 2> current_{0, 0};                           // smooth weighted round-robin state
  mutable std::map<std::string, std::deque<Sample>> samples_;  // by version; pruned on read
};

}  // namespace shipd

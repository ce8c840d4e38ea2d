// HttpMetrics: request counters and latency histograms per route, rendered in the Prometheus text
// exposition format. Thread-safe (one mutex; observations are a few map lookups).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace shipd {

class HttpMetrics {
 public:
  // Upper bounds of the latency buckets, in seconds.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  void Observe(const std::string& route, const std::string& method, int status, double seconds);
  // Counts one gate decision ("yes", "no", "unknown") of a can-i-deploy or promotion request.
  void CountVerdict(const std::string& source, const std::string& decision);
  // Counts one promotion outcome ("succeeded", "blocked", ...) into an environment.
  void CountPromotion(const std::string& environment, const std::string& outcome);
  // Appends the metric families to `out`.
  void Render(std::string& out) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};  // non-cumulative counts
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::pair<std::string, std::string>, uint64_t> verdicts_;    // (source, decision)
  std::map<std::pair<std::string, std::string>, uint64_t> promotions_;  // (environment, outcome)
};

}  // namespace shipd

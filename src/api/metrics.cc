#include "metrics.h"

#include <cstdio>

namespace shipd {
namespace {

std::string FormatDouble(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  return buffer;
}

}  // namespace

void HttpMetrics::Observe(const std::string& route, const std::string& method, int status,
                          double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, method, status}];
  Histogram& h = latency_[route];
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void HttpMetrics::CountVerdict(const std::string& source, const std::string& decision) {
  std::lock_guard lock(mutex_);
  ++verdicts_[{source, decision}];
}

void HttpMetrics::CountPromotion(const std::string& environment, const std::string& outcome) {
  std::lock_guard lock(mutex_);
  ++promotions_[{environment, outcome}];
}

void HttpMetrics::Render(std::string& out) const {
  std::lock_guard lock(mutex_);
  out += "# HELP shipd_gate_verdicts_total Contract gate decisions by request kind and decision.\n";
  out += "# TYPE shipd_gate_verdicts_total counter\n";
  for (const auto& [key, count] : verdicts_) {
    out += "shipd_gate_verdicts_total{source=\"" + key.first + "\",decision=\"" + key.second +
           "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP shipd_promotions_total Promotion requests by environment and outcome.\n";
  out += "# TYPE shipd_promotions_total counter\n";
  for (const auto& [key, count] : promotions_) {
    out += "shipd_promotions_total{environment=\"" + key.first + "\",outcome=\"" + key.second +
           "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP shipd_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE shipd_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    out += "shipd_http_requests_total{route=\"" + route + "\",method=\"" + method + "\",status=\"" +
           std::to_string(status) + "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP shipd_http_request_duration_seconds Time to answer an HTTP request, by route.\n";
  out += "# TYPE shipd_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    uint64_t cumulative = 0;
    const std::string prefix = "shipd_http_request_duration_seconds";
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      out += prefix + "_bucket{route=\"" + route + "\",le=\"" + FormatDouble(kBuckets[i]) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out +=
        prefix + "_bucket{route=\"" + route + "\",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += prefix + "_sum{route=\"" + route + "\"} " + FormatDouble(h.sum) + "\n";
    out += prefix + "_count{route=\"" + route + "\"} " + std::to_string(h.count) + "\n";
  }
}

}  // namespace shipd

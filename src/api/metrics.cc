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

void HttpMetrics::Render(std::string& out) const {
  std::lock_guard lock(mutex_);
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

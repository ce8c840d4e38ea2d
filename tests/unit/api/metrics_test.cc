#include "metrics.h"  // private header of src/api

#include <gtest/gtest.h>

namespace shipd {
namespace {

TEST(HttpMetrics, CountsByRouteMethodAndStatus) {
  HttpMetrics metrics;
  metrics.Observe("/v1/services", "GET", 200, 0.0002);
  metrics.Observe("/v1/services", "GET", 200, 0.003);
  metrics.Observe("/v1/services", "POST", 409, 0.02);
  std::string out;
  metrics.Render(out);
  EXPECT_NE(
      out.find(R"(shipd_http_requests_total{route="/v1/services",method="GET",status="200"} 2)"),
      std::string::npos)
      << out;
  EXPECT_NE(
      out.find(R"(shipd_http_requests_total{route="/v1/services",method="POST",status="409"} 1)"),
      std::string::npos);
}

TEST(HttpMetrics, HistogramBucketsAreCumulative) {
  HttpMetrics metrics;
  metrics.Observe("/r", "GET", 200, 0.0002);  // first bucket
  metrics.Observe("/r", "GET", 200, 0.003);   // 0.005 bucket
  metrics.Observe("/r", "GET", 200, 10.0);    // only +Inf
  std::string out;
  metrics.Render(out);
  EXPECT_NE(out.find(R"(shipd_http_request_duration_seconds_bucket{route="/r",le="0.0005"} 1)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"(shipd_http_request_duration_seconds_bucket{route="/r",le="0.005"} 2)"),
            std::string::npos);
  EXPECT_NE(out.find(R"(shipd_http_request_duration_seconds_bucket{route="/r",le="2.5"} 2)"),
            std::string::npos);
  EXPECT_NE(out.find(R"(shipd_http_request_duration_seconds_bucket{route="/r",le="+Inf"} 3)"),
            std::string::npos);
  EXPECT_NE(out.find(R"(shipd_http_request_duration_seconds_count{route="/r"} 3)"),
            std::string::npos);
}

TEST(HttpMetrics, CountsVerdictsAndPromotions) {
  HttpMetrics metrics;
  metrics.CountVerdict("can-i-deploy", "no");
  metrics.CountVerdict("can-i-deploy", "no");
  metrics.CountPromotion("prod", "blocked");
  std::string out;
  metrics.Render(out);
  EXPECT_NE(out.find(R"(shipd_gate_verdicts_total{source="can-i-deploy",decision="no"} 2)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"(shipd_promotions_total{environment="prod",outcome="blocked"} 1)"),
            std::string::npos);
}

}  // namespace
}  // namespace shipd

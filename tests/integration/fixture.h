// A running shipd with a fresh data directory and an admin, a deployer and a viewer token.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "support/daemon_process.h"

namespace shipd::testing {

class DaemonTest : public ::testing::Test {
 protected:
  // `pipelines` defaults to tests/data/pipelines/instant.yaml (see DaemonProcess).
  explicit DaemonTest(std::filesystem::path pipelines = {})
      : daemon_{dir_.path() / "data", std::move(pipelines)} {}

  void SetUp() override {
    admin_ = daemon_.CreateToken("admin-token", "admin");
    deployer_ = daemon_.CreateToken("ci", "deployer");
    viewer_ = daemon_.CreateToken("dashboard", "viewer");
    ASSERT_TRUE(daemon_.Start()) << daemon_.last_error();
  }

  // POSTs JSON with the admin token; returns status and parsed body.
  std::pair<int, nlohmann::json> Post(const std::string& path, const nlohmann::json& body,
                                      const std::string& token = "") {
    return PostRaw(path, body.dump(), "application/json", token);
  }
  std::pair<int, nlohmann::json> PostRaw(const std::string& path, const std::string& body,
                                         const std::string& type, const std::string& token = "") {
    auto client = daemon_.Client(token.empty() ? admin_ : token);
    auto result = client->Post(path, body, type);
    if (!result) return {-1, nullptr};
    return {result->status, nlohmann::json::parse(result->body, nullptr, false)};
  }
  std::pair<int, nlohmann::json> Get(const std::string& path, const std::string& token = "") {
    auto client = daemon_.Client(token.empty() ? admin_ : token);
    auto result = client->Get(path);
    if (!result) return {-1, nullptr};
    return {result->status, nlohmann::json::parse(result->body, nullptr, false)};
  }

  // Waits (long-polling the journal, no sleeping) until promotion `id` reaches a terminal state
  // or `within` passes; returns the promotion as GET /v1/promotions/{id} shows it.
  nlohmann::json WaitForRollout(int64_t id,
                                std::chrono::milliseconds within = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    int64_t after = 0;
    while (true) {
      auto [status, promotion] = Get("/v1/promotions/" + std::to_string(id));
      if (status != 200) return promotion;
      if (promotion["finished_at"].is_number() || std::chrono::steady_clock::now() >= deadline) {
        return promotion;
      }
      auto events = Get("/v1/events?after=" + std::to_string(after) + "&limit=1000&wait_ms=5000")
                        .second["events"];
      if (!events.empty()) after = events.back()["id"].get<int64_t>();
    }
  }

  // POSTs a promotion and waits for its rollout to finish; returns the finished promotion (or
  // the 409 body when the gate blocked it).
  nlohmann::json PromoteAndWait(const std::string& service, const std::string& version,
                                const std::string& environment, const std::string& token = "") {
    auto [status, body] =
        Post("/v1/promotions",
             {{"service", service}, {"version", version}, {"environment", environment}}, token);
    if (status != 201) return body;
    return WaitForRollout(body["id"].get<int64_t>());
  }

  static nlohmann::json OrdersManifest(const std::string& version = "3.1.0") {
    return {{"version", version},
            {"artifact", "registry.example.com/orders:" + version},
            {"provides", {{{"api", "orders"}, {"version", "3.1.0"}}}},
            {"requires",
             {{{"api", "billing"}, {"range", "^2.1"}},
              {{"api", "users"}, {"range", ">=1.4.0 <3.0.0"}, {"optional", true}}}}};
  }

  TempDir dir_;
  DaemonProcess daemon_;
  std::string admin_, deployer_, viewer_;
};

}  // namespace shipd::testing

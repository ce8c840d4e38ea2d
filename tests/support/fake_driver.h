// Test support: a DeployDriver that records what it was asked to do (and can be told to fail or
// to hang), and a HealthCheck that answers from a script. For engine tests and benchmarks that
// drive the rollout engine in-process.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shipd/checks/health_check.h"
#include "shipd/drivers/deploy_driver.h"

namespace shipd::testing {

struct DriverCall {
  DriverAction action;
  std::string service;
  std::string version;
  std::string previous_version;
  std::string environment;
  int weight = 0;
};

class FakeDriver final : public DeployDriver {
 public:
  explicit FakeDriver(bool record = true) : record_(record) {}

  shipd::Status Deploy(const DriverContext& ctx) override {
    return Apply(DriverAction::kDeploy, ctx);
  }
  shipd::Status SetWeight(const DriverContext& ctx) override {
    return Apply(DriverAction::kWeight, ctx);
  }
  shipd::Status Promote(const DriverContext& ctx) override {
    return Apply(DriverAction::kPromote, ctx);
  }
  shipd::Status Rollback(const DriverContext& ctx) override {
    return Apply(DriverAction::kRollback, ctx);
  }
  Result<DriverStatus> Status(std::string_view, std::string_view) const override {
    return DriverStatus{};
  }
  Endpoints Urls(std::string_view service, std::string_view environment) const override {
    return {"http://canary." + std::string(service) + "." + std::string(environment),
            "http://" + std::string(service) + "." + std::string(environment)};
  }

  // The next operations of `action` fail (count times; -1: always).
  void FailNext(DriverAction action, int count = 1) {
    std::lock_guard lock(mu_);
    failures_[action] = count;
  }
  // Operations of `action` block until Release().
  void Hang(DriverAction action) {
    std::lock_guard lock(mu_);
    hang_ = action;
    hanging_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      hanging_ = false;
    }
    cv_.notify_all();
  }

  std::vector<DriverCall> Calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // Blocks until at least `n` operations were attempted; false after `timeout`.
  bool WaitForCalls(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_.size() + started_ >= n; });
  }

 private:
  shipd::Status Apply(DriverAction action, const DriverContext& ctx) {
    std::unique_lock lock(mu_);
    if (hanging_ && hang_ == action) {
      ++started_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hanging_; });
      --started_;
    }
    if (record_) {
      calls_.push_back(
          {action, ctx.service, ctx.version, ctx.previous_version, ctx.environment, ctx.weight});
    }
    cv_.notify_all();
    if (auto it = failures_.find(action); it != failures_.end() && it->second != 0) {
      if (it->second > 0) --it->second;
      return Error(ErrorCode::kUnavailable,
                   std::string(DriverActionName(action)) + " refused by the fake driver");
    }
    return Ok();
  }

  const bool record_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<DriverCall> calls_;
  std::map<DriverAction, int> failures_;
  DriverAction hang_ = DriverAction::kDeploy;
  bool hanging_ = false;
  size_t started_ = 0;
};

// Answers each Measure() with the next scripted result, then with `otherwise`.
class ScriptedCheck final : public HealthCheck {
 public:
  explicit ScriptedCheck(MeasurementResult otherwise = MeasurementResult::kPass)
      : otherwise_(otherwise) {}

  void Then(MeasurementResult result, double value, std::string detail) {
    std::lock_guard lock(mu_);
    script_.push_back({result, value, std::move(detail), 0});
  }

  Measurement Measure(const CheckContext& context) override {
    std::lock_guard lock(mu_);
    ++calls_;
    last_variables_ = context.variables;
    cv_.notify_all();
    if (script_.empty()) return {otherwise_, 1.0, "as usual", 0};
    Measurement next = script_.front();
    script_.pop_front();
    return next;
  }

  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::map<std::string, std::string> last_variables() const {
    std::lock_guard lock(mu_);
    return last_variables_;
  }
  bool WaitForCalls(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }

 private:
  const MeasurementResult otherwise_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Measurement> script_;
  int calls_ = 0;
  std::map<std::string, std::string> last_variables_;
};

}  // namespace shipd::testing

// LocalDriver with real demo-service processes and real HTTP through its proxy. The traffic
// window runs on a fake clock; waiting for a restart polls the driver in a bounded loop.
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "driver_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shipd/common/clock.h"
#include "shipd/config/pipelines.h"
#include "shipd/drivers/deploy_driver.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

bool Alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

class LocalDriverTest : public ::testing::Test {
 protected:
  LocalDriverTest() {
    deps_.clock = &clock_;
    deps_.local.work_dir = dir_.path();
    deps_.local.traffic_window = std::chrono::seconds(10);
    Driver config;
    config.name = "local";
    config.type = DriverType::kLocal;
    auto driver = MakeDriver(config, deps_);
    EXPECT_TRUE(driver.ok()) << driver.error().message();
    if (driver.ok()) driver_ = std::move(*driver);
  }

  static std::string Artifact(const std::string& version, const std::string& flags = "") {
    return testing::DemoServicePath() + " --name orders --version " + version +
           " --port {{port}} " + flags;
  }

  // 3.2.0 as the canary of 3.1.0 at `weight`.
  static DriverContext Canary(int weight, const std::string& canary_flags = "") {
    DriverContext ctx;
    ctx.service = "orders";
    ctx.environment = "staging";
    ctx.version = "3.2.0";
    ctx.artifact = Artifact("3.2.0", canary_flags);
    ctx.previous_version = "3.1.0";
    ctx.previous_artifact = Artifact("3.1.0");
    ctx.weight = weight;
    return ctx;
  }

  // Sends `n` GET / through the front door; counts answers by the version that served them.
  std::map<std::string, int> Send(int n, int* errors = nullptr) {
    httplib::Client client(driver_->Urls("orders", "staging").stable_url);
    std::map<std::string, int> served;
    for (int i = 0; i < n; ++i) {
      auto res = client.Get("/");
      if (!res) {
        ADD_FAILURE() << "request " << i << ": " << httplib::to_string(res.error());
        continue;
      }
      ++served[res->get_header_value("X-Shipd-Version")];
      if (errors != nullptr && res->status >= 500) ++(*errors);
    }
    return served;
  }

  int Pid(const std::string& version) {
    auto status = driver_->Status("orders", "staging");
    if (!status.ok()) return 0;
    for (const auto& instance : status->instances) {
      if (instance.version == version) return instance.pid;
    }
    return 0;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  DriverDeps deps_;
  std::unique_ptr<DeployDriver> driver_;
};

TEST_F(LocalDriverTest, WeightTenSendsExactlyTenOfAHundredRequestsToTheCanary) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  EXPECT_EQ(Send(100), (std::map<std::string, int>{{"3.1.0", 90}, {"3.2.0", 10}}));

  auto traffic = driver_->Traffic("orders", "staging");
  ASSERT_TRUE(traffic.has_value());
  EXPECT_EQ(traffic->canary_version, "3.2.0");
  EXPECT_EQ(traffic->canary.requests, 10);
  EXPECT_EQ(traffic->canary.errors, 0);
  EXPECT_EQ(traffic->stable_version, "3.1.0");
  EXPECT_EQ(traffic->stable.requests, 90);
  EXPECT_GT(traffic->stable.latency_p99_ms, 0);
  EXPECT_GE(traffic->stable.latency_p99_ms, traffic->stable.latency_p50_ms);
  EXPECT_EQ(traffic->window, std::chrono::seconds(10));

  ASSERT_TRUE(driver_->SetWeight(Canary(50)).ok());
  EXPECT_EQ(Send(10), (std::map<std::string, int>{{"3.1.0", 5}, {"3.2.0", 5}}));
}

// Browsers and load generators keep connections open; the proxy must answer them at once rather
// than after the client's delayed ACK (about 40 ms with Nagle's algorithm on, for each request).
TEST_F(LocalDriverTest, KeptAliveConnectionsAreAnsweredWithoutDelay) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  httplib::Client client(driver_->Urls("orders", "staging").stable_url);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  std::vector<double> ms;
  for (int i = 0; i < 41; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto res = client.Get("/");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  EXPECT_LT(ms[20], 20.0) << "median of 41 requests on one connection, in ms";
}

TEST_F(LocalDriverTest, CountsTheErrorsOfAFailingCanary) {
  ASSERT_TRUE(driver_->Deploy(Canary(50, "--error-rate 1")).ok());
  int errors = 0;
  Send(100, &errors);
  EXPECT_EQ(errors, 50);
  auto traffic = driver_->Traffic("orders", "staging");
  ASSERT_TRUE(traffic.has_value());
  EXPECT_EQ(traffic->canary.requests, 50);
  EXPECT_EQ(traffic->canary.errors, 50);
  EXPECT_DOUBLE_EQ(traffic->canary.ErrorRate(), 1.0);
  EXPECT_EQ(traffic->stable.errors, 0);
}

TEST_F(LocalDriverTest, TheTrafficWindowSlidesWithTheClock) {
  ASSERT_TRUE(driver_->Deploy(Canary(50)).ok());
  Send(4);
  clock_.Advance(milliseconds(6000));
  Send(2);
  EXPECT_EQ(driver_->Traffic("orders", "staging")->canary.requests, 3);
  clock_.Advance(milliseconds(5000));  // the first four are now older than the window
  EXPECT_EQ(driver_->Traffic("orders", "staging")->canary.requests, 1);
  EXPECT_EQ(driver_->Traffic("orders", "staging")->stable.requests, 1);
}

TEST_F(LocalDriverTest, UrlsPointAtTheProxyAndTheCanary) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  const Endpoints urls = driver_->Urls("orders", "staging");
  httplib::Client canary(urls.canary_url);
  auto res = canary.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, R"({"service":"orders","version":"3.2.0"})");
  EXPECT_NE(urls.stable_url, urls.canary_url);
  EXPECT_TRUE(driver_->Urls("orders", "prod").stable_url.empty());
  EXPECT_FALSE(driver_->Traffic("orders", "prod").has_value());
}

TEST_F(LocalDriverTest, ServicesCallEachOtherThroughTheirFrontDoors) {
  DriverContext billing;
  billing.service = "billing";
  billing.environment = "staging";
  billing.version = "2.1.0";
  billing.artifact =
      testing::DemoServicePath() + " --name {{service}} --version {{version}} --port {{port}}";
  ASSERT_TRUE(driver_->Deploy(billing).ok());
  ASSERT_TRUE(driver_->Deploy(Canary(0)).ok());

  httplib::Client orders(driver_->Urls("orders", "staging").stable_url);
  const std::string next = driver_->Urls("billing", "staging").stable_url + "/";
  auto res = orders.Get(("/call?next=" + next).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"service":"orders","version":"3.1.0","downstream_status":200,)"
                       R"("downstream":{"service":"billing","version":"2.1.0"}})");
  EXPECT_EQ(driver_->Traffic("billing", "staging")->canary.requests, 1);
}

TEST_F(LocalDriverTest, RollbackKillsTheCanary) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  const int canary = Pid("3.2.0");
  const int stable = Pid("3.1.0");
  ASSERT_TRUE(Alive(canary));
  ASSERT_TRUE(driver_->Rollback(Canary(0)).ok());
  EXPECT_FALSE(Alive(canary));
  EXPECT_TRUE(Alive(stable));
  EXPECT_EQ(Send(10), (std::map<std::string, int>{{"3.1.0", 10}}));
  auto status = driver_->Status("orders", "staging");
  EXPECT_EQ(status->stable_version, "3.1.0");
  EXPECT_EQ(status->canary_version, "");
  EXPECT_EQ(driver_->Traffic("orders", "staging")->canary_version, "");
}

TEST_F(LocalDriverTest, PromoteStopsTheOldStable) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  const int canary = Pid("3.2.0");
  const int stable = Pid("3.1.0");
  ASSERT_TRUE(driver_->Promote(Canary(100)).ok());
  EXPECT_FALSE(Alive(stable));
  EXPECT_TRUE(Alive(canary));
  EXPECT_EQ(Send(5), (std::map<std::string, int>{{"3.2.0", 5}}));
  auto status = driver_->Status("orders", "staging");
  EXPECT_EQ(status->stable_version, "3.2.0");
  EXPECT_EQ(status->canary_version, "");
  ASSERT_EQ(status->instances.size(), 1u);
  EXPECT_EQ(status->instances[0].role, "stable");
}

TEST_F(LocalDriverTest, ReapplyingKeepsTheSameProcesses) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  const int canary = Pid("3.2.0");
  const int stable = Pid("3.1.0");
  ASSERT_TRUE(driver_->SetWeight(Canary(10)).ok());
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  EXPECT_EQ(Pid("3.2.0"), canary);
  EXPECT_EQ(Pid("3.1.0"), stable);
}

TEST_F(LocalDriverTest, DestructionKillsEveryProcess) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  auto other = Canary(0);
  other.environment = "prod";
  ASSERT_TRUE(driver_->Deploy(other).ok());
  std::vector<int> pids = {Pid("3.2.0"), Pid("3.1.0")};
  const auto prod = driver_->Status("orders", "prod");
  for (const auto& instance : prod->instances) pids.push_back(instance.pid);
  ASSERT_EQ(pids.size(), 4u);
  for (int pid : pids) ASSERT_TRUE(Alive(pid)) << pid;
  driver_.reset();
  for (int pid : pids) EXPECT_FALSE(Alive(pid)) << pid;
}

TEST_F(LocalDriverTest, ChildrenDoNotInheritTheDaemonsBlockedSignals) {
  // shipd blocks SIGTERM in every thread; a child keeping that mask would ignore its SIGTERM and
  // only die at SIGKILL after the grace period.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  deps_.local.stop_grace = std::chrono::seconds(60);
  Driver config;
  config.type = DriverType::kLocal;
  auto driver = MakeDriver(config, deps_);
  ASSERT_TRUE(driver.ok());
  ASSERT_TRUE((*driver)->Deploy(Canary(10)).ok());
  const auto start = std::chrono::steady_clock::now();
  driver->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST_F(LocalDriverTest, RestartsAProcessThatDies) {
  ASSERT_TRUE(driver_->Deploy(Canary(10)).ok());
  const int canary = Pid("3.2.0");
  ASSERT_EQ(::kill(canary, SIGKILL), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  DriverInstance restarted;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto status = driver_->Status("orders", "staging");
    for (const auto& instance : status->instances) {
      if (instance.version == "3.2.0") restarted = instance;
    }
    if (restarted.running && restarted.pid != canary) break;
    std::this_thread::yield();
  }
  ASSERT_TRUE(restarted.running);
  EXPECT_NE(restarted.pid, canary);
  EXPECT_EQ(restarted.restarts, 1);
  EXPECT_THAT(driver_->Status("orders", "staging")->detail, HasSubstr("killed by signal 9"));
  // Same port: the canary answers through its URL again once it listens.
  httplib::Client client(driver_->Urls("orders", "staging").canary_url);
  bool answered = false;
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    answered = static_cast<bool>(client.Get("/healthz"));
    if (!answered) std::this_thread::yield();
  }
  EXPECT_TRUE(answered);
}

TEST_F(LocalDriverTest, AFirstDeployGetsAllTheTraffic) {
  auto first = Canary(10);
  first.previous_version.clear();
  first.previous_artifact.clear();
  ASSERT_TRUE(driver_->Deploy(first).ok());
  EXPECT_EQ(Send(3), (std::map<std::string, int>{{"3.2.0", 3}}));
  ASSERT_TRUE(driver_->Promote(first).ok());
  EXPECT_EQ(driver_->Status("orders", "staging")->stable_version, "3.2.0");
}

TEST_F(LocalDriverTest, ADeployWhoseProgramExitsFailsWithItsOutput) {
  auto ctx = Canary(10);
  ctx.artifact = testing::DemoServicePath() + " --no-such-flag --port {{port}}";
  auto status = driver_->Deploy(ctx);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("orders/staging@3.2.0 exited (exit status 2)"));
  EXPECT_THAT(status.error().message(), HasSubstr("unknown argument --no-such-flag"));
  // Nothing changed: no routing to a half-started version.
  EXPECT_EQ(driver_->Status("orders", "staging")->canary_version, "");
}

TEST_F(LocalDriverTest, AMissingProgramIsNotFound) {
  auto ctx = Canary(10);
  ctx.previous_version.clear();
  ctx.artifact = "no-such-program-anywhere --port {{port}}";
  auto status = driver_->Deploy(ctx);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);
}

TEST_F(LocalDriverTest, AStableThatIsNotRunningNeedsItsArtifact) {
  auto ctx = Canary(10);
  ctx.previous_artifact.clear();
  auto status = driver_->Deploy(ctx);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("3.1.0 does not run here and no artifact"));
}

}  // namespace
}  // namespace shipd

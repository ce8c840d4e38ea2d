// NginxDriver against a real nginx: two loopback backends, stable (1.0.0) and canary (2.0.0),
// behind the upstream the driver writes. After each operation 1,000 requests through nginx measure
// the canary's share, which must be within 5 percentage points of the weight. Without nginx the
// tests are skipped, unless SHIPD_REQUIRE_NGINX=1 (the ci preset) makes that a failure.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shipd/common/process.h"
#include "shipd/config/pipelines.h"
#include "shipd/drivers/deploy_driver.h"
#include "support/daemon_process.h"
#include "support/loopback_server.h"
#include "support/nginx_process.h"

namespace shipd {
namespace {

using ::testing::HasSubstr;
using testing::LoopbackServer;
using testing::NginxProcess;
using testing::TempDir;

constexpr int kRequests = 1000;

struct Split {
  int stable = 0;
  int canary = 0;
  int failed = 0;
  double CanaryPercent() const { return 100.0 * canary / (stable + canary + failed); }
};

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class NginxDriverIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = NginxProcess::FindBinary();
    if (binary_.empty()) {
      const char* require = std::getenv("SHIPD_REQUIRE_NGINX");
      if (require != nullptr && std::string(require) == "1") {
        FAIL() << "nginx is not installed but SHIPD_REQUIRE_NGINX=1: run scripts/install-deps.sh "
                  "(Debian package nginx) or set SHIPD_NGINX to the nginx binary";
      }
      GTEST_SKIP() << "nginx is not installed (scripts/install-deps.sh installs it); "
                      "SHIPD_REQUIRE_NGINX=1 turns this skip into a failure";
    }
    std::filesystem::create_directories(upstreams_.parent_path());
    // The stable version ran before nginx started: nginx.conf's proxy_pass needs its upstream.
    // No nginx runs yet, so that first driver's reload does nothing.
    ASSERT_TRUE(MakeNginxDriver({"true"})->Deploy(StableOnly()).ok());

    nginx_ = std::make_unique<NginxProcess>(binary_, dir_.path() / "nginx");
    const bool started = nginx_->Start([this](int port) {
      return "    include " + upstreams_.string() +
             ";\n"
             "    # Hand-written, and named as the driver would name billing/prod.\n"
             "    upstream shipd_billing_prod { server 127.0.0.1:9; }\n"
             "    server {\n"
             "        listen 127.0.0.1:" +
             std::to_string(port) +
             ";\n"
             "        location / { proxy_pass http://shipd_orders_prod; }\n"
             "    }\n";
    });
    ASSERT_TRUE(started) << nginx_->last_error();
    driver_ = MakeNginxDriver(nginx_->Command({"-s", "reload"}));
  }

  std::unique_ptr<DeployDriver> MakeNginxDriver(std::vector<std::string> reload) {
    Driver config;
    config.name = "edge";
    config.type = DriverType::kNginx;
    config.upstreams_file = upstreams_.string();
    config.reload = std::move(reload);
    DriverDeps deps;
    deps.processes = runner_.get();
    auto driver = MakeDriver(config, deps);
    EXPECT_TRUE(driver.ok()) << driver.error().message();
    return driver.ok() ? std::move(*driver) : nullptr;
  }

  DriverContext Ctx(int weight) const {
    DriverContext ctx;
    ctx.service = "orders";
    ctx.environment = "prod";
    ctx.version = "2.0.0";
    ctx.artifact = canary_.Origin();
    ctx.previous_version = "1.0.0";
    ctx.previous_artifact = stable_.Origin();
    ctx.weight = weight;
    return ctx;
  }
  DriverContext StableOnly() const {
    DriverContext ctx = Ctx(0);
    ctx.version = "1.0.0";
    ctx.artifact = stable_.Origin();
    return ctx;
  }

  // Runs one driver operation and waits until nginx serves what it wrote. Checks that the file
  // was replaced, not rewritten in place (a new inode), and that no temporary file is left.
  void Apply(const std::function<Status(DeployDriver&)>& operation) {
    struct stat before {};
    ASSERT_EQ(::stat(upstreams_.c_str(), &before), 0);
    const std::string old_text = ReadText(upstreams_);
    auto status = operation(*driver_);
    ASSERT_TRUE(status.ok()) << status.error().message();
    ASSERT_TRUE(nginx_->WaitForReloads(++reloads_)) << nginx_->last_error();
    struct stat after {};
    ASSERT_EQ(::stat(upstreams_.c_str(), &after), 0);
    if (ReadText(upstreams_) != old_text) {
      EXPECT_NE(after.st_ino, before.st_ino);
    }
    EXPECT_EQ(UpstreamsDirEntries(), std::vector<std::string>{"shipd-upstreams.conf"});
  }

  std::vector<std::string> UpstreamsDirEntries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(upstreams_.parent_path())) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  // kRequests requests through nginx on one keep-alive connection, closed before returning so
  // that the next reload's old worker can exit at once.
  Split Measure() const {
    httplib::Client client("127.0.0.1", nginx_->port());
    client.set_keep_alive(true);
    Split split;
    for (int i = 0; i < kRequests; ++i) {
      auto answer = client.Get("/");
      if (!answer || answer->status != 200) {
        ++split.failed;
      } else if (answer->body == "2.0.0") {
        ++split.canary;
      } else if (answer->body == "1.0.0") {
        ++split.stable;
      } else {
        ++split.failed;
      }
    }
    return split;
  }

  void ExpectCanaryShare(const std::string& step, int percent) {
    const Split split = Measure();
    std::printf("[ split    ] %-10s canary %4d, stable %4d, failed %d: %5.1f %% (want %d %%)\n",
                step.c_str(), split.canary, split.stable, split.failed, split.CanaryPercent(),
                percent);
    RecordProperty("canary_percent_after_" + step, std::to_string(split.CanaryPercent()));
    EXPECT_EQ(split.failed, 0) << step;
    EXPECT_NEAR(split.CanaryPercent(), percent, 5.0) << step;
  }

  static LoopbackServer Backend(const std::string& version) {
    return LoopbackServer([version](httplib::Server& server) {
      server.Get("/", [version](const httplib::Request&, httplib::Response& response) {
        response.set_content(version, "text/plain");
      });
    });
  }

  TempDir dir_;
  std::filesystem::path upstreams_ = dir_.path() / "conf.d" / "shipd-upstreams.conf";
  LoopbackServer stable_ = Backend("1.0.0");
  LoopbackServer canary_ = Backend("2.0.0");
  std::string binary_;
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  std::unique_ptr<NginxProcess> nginx_;
  std::unique_ptr<DeployDriver> driver_;
  int reloads_ = 0;
};

TEST_F(NginxDriverIntegrationTest, TrafficFollowsTheWeightThroughACanaryAndItsPromotion) {
  ExpectCanaryShare("start", 0);

  Apply([&](DeployDriver& d) { return d.Deploy(Ctx(0)); });
  ExpectCanaryShare("deploy-0", 0);
  for (int weight : {10, 50, 90}) {
    Apply([&](DeployDriver& d) { return d.SetWeight(Ctx(weight)); });
    ExpectCanaryShare("weight-" + std::to_string(weight), weight);
    EXPECT_EQ(driver_->Status("orders", "prod")->weight, weight);
  }

  Apply([&](DeployDriver& d) { return d.Promote(Ctx(100)); });
  ExpectCanaryShare("promote", 100);
  EXPECT_EQ(driver_->Status("orders", "prod")->stable_version, "2.0.0");

  // Back to 1.0.0: the file no longer knows its address, the context's previous_artifact does.
  Apply([&](DeployDriver& d) { return d.Rollback(Ctx(0)); });
  ExpectCanaryShare("rollback", 0);
  auto status = driver_->Status("orders", "prod");
  EXPECT_EQ(status->stable_version, "1.0.0");
  EXPECT_EQ(status->canary_version, "");
}

TEST_F(NginxDriverIntegrationTest, RollbackDuringACanarySendsEverythingToTheStable) {
  Apply([&](DeployDriver& d) { return d.Deploy(Ctx(50)); });
  ExpectCanaryShare("deploy-50", 50);
  Apply([&](DeployDriver& d) { return d.Rollback(Ctx(0)); });
  ExpectCanaryShare("rollback", 0);
}

TEST_F(NginxDriverIntegrationTest, AFailedReloadIsAnErrorAndChangesNothing) {
  Apply([&](DeployDriver& d) { return d.Deploy(Ctx(10)); });
  const std::string applied = ReadText(upstreams_);

  // nginx cannot read the configuration the reload names.
  auto bad_config =
      MakeNginxDriver({binary_, "-p", (dir_.path() / "nginx").string(), "-c",
                       (dir_.path() / "nginx" / "missing.conf").string(), "-s", "reload"});
  auto status = bad_config->SetWeight(Ctx(50));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(status.error().message(), HasSubstr("exited with 1"));
  EXPECT_THAT(status.error().message(), HasSubstr("missing.conf"));

  // The reload program does not exist.
  status =
      MakeNginxDriver({(dir_.path() / "no-nginx").string(), "-s", "reload"})->SetWeight(Ctx(50));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("reload"));

  // nginx itself rejects the file: the driver's billing/prod block repeats a hand-written
  // upstream name. Put back, the file keeps the other services reloadable.
  auto billing = Ctx(10);
  billing.service = "billing";
  status = driver_->Deploy(billing);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("duplicate upstream"));

  EXPECT_EQ(ReadText(upstreams_), applied);
  EXPECT_EQ(UpstreamsDirEntries(), std::vector<std::string>{"shipd-upstreams.conf"});
  EXPECT_EQ(driver_->Status("orders", "prod")->weight, 10);
  ExpectCanaryShare("after-failures", 10);

  Apply([&](DeployDriver& d) { return d.SetWeight(Ctx(50)); });
  ExpectCanaryShare("weight-50", 50);
}

// Removing a block that nginx.conf still names is refused by nginx; the block stays, and so does
// the traffic (docs/drivers.md tells users about this).
TEST_F(NginxDriverIntegrationTest, RollbackOfAFirstDeployKeepsAnUpstreamNginxStillNames) {
  const std::string applied = ReadText(upstreams_);
  DriverContext first = StableOnly();
  first.previous_version.clear();
  first.previous_artifact.clear();
  auto status = driver_->Rollback(first);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("host not found in upstream"));
  EXPECT_EQ(ReadText(upstreams_), applied);
  ExpectCanaryShare("kept", 0);
}

}  // namespace
}  // namespace shipd

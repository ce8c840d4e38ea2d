// NginxDriver against a real upstreams file in a temporary directory; the reload command is a
// shell line that counts reloads (real nginx is exercised by the integration tests).
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>

#include "driver_test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shipd/common/process.h"
#include "shipd/config/pipelines.h"
#include "shipd/drivers/deploy_driver.h"

namespace shipd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

class NginxDriverTest : public ::testing::Test {
 protected:
  std::unique_ptr<DeployDriver> Make(std::vector<std::string> reload = {}) {
    Driver config;
    config.name = "edge";
    config.type = DriverType::kNginx;
    config.upstreams_file = file_.string();
    config.reload = reload.empty() ? std::vector<std::string>{"/bin/sh", "-c",
                                                              "echo reload >> " + reloads_.string()}
                                   : reload;
    auto driver = MakeDriver(config, deps_);
    EXPECT_TRUE(driver.ok()) << driver.error().message();
    return driver.ok() ? std::move(*driver) : nullptr;
  }

  static DriverContext Ctx(std::string service, int weight) {
    DriverContext ctx;
    ctx.service = std::move(service);
    ctx.environment = "prod";
    ctx.version = "3.2.0";
    ctx.artifact = "10.0.0.2:8080";
    ctx.previous_version = "3.1.0";
    ctx.previous_artifact = "10.0.0.1:8080";
    ctx.weight = weight;
    return ctx;
  }

  int Reloads() const {
    const std::string text = ReadFile(reloads_);
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  TempDir dir_;
  std::filesystem::path file_ = dir_.path() / "shipd-upstreams.conf";
  std::filesystem::path reloads_ = dir_.path() / "reloads";
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  DriverDeps deps_ = [this] {
    DriverDeps deps;
    deps.processes = runner_.get();
    return deps;
  }();
};

TEST_F(NginxDriverTest, WritesAWeightedUpstreamAndReloads) {
  auto driver = Make();
  ASSERT_TRUE(driver->Deploy(Ctx("orders", 10)).ok());
  EXPECT_EQ(ReadFile(file_),
            "# Written by shipd: one weighted upstream per service and environment. Blocks\n"
            "# between shipd:begin and shipd:end are rewritten; other lines are kept.\n"
            "# shipd:begin orders prod stable=3.1.0@10.0.0.1:8080 canary=3.2.0@10.0.0.2:8080 "
            "weight=10\n"
            "upstream shipd_orders_prod {\n"
            "    server 10.0.0.1:8080 weight=90;  # stable 3.1.0\n"
            "    server 10.0.0.2:8080 weight=10;  # canary 3.2.0\n"
            "}\n"
            "# shipd:end orders prod\n");
  EXPECT_EQ(Reloads(), 1);
}

TEST_F(NginxDriverTest, RewritesItsBlockInPlaceAndKeepsEverythingElse) {
  WriteFile(file_, "# hand-written\nupstream legacy { server 10.9.9.9:80; }\n");
  auto driver = Make();
  ASSERT_TRUE(driver->Deploy(Ctx("orders", 10)).ok());
  ASSERT_TRUE(driver->Deploy(Ctx("billing", 20)).ok());
  const std::string before = ReadFile(file_);
  const std::string billing = before.substr(before.find("# shipd:begin billing"));

  ASSERT_TRUE(driver->SetWeight(Ctx("orders", 50)).ok());
  const std::string after = ReadFile(file_);
  EXPECT_EQ(after.rfind("# hand-written\nupstream legacy { server 10.9.9.9:80; }\n", 0), 0u);
  EXPECT_THAT(after, HasSubstr("    server 10.0.0.1:8080 weight=50;  # stable 3.1.0\n"
                               "    server 10.0.0.2:8080 weight=50;  # canary 3.2.0\n"));
  EXPECT_LT(after.find("upstream shipd_orders_prod"), after.find("upstream shipd_billing_prod"));
  EXPECT_EQ(after.substr(after.find("# shipd:begin billing")), billing);
  EXPECT_EQ(Reloads(), 3);
}

TEST_F(NginxDriverTest, WeightZeroAndRollbackLeaveOnlyTheStable) {
  auto driver = Make();
  ASSERT_TRUE(driver->SetWeight(Ctx("orders", 0)).ok());
  EXPECT_THAT(ReadFile(file_), HasSubstr("server 10.0.0.1:8080 weight=100;  # stable 3.1.0\n}"));
  EXPECT_THAT(ReadFile(file_), Not(HasSubstr("server 10.0.0.2")));
  EXPECT_EQ(driver->Status("orders", "prod")->canary_version, "3.2.0");

  ASSERT_TRUE(driver->SetWeight(Ctx("orders", 50)).ok());
  ASSERT_TRUE(driver->Rollback(Ctx("orders", 0)).ok());
  EXPECT_THAT(ReadFile(file_), Not(HasSubstr("server 10.0.0.2")));
  auto status = driver->Status("orders", "prod");
  EXPECT_EQ(status->stable_version, "3.1.0");
  EXPECT_EQ(status->canary_version, "");
}

TEST_F(NginxDriverTest, PromoteTakesTheCanaryAddressFromTheFile) {
  auto driver = Make();
  ASSERT_TRUE(driver->SetWeight(Ctx("orders", 100)).ok());
  EXPECT_THAT(ReadFile(file_), Not(HasSubstr("server 10.0.0.1")));  // nginx forbids weight=0
  auto promote = Ctx("orders", 100);
  promote.artifact.clear();
  ASSERT_TRUE(driver->Promote(promote).ok());
  EXPECT_THAT(ReadFile(file_),
              HasSubstr("# shipd:begin orders prod stable=3.2.0@10.0.0.2:8080 "
                        "weight=0\nupstream shipd_orders_prod {\n"
                        "    server 10.0.0.2:8080 weight=100;  # stable 3.2.0\n}"));
  EXPECT_EQ(driver->Urls("orders", "prod").stable_url, "http://10.0.0.2:8080");
  EXPECT_EQ(driver->Urls("orders", "prod").canary_url, "http://10.0.0.2:8080");
}

TEST_F(NginxDriverTest, RollbackOfAFirstDeployRemovesTheBlock) {
  WriteFile(file_, "# hand-written\n");
  auto driver = Make();
  auto first = Ctx("orders", 10);
  first.previous_version.clear();
  first.previous_artifact.clear();
  ASSERT_TRUE(driver->Deploy(first).ok());
  EXPECT_THAT(ReadFile(file_), HasSubstr("server 10.0.0.2:8080 weight=100;  # canary 3.2.0"));
  ASSERT_TRUE(driver->Rollback(first).ok());
  EXPECT_EQ(ReadFile(file_), "# hand-written\n");
}

TEST_F(NginxDriverTest, ReapplyingIsIdempotentButReloadsAgain) {
  auto driver = Make();
  ASSERT_TRUE(driver->SetWeight(Ctx("orders", 10)).ok());
  const std::string first = ReadFile(file_);
  struct stat before {};
  ASSERT_EQ(stat(file_.c_str(), &before), 0);
  ASSERT_TRUE(driver->SetWeight(Ctx("orders", 10)).ok());
  struct stat after {};
  ASSERT_EQ(stat(file_.c_str(), &after), 0);
  EXPECT_EQ(ReadFile(file_), first);
  EXPECT_EQ(before.st_ino, after.st_ino);  // not rewritten
  EXPECT_EQ(Reloads(), 2);                 // a crash may have come between write and reload
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 2);  // the file and the reload log: no temporary files left
}

TEST_F(NginxDriverTest, RejectsAddressesThatWouldInjectConfiguration) {
  auto driver = Make();
  auto ctx = Ctx("orders", 10);
  ctx.artifact = "10.0.0.2:8080; include /etc/passwd";
  auto status = driver->Deploy(ctx);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalid);
  EXPECT_THAT(status.error().message(), HasSubstr("is not an address host:port"));
  EXPECT_FALSE(std::filesystem::exists(file_));
  EXPECT_EQ(Reloads(), 0);
}

TEST_F(NginxDriverTest, AcceptsHttpUrlsAndIpv6) {
  auto driver = Make();
  auto ctx = Ctx("orders", 10);
  ctx.artifact = "http://[::1]:9000/";
  ASSERT_TRUE(driver->Deploy(ctx).ok());
  EXPECT_THAT(ReadFile(file_), HasSubstr("server [::1]:9000 weight=10;"));
}

TEST_F(NginxDriverTest, RejectsAnEmptyIpv6Host) {
  auto ctx = Ctx("orders", 10);
  ctx.artifact = "[]:9000";
  auto status = Make()->Deploy(ctx);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("is not an address host:port"));
}

// '_' joins service and environment in the upstream name: orders_eu/prod and orders/eu_prod
// would both be shipd_orders_eu_prod, and nginx refuses a duplicate upstream.
TEST_F(NginxDriverTest, RejectsNamesThatCouldShareAnUpstreamName) {
  auto driver = Make();
  auto ctx = Ctx("orders_eu", 10);
  auto status = driver->Deploy(ctx);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalid);
  ctx = Ctx("orders", 10);
  ctx.environment = "eu_prod";
  EXPECT_FALSE(driver->Deploy(ctx).ok());
  EXPECT_FALSE(std::filesystem::exists(file_));
}

TEST_F(NginxDriverTest, ReportsAFailedReload) {
  auto driver = Make({"/bin/sh", "-c", "echo 'nginx: [emerg] unknown directive' >&2; exit 1"});
  auto status = driver->Deploy(Ctx("orders", 10));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(status.error().message(), HasSubstr("exited with 1"));
  EXPECT_THAT(status.error().message(), HasSubstr("unknown directive"));
  EXPECT_FALSE(std::filesystem::exists(file_));  // nginx never saw it: it goes again
}

TEST_F(NginxDriverTest, AFailedReloadPutsTheFileBack) {
  ASSERT_TRUE(Make()->Deploy(Ctx("orders", 10)).ok());
  const std::string before = ReadFile(file_);
  auto failing = Make({"/bin/sh", "-c", "exit 1"});
  ASSERT_FALSE(failing->SetWeight(Ctx("orders", 50)).ok());
  ASSERT_FALSE(failing->Deploy(Ctx("billing", 10)).ok());
  EXPECT_EQ(ReadFile(file_), before);
  EXPECT_EQ(failing->Status("orders", "prod")->weight, 10);  // what nginx still serves
  EXPECT_EQ(failing->Status("billing", "prod")->stable_version, "");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 2);  // the file and the reload log: no temporary files left
}

TEST_F(NginxDriverTest, ReportsAReloadCommandThatCannotStart) {
  auto status = Make({"/nonexistent/nginx", "-s", "reload"})->Deploy(Ctx("orders", 10));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("reload"));
  EXPECT_FALSE(std::filesystem::exists(file_));
}

TEST_F(NginxDriverTest, AnotherDriverReadsTheStateBack) {
  ASSERT_TRUE(Make()->Deploy(Ctx("orders", 10)).ok());
  auto restarted = Make();
  auto status = restarted->Status("orders", "prod");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->stable_version, "3.1.0");
  EXPECT_EQ(status->canary_version, "3.2.0");
  EXPECT_EQ(status->weight, 10);
  ASSERT_EQ(status->instances.size(), 2u);
  EXPECT_EQ(status->instances[1].url, "http://10.0.0.2:8080");
  EXPECT_EQ(restarted->Urls("orders", "prod").canary_url, "http://10.0.0.2:8080");
  EXPECT_EQ(restarted->Urls("orders", "prod").stable_url, "http://10.0.0.1:8080");

  // Re-applying after the restart needs no artifacts: the file knows the addresses.
  auto ctx = Ctx("orders", 50);
  ctx.artifact.clear();
  ctx.previous_artifact.clear();
  ASSERT_TRUE(restarted->SetWeight(ctx).ok());
  EXPECT_THAT(ReadFile(file_), HasSubstr("server 10.0.0.2:8080 weight=50;"));
  EXPECT_EQ(restarted->Status("orders", "staging")->stable_version, "");
}

TEST_F(NginxDriverTest, RefusesToRewriteACorruptFile) {
  const std::string corrupt = "# shipd:begin orders prod stable=3.1.0@10.0.0.1:80 weight=0\n";
  WriteFile(file_, corrupt);
  auto status = Make()->Deploy(Ctx("billing", 10));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("shipd:begin without shipd:end"));
  EXPECT_EQ(ReadFile(file_), corrupt);
}

}  // namespace
}  // namespace shipd

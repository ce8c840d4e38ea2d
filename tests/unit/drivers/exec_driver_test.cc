// ExecDriver with the real process runner and /bin/sh scripts that record what they were given.
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

class ExecDriverTest : public ::testing::Test {
 protected:
  std::unique_ptr<DeployDriver> Make(std::vector<std::string> command) {
    Driver config;
    config.name = "hook";
    config.type = DriverType::kExec;
    config.command = std::move(command);
    auto driver = MakeDriver(config, deps_);
    EXPECT_TRUE(driver.ok()) << driver.error().message();
    return driver.ok() ? std::move(*driver) : nullptr;
  }

  // A script that appends its argument's rendering and its SHIP_* environment to `log`.
  std::vector<std::string> Recorder(const std::string& body) {
    return {"/bin/sh", "-c", body, "sh", (dir_.path() / "log").string(), "{{service}}@{{version}}"};
  }

  DriverContext Canary(int weight) {
    DriverContext ctx;
    ctx.service = "orders";
    ctx.version = "3.2.0";
    ctx.previous_version = "3.1.0";
    ctx.environment = "prod";
    ctx.artifact = "registry.example.com/orders:3.2.0";
    ctx.weight = weight;
    ctx.variables = {{"canary_url", "http://canary"}, {"stable_url", "http://stable"}};
    return ctx;
  }

  TempDir dir_;
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  DriverDeps deps_ = [this] {
    DriverDeps deps;
    deps.processes = runner_.get();
    return deps;
  }();
};

TEST_F(ExecDriverTest, PassesEveryShipVariableAndTheAction) {
  auto driver = Make(Recorder("env | grep '^SHIP_' | sort > \"$1\""));
  ASSERT_TRUE(driver->Deploy(Canary(10)).ok());
  EXPECT_EQ(ReadFile(dir_.path() / "log"),
            "SHIP_ACTION=deploy\n"
            "SHIP_ARTIFACT=registry.example.com/orders:3.2.0\n"
            "SHIP_CANARY_URL=http://canary\n"
            "SHIP_ENVIRONMENT=prod\n"
            "SHIP_PREVIOUS_VERSION=3.1.0\n"
            "SHIP_SERVICE=orders\n"
            "SHIP_STABLE_URL=http://stable\n"
            "SHIP_VERSION=3.2.0\n"
            "SHIP_WEIGHT=10\n");
}

TEST_F(ExecDriverTest, DoesNotLeakTheDaemonEnvironment) {
  setenv("CD_HOOK_SECRET", "do-not-pass", 1);
  auto driver = Make(Recorder("env > \"$1\""));
  ASSERT_TRUE(driver->Deploy(Canary(10)).ok());
  unsetenv("CD_HOOK_SECRET");
  EXPECT_THAT(ReadFile(dir_.path() / "log"), Not(HasSubstr("do-not-pass")));
}

TEST_F(ExecDriverTest, EachOperationNamesItsAction) {
  auto driver = Make(Recorder("echo \"$SHIP_ACTION $SHIP_WEIGHT $2\" >> \"$1\""));
  ASSERT_TRUE(driver->Deploy(Canary(10)).ok());
  ASSERT_TRUE(driver->SetWeight(Canary(50)).ok());
  ASSERT_TRUE(driver->Promote(Canary(100)).ok());
  ASSERT_TRUE(driver->Rollback(Canary(0)).ok());
  EXPECT_EQ(ReadFile(dir_.path() / "log"),
            "deploy 10 orders@3.2.0\n"
            "weight 50 orders@3.2.0\n"
            "promote 100 orders@3.2.0\n"
            "rollback 0 orders@3.2.0\n");
}

TEST_F(ExecDriverTest, FailingCommandFailsWithItsOutputAndChangesNoStatus) {
  auto driver = Make({"/bin/sh", "-c", "echo 'kubectl: forbidden' >&2; exit 3"});
  auto status = driver->Deploy(Canary(10));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("orders/prod: deploy"));
  EXPECT_THAT(status.error().message(), HasSubstr("exited with 3"));
  EXPECT_THAT(status.error().message(), HasSubstr("kubectl: forbidden"));
  EXPECT_EQ(driver->Status("orders", "prod")->canary_version, "");
}

TEST_F(ExecDriverTest, CommandThatCannotStartIsAnError) {
  auto driver = Make({"/nonexistent/deploy-hook"});
  auto status = driver->Deploy(Canary(10));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("orders/prod: deploy"));
}

TEST_F(ExecDriverTest, TimesOut) {
  deps_.exec.timeout = std::chrono::milliseconds(200);
  auto driver = Make({"/bin/sh", "-c", "echo started; exec sleep 30"});
  auto status = driver->SetWeight(Canary(50));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message(), HasSubstr("timed out after 200ms"));
  EXPECT_THAT(status.error().message(), HasSubstr("started"));
}

TEST_F(ExecDriverTest, StatusRemembersWhatWasAppliedAndUrlsComeFromTheOutput) {
  auto driver = Make({"/bin/sh", "-c",
                      "echo applied $SHIP_ACTION; echo SHIP_CANARY_URL=http://10.0.0.2:80; "
                      "echo SHIP_STABLE_URL=http://lb.internal"});
  ASSERT_TRUE(driver->Deploy(Canary(10)).ok());
  auto status = driver->Status("orders", "prod");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->stable_version, "3.1.0");
  EXPECT_EQ(status->canary_version, "3.2.0");
  EXPECT_EQ(status->weight, 10);
  EXPECT_THAT(status->detail, HasSubstr("applied deploy"));
  EXPECT_EQ(driver->Urls("orders", "prod").canary_url, "http://10.0.0.2:80");
  EXPECT_EQ(driver->Urls("orders", "prod").stable_url, "http://lb.internal");

  ASSERT_TRUE(driver->Promote(Canary(100)).ok());
  status = driver->Status("orders", "prod");
  EXPECT_EQ(status->stable_version, "3.2.0");
  EXPECT_EQ(status->canary_version, "");
  EXPECT_EQ(status->weight, 0);
  EXPECT_EQ(driver->Status("orders", "dev")->stable_version, "");
}

TEST_F(ExecDriverTest, RejectsAWeightOutOfRange) {
  auto driver = Make({"/bin/true"});
  auto status = driver->SetWeight(Canary(101));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalid);
}

TEST(MakeDriverTest, ExecDriverNeedsAProcessRunner) {
  Driver config;
  config.name = "hook";
  config.type = DriverType::kExec;
  config.command = {"/bin/true"};
  auto driver = MakeDriver(config, DriverDeps{});
  ASSERT_FALSE(driver.ok());
  EXPECT_THAT(driver.error().message(), HasSubstr("driver \"hook\""));
}

}  // namespace
}  // namespace shipd

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shipd/checks/health_check.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Optional;

class ExecCheckTest : public ::testing::Test {
 protected:
  Measurement Measure(std::vector<std::string> command, milliseconds timeout = seconds(10),
                      std::string working_directory = "") {
    Check config;
    config.name = "smoke";
    config.type = CheckType::kExec;
    config.command = std::move(command);
    config.timeout = timeout;
    auto check = MakeHealthCheck(config, *runner_, *http_, clock_);
    EXPECT_TRUE(check.ok()) << check.error().message();
    if (!check.ok()) return {};
    CheckContext context;
    context.variables = {{"service", "orders"},
                         {"version", "1.4.0"},
                         {"previous_version", ""},
                         {"environment", "staging"},
                         {"weight", "10"},
                         {"artifact", "registry/orders:1.4.0"},
                         {"canary_url", "http://c:1"},
                         {"stable_url", "http://s:2"}};
    context.working_directory = std::move(working_directory);
    return (*check)->Measure(context);
  }

  FakeClock clock_;
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
  std::unique_ptr<HttpClient> http_ = MakeHttplibHttpClient();
};

TEST_F(ExecCheckTest, ExitZeroPasses) {
  const Measurement m = Measure({"/bin/sh", "-c", "echo all good"});
  EXPECT_EQ(m.result, MeasurementResult::kPass);
  EXPECT_THAT(m.value, Optional(0.0));
  EXPECT_THAT(m.detail, MatchesRegex("exit 0 in [0-9]+ ms: all good"));
  EXPECT_EQ(m.at, clock_.NowMs());
}

TEST_F(ExecCheckTest, NonZeroExitFailsWithTheOutput) {
  const Measurement m =
      Measure({"/bin/sh", "-c", "echo 'smoke: /orders returned 500' >&2; exit 3"});
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.value, Optional(3.0));
  EXPECT_THAT(m.detail, MatchesRegex("exit 3 in [0-9]+ ms: smoke: /orders returned 500"));
}

TEST_F(ExecCheckTest, ArgumentsAreRenderedAndShipVariablesAreInTheEnvironment) {
  const Measurement m =
      Measure({"/bin/sh", "-c",
               "echo \"$1@$2 $SHIP_SERVICE@$SHIP_VERSION prev=[$SHIP_PREVIOUS_VERSION] "
               "$SHIP_ENVIRONMENT $SHIP_WEIGHT $SHIP_ARTIFACT $SHIP_CANARY_URL $SHIP_STABLE_URL\"",
               "sh", "{{service}}", "{{ version }}"});
  EXPECT_EQ(m.result, MeasurementResult::kPass) << m.detail;
  EXPECT_THAT(m.detail, HasSubstr(": orders@1.4.0 orders@1.4.0 prev=[] staging 10 "
                                  "registry/orders:1.4.0 http://c:1 http://s:2"));
}

TEST_F(ExecCheckTest, TimeoutFailsAndKillsTheCommand) {
  const auto start = std::chrono::steady_clock::now();
  const Measurement m = Measure({"/bin/sh", "-c", "echo waiting; sleep 30"}, milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_FALSE(m.value.has_value());
  EXPECT_THAT(m.detail, MatchesRegex("timed out after [0-9]+ ms \\(limit 200 ms\\), killed: "
                                     "waiting"));
}

TEST_F(ExecCheckTest, KilledBySignalFails) {
  const Measurement m = Measure({"/bin/sh", "-c", "kill -9 $$"});
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, HasSubstr("killed by signal 9"));
}

TEST_F(ExecCheckTest, LongOutputIsTruncatedInTheDetail) {
  const Measurement m = Measure({"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' y; exit 1"});
  EXPECT_EQ(m.result, MeasurementResult::kFail);
  EXPECT_THAT(m.detail, HasSubstr("bytes omitted"));
  EXPECT_LT(m.detail.size(), 2200u);
}

TEST_F(ExecCheckTest, RunsInTheContextsWorkingDirectory) {
  const Measurement m = Measure({"/bin/sh", "-c", "pwd"}, seconds(10), "/");
  EXPECT_EQ(m.result, MeasurementResult::kPass);
  EXPECT_THAT(m.detail, MatchesRegex("exit 0 in [0-9]+ ms: /"));
}

TEST_F(ExecCheckTest, CommandThatCannotStartIsAnError) {
  const Measurement m = Measure({"tests/shipd-no-such-smoke.sh", "{{service}}"});
  EXPECT_EQ(m.result, MeasurementResult::kError);
  EXPECT_THAT(m.detail, HasSubstr("cannot run \"tests/shipd-no-such-smoke.sh\""));
  EXPECT_FALSE(m.value.has_value());
}

}  // namespace
}  // namespace shipd

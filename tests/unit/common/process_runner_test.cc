#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "shipd/common/process.h"

namespace shipd {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

ProcessSpec Shell(std::string script, milliseconds timeout = seconds(10)) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", std::move(script)};
  spec.timeout = timeout;
  return spec;
}

// Waits (without sleeping: poll on a pidfd) until `pid` has exited; true when it did in time.
bool ExitsWithin(pid_t pid, milliseconds limit) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return errno == ESRCH;  // already gone
  pollfd p{static_cast<int>(fd), POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
  ::close(static_cast<int>(fd));
  return ready == 1;
}

// The daemon must be left without children to reap.
bool HasUnreapedChildren() {
  int status = 0;
  return !(::waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD);
}

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_FALSE(HasUnreapedChildren()); }
  std::unique_ptr<ProcessRunner> runner_ = MakePosixProcessRunner();
};

TEST_F(ProcessRunnerTest, ReportsExitCodeAndCapturesStdoutAndStderr) {
  auto result = runner_->Run(Shell("echo to-stdout; echo to-stderr >&2; exit 3"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->term_signal, 0);
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(result->output, "to-stdout\nto-stderr\n");
}

TEST_F(ProcessRunnerTest, ZeroExitAndEmptyStdin) {
  ProcessSpec spec;
  spec.argv = {"cat"};  // found in PATH; reads /dev/null, so it ends at once
  auto result = runner_->Run(spec);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->output, "");
}

TEST_F(ProcessRunnerTest, PassesArgumentsVerbatim) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "printf '[%s]' \"$@\"", "sh", "a b", "$HOME", "*"};
  auto result = runner_->Run(spec);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->output, "[a b][$HOME][*]");
}

TEST_F(ProcessRunnerTest, MissingProgramIsAnErrorNotAnExitCode) {
  ProcessSpec spec;
  spec.argv = {"/nonexistent/shipd-no-such-program"};
  auto absolute = runner_->Run(spec);
  ASSERT_FALSE(absolute.ok());
  EXPECT_EQ(absolute.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(absolute.error().message(), HasSubstr("shipd-no-such-program"));

  spec.argv = {"shipd-no-such-program-in-path"};
  auto in_path = runner_->Run(spec);
  ASSERT_FALSE(in_path.ok());
  EXPECT_EQ(in_path.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(in_path.error().message(), HasSubstr("not found in PATH"));
}

TEST_F(ProcessRunnerTest, NonExecutableFileIsAnError) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("shipd_not_executable_" + std::to_string(::getpid()));
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  ProcessSpec spec;
  spec.argv = {path.string()};
  auto result = runner_->Run(spec);
  std::filesystem::remove(path);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message(), HasSubstr("Permission denied"));
}

TEST_F(ProcessRunnerTest, EmptyCommandIsInvalid) {
  auto result = runner_->Run(ProcessSpec{});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalid);
}

TEST_F(ProcessRunnerTest, EnvironmentIsMinimalPlusSpecVariables) {
  ASSERT_EQ(::setenv("SHIPD_TEST_DAEMON_SECRET", "leaked", 1), 0);
  ProcessSpec spec = Shell("env");
  spec.env = {{"SHIP_VERSION", "1.2.3"}, {"SHIP_SERVICE", "orders"}};
  auto result = runner_->Run(spec);
  ::unsetenv("SHIPD_TEST_DAEMON_SECRET");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_THAT(result->output, AllOf(HasSubstr("SHIP_VERSION=1.2.3\n"),
                                    HasSubstr("SHIP_SERVICE=orders\n"), HasSubstr("PATH=")));
  EXPECT_THAT(result->output, Not(HasSubstr("SHIPD_TEST_DAEMON_SECRET")));
}

TEST_F(ProcessRunnerTest, RunsInTheGivenWorkingDirectory) {
  ProcessSpec spec = Shell("pwd");
  spec.cwd = "/";
  auto result = runner_->Run(spec);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->output, "/\n");

  spec.cwd = "/nonexistent/shipd-dir";
  auto missing = runner_->Run(spec);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("/nonexistent/shipd-dir"));
}

TEST_F(ProcessRunnerTest, TimeoutKillsLongBeforeTheCommandWouldEnd) {
  const auto start = std::chrono::steady_clock::now();
  auto result = runner_->Run(Shell("echo started; sleep 30", milliseconds(200)));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->term_signal, SIGTERM);
  EXPECT_EQ(result->exit_code, 128 + SIGTERM);
  EXPECT_EQ(result->output, "started\n");
  EXPECT_GE(result->elapsed, milliseconds(200));
  EXPECT_LT(took, seconds(5));
}

TEST_F(ProcessRunnerTest, TimeoutKillsTheWholeProcessGroup) {
  // The shell prints the pid of a background sleep, then waits; both must die.
  auto result = runner_->Run(Shell("sleep 30 & echo $!; wait", milliseconds(200)));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_TRUE(result->timed_out);
  const pid_t background = std::stoi(result->output);
  EXPECT_TRUE(ExitsWithin(background, seconds(2)));
}

TEST_F(ProcessRunnerTest, SigkillFollowsWhenSigtermIsIgnored) {
  ProcessSpec spec = Shell("trap '' TERM; sleep 30 & echo $!; wait; wait", milliseconds(100));
  spec.kill_grace = milliseconds(100);
  auto result = runner_->Run(spec);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->term_signal, SIGKILL);
  const pid_t background = std::stoi(result->output);
  EXPECT_TRUE(ExitsWithin(background, seconds(2)));
}

TEST_F(ProcessRunnerTest, BackgroundJobsLeftBehindDoNotHoldTheRunAndAreKilled) {
  // The background sleep inherits the output pipe; Run must not wait 30 s for it.
  auto result = runner_->Run(Shell("sleep 30 & echo $!", seconds(20)));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_LT(result->elapsed, seconds(5));
  const pid_t background = std::stoi(result->output);
  EXPECT_TRUE(ExitsWithin(background, seconds(2)));
}

TEST_F(ProcessRunnerTest, LargeOutputIsTruncatedWithAMarkerKeepingHeadAndTail) {
  ProcessSpec spec = Shell("echo BEGIN; head -c 1000000 /dev/zero | tr '\\0' x; echo; echo END");
  spec.output_limit = 1000;
  auto result = runner_->Run(spec);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_THAT(result->output, AllOf(StartsWith("BEGIN\nxxx"), HasSubstr(" bytes omitted ...]"),
                                    EndsWith("xxx\nEND\n")));
  EXPECT_LT(result->output.size(), 1100u);
}

TEST_F(ProcessRunnerTest, ChildInheritsNoDescriptorsButStdio) {
  const int stray = ::open("/dev/null", O_RDONLY);  // deliberately not close-on-exec
  ASSERT_GE(stray, 3);
  auto result = runner_->Run(Shell("ls /proc/$$/fd"));
  ::close(stray);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->output, "0\n1\n2\n");
}

TEST_F(ProcessRunnerTest, ConcurrentRunsKeepTheirOutputsApart) {
  constexpr int kThreads = 4;
  constexpr int kRuns = 5;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        ProcessSpec spec;
        const std::string tag = std::to_string(t) + "-" + std::to_string(i);
        spec.argv = {"/bin/sh", "-c", "echo $1; exit $2", "sh", tag, std::to_string(t)};
        auto result = runner_->Run(spec);
        if (!result.ok() || result->output != tag + "\n" || result->exit_code != t) {
          failures[t] += "run " + tag + " went wrong; ";
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) EXPECT_EQ(failure, "");
}

}  // namespace
}  // namespace shipd

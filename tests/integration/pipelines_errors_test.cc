// A bad pipelines file stops the daemon at start-up with file:line and the reason. Reuses the
// loader's unit-test data: each tests/data/pipelines/bad/*.yaml starts with "# expect: ...".
#include <gtest/gtest.h>

#include <fstream>

#include "support/daemon_process.h"

namespace shipd::testing {
namespace {

TEST(PipelinesErrors, DaemonExitsNonZeroWithFileLineAndReason) {
  const auto bad_dir = SourceDir() / "tests" / "data" / "pipelines" / "bad";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(bad_dir)) {
    std::ifstream in(entry.path());
    std::string first_line;
    std::getline(in, first_line);
    const std::string prefix = "# expect: ";
    ASSERT_EQ(first_line.rfind(prefix, 0), 0u) << entry.path();
    const std::string expected = first_line.substr(prefix.size());

    TempDir dir;
    DaemonProcess daemon(dir.path(), entry.path());
    EXPECT_FALSE(daemon.Start()) << entry.path() << " was accepted";
    EXPECT_NE(daemon.last_error().find(expected), std::string::npos)
        << entry.path() << "\nexpected: " << expected << "\ngot: " << daemon.last_error();
    EXPECT_NE(daemon.last_error().find(entry.path().filename().string()), std::string::npos);
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace shipd::testing

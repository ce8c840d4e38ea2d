// Test support: runs the real shipd and shipctl binaries as child processes, with a temporary
// data directory, and reads the bound port from shipd's "listening on" line (no sleeping).
#pragma once

#include <httplib.h>
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace shipd::testing {

std::filesystem::path BinDir();
std::filesystem::path SourceDir();

// A directory under /tmp removed with everything in it when destroyed.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion. `env` entries are added to (or override) the environment.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

class DaemonProcess {
 public:
  // `pipelines` defaults to tests/data/pipelines/instant.yaml (rollouts finish at once).
  explicit DaemonProcess(std::filesystem::path data_dir, std::filesystem::path pipelines = {});
  ~DaemonProcess();

  // Before Start(): the pipelines to load instead of the constructor's, variables added to (or
  // overriding) the daemon's environment, and the directory it runs in (default: the test's), which
  // relative paths in exec commands resolve against.
  void set_pipelines(std::filesystem::path pipelines) { pipelines_ = std::move(pipelines); }
  void set_env(std::map<std::string, std::string> env) { env_ = std::move(env); }
  void set_working_directory(std::filesystem::path dir) { working_directory_ = std::move(dir); }

  // Starts shipd on 127.0.0.1:0 and waits for its listening line. Returns false (with the
  // reason in last_error()) when the daemon exits first.
  bool Start(const std::vector<std::string>& extra_args = {});
  // Sends `signal` and waits for the process; returns its exit code (128+signal if killed).
  int Stop(int signal);
  int Wait();
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& last_error() const { return last_error_; }
  std::string StderrLog() const;
  const std::filesystem::path& data_dir() const { return data_dir_; }

  // Creates a token with `shipd token create` against this data directory; `extra_args` go
  // before the subcommand (e.g. --config shipd.yaml).
  std::string CreateToken(const std::string& name, const std::string& role,
                          const std::vector<std::string>& extra_args = {}) const;
  std::unique_ptr<httplib::Client> Client(const std::string& token = "") const;
  // Runs shipctl against this daemon.
  CommandResult Shipctl(const std::vector<std::string>& args, const std::string& token) const;

 private:
  std::filesystem::path data_dir_;
  std::filesystem::path pipelines_;
  std::map<std::string, std::string> env_;
  std::filesystem::path working_directory_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string last_error_;
};

}  // namespace shipd::testing

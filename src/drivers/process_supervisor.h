// ProcessSupervisor: keeps long-running local processes alive for the local driver. Each runs in
// its own process group with SIGKILL as its parent-death signal (a killed daemon leaves no
// orphans), is restarted with backoff when it dies, and is stopped SIGTERM-then-SIGKILL. One
// monitor thread forks, reaps and restarts; thread-safe. Destruction stops every process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

struct SupervisedSpec {
  std::string name;  // for messages, e.g. "orders/staging@3.2.0"
  // argv[0] is a path (absolute, or relative to the daemon's working directory) or a name found
  // in `search_path` and then PATH.
  std::vector<std::string> argv;
  std::vector<std::filesystem::path> search_path;
  std::map<std::string, std::string> env;  // the whole environment of the process
  std::filesystem::path log_file;          // stdout and stderr are appended here
};

struct SupervisedState {
  pid_t pid = 0;  // 0 while it waits to be restarted
  bool running = false;
  int restarts = 0;       // restarts after it died
  std::string last_exit;  // "exit status 1", "killed by signal 9"; empty until it first dies
  std::chrono::steady_clock::time_point started;
};

class ProcessSupervisor {
 public:
  struct Options {
    std::chrono::milliseconds stop_grace{std::chrono::seconds(2)};
    std::chrono::milliseconds max_backoff{std::chrono::seconds(5)};
  };

  explicit ProcessSupervisor(Options options);
  ~ProcessSupervisor();
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Starts the process; returns its id. kNotFound when the program does not exist or is not
  // executable, kIo when it cannot be forked or the log file cannot be opened.
  Result<int64_t> Start(SupervisedSpec spec);
  // Stops it for good and reaps it: when this returns, the pid no longer exists. Unknown ids are
  // ignored.
  void Stop(int64_t id);
  std::optional<SupervisedState> State(int64_t id) const;

 private:
  struct Child {
    SupervisedSpec spec;
    std::string program;  // resolved argv[0]
    SupervisedState state;
    bool stopping = false;
    int consecutive_failures = 0;
    std::chrono::steady_clock::time_point restart_at;
  };
  struct StartRequest {
    int64_t id = 0;
    std::promise<Result<pid_t>> done;
  };

  void Monitor();
  Result<pid_t> SpawnLocked(Child& child);
  void ReapLocked();
  // Terminates the groups led by `pids` and reaps them; called without the lock.
  void Terminate(const std::vector<pid_t>& pids) const;

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<int64_t, Child> children_;
  std::vector<std::shared_ptr<StartRequest>> requests_;  // forks for the monitor thread
  int64_t next_id_ = 1;
  bool shutting_down_ = false;  // no more starts; every child is being stopped
  bool exit_monitor_ = false;   // set once the children are gone
  std::thread monitor_;         // started last
};

}  // namespace shipd

// ProcessRunner: runs one external command to completion — the injected seam through which exec
// checks and exec drivers touch the OS, so tests can swap in fakes. Implementations are
// thread-safe; Run() blocks the calling thread. MakePosixProcessRunner() is the real one.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

struct ProcessSpec {
  // argv[0] is a path (relative to `cwd` when it contains '/') or a name looked up in PATH.
  std::vector<std::string> argv;
  // Added to (and overriding) a minimal environment inherited from the daemon: PATH, HOME, USER,
  // LOGNAME, LANG, LC_ALL, TZ, TMPDIR. Nothing else of the daemon's environment is passed on.
  std::map<std::string, std::string> env;
  std::string cwd;  // empty: the daemon's working directory
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // After a timeout, how long the group has between SIGTERM and SIGKILL.
  std::chrono::milliseconds kill_grace{std::chrono::seconds(2)};
  // stdout and stderr are captured together, interleaved as written; past this many bytes the
  // middle is dropped and replaced by a "[... N bytes omitted ...]" marker (head and tail kept).
  size_t output_limit = 64 * 1024;
};

struct ProcessResult {
  int exit_code = -1;   // the exit status, or 128 + signal number when a signal ended it
  int term_signal = 0;  // the signal that ended it; 0 when it exited
  bool timed_out = false;
  std::string output;
  std::chrono::milliseconds elapsed{0};
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;

  // Runs the command in a new process group with stdin from /dev/null. On timeout the group gets
  // SIGTERM, then SIGKILL after a short grace; when the command exits, whatever it left running
  // in its group is killed. The child is always reaped. A command that cannot be started (no
  // such file, not executable, bad cwd) is an error (kNotFound / kIo / kInvalid), not an exit code.
  virtual Result<ProcessResult> Run(const ProcessSpec& spec) = 0;
};

// posix_spawn, a pipe and poll(2). Requires that SIGCHLD is not ignored in the daemon.
std::unique_ptr<ProcessRunner> MakePosixProcessRunner();

}  // namespace shipd

// PosixProcessRunner: posix_spawn into a new process group, stdout+stderr on one close-on-exec
// pipe, poll(2) on the pipe and a pidfd (a 20 ms tick where pidfds are unavailable). The leader
// is detected with waitid(WNOWAIT) and reaped only after its group was signalled, so the group id
// cannot have been reused when killpg() runs.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "shipd/common/process.h"

namespace shipd {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::array<const char*, 8> kInheritedVariables = {"PATH", "HOME",   "USER", "LOGNAME",
                                                            "LANG", "LC_ALL", "TZ",   "TMPDIR"};
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr milliseconds kTick{20};             // poll period when there is no pidfd
constexpr milliseconds kDrainAfterExit{500};  // output still in flight after the group died

std::string ErrnoText(int error) {
  std::array<char, 256> buffer{};
  return ::strerror_r(error, buffer.data(), buffer.size());  // the GNU variant: thread-safe
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Keeps the first and the last output_limit/2 bytes of a stream.
class OutputCollector {
 public:
  explicit OutputCollector(size_t limit) : head_limit_(limit / 2), tail_limit_(limit - limit / 2) {}

  void Append(std::string_view data) {
    total_ += data.size();
    const size_t to_head = std::min(data.size(), head_limit_ - head_.size());
    head_.append(data.substr(0, to_head));
    data.remove_prefix(to_head);
    if (data.empty() || tail_limit_ == 0) return;
    tail_.append(data);
    if (tail_.size() > 2 * tail_limit_) tail_.erase(0, tail_.size() - tail_limit_);
  }

  std::string Take() && {
    if (tail_.size() > tail_limit_) tail_.erase(0, tail_.size() - tail_limit_);
    const size_t omitted = total_ - head_.size() - tail_.size();
    if (omitted == 0) return head_ + tail_;
    return head_ + "\n[... " + std::to_string(omitted) + " bytes omitted ...]\n" + tail_;
  }

 private:
  size_t head_limit_;
  size_t tail_limit_;
  size_t total_ = 0;
  std::string head_;
  std::string tail_;
};

// Owns posix_spawn's attribute objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

std::map<std::string, std::string> ChildEnvironment(const ProcessSpec& spec) {
  std::map<std::string, std::string> env;
  for (const char* name : kInheritedVariables) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  if (!env.contains("PATH")) env["PATH"] = kDefaultPath;
  for (const auto& [name, value] : spec.env) env[name] = value;
  return env;
}

bool IsExecutableFile(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// argv[0] as posix_spawn needs it: names without '/' are looked up in the child's PATH.
Result<std::string> ResolveProgram(const std::string& program, const std::string& path_variable) {
  if (program.find('/') != std::string::npos) return program;
  size_t start = 0;
  while (start <= path_variable.size()) {
    size_t end = path_variable.find(':', start);
    if (end == std::string::npos) end = path_variable.size();
    std::string dir = path_variable.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return Error(ErrorCode::kNotFound,
               "cannot run \"" + program + "\": not found in PATH " + path_variable);
}

int OpenPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#else
  (void)pid;
#endif
  return -1;
}

// Exited but not yet reaped (a zombie keeps its pid, and with it the group id, reserved).
bool LeaderExited(pid_t pid) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
    if (errno != EINTR) return true;  // ECHILD: someone else reaped it; nothing left to wait for
  }
  return info.si_pid == pid;
}

// The running child: its pipe, its pidfd, and what it wrote so far.
class Child {
 public:
  Child(pid_t pid, int pipe_fd, size_t output_limit)
      : pid_(pid), pipe_(pipe_fd), pidfd_(OpenPidfd(pid)), output_(output_limit) {}

  // Reads output until the leader exits or `deadline` passes; true when it exited.
  bool WaitForExit(Steady::time_point deadline) {
    while (true) {
      if (LeaderExited(pid_)) return true;
      const auto now = Steady::now();
      if (now >= deadline) return false;
      auto wait = std::chrono::ceil<milliseconds>(deadline - now);
      if (pidfd_.get() < 0) wait = std::min(wait, kTick);
      PollOnce(wait);
    }
  }

  // Reads until every writer closed the pipe or `deadline` passes.
  void DrainUntil(Steady::time_point deadline) {
    while (pipe_.get() >= 0) {
      const auto now = Steady::now();
      if (now >= deadline) return;
      PollOnce(std::chrono::ceil<milliseconds>(deadline - now));
    }
  }

  // Blocks until the (signalled or exited) leader is reaped; returns its wait status, or nullopt
  // when something else in the daemon reaped it first.
  std::optional<int> Reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) return std::nullopt;
    }
    return status;
  }

  pid_t pid() const { return pid_; }
  std::string TakeOutput() && { return std::move(output_).Take(); }

 private:
  void PollOnce(milliseconds wait) {
    std::array<pollfd, 2> fds{};
    nfds_t count = 0;
    if (pipe_.get() >= 0) fds[count++] = {pipe_.get(), POLLIN, 0};
    if (pidfd_.get() >= 0) fds[count++] = {pidfd_.get(), POLLIN, 0};
    const int ready = ::poll(fds.data(), count, static_cast<int>(wait.count()));
    if (ready > 0 && pipe_.get() >= 0 && fds[0].revents != 0) ReadAvailable();
  }

  void ReadAvailable() {
    std::array<char, 16 * 1024> buffer;
    while (true) {
      const ssize_t n = ::read(pipe_.get(), buffer.data(), buffer.size());
      if (n > 0) {
        output_.Append(std::string_view(buffer.data(), static_cast<size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      pipe_.Reset();  // EOF, or an error that will not go away
      return;
    }
  }

  pid_t pid_;
  Fd pipe_;
  Fd pidfd_;
  OutputCollector output_;
};

class PosixProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> Run(const ProcessSpec& spec) override {
    if (spec.argv.empty() || spec.argv[0].empty()) {
      return Error(ErrorCode::kInvalid, "empty command");
    }
    const std::map<std::string, std::string> env = ChildEnvironment(spec);
    for (const auto& [name, value] : env) {
      if (name.empty() || name.find('=') != std::string::npos) {
        return Error(ErrorCode::kInvalid, "invalid environment variable name \"" + name + "\"");
      }
    }
    if (!spec.cwd.empty()) {
      struct stat info {};
      if (::stat(spec.cwd.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
        return Error(ErrorCode::kNotFound,
                     "working directory \"" + spec.cwd + "\" does not exist or is not a directory");
      }
    }
    Result<std::string> program = ResolveProgram(spec.argv[0], env.at("PATH"));
    if (!program.ok()) return program.error();

    std::vector<std::string> env_entries;
    for (const auto& [name, value] : env) env_entries.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& entry : env_entries) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = spec.argv;
    std::vector<char*> argv;
    for (auto& arg : argv_copy) argv.push_back(arg.data());
    argv.push_back(nullptr);

    // Close-on-exec, so that children spawned concurrently by other threads do not inherit it.
    std::array<int, 2> pipe_fds{};
    if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
      return Error(ErrorCode::kIo, "pipe: " + ErrnoText(errno));
    }
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);

    SpawnSetup setup;
    posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&setup.actions, write_end.get(), 1);
    posix_spawn_file_actions_adddup2(&setup.actions, write_end.get(), 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
#endif
    if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&setup.actions, spec.cwd.c_str());
    sigset_t signals;
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&setup.attr, &signals);
    sigfillset(&signals);
    sigdelset(&signals, SIGKILL);
    sigdelset(&signals, SIGSTOP);
    posix_spawnattr_setsigdefault(&setup.attr, &signals);  // undo the daemon's SIG_IGNs
    posix_spawnattr_setpgroup(&setup.attr, 0);
    posix_spawnattr_setflags(
        &setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const auto start = Steady::now();
    pid_t pid = 0;
    const int spawn_error = ::posix_spawn(&pid, program->c_str(), &setup.actions, &setup.attr,
                                          argv.data(), envp.data());
    write_end.Reset();
    if (spawn_error != 0) {
      const ErrorCode code =
          spawn_error == ENOENT || spawn_error == ENOTDIR ? ErrorCode::kNotFound : ErrorCode::kIo;
      return Error(code, "cannot run \"" + spec.argv[0] + "\": " + ErrnoText(spawn_error));
    }
    ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);

    Child child(pid, read_end.Release(), spec.output_limit);
    return Supervise(child, spec, start);
  }

 private:
  static ProcessResult Supervise(Child& child, const ProcessSpec& spec, Steady::time_point start) {
    ProcessResult result;
    const bool exited = child.WaitForExit(start + spec.timeout);
    if (!exited) {
      result.timed_out = true;
      ::killpg(child.pid(), SIGTERM);
      child.WaitForExit(Steady::now() + spec.kill_grace);
    }
    // Whatever is still running in the group: stragglers after a timeout, or background jobs the
    // command left behind (which would otherwise hold the pipe open).
    ::killpg(child.pid(), SIGKILL);
    const std::optional<int> status = child.Reap();
    result.elapsed = std::chrono::duration_cast<milliseconds>(Steady::now() - start);
    child.DrainUntil(Steady::now() + kDrainAfterExit);
    if (status && WIFEXITED(*status)) {
      result.exit_code = WEXITSTATUS(*status);
    } else if (status && WIFSIGNALED(*status)) {
      result.term_signal = WTERMSIG(*status);
      result.exit_code = 128 + result.term_signal;
    }
    result.output = std::move(child).TakeOutput();
    return result;
  }
};

}  // namespace

std::unique_ptr<ProcessRunner> MakePosixProcessRunner() {
  return std::make_unique<PosixProcessRunner>();
}

}  // namespace shipd

// Forks happen on the monitor thread only: PR_SET_PDEATHSIG fires when the *thread* that forked
// exits, so children must not be tied to short-lived caller threads. A dead leader is detected
// with waitid(WNOWAIT) and reaped only after its group was killed, so the group id cannot have
// been reused when killpg() runs.
#include "process_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace shipd {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kTick{50};                // how often exits are looked for
constexpr milliseconds kFirstBackoff{100};       // after a crash soon after starting
constexpr std::chrono::seconds kHealthyRun{10};  // running this long resets the backoff

std::string ErrnoText(int error) { return std::strerror(error); }

Result<std::string> ResolveProgram(const SupervisedSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Error(ErrorCode::kInvalid, spec.name + ": empty command line");
  }
  const std::string& program = spec.argv[0];
  auto executable = [](const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos) {
    if (executable(program)) return program;
    return Error(ErrorCode::kNotFound,
                 spec.name + ": " + program + " does not exist or is not executable");
  }
  std::vector<std::filesystem::path> dirs = spec.search_path;
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) dirs.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  for (const auto& dir : dirs) {
    if (executable(dir / program)) return (dir / program).string();
  }
  return Error(ErrorCode::kNotFound, spec.name + ": " + program + " not found in " +
                                         (spec.search_path.empty() ? "" : "the bin dirs or ") +
                                         "PATH");
}

std::string DescribeExit(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return "exit status " + std::to_string(info.si_status);
  return "killed by signal " + std::to_string(info.si_status);
}

// True when the group leader `pid` has exited (it stays a zombie: WNOWAIT).
bool Exited(pid_t pid, siginfo_t* info, bool block) {
  siginfo_t local{};
  siginfo_t* out = info != nullptr ? info : &local;
  out->si_pid = 0;
  int options = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid), out, options);
  } while (rc != 0 && errno == EINTR);
  return rc != 0 || out->si_pid == pid;  // an error means there is nothing left to wait for
}

void KillGroupAndReap(pid_t pid) {
  ::killpg(pid, SIGKILL);
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

ProcessSupervisor::ProcessSupervisor(Options options) : options_(options) {
  monitor_ = std::thread([this] { Monitor(); });
}

ProcessSupervisor::~ProcessSupervisor() {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [id, child] : children_) {
      child.stopping = true;
      if (child.state.pid > 0) pids.push_back(child.state.pid);
    }
  }
  // Before the monitor thread exits: its exit would SIGKILL them (parent-death signal).
  Terminate(pids);
  {
    std::lock_guard lock(mu_);
    exit_monitor_ = true;
  }
  wake_.notify_all();
  monitor_.join();
}

Result<int64_t> ProcessSupervisor::Start(SupervisedSpec spec) {
  auto program = ResolveProgram(spec);
  if (!program.ok()) return program.error();
  auto request = std::make_shared<StartRequest>();
  auto done = request->done.get_future();
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return Error(ErrorCode::kUnavailable, "the supervisor is shutting down");
    request->id = next_id_++;
    Child& child = children_[request->id];
    child.spec = std::move(spec);
    child.program = std::move(*program);
    requests_.push_back(request);
  }
  wake_.notify_all();
  auto pid = done.get();
  if (!pid.ok()) return pid.error();
  return request->id;
}

void ProcessSupervisor::Stop(int64_t id) {
  pid_t pid = 0;
  {
    std::lock_guard lock(mu_);
    auto it = children_.find(id);
    if (it == children_.end() || it->second.stopping) return;
    it->second.stopping = true;
    pid = it->second.state.pid;
  }
  if (pid > 0) Terminate({pid});
  std::lock_guard lock(mu_);
  children_.erase(id);
}

std::optional<SupervisedState> ProcessSupervisor::State(int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = children_.find(id);
  if (it == children_.end()) return std::nullopt;
  return it->second.state;
}

void ProcessSupervisor::Terminate(const std::vector<pid_t>& pids) const {
  for (pid_t pid : pids) ::killpg(pid, SIGTERM);
  const auto deadline = Steady::now() + options_.stop_grace;
  std::vector<pid_t> alive = pids;
  while (!alive.empty() && Steady::now() < deadline) {
    std::erase_if(alive, [](pid_t pid) {
      if (!Exited(pid, nullptr, false)) return false;
      KillGroupAndReap(pid);  // the leader is gone; whatever it left in its group goes too
      return true;
    });
    if (!alive.empty()) std::this_thread::sleep_for(milliseconds(5));
  }
  for (pid_t pid : alive) KillGroupAndReap(pid);
}

void ProcessSupervisor::Monitor() {
  std::unique_lock lock(mu_);
  while (!exit_monitor_) {
    for (const auto& request : requests_) {
      auto it = children_.find(request->id);
      auto pid = SpawnLocked(it->second);
      if (!pid.ok()) children_.erase(it);
      request->done.set_value(std::move(pid));
    }
    requests_.clear();
    ReapLocked();
    const auto now = Steady::now();
    auto next = now + kTick;
    for (auto& [id, child] : children_) {
      if (child.stopping || child.state.pid > 0) continue;
      if (child.restart_at <= now) {
        if (SpawnLocked(child).ok()) {
          ++child.state.restarts;
        } else {
          child.restart_at = now + options_.max_backoff;
        }
      } else {
        next = std::min(next, child.restart_at);
      }
    }
    wake_.wait_until(lock, next, [this] { return exit_monitor_ || !requests_.empty(); });
  }
  for (const auto& request : requests_) {
    request->done.set_value(Error(ErrorCode::kUnavailable, "the supervisor is shutting down"));
  }
  requests_.clear();
}

void ProcessSupervisor::ReapLocked() {
  const auto now = Steady::now();
  for (auto& [id, child] : children_) {
    if (child.stopping || child.state.pid <= 0) continue;
    siginfo_t info{};
    if (!Exited(child.state.pid, &info, false)) continue;
    KillGroupAndReap(child.state.pid);
    child.state.last_exit = DescribeExit(info);
    child.state.pid = 0;
    child.state.running = false;
    if (now - child.state.started >= kHealthyRun) {
      child.consecutive_failures = 0;
      child.restart_at = now;
    } else {
      const int doublings = std::min(child.consecutive_failures++, 16);
      child.restart_at =
          now + std::min<milliseconds>(kFirstBackoff * (1 << doublings), options_.max_backoff);
    }
  }
}

Result<pid_t> ProcessSupervisor::SpawnLocked(Child& child) {
  const SupervisedSpec& spec = child.spec;
  std::error_code ec;
  std::filesystem::create_directories(spec.log_file.parent_path(), ec);
  const int log_fd = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Error(ErrorCode::kIo,
                 spec.name + ": cannot open " + spec.log_file.string() + ": " + ErrnoText(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  // Everything the child touches is prepared before fork: after it only async-signal-safe calls.
  std::vector<char*> argv;
  argv.push_back(child.program.data());
  for (size_t i = 1; i < spec.argv.size(); ++i) {
    argv.push_back(const_cast<char*>(spec.argv[i].c_str()));
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : spec.env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // The daemon blocks and ignores signals it handles itself; exec keeps both.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD}) {
      ::sigaction(sig, &dfl, nullptr);
    }
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);  // sockets of the daemon that lack close-on-exec
    ::execve(argv[0], argv.data(), envp.data());
    constexpr char kMessage[] = "shipd: exec failed\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) return Error(ErrorCode::kIo, spec.name + ": fork: " + ErrnoText(fork_errno));
  ::setpgid(pid, pid);  // also here, so killpg works before the child ran
  child.state.pid = pid;
  child.state.running = true;
  child.state.started = Steady::now();
  return pid;
}

}  // namespace shipd

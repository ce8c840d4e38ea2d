#include "support/nginx_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

extern char** environ;

namespace shipd::testing {
namespace {

// A port that was free a moment ago; Start() retries when nginx finds it taken after all.
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// Lines holding `first` and, after it, `then`.
int CountLines(const std::string& text, const std::string& first, const std::string& then) {
  int count = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find(first);
    if (at != std::string::npos && line.find(then, at + first.size()) != std::string::npos) {
      ++count;
    }
  }
  return count;
}

}  // namespace

std::string NginxProcess::FindBinary() {
  if (const char* path = std::getenv("SHIPD_NGINX"); path != nullptr && *path != '\0') {
    return ::access(path, X_OK) == 0 ? path : "";
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream parts(path);
    for (std::string dir; std::getline(parts, dir, ':');) dirs.push_back(dir);
  }
  // Debian installs nginx in /usr/sbin, which is often not on an unprivileged user's PATH.
  dirs.insert(dirs.end(), {"/usr/sbin", "/usr/local/sbin"});
  for (const std::string& dir : dirs) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/nginx";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

NginxProcess::NginxProcess(std::string binary, std::filesystem::path dir)
    : binary_(std::move(binary)), dir_(std::move(dir)) {}

NginxProcess::~NginxProcess() { Stop(); }

std::vector<std::string> NginxProcess::Command(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {binary_, "-p", dir_.string(), "-c",
                                   (dir_ / "nginx.conf").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string NginxProcess::ErrorLog() const {
  std::ifstream in(dir_ / "error.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool NginxProcess::Start(const std::function<std::string(int port)>& http_body) {
  const std::string dir = dir_.string();
  std::filesystem::create_directories(dir_ / "tmp");
  for (int attempt = 1; attempt <= 5; ++attempt) {
    port_ = FreeLoopbackPort();
    {
      std::ofstream conf(dir_ / "nginx.conf");
      conf << "# A private nginx for one test; everything it writes stays in " << dir << ".\n"
           << "worker_processes 1;  # one round-robin state, so the split is exact\n"
           << "pid " << dir << "/nginx.pid;\n"
           << "error_log " << dir << "/error.log notice;  # logs the worker starts and exits\n"
           << "events { worker_connections 256; }\n"
           << "http {\n"
           << "    client_body_temp_path " << dir << "/tmp/body;\n"
           << "    proxy_temp_path " << dir << "/tmp/proxy;\n"
           << "    fastcgi_temp_path " << dir << "/tmp/fastcgi;\n"
           << "    uwsgi_temp_path " << dir << "/tmp/uwsgi;\n"
           << "    scgi_temp_path " << dir << "/tmp/scgi;\n"
           << "    access_log off;\n"
           << http_body(port_) << "}\n";
    }
    std::filesystem::remove(dir_ / "error.log");

    // Everything the child needs is prepared before fork(): only system calls run after it.
    std::vector<std::string> args = Command({"-g", "daemon off;"});
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string log = (dir_ / "error.log").string();
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      last_error_ = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      // A test that dies (a crash, a ctest timeout) takes its nginx with it.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execve(argv[0], argv.data(), environ);
      ::_exit(127);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
      last_error_ = "pidfd_open failed";
      Stop();
      return false;
    }
    // The listening socket is open before the master starts its worker.
    if (WaitForLog(
            [](const std::string& text) {
              return text.find("start worker process ") != std::string::npos;
            },
            "the worker to start")) {
      return true;
    }
    Stop();
    if (ErrorLog().find("Address already in use") == std::string::npos) return false;
  }
  return false;
}

bool NginxProcess::WaitForReloads(int count) {
  // The master logs "worker process <pid> exited with code 0" for each worker it replaced.
  return WaitForLog(
      [count](const std::string& text) {
        return CountLines(text, "worker process ", " exited") >= count;
      },
      std::to_string(count) + " reloads to take effect");
}

bool NginxProcess::WaitForLog(const std::function<bool(const std::string&)>& done,
                              const std::string& what) {
  const int inotify = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify < 0 || ::inotify_add_watch(inotify, dir_.c_str(), IN_CREATE | IN_MODIFY) < 0) {
    if (inotify >= 0) ::close(inotify);
    last_error_ = "inotify failed";
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  bool ok = false;
  while (true) {
    const std::string log = ErrorLog();
    if (done(log)) {
      ok = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      last_error_ = "timed out waiting for " + what + "; nginx error log:\n" + log;
      break;
    }
    pollfd fds[2] = {{inotify, POLLIN, 0}, {pidfd_, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(left.count()));
    if ((fds[1].revents & POLLIN) != 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      last_error_ = "nginx exited (status " + std::to_string(status) + ") while waiting for " +
                    what + "; nginx error log:\n" + ErrorLog();
      break;
    }
    char events[4096];
    while (::read(inotify, events, sizeof(events)) > 0) {
    }
  }
  ::close(inotify);
  return ok;
}

void NginxProcess::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (pidfd_ >= 0) {
    ::close(pidfd_);
    pidfd_ = -1;
  }
}

}  // namespace shipd::testing

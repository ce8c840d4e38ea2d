#include "support/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace shipd::testing {
namespace {

// Forks and execs argv with stdout/stderr connected to the given fds (-1 = inherit), in
// `working_directory` when it is not empty.
pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            int out_fd, int err_fd, const std::filesystem::path& working_directory = {}) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos && env.count(entry.substr(0, eq)) != 0) continue;
    env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> c_argv;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (auto& e : env_strings) c_env.push_back(e.data());
  c_env.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    if (out_fd >= 0) dup2(out_fd, STDOUT_FILENO);
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    if (!working_directory.empty() && chdir(working_directory.c_str()) != 0) _exit(126);
    execve(c_argv[0], c_argv.data(), c_env.data());
    _exit(127);
  }
  return pid;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::filesystem::path BinDir() { return SHIPD_BIN_DIR; }
std::filesystem::path SourceDir() { return SHIPD_SOURCE_DIR; }

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  // Output goes through files, so a chatty child can never block on a full pipe.
  TempDir dir;
  const auto out_path = dir.path() / "out";
  const auto err_path = dir.path() / "err";
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = Spawn(argv, env, out_fd, err_fd);
  close(out_fd);
  close(err_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return {ExitCodeOf(status), ReadFileText(out_path), ReadFileText(err_path)};
}

DaemonProcess::DaemonProcess(std::filesystem::path data_dir, std::filesystem::path pipelines)
    : data_dir_(std::move(data_dir)),
      pipelines_(pipelines.empty() ? SourceDir() / "tests" / "data" / "pipelines" / "instant.yaml"
                                   : pipelines) {}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

bool DaemonProcess::Start(const std::vector<std::string>& extra_args) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::filesystem::create_directories(data_dir_);
  int err_fd = open((data_dir_ / "shipd.stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  std::vector<std::string> argv = {(BinDir() / "shipd").string(),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--data",
                                   data_dir_.string(),
                                   "--pipelines",
                                   pipelines_.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  pid_ = Spawn(argv, env_, fds[1], err_fd, working_directory_);
  close(fds[1]);
  close(err_fd);
  stdout_fd_ = fds[0];

  // Read stdout line by line until the listening line or EOF (the daemon exited).
  std::string buffer;
  const std::string marker = "shipd listening on http://";
  while (true) {
    char c;
    ssize_t n = read(stdout_fd_, &c, 1);
    if (n <= 0) break;
    if (c != '\n') {
      buffer += c;
      continue;
    }
    auto pos = buffer.find(marker);
    if (pos != std::string::npos) {
      auto colon = buffer.rfind(':');
      port_ = std::atoi(buffer.c_str() + colon + 1);
      return true;
    }
    buffer.clear();
  }
  int code = Wait();
  last_error_ = "shipd exited with " + std::to_string(code) + ": " + StderrLog();
  return false;
}

int DaemonProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  return Wait();
}

int DaemonProcess::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) {
    ReadAll(stdout_fd_);
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return ExitCodeOf(status);
}

std::string DaemonProcess::StderrLog() const { return ReadFileText(data_dir_ / "shipd.stderr"); }

std::string DaemonProcess::CreateToken(const std::string& name, const std::string& role,
                                       const std::vector<std::string>& extra_args) const {
  std::vector<std::string> argv = {(BinDir() / "shipd").string(), "--data", data_dir_.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  for (const auto& arg : {"token", "create", name.c_str(), "--role", role.c_str()}) {
    argv.emplace_back(arg);
  }
  auto result = RunCommand(argv);
  if (result.exit_code != 0) {
    throw std::runtime_error("shipd token create failed: " + result.err);
  }
  std::string token = result.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

std::unique_ptr<httplib::Client> DaemonProcess::Client(const std::string& token) const {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
  if (!token.empty()) client->set_bearer_token_auth(token.c_str());
  client->set_read_timeout(30, 0);
  return client;
}

CommandResult DaemonProcess::Shipctl(const std::vector<std::string>& args,
                                     const std::string& token) const {
  std::vector<std::string> argv = {(BinDir() / "shipctl").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {{"SHIP_SERVER", url()}, {"SHIP_TOKEN", token}});
}

}  // namespace shipd::testing

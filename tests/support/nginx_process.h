// Test support: a private nginx run by the test as its own child, as whatever user runs the test:
// prefix, nginx.conf, pid file, error log and temp paths all in one directory, one worker,
// listening on a free 127.0.0.1 port. Waits read the error log (notice level) instead of sleeping.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace shipd::testing {

class NginxProcess {
 public:
  // SHIPD_NGINX, else `nginx` in PATH, /usr/sbin or /usr/local/sbin; empty when there is none.
  static std::string FindBinary();

  NginxProcess(std::string binary, std::filesystem::path dir);
  ~NginxProcess();  // fast shutdown (SIGTERM), reaped
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  // Writes dir/nginx.conf with `http_body(port)` inside its http block, starts nginx in the
  // foreground and waits until its worker runs. A port taken meanwhile is retried with another.
  // False (with the reason in last_error()) when nginx exits or does not come up in time.
  bool Start(const std::function<std::string(int port)>& http_body);

  // `nginx -p DIR -c DIR/nginx.conf` followed by `args`: e.g. the reload command for a driver.
  std::vector<std::string> Command(const std::vector<std::string>& args) const;

  // Waits until `count` reloads in all have taken effect: the worker of each previous
  // configuration has exited, so every new connection reaches a worker of the newest one.
  bool WaitForReloads(int count);

  int port() const { return port_; }
  const std::string& last_error() const { return last_error_; }
  std::string ErrorLog() const;

 private:
  // Waits for `done(error log)` while nginx runs; inotify on the directory and a pidfd, so
  // nothing polls on a timer. Bounded by kWaitLimit.
  bool WaitForLog(const std::function<bool(const std::string&)>& done, const std::string& what);
  void Stop();

  static constexpr std::chrono::seconds kWaitLimit{20};

  std::string binary_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int port_ = 0;
  std::string last_error_;
};

}  // namespace shipd::testing

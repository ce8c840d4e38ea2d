// Test support for the driver tests: a temporary directory, file helpers, a loopback HTTP server
// on its own thread, and where the demo-service binary is. Not thread-safe unless noted.
#pragma once

#include <httplib.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/temp_dir.h"

namespace shipd::testing {

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// An httplib::Server listening on a free loopback port until destroyed. Register handlers on
// server() before Start().
class LoopbackServer {
 public:
  ~LoopbackServer() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  httplib::Server& server() { return server_; }
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a loopback port");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// SHIPD_DEMO_SERVICE, else demo-service in SHIPD_BIN_DIR (a compile definition in CMake).
inline std::string DemoServicePath() {
  if (const char* path = std::getenv("SHIPD_DEMO_SERVICE")) return path;
#ifdef SHIPD_BIN_DIR
  return std::string(SHIPD_BIN_DIR) + "/demo-service";
#else
  return "demo-service";
#endif
}

}  // namespace shipd::testing

// DaemonConfig: shipd's own settings, from shipd.yaml and command-line flags (flags win).
// Plain value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/config/notifications.h"
#include "shipd/model/permissions.h"

namespace shipd {

// A service's Git repository: tags pushed there register versions (docs/webhooks.md).
struct RepositoryConfig {
  std::string service;
  std::string url;     // file://, a local path, https://, ssh://
  std::string secret;  // webhook secret, read from secret_env or secret_file
  std::string tag_pattern = "v{version}";
  std::string manifest = "ship.yaml";  // path of the manifest inside the repository
  std::string promote_to;              // environment to promote new versions into; "" = none
  std::chrono::milliseconds poll_interval{0};  // tag reconciliation; 0 = off
};

struct DaemonConfig {
  std::string listen = "127.0.0.1:7700";          // host:port; port 0 picks a free port
  std::filesystem::path data_dir = "shipd-data";  // holds shipd.db
  std::filesystem::path pipelines = "pipelines";  // a file or a directory of *.yaml
  std::string log_format = "text";                // text | json
  std::string log_level = "info";                 // trace | debug | info | warn | error
  size_t max_body_bytes = 1024 * 1024;            // larger request bodies get 413
  int http_threads = 32;  // a keep-alive connection or an event stream holds a thread
  std::vector<RepositoryConfig> repositories;
  RoleTable roles = BuiltinRoles();  // roles: in shipd.yaml adds to or redefines these
  // Where chosen journal events are sent (docs/notifications.md).
  std::vector<NotificationSink> notifications;

  std::filesystem::path DatabasePath() const { return data_dir / "shipd.db"; }
};

// Reads shipd.yaml. Relative paths in it are resolved against the file's directory.
// Errors name the file and line.
Result<DaemonConfig> LoadDaemonConfig(const std::filesystem::path& file);

// Splits "host:port"; errors are kInvalid.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& listen);

}  // namespace shipd

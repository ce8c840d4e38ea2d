#include "shipd/config/daemon_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "load_util.h"
#include "notifications_loader.h"
#include "shipd/config/pipelines.h"
#include "shipd/model/registry.h"

namespace shipd {
namespace {

// repositories: { SERVICE: { url, secret_env | secret_file, tag_pattern, manifest, promote_to,
// poll_interval } }
Result<std::vector<RepositoryConfig>> LoadRepositories(const std::filesystem::path& file,
                                                       const YAML::Node& node) {
  std::vector<RepositoryConfig> out;
  if (node.IsNull()) return out;
  if (!node.IsMap()) {
    return At(file, node.Mark(), "repositories must map service names to repository settings");
  }
  for (const auto& item : node) {
    RepositoryConfig repo;
    repo.service = item.first.as<std::string>();
    const std::string where = "repository \"" + repo.service + "\": ";
    if (auto valid = ValidateName("service", repo.service); !valid.ok()) {
      return At(file, item.first.Mark(), valid.error().message());
    }
    const YAML::Node settings = item.second;
    if (!settings.IsMap()) return At(file, settings.Mark(), where + "must be a mapping");
    bool has_poll = false;
    for (const auto& field : settings) {
      const auto key = field.first.as<std::string>();
      const YAML::Node value = field.second;
      if (!value.IsScalar()) return At(file, value.Mark(), where + key + " must be a scalar");
      const auto text = value.as<std::string>();
      if (key == "url") {
        repo.url = text;
      } else if (key == "secret_env") {
        const char* secret = std::getenv(text.c_str());
        if (secret == nullptr || *secret == '\0') {
          return At(file, value.Mark(), where + "environment variable " + text + " is not set");
        }
        repo.secret = secret;
      } else if (key == "secret_file") {
        std::filesystem::path path(text);
        if (!path.is_absolute()) path = file.parent_path() / path;
        bool read = false;
        repo.secret = ReadSecretFile(path, &read);
        if (!read || repo.secret.empty()) {
          return At(file, value.Mark(), where + "cannot read a secret from " + path.string());
        }
      } else if (key == "tag_pattern") {
        if (text.find("{version}") == std::string::npos) {
          return At(file, value.Mark(), where + "tag_pattern must contain {version}");
        }
        repo.tag_pattern = text;
      } else if (key == "manifest") {
        repo.manifest = text;
      } else if (key == "promote_to") {
        repo.promote_to = text;
      } else if (key == "poll_interval" && text == "off") {
        repo.poll_interval = std::chrono::milliseconds(0);
        has_poll = true;
      } else if (key == "poll_interval") {
        auto interval = ParseDuration(text);
        if (!interval.ok()) return At(file, value.Mark(), where + interval.error().message());
        repo.poll_interval = *interval;
        has_poll = true;
      } else if (key == "secret") {
        return At(file, field.first.Mark(),
                  where +
                      "secrets are not kept in the configuration in clear; use secret_env "
                      "or secret_file");
      } else {
        return At(file, field.first.Mark(),
                  where + "unknown key \"" + key +
                      "\" (known: url, secret_env, secret_file, tag_pattern, manifest, "
                      "promote_to, poll_interval)");
      }
    }
    if (repo.url.empty()) return At(file, settings.Mark(), where + "url is required");
    // Polling is cheap for local repositories; for remote ones it is opted into.
    const bool remote = repo.url.rfind("https://", 0) == 0 || repo.url.rfind("http://", 0) == 0 ||
                        repo.url.rfind("ssh://", 0) == 0 || repo.url.find('@') != std::string::npos;
    if (!has_poll && !remote) repo.poll_interval = std::chrono::minutes(1);
    out.push_back(std::move(repo));
  }
  return out;
}

// roles: { ROLE: [PERMISSION, ...] }, added to the built-in roles (a built-in name redefines it).
Status LoadRoles(const std::filesystem::path& file, const YAML::Node& node, RoleTable& roles) {
  if (node.IsNull()) return Ok();
  if (!node.IsMap()) {
    return At(file, node.Mark(), "roles must map role names to lists of permissions");
  }
  for (const auto& item : node) {
    const auto name = item.first.as<std::string>();
    if (auto valid = ValidateName("role", name); !valid.ok()) {
      return At(file, item.first.Mark(), valid.error().message());
    }
    const YAML::Node list = item.second;
    if (!list.IsSequence() && !list.IsNull()) {
      return At(file, list.Mark(),
                "role \"" + name + "\" must be a list of permissions, e.g. [read, promote:prod]");
    }
    std::vector<std::string> permissions;
    for (const auto& entry : list) {
      if (!entry.IsScalar()) {
        return At(file, entry.Mark(), "role \"" + name + "\": a permission must be a scalar");
      }
      const auto permission = entry.as<std::string>();
      if (auto valid = ValidatePermission(permission); !valid.ok()) {
        return At(file, entry.Mark(), "role \"" + name + "\": " + valid.error().message());
      }
      permissions.push_back(permission);
    }
    roles[name] = std::move(permissions);
  }
  return Ok();
}

}  // namespace

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Error(ErrorCode::kInvalid, "listen address \"" + listen + "\" must be host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  const char* begin = listen.data() + colon + 1;
  const char* end = listen.data() + listen.size();
  auto [ptr, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc() || ptr != end || port < 0 || port > 65535) {
    return Error(ErrorCode::kInvalid,
                 "listen address \"" + listen + "\": port must be a number from 0 to 65535");
  }
  return std::pair{host, port};
}

Result<DaemonConfig> LoadDaemonConfig(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Error(ErrorCode::kInvalid, file.string() + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  DaemonConfig config;
  const auto base = file.parent_path();
  auto resolve = [&](const std::string& path) {
    std::filesystem::path p(path);
    return p.is_absolute() ? p : base / p;
  };
  try {
    YAML::Node root = YAML::Load(text.str());
    if (root.IsNull()) return config;
    if (!root.IsMap()) return At(file, root.Mark(), "the configuration must be a mapping");
    for (const auto& item : root) {
      const auto key = item.first.as<std::string>();
      const YAML::Node value = item.second;
      if (key == "repositories") {
        auto repositories = LoadRepositories(file, value);
        if (!repositories.ok()) return repositories.error();
        config.repositories = std::move(repositories).value();
        continue;
      }
      if (key == "notifications") {
        auto sinks = LoadNotifications(file, value);
        if (!sinks.ok()) return sinks.error();
        config.notifications = std::move(sinks).value();
        continue;
      }
      if (key == "roles") {
        if (auto loaded = LoadRoles(file, value, config.roles); !loaded.ok()) {
          return loaded.error();
        }
        continue;
      }
      if (!value.IsScalar()) return At(file, value.Mark(), "\"" + key + "\" must be a scalar");
      if (key == "listen") {
        config.listen = value.as<std::string>();
        if (auto parsed = ParseListenAddress(config.listen); !parsed.ok()) {
          return At(file, value.Mark(), parsed.error().message());
        }
      } else if (key == "data") {
        config.data_dir = resolve(value.as<std::string>());
      } else if (key == "pipelines") {
        config.pipelines = resolve(value.as<std::string>());
      } else if (key == "log_format") {
        config.log_format = value.as<std::string>();
        if (config.log_format != "text" && config.log_format != "json") {
          return At(file, value.Mark(), "log_format must be text or json");
        }
      } else if (key == "log_level") {
        config.log_level = value.as<std::string>();
      } else if (key == "max_body_bytes") {
        config.max_body_bytes = value.as<size_t>();
      } else if (key == "http_threads") {
        config.http_threads = value.as<int>();
        if (config.http_threads < 1) return At(file, value.Mark(), "http_threads must be >= 1");
      } else {
        return At(file, item.first.Mark(),
                  "unknown key \"" + key +
                      "\" (known: listen, data, pipelines, log_format, log_level, "
                      "max_body_bytes, http_threads, repositories, roles, notifications)");
      }
    }
  } catch (const YAML::Exception& e) {
    return At(file, e.mark, e.msg);
  }
  return config;
}

}  // namespace shipd

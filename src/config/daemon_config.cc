#include "shipd/config/daemon_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace shipd {
namespace {

Error At(const std::filesystem::path& file, const YAML::Mark& mark, const std::string& message) {
  return Error(ErrorCode::kInvalid, file.string() + ":" + std::to_string(mark.line + 1) + ":" +
                                        std::to_string(mark.column + 1) + ": " + message);
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
      const YAML::Node& value = item.second;
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
                      "max_body_bytes, http_threads)");
      }
    }
  } catch (const YAML::Exception& e) {
    return At(file, e.mark, e.msg);
  }
  return config;
}

}  // namespace shipd

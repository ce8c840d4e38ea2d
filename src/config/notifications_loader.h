// Loads the `notifications:` section of shipd.yaml. Private to the config library.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/config/notifications.h"

namespace shipd {

// notifications: { NAME: { type, url | url_env | url_file, secret_env | secret_file, events,
// environments, services, timeout, max_attempts, backoff, max_backoff } }. Errors name
// file:line:column.
Result<std::vector<NotificationSink>> LoadNotifications(const std::filesystem::path& file,
                                                        const YAML::Node& node);

}  // namespace shipd

// NotificationCursors: per notification sink, the id of the last journal event it is done with,
// so that deliveries resume where they stopped after a restart or a crash. Thread-safe; the SQLite
// implementation uses a connection of its own to the daemon's database (already migrated).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shipd/common/result.h"
#include "shipd/model/registry.h"

namespace shipd {

class NotificationCursors {
 public:
  virtual ~NotificationCursors() = default;
  // nullopt for a sink never saved.
  virtual Result<std::optional<int64_t>> Load(const std::string& sink) = 0;
  // Durable when it returns Ok (up to the database's synchronous setting).
  virtual Status Save(const std::string& sink, int64_t last_event_id, TimeMs now) = 0;
};

// `path`: the database OpenSqliteStore opened and migrated.
Result<std::unique_ptr<NotificationCursors>> OpenSqliteNotificationCursors(const std::string& path);

}  // namespace shipd

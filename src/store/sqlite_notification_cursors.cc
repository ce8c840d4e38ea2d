// SqliteNotificationCursors: the notification_cursors table (migration 0009) on a connection of its
// own, behind a mutex. Writes are one short statement each, so the engine's connection waits at
// most that long for the write lock. synchronous=NORMAL: a cursor lost to a power cut only means
// that a few notifications are sent again, which receivers drop by their delivery id.
#include <SQLiteCpp/SQLiteCpp.h>

#include <mutex>

#include "shipd/store/notification_cursors.h"

namespace shipd {
namespace {

constexpr int kBusyTimeoutMs = 5000;

class SqliteNotificationCursors final : public NotificationCursors {
 public:
  explicit SqliteNotificationCursors(const std::string& path)
      : db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, kBusyTimeoutMs),
        select_(db_, "SELECT last_event_id FROM notification_cursors WHERE sink = ?"),
        upsert_(db_,
                "INSERT INTO notification_cursors (sink, last_event_id, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (sink) DO UPDATE SET "
                "last_event_id = excluded.last_event_id, updated_at = excluded.updated_at") {
    db_.exec("PRAGMA synchronous = NORMAL");
  }

  Result<std::optional<int64_t>> Load(const std::string& sink) override {
    std::lock_guard lock(mu_);
    try {
      select_.reset();
      select_.bind(1, sink);
      std::optional<int64_t> out;
      if (select_.executeStep()) out = select_.getColumn(0).getInt64();
      select_.reset();
      return out;
    } catch (const SQLite::Exception& e) {
      select_.tryReset();
      return Error(ErrorCode::kIo, "loading the cursor of notification " + sink + ": " + e.what());
    }
  }

  Status Save(const std::string& sink, int64_t last_event_id, TimeMs now) override {
    std::lock_guard lock(mu_);
    try {
      upsert_.reset();
      upsert_.bind(1, sink);
      upsert_.bind(2, last_event_id);
      upsert_.bind(3, now);
      upsert_.exec();
      upsert_.reset();
      return Ok();
    } catch (const SQLite::Exception& e) {
      upsert_.tryReset();
      return Error(ErrorCode::kIo, "saving the cursor of notification " + sink + ": " + e.what());
    }
  }

 private:
  std::mutex mu_;
  SQLite::Database db_;
  SQLite::Statement select_;
  SQLite::Statement upsert_;
};

}  // namespace

Result<std::unique_ptr<NotificationCursors>> OpenSqliteNotificationCursors(
    const std::string& path) {
  try {
    return std::unique_ptr<NotificationCursors>(std::make_unique<SqliteNotificationCursors>(path));
  } catch (const SQLite::Exception& e) {
    return Error(ErrorCode::kIo, "opening notification cursors in " + path + ": " + e.what());
  }
}

}  // namespace shipd

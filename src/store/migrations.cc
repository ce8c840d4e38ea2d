#include "migrations.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string_view>
#include <system_error>
#include <utility>

namespace shipd {
namespace {

struct NumberedMigration {
  int64_t version;
  const EmbeddedMigration* migration;
};

// "0001_init.sql" -> 1. At least four digits, an underscore, a non-empty name, ".sql".
Result<int64_t> ParseMigrationName(std::string_view name) {
  auto bad = [&] {
    return Error(ErrorCode::kInvalid,
                 "migration file name '" + std::string(name) + "' must look like NNNN_name.sql");
  };
  constexpr std::string_view kSuffix = ".sql";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) {
    return bad();
  }
  std::string_view stem = name.substr(0, name.size() - kSuffix.size());
  size_t digits = 0;
  while (digits < stem.size() && std::isdigit(static_cast<unsigned char>(stem[digits]))) {
    ++digits;
  }
  if (digits < 4 || digits > 9 || digits + 1 >= stem.size() || stem[digits] != '_') {
    return bad();
  }
  for (char c : stem.substr(digits + 1)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return bad();
    }
  }
  int64_t version = 0;
  for (char c : stem.substr(0, digits)) {
    version = version * 10 + (c - '0');
  }
  if (version == 0) {
    return bad();
  }
  return version;
}

Result<std::vector<NumberedMigration>> NumberMigrations(
    const std::vector<EmbeddedMigration>& migrations) {
  std::vector<NumberedMigration> numbered;
  numbered.reserve(migrations.size());
  for (const EmbeddedMigration& migration : migrations) {
    Result<int64_t> version = ParseMigrationName(migration.name);
    if (!version.ok()) {
      return version.error();
    }
    if (!numbered.empty() && *version <= numbered.back().version) {
      return Error(ErrorCode::kInvalid, "migration " + migration.name + " does not come after " +
                                            numbered.back().migration->name +
                                            "; numbers must be strictly increasing");
    }
    numbered.push_back({*version, &migration});
  }
  return numbered;
}

std::string Describe(int64_t version, const std::string& name) {
  return std::to_string(version) + " (" + name + ")";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Compares what the database has applied with what we know. Returns an error for a newer or
// diverging database; otherwise the newest applied version (0 for none).
Result<int64_t> CheckApplied(SQLite::Database& db, const std::vector<NumberedMigration>& known) {
  std::map<int64_t, std::string> applied;
  SQLite::Statement query(db, "SELECT version, name FROM schema_migrations ORDER BY version");
  while (query.executeStep()) {
    applied[query.getColumn(0).getInt64()] = query.getColumn(1).getString();
  }
  if (applied.empty()) {
    return int64_t{0};
  }

  const auto [newest_applied, newest_applied_name] = *applied.rbegin();  // copies: erased below
  if (known.empty() || newest_applied > known.back().version) {
    std::string newest_known =
        known.empty() ? "none" : Describe(known.back().version, known.back().migration->name);
    return Error(ErrorCode::kInvalid, "database schema is at migration " +
                                          Describe(newest_applied, newest_applied_name) +
                                          ", newer than the newest this shipd knows, " +
                                          newest_known + "; run a newer shipd or restore a backup");
  }
  for (const NumberedMigration& m : known) {
    if (m.version > newest_applied) {
      break;
    }
    auto it = applied.find(m.version);
    if (it == applied.end()) {
      return Error(ErrorCode::kInvalid, "migration " + m.migration->name +
                                            " is not applied but the later " +
                                            Describe(newest_applied, newest_applied_name) +
                                            " is; migrations must be added in order");
    }
    if (it->second != m.migration->name) {
      return Error(ErrorCode::kInvalid, "database recorded migration " +
                                            Describe(it->first, it->second) +
                                            " but this shipd has " + m.migration->name);
    }
    applied.erase(it);
  }
  if (!applied.empty()) {
    const auto& [version, name] = *applied.begin();
    return Error(ErrorCode::kInvalid,
                 "database has migration " + Describe(version, name) + " that this shipd lacks");
  }
  return newest_applied;
}

// Runs one migration and records it, in one transaction. Skips it when another process applied it
// meanwhile.
void ApplyOne(SQLite::Database& db, const NumberedMigration& m) {
  SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement applied(db, "SELECT 1 FROM schema_migrations WHERE version = ?");
  applied.bind(1, m.version);
  if (applied.executeStep()) {
    return;
  }

  db.exec(m.migration->sql);
  if (sqlite3_get_autocommit(db.getHandle()) != 0) {
    throw SQLite::Exception("the script must not contain BEGIN, COMMIT or ROLLBACK");
  }
  // Foreign keys are off while migrating (so scripts may rebuild tables); check them here.
  SQLite::Statement fk_check(db, "PRAGMA foreign_key_check");
  if (fk_check.executeStep()) {
    throw SQLite::Exception("leaves a foreign key violation in table " +
                            fk_check.getColumn(0).getString());
  }
  SQLite::Statement record(db,
                           "INSERT INTO schema_migrations (version, name, applied_at) "
                           "VALUES (?, ?, ?)");
  record.bind(1, m.version);
  record.bind(2, m.migration->name);
  record.bind(3, NowMs());
  record.exec();
  transaction.commit();
}

// Restores foreign key enforcement when leaving scope, however that happens.
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(SQLite::Database& db) : db_(db) {
    was_on_ = db_.execAndGet("PRAGMA foreign_keys").getInt() != 0;
    db_.exec("PRAGMA foreign_keys = OFF");
  }
  ~ForeignKeysOff() {
    if (was_on_) {
      db_.tryExec("PRAGMA foreign_keys = ON");
    }
  }
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;

 private:
  SQLite::Database& db_;
  bool was_on_ = false;
};

}  // namespace

Result<std::vector<EmbeddedMigration>> ReadMigrationDirectory(const std::string& directory) {
  namespace fs = std::filesystem;
  std::vector<EmbeddedMigration> migrations;
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  if (ec) {
    return Error(ErrorCode::kIo, "reading migrations directory " + directory + ": " + ec.message());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.extension() != ".sql") {
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::string sql(std::istreambuf_iterator<char>(in), {});
    if (!in.is_open() || in.bad()) {
      return Error(ErrorCode::kIo, "reading migration " + path.string());
    }
    migrations.push_back({path.filename().string(), std::move(sql)});
  }
  if (ec) {
    return Error(ErrorCode::kIo, "reading migrations directory " + directory + ": " + ec.message());
  }
  std::sort(migrations.begin(), migrations.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return migrations;
}

Status ApplyMigrations(SQLite::Database& db) { return ApplyMigrations(db, EmbeddedMigrations()); }

Status ApplyMigrations(SQLite::Database& db, const std::vector<EmbeddedMigration>& migrations) {
  Result<std::vector<NumberedMigration>> known = NumberMigrations(migrations);
  if (!known.ok()) {
    return known.error();
  }

  const NumberedMigration* current = nullptr;
  try {
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  version    INTEGER NOT NULL PRIMARY KEY,"
        "  name       TEXT    NOT NULL,"
        "  applied_at INTEGER NOT NULL"
        ") STRICT");
    Result<int64_t> newest_applied = CheckApplied(db, *known);
    if (!newest_applied.ok()) {
      return newest_applied.error();
    }

    auto pending = std::find_if(known->begin(), known->end(), [&](const NumberedMigration& m) {
      return m.version > *newest_applied;
    });
    if (pending == known->end()) {
      return Ok();
    }
    ForeignKeysOff foreign_keys_off(db);
    for (; pending != known->end(); ++pending) {
      current = &*pending;
      ApplyOne(db, *current);
    }
    return Ok();
  } catch (const std::exception& e) {
    std::string context = current == nullptr ? std::string("reading schema_migrations")
                                             : "applying migration " + current->migration->name;
    return Error(ErrorCode::kIo, context + ": " + e.what());
  }
}

}  // namespace shipd

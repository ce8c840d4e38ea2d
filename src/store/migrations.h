// Schema migrations: applies NNNN_name.sql scripts in order, each in its own transaction together
// with its row in `schema_migrations(version, name, applied_at)`. Refuses a database whose schema
// is newer than the newest migration given. Private to the store; the caller owns the connection
// and must not use it from another thread meanwhile.
#pragma once

#include <string>
#include <vector>

#include "embedded_migrations.h"
#include "shipd/common/result.h"

namespace SQLite {
class Database;
}

namespace shipd {

// Reads every *.sql file of `directory`, sorted by name, in the shape of the embedded set.
Result<std::vector<EmbeddedMigration>> ReadMigrationDirectory(const std::string& directory);

// Applies the migrations compiled into the binary.
Status ApplyMigrations(SQLite::Database& db);

// Applies `migrations`, which must be named NNNN_name.sql with strictly increasing NNNN. Errors:
// kInvalid for a bad list or a database newer than (or diverging from) the list; kIo when a
// script fails, in which case that migration leaves nothing behind.
Status ApplyMigrations(SQLite::Database& db, const std::vector<EmbeddedMigration>& migrations);

}  // namespace shipd

// The migrations compiled into the binary, sorted by file name (NNNN_name.sql).
#pragma once

#include <string>
#include <vector>

namespace shipd {

struct EmbeddedMigration {
  std::string name;  // "0001_init.sql"
  std::string sql;
};

const std::vector<EmbeddedMigration>& EmbeddedMigrations();

}  // namespace shipd

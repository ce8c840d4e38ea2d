// Test support: a real engine (SQLite store in `dir`/shipd.db, pipelines from YAML text) for
// in-process tests and benchmarks.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>
#include <utility>

#include "shipd/engine/engine.h"

namespace shipd::testing {

inline Result<std::unique_ptr<Engine>> StartTestEngine(const std::filesystem::path& dir,
                                                       std::string_view pipelines_yaml,
                                                       const Clock& clock, RolloutDeps deps = {}) {
  auto store = OpenSqliteStore({(dir / "shipd.db").string(), ""});
  if (!store.ok()) return store.error();
  auto pipelines = ParsePipelines(pipelines_yaml, "test.yaml");
  if (!pipelines.ok()) return pipelines.error();
  return StartEngine(std::move(store).value(), *pipelines, clock, std::move(deps));
}

}  // namespace shipd::testing

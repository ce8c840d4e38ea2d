// Holds on promotions: locks (one service in one environment) and freezes (the pipelines'
// windows and ad-hoc freezes of an environment), judged over one snapshot at one instant.
// Pure functions; docs/governance.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shipd/config/freeze.h"
#include "shipd/engine/engine.h"

namespace shipd {

// The lock in force on the service in the environment at `now`, or nullptr.
const Hold* LockInForce(const State& state, std::string_view service, std::string_view environment,
                        TimeMs now);

// The freeze in force on the environment at `now` — its windows and its ad-hoc freeze — the one
// that ends last; nullopt when none. `config` may be null (no windows).
std::optional<FreezeSpan> FreezeInForce(const State& state, const Environment* config,
                                        std::string_view environment, TimeMs now);

// "orders is locked in prod by alice until 2026-11-26T15:00:00Z: incident 4711"
std::string DescribeLock(const Hold& lock);
// "prod is frozen until 2026-11-27T18:00:00Z: release party"
std::string DescribeFreeze(std::string_view environment, const FreezeSpan& freeze);

}  // namespace shipd

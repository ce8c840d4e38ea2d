// The journal's hash chain: each event's hash covers the previous event's hash and the event's own
// columns, so changing or removing a row breaks every later link. Pure functions and value types;
// thread-safe. The encoding is specified in docs/audit.md and must never change for stored rows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shipd/model/registry.h"

namespace shipd {

// The previous hash of the first chained event: 64 zeros.
inline constexpr std::string_view kChainGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Lowercase hex SHA-256 of netstrings (len ":" bytes ",") of: previous hash, id, time, actor,
// kind, subject, data — id and time in decimal, data as stored.
std::string ChainHash(std::string_view previous_hash, const Event& event);

// A head exported earlier (docs/audit.md#limits): the event with this id must still carry this
// hash, which catches a chain rewritten consistently from that event back. id 0: none.
struct ChainAnchor {
  int64_t id = 0;
  std::string hash;
};

// The result of walking the chain, oldest event first.
struct ChainVerification {
  bool ok = true;
  int64_t checked = 0;       // chained events whose hash was recomputed
  int64_t legacy = 0;        // events written before the chain existed (not covered)
  int64_t first_bad_id = 0;  // 0 when ok
  std::string reason;        // empty when ok
  int64_t head_id = 0;       // the last event checked
  std::string head_hash;     // its hash: keep it elsewhere to detect a rewritten chain
};

}  // namespace shipd

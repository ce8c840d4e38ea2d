// The wire format of GET /v1/events/stream (Server-Sent Events) and its filters. Pure functions
// over events in their REST JSON form (EventJson); thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace shipd {

// Which journal events a stream delivers; an empty filter delivers every event.
struct EventStreamFilter {
  std::optional<int64_t> promotion;  // only events whose data.promotion is this id
  std::string kind_prefix;           // only events whose kind starts with this ("rollout.")

  bool Matches(const nlohmann::json& event) const;
};

// "id: 7\nevent: rollout.step\ndata: {...}\n\n". The data is one line: JSON escapes newlines.
std::string SseFrame(const nlohmann::json& event);

// A comment line, ignored by SSE clients: ": keep-alive\n\n".
std::string SseComment(std::string_view text);

// The id a reconnecting client sends in Last-Event-ID; nullopt when absent or not an id.
std::optional<int64_t> ParseLastEventId(std::string_view header);

}  // namespace shipd

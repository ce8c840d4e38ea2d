#include "event_stream.h"

#include <charconv>

namespace shipd {

bool EventStreamFilter::Matches(const nlohmann::json& event) const {
  if (!kind_prefix.empty()) {
    const auto kind = event.find("kind");
    if (kind == event.end() || !kind->is_string() ||
        !std::string_view(kind->get_ref<const std::string&>()).starts_with(kind_prefix)) {
      return false;
    }
  }
  if (promotion.has_value()) {
    const auto data = event.find("data");
    if (data == event.end() || !data->is_object()) return false;
    const auto id = data->find("promotion");
    if (id == data->end() || !id->is_number_integer() || id->get<int64_t>() != *promotion) {
      return false;
    }
  }
  return true;
}

std::string SseFrame(const nlohmann::json& event) {
  std::string frame = "id: " + std::to_string(event.value("id", int64_t{0})) + "\n";
  frame += "event: " + event.value("kind", std::string("message")) + "\n";
  frame += "data: " + event.dump() + "\n\n";
  return frame;
}

std::string SseComment(std::string_view text) { return ": " + std::string(text) + "\n\n"; }

std::optional<int64_t> ParseLastEventId(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(header.data(), header.data() + header.size(), id);
  if (header.empty() || ec != std::errc() || ptr != header.data() + header.size() || id < 0) {
    return std::nullopt;
  }
  return id;
}

}  // namespace shipd

#include "shipd/common/http_client.h"

#include <cctype>
#include <string>

namespace shipd {

std::optional<std::chrono::milliseconds> HttpResponse::RetryAfter() const {
  const std::string* value = Header("Retry-After");
  if (value == nullptr || value->empty() || value->size() > 6) return std::nullopt;
  for (char c : *value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::chrono::milliseconds(std::stoll(*value) * 1000);
}

}  // namespace shipd

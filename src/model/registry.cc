#include "shipd/model/registry.h"

#include <string>

namespace shipd {

Status ValidateName(std::string_view kind, std::string_view name) {
  auto invalid = [&](std::string_view why) {
    return Error(ErrorCode::kInvalid, "invalid " + std::string(kind) + " name \"" +
                                          std::string(name) + "\": " + std::string(why));
  };
  if (name.empty()) return invalid("must not be empty");
  if (name.size() > 63) return invalid("longer than 63 characters");
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(name.front())) return invalid("must start with a lowercase letter or digit");
  for (char c : name) {
    if (!lower_alnum(c) && c != '-') {
      return invalid("only lowercase letters, digits and '-' are allowed");
    }
  }
  return Ok();
}

}  // namespace shipd

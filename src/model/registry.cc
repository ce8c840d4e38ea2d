#include "shipd/model/registry.h"

#include <string>
#include <utility>

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

namespace {
constexpr std::pair<RolloutState, std::string_view> kStateNames[] = {
    {RolloutState::kQueued, "queued"},           {RolloutState::kWaiting, "waiting"},
    {RolloutState::kProgressing, "progressing"}, {RolloutState::kPaused, "paused"},
    {RolloutState::kSucceeded, "succeeded"},     {RolloutState::kRolledBack, "rolled_back"},
    {RolloutState::kFailed, "failed"},           {RolloutState::kAborted, "aborted"},
};
}  // namespace

std::string_view RolloutStateName(RolloutState state) {
  for (const auto& [value, name] : kStateNames) {
    if (value == state) return name;
  }
  return "unknown";
}

std::optional<RolloutState> ParseRolloutState(std::string_view name) {
  for (const auto& [value, text] : kStateNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

bool IsTerminal(RolloutState state) {
  return state == RolloutState::kSucceeded || state == RolloutState::kRolledBack ||
         state == RolloutState::kFailed || state == RolloutState::kAborted;
}

}  // namespace shipd

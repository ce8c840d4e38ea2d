#include "holds.h"

namespace shipd {

const Hold* LockInForce(const State& state, std::string_view service, std::string_view environment,
                        TimeMs now) {
  for (const Hold& hold : state.holds) {
    if (hold.environment == environment && hold.service == service && !hold.IsFreeze() &&
        hold.ActiveAt(now)) {
      return &hold;
    }
  }
  return nullptr;
}

std::optional<FreezeSpan> FreezeInForce(const State& state, const Environment* config,
                                        std::string_view environment, TimeMs now) {
  std::optional<FreezeSpan> active;
  if (config != nullptr) active = ActiveFreeze(config->freeze, now);
  for (const Hold& hold : state.holds) {
    if (hold.environment != environment || !hold.IsFreeze() || !hold.ActiveAt(now)) continue;
    const TimeMs until = hold.expires_at.value_or(INT64_MAX);
    if (!active || until > active->until_ms) {
      active = FreezeSpan{hold.created_at, until, "frozen by " + hold.owner + ": " + hold.reason};
    }
  }
  return active;
}

std::string DescribeLock(const Hold& lock) {
  return lock.service + " is locked in " + lock.environment + " by " + lock.owner +
         (lock.expires_at ? " until " + FormatUtc(*lock.expires_at) : std::string()) + ": " +
         lock.reason;
}

std::string DescribeFreeze(std::string_view environment, const FreezeSpan& freeze) {
  return std::string(environment) + " is frozen until " + FormatUtc(freeze.until_ms) +
         (freeze.reason.empty() ? std::string() : ": " + freeze.reason);
}

}  // namespace shipd

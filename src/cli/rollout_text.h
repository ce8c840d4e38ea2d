// How shipctl tells people what a rollout does: one plain line per journal event, and the
// "step i/n" of a promotion's progress. Pure functions over the REST API's JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace shipd::cli {

// One line for a rollout's event ("step 2/4: analyze errors, healthz for 30s", "check errors
// failed: value 0.12 (...)", "rolled back: ..."). `steps` is the strategy's step count (0:
// unknown). Events of other kinds get their kind and, when present, their reason.
std::string DescribeEvent(const nlohmann::json& event, int steps);

// One line for a train's event ("orders@3.2.0: rollout #12 in prod", "reached prod",
// "web@6.0.0 left: left with orders@4.0.0, which it depends on ...").
std::string DescribeTrainEvent(const nlohmann::json& event);

// "2/4" for progress.step 1 of 4 steps; "-/4" before the first step, "4/4" once past the last;
// "-" for a strategy without steps.
std::string StepOf(const nlohmann::json& progress);

// "30s", "5m", "1h30m", "250ms".
std::string FormatMs(int64_t ms);

// True for the event kinds that end a rollout (succeeded, rolled back, failed, aborted).
bool IsTerminalEvent(const std::string& kind);

}  // namespace shipd::cli

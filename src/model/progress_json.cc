#include "shipd/model/progress_json.h"

namespace shipd {

using nlohmann::json;

json ProgressToJson(const RolloutProgress& p) {
  json checks = json::object();
  for (const auto& [name, tally] : p.checks) {
    json t = {{"measurements", tally.measurements},
              {"failures", tally.failures},
              {"consecutive_errors", tally.consecutive_errors},
              {"last_result", tally.last_result},
              {"last_detail", tally.last_detail}};
    t["last_value"] = tally.last_value ? json(*tally.last_value) : json(nullptr);
    checks[name] = std::move(t);
  }
  json out = {{"phase", p.phase},
              {"step", p.step},
              {"steps", p.steps},
              {"weight", p.weight},
              {"strategy", p.strategy},
              {"previous_version", p.previous_version},
              {"step_started_at", p.step_started_at},
              {"step_ends_at", p.step_ends_at},
              {"remaining_ms", p.remaining_ms},
              {"deadline_at", p.deadline_at},
              {"reason", p.reason},
              {"resume_phase", p.resume_phase},
              {"behind", p.behind},
              {"checks", std::move(checks)}};
  if (!p.override_freeze_reason.empty()) out["override_freeze_reason"] = p.override_freeze_reason;
  return out;
}

Result<RolloutProgress> ProgressFromJson(const json& j) {
  if (!j.is_object()) return Error(ErrorCode::kInvalid, "rollout progress is not a JSON object");
  RolloutProgress p;
  try {
    p.phase = j.value("phase", p.phase);
    p.step = j.value("step", p.step);
    p.steps = j.value("steps", p.steps);
    p.weight = j.value("weight", p.weight);
    p.strategy = j.value("strategy", p.strategy);
    p.previous_version = j.value("previous_version", p.previous_version);
    p.step_started_at = j.value("step_started_at", p.step_started_at);
    p.step_ends_at = j.value("step_ends_at", p.step_ends_at);
    p.remaining_ms = j.value("remaining_ms", p.remaining_ms);
    p.deadline_at = j.value("deadline_at", p.deadline_at);
    p.reason = j.value("reason", p.reason);
    p.resume_phase = j.value("resume_phase", p.resume_phase);
    p.behind = j.value("behind", p.behind);
    p.override_freeze_reason = j.value("override_freeze_reason", p.override_freeze_reason);
    if (auto it = j.find("checks"); it != j.end() && it->is_object()) {
      for (const auto& [name, t] : it->items()) {
        CheckTally tally;
        tally.measurements = t.value("measurements", 0);
        tally.failures = t.value("failures", 0);
        tally.consecutive_errors = t.value("consecutive_errors", 0);
        tally.last_result = t.value("last_result", "");
        tally.last_detail = t.value("last_detail", "");
        if (auto v = t.find("last_value"); v != t.end() && v->is_number()) {
          tally.last_value = v->get<double>();
        }
        p.checks.emplace(name, std::move(tally));
      }
    }
  } catch (const json::exception& e) {
    return Error(ErrorCode::kInvalid, std::string("rollout progress: ") + e.what());
  }
  return p;
}

}  // namespace shipd

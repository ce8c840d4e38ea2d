// JSON (and Graphviz) forms of the gate's, the planner's and the graph's results. The shapes are
// relied upon by the REST API, shipctl and the dashboard; docs/contracts.md documents them.

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shipd/contract/graph.h"
#include "shipd/contract/planner.h"
#include "shipd/contract/verdict.h"

namespace shipd {

std::string FormatDurationMs(int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t seconds = ms / 1000;
  std::string out;
  if (seconds >= 86400) {
    out += std::to_string(seconds / 86400) + "d";
    seconds %= 86400;
  }
  if (seconds >= 3600) {
    out += std::to_string(seconds / 3600) + "h";
    seconds %= 3600;
  }
  if (seconds >= 60) {
    out += std::to_string(seconds / 60) + "m";
    seconds %= 60;
  }
  if (seconds > 0) out += std::to_string(seconds) + "s";
  return out;
}

nlohmann::json ReasonToJson(const Reason& reason, bool with_step) {
  nlohmann::json out = {{"rule", reason.rule}};
  auto put = [&out](const char* key, const std::string& value) {
    if (!value.empty()) out[key] = value;
  };
  if (with_step && reason.step > 0) out["step"] = reason.step;
  put("version", reason.version);
  put("consumer", reason.consumer);
  put("provider", reason.provider);
  put("api", reason.api);
  put("requires", reason.requires_);
  put("would_have", reason.would_have);
  put("rollback_target", reason.rollback_target);
  put("against", reason.against);
  put("from", reason.from);
  put("to", reason.to);
  if (!reason.findings.empty()) {
    nlohmann::json findings = nlohmann::json::array();
    for (const SpecFinding& finding : reason.findings) {
      findings.push_back({{"where", finding.where}, {"message", finding.message}});
    }
    out["findings"] = std::move(findings);
  }
  put("environment", reason.environment);
  put("upstream", reason.upstream);
  if (reason.succeeded_at) out["succeeded_at"] = *reason.succeeded_at;
  if (reason.soak_ms) {
    out["soak"] = FormatDurationMs(*reason.soak_ms);
    out["soak_ms"] = *reason.soak_ms;
  }
  if (reason.remaining_ms) {
    out["remaining"] = FormatDurationMs(*reason.remaining_ms);
    out["remaining_ms"] = *reason.remaining_ms;
  }
  put("override", reason.override_reason);
  put("message", reason.message);
  return out;
}

namespace {

std::string Plural(size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string Summary(const Verdict& verdict) {
  const std::string where = verdict.environment.empty() ? "" : " to " + verdict.environment;
  if (verdict.changes.empty()) return "nothing to change";
  const std::string subject = verdict.changes.size() == 1
                                  ? verdict.changes.front()
                                  : "these " + Plural(verdict.changes.size(), "version");
  if (!verdict.allowed) {
    std::string out = subject + " may not go" + where + ": " + verdict.reasons.front().message;
    if (verdict.reasons.size() > 1) {
      out += " (and " + Plural(verdict.reasons.size() - 1, "more reason") + ")";
    }
    return out;
  }
  std::string out = subject + " may go" + where;
  if (!verdict.warnings.empty()) {
    out += ", with " + Plural(verdict.warnings.size(), "warning") + ": " +
           verdict.warnings.front().message;
  }
  return out;
}

nlohmann::json ReasonsToJson(const std::vector<Reason>& reasons, bool with_step) {
  nlohmann::json out = nlohmann::json::array();
  for (const Reason& reason : reasons) out.push_back(ReasonToJson(reason, with_step));
  return out;
}

}  // namespace

nlohmann::json VerdictToJson(const Verdict& verdict) {
  const bool with_step = verdict.changes.size() > 1;
  return {{"allowed", verdict.allowed},
          {"environment", verdict.environment},
          {"changes", verdict.changes},
          {"reasons", ReasonsToJson(verdict.reasons, with_step)},
          {"warnings", ReasonsToJson(verdict.warnings, with_step)},
          {"summary", Summary(verdict)}};
}

nlohmann::json PlanToJson(const Plan& plan) {
  nlohmann::json steps = nlohmann::json::array();
  for (const PlanStep& step : plan.steps) {
    steps.push_back({{"service", step.service},
                     {"version", step.version.ToString()},
                     {"environment", step.environment},
                     {"reason", step.reason}});
  }
  nlohmann::json problems = nlohmann::json::array();
  for (const PlanProblem& problem : plan.problems) {
    nlohmann::json out = {{"kind", problem.kind}, {"message", problem.message}};
    if (!problem.version.empty()) out["version"] = problem.version;
    if (!problem.api.empty()) out["api"] = problem.api;
    if (!problem.requires_.empty()) out["requires"] = problem.requires_;
    if (!problem.candidates.empty()) out["candidates"] = problem.candidates;
    if (!problem.cycle.empty()) out["cycle"] = problem.cycle;
    if (!problem.reasons.empty()) out["reasons"] = ReasonsToJson(problem.reasons, true);
    problems.push_back(std::move(out));
  }
  const std::string target = plan.service + "@" + plan.version.ToString();
  std::string summary;
  if (!plan.possible) {
    summary = target + " cannot go to " + plan.environment +
              (plan.problems.empty() ? "" : ": " + plan.problems.front().message);
  } else if (plan.steps.empty()) {
    summary = target + " is already the stable version in " + plan.environment;
  } else if (plan.steps.size() == 1) {
    summary = target + " can go to " + plan.environment + " directly";
  } else {
    summary = target + " can go to " + plan.environment + " after " +
              Plural(plan.steps.size() - 1, "other promotion");
  }
  return {{"service", plan.service},
          {"version", plan.version.ToString()},
          {"environment", plan.environment},
          {"possible", plan.possible},
          {"steps", std::move(steps)},
          {"problems", std::move(problems)},
          {"verdict", VerdictToJson(plan.verdict)},
          {"summary", summary}};
}

nlohmann::json GraphToJson(const DependencyGraph& graph) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const GraphNode& node : graph.nodes) {
    nodes.push_back({{"id", node.id},
                     {"service", node.service},
                     {"version", node.version},
                     {"role", node.canary ? "canary" : "stable"},
                     {"weight", node.weight}});
  }
  nlohmann::json edges = nlohmann::json::array();
  for (const GraphEdge& edge : graph.edges) {
    edges.push_back({{"from", edge.from},
                     {"to", edge.to.empty() ? nlohmann::json(nullptr) : nlohmann::json(edge.to)},
                     {"api", edge.api},
                     {"range", edge.range},
                     {"provides", edge.provides.empty() ? nlohmann::json(nullptr)
                                                        : nlohmann::json(edge.provides)},
                     {"optional", edge.optional},
                     {"satisfied", edge.satisfied}});
  }
  return {
      {"environment", graph.environment}, {"nodes", std::move(nodes)}, {"edges", std::move(edges)}};
}

namespace {

// A double-quoted Graphviz ID.
std::string DotId(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string GraphToDot(const DependencyGraph& graph) {
  std::string out = "digraph " + DotId(graph.environment.empty() ? "shipd" : graph.environment) +
                    " {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  for (const GraphNode& node : graph.nodes) {
    out += "  " + DotId(node.id);
    if (node.canary) {
      out += " [style=\"rounded,dashed\", label=" +
             DotId(node.id + "\\ncanary " + std::to_string(node.weight) + "%") + "]";
    }
    out += ";\n";
  }
  std::vector<std::string> missing;
  for (const GraphEdge& edge : graph.edges) {
    std::string to = edge.to;
    if (to.empty()) {
      to = "missing:" + edge.api;
      if (std::find(missing.begin(), missing.end(), to) == missing.end()) {
        missing.push_back(to);
        out += "  " + DotId(to) + " [shape=box, style=dashed, color=red, label=" +
               DotId(edge.api + "\\n(nothing live)") + "];\n";
      }
    }
    std::string attributes = "label=" + DotId(edge.api + " " + edge.range);
    if (!edge.satisfied) attributes += ", color=red, fontcolor=red";
    if (edge.optional) attributes += ", style=dashed";
    out += "  " + DotId(edge.from) + " -> " + DotId(to) + " [" + attributes + "];\n";
  }
  return out + "}\n";
}

}  // namespace shipd

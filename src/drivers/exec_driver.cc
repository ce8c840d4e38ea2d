// ExecDriver: runs the configured command for every operation, its arguments rendered as
// templates, with the SHIP_* variables and SHIP_ACTION (deploy|weight|promote|rollback) in its
// environment. Exit 0 is success; anything else fails the operation with the command's output.
// The command may announce where the versions answer by printing lines
// "SHIP_CANARY_URL=<url>" and "SHIP_STABLE_URL=<url>"; Urls() returns them.
#include <sstream>

#include "driver_util.h"
#include "shipd/common/process.h"
#include "shipd/common/template.h"

namespace shipd {
namespace {

// The SHIP_CANARY_URL= / SHIP_STABLE_URL= lines of the output (the last of each wins).
Endpoints AnnouncedUrls(const std::string& output) {
  Endpoints urls;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (auto [prefix, target] :
         {std::pair{std::string_view("SHIP_CANARY_URL="), &urls.canary_url},
          std::pair{std::string_view("SHIP_STABLE_URL="), &urls.stable_url}}) {
      if (line.rfind(prefix, 0) == 0) *target = line.substr(prefix.size());
    }
  }
  return urls;
}

class ExecDriver final : public DeployDriver {
 public:
  ExecDriver(const Driver& config, const DriverDeps& deps)
      : command_(config.command), processes_(*deps.processes), options_(deps.exec) {}

  shipd::Status Deploy(const DriverContext& ctx) override {
    return Run(ctx, DriverAction::kDeploy);
  }
  shipd::Status SetWeight(const DriverContext& ctx) override {
    return Run(ctx, DriverAction::kWeight);
  }
  shipd::Status Promote(const DriverContext& ctx) override {
    return Run(ctx, DriverAction::kPromote);
  }
  shipd::Status Rollback(const DriverContext& ctx) override {
    return Run(ctx, DriverAction::kRollback);
  }
  Result<DriverStatus> Status(std::string_view service,
                              std::string_view environment) const override {
    return states_.Status(service, environment);
  }
  Endpoints Urls(std::string_view service, std::string_view environment) const override {
    return states_.Urls(service, environment);
  }

 private:
  shipd::Status Run(const DriverContext& ctx, DriverAction action) {
    SHIPD_RETURN_IF_ERROR(ValidateContext(ctx));
    const std::string what =
        Where(ctx.service, ctx.environment) + ": " + std::string(DriverActionName(action));
    const auto variables = TemplateVariables(ctx);
    ProcessSpec spec;
    for (const std::string& arg : command_) {
      auto rendered = RenderTemplate(arg, variables);
      if (!rendered.ok()) return rendered.error().WithContext(what);
      spec.argv.push_back(std::move(*rendered));
    }
    spec.env = ShipEnvironment(variables);
    spec.env["SHIP_ACTION"] = std::string(DriverActionName(action));
    spec.timeout = options_.timeout;
    spec.output_limit = options_.output_limit;
    auto result = processes_.Run(spec);
    if (!result.ok()) return result.error().WithContext(what);
    if (result->timed_out) {
      return Error(ErrorCode::kUnavailable, what + ": " + spec.argv.front() + " timed out after " +
                                                FormatDuration(options_.timeout) +
                                                "; output: " + TrimOutput(result->output));
    }
    if (result->exit_code != 0) {
      const std::string how = result->term_signal != 0
                                  ? "was killed by signal " + std::to_string(result->term_signal)
                                  : "exited with " + std::to_string(result->exit_code);
      return Error(ErrorCode::kUnavailable,
                   what + ": " + spec.argv.front() + " " + how + ": " + TrimOutput(result->output));
    }
    states_.Applied(action, ctx, TrimOutput(result->output));
    states_.SetUrls(ctx, AnnouncedUrls(result->output));
    return Ok();
  }

  const std::vector<std::string> command_;
  ProcessRunner& processes_;
  const DriverDeps::Exec options_;
  AppliedStates states_;
};

}  // namespace

Result<std::unique_ptr<DeployDriver>> MakeExecDriver(const Driver& config, const DriverDeps& deps) {
  if (deps.processes == nullptr) {
    return Error(ErrorCode::kInvalid, "the exec driver needs a process runner");
  }
  if (config.command.empty()) return Error(ErrorCode::kInvalid, "the exec driver needs a command");
  return std::unique_ptr<DeployDriver>(std::make_unique<ExecDriver>(config, deps));
}

}  // namespace shipd

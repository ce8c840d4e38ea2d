// ExecCheck: runs the rendered command with the SHIP_* environment; exit 0 passes, any other exit,
// a signal or the timeout fails. A command that cannot be started is an error of the check. The
// value is the exit code; the detail ends with the (truncated) output.

#include <string>
#include <vector>

#include "shipd/checks/health_check.h"
#include "shipd/common/template.h"

namespace shipd {
namespace {

// Head and tail of stdout+stderr kept in the detail.
constexpr size_t kOutputLimit = 2048;

class ExecCheck final : public HealthCheck {
 public:
  ExecCheck(const Check& config, ProcessRunner& runner) : config_(config), runner_(runner) {}

  Measurement Measure(const CheckContext& context) override {
    Measurement m;
    Run(context, m);
    return m;
  }

 private:
  void Run(const CheckContext& context, Measurement& m) {
    ProcessSpec spec;
    for (size_t i = 0; i < config_.command.size(); ++i) {
      Result<std::string> arg = RenderTemplate(config_.command[i], context.variables);
      if (!arg.ok()) {
        m.result = MeasurementResult::kError;
        m.detail = "command[" + std::to_string(i) + "]: " + arg.error().message();
        return;
      }
      spec.argv.push_back(std::move(arg).value());
    }
    spec.env = ShipEnvironment(context.variables);
    spec.cwd = context.working_directory;
    spec.timeout = config_.timeout;
    spec.output_limit = kOutputLimit;
    Result<ProcessResult> run = runner_.Run(spec);
    if (!run.ok()) {
      m.result = MeasurementResult::kError;
      m.detail = run.error().message();
      return;
    }
    const std::string elapsed = std::to_string(run->elapsed.count()) + " ms";
    if (run->timed_out) {
      m.result = MeasurementResult::kFail;
      m.detail = "timed out after " + elapsed + " (limit " +
                 std::to_string(config_.timeout.count()) + " ms), killed";
    } else if (run->term_signal != 0) {
      m.result = MeasurementResult::kFail;
      m.value = run->exit_code;
      m.detail = "killed by signal " + std::to_string(run->term_signal) + " after " + elapsed;
    } else {
      m.result = run->exit_code == 0 ? MeasurementResult::kPass : MeasurementResult::kFail;
      m.value = run->exit_code;
      m.detail = "exit " + std::to_string(run->exit_code) + " in " + elapsed;
    }
    std::string output = std::move(run->output);
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    if (!output.empty()) m.detail += ": " + output;
  }

  const Check config_;
  ProcessRunner& runner_;
};

}  // namespace

std::unique_ptr<HealthCheck> MakeExecCheck(const Check& config, ProcessRunner& runner) {
  return std::make_unique<ExecCheck>(config, runner);
}

}  // namespace shipd

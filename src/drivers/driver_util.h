// Helpers shared by the drivers: template variables of a context, command-line splitting, the
// per-driver factories MakeDriver dispatches to, and AppliedStates (what a driver that cannot
// ask the environment last applied). AppliedStates is thread-safe; the rest are pure functions.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/config/pipelines.h"
#include "shipd/drivers/deploy_driver.h"

namespace shipd {

// Every name of kTemplateVariables (empty when the context has no value) plus ctx.variables.
std::map<std::string, std::string> TemplateVariables(const DriverContext& ctx);

// Checks the fields every operation needs: service, environment, version, weight 0..100.
Status ValidateContext(const DriverContext& ctx);

// "a 'b c' \"d\\\"e\"" -> {a, b c, d"e}: whitespace separates, quotes group, backslash escapes
// (not inside single quotes). No shell expansion. kInvalid for an unterminated quote.
Result<std::vector<std::string>> SplitCommandLine(std::string_view text);

// At most `limit` bytes of `text` without surrounding whitespace, keeping the end (where the
// error usually is) and marking the cut.
std::string TrimOutput(std::string_view text, size_t limit = 4096);

// "orders/prod": how messages name a service in an environment.
std::string Where(std::string_view service, std::string_view environment);

// Remembers, per service × environment, the state and endpoints last applied successfully.
class AppliedStates {
 public:
  void Applied(DriverAction action, const DriverContext& ctx, std::string detail);
  void SetUrls(const DriverContext& ctx, Endpoints urls);
  DriverStatus Status(std::string_view service, std::string_view environment) const;
  Endpoints Urls(std::string_view service, std::string_view environment) const;

 private:
  struct Entry {
    DriverStatus status;
    Endpoints urls;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Entry> entries_;
};

Result<std::unique_ptr<DeployDriver>> MakeExecDriver(const Driver& config, const DriverDeps& deps);
Result<std::unique_ptr<DeployDriver>> MakeWebhookDriver(const Driver& config,
                                                        const DriverDeps& deps);
Result<std::unique_ptr<DeployDriver>> MakeNginxDriver(const Driver& config, const DriverDeps& deps);
Result<std::unique_ptr<DeployDriver>> MakeLocalDriver(const Driver& config, const DriverDeps& deps);

}  // namespace shipd

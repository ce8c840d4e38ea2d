// MakeHealthCheck: validates a Check config for its type and builds the matching HealthCheck,
// wrapped so that every measurement is stamped by the clock, never throws, and carries a detail
// that is valid UTF-8 of bounded size (it ends up in events, JSON and logs).

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "shipd/checks/health_check.h"
#include "shipd/common/template.h"

namespace shipd {

// Defined next to each check class (http_check.cc, prometheus_check.cc, exec_check.cc,
// traffic_check.cc); the configs are validated here first.
std::unique_ptr<HealthCheck> MakeHttpCheck(const Check& config, HttpClient& http);
std::unique_ptr<HealthCheck> MakePrometheusCheck(const Check& config, HttpClient& http);
std::unique_ptr<HealthCheck> MakeExecCheck(const Check& config, ProcessRunner& runner);
std::unique_ptr<HealthCheck> MakeTrafficCheck(const Check& config);

namespace {

constexpr size_t kMaxDetailBytes = 4096;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at the start of `text`, or 0.
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char min = 0x80;
  unsigned char max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min = 0xA0;  // no overlong forms
    if (lead == 0xED) max = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min = 0x90;
    if (lead == 0xF4) max = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < min || byte(1) > max) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// Valid UTF-8 of at most kMaxDetailBytes (plus "..."): each invalid byte becomes U+FFFD, and
// NUL and other control characters except newline and tab become spaces.
std::string CleanDetail(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxDetailBytes));
  while (!text.empty()) {
    size_t length = Utf8SequenceLength(text);
    std::string_view piece = length == 0 ? kReplacement : text.substr(0, length);
    if (length == 1 && static_cast<unsigned char>(text[0]) < 0x20 && text[0] != '\n' &&
        text[0] != '\t') {
      piece = " ";
    }
    if (out.size() + piece.size() > kMaxDetailBytes) {
      out += "...";
      break;
    }
    out += piece;
    text.remove_prefix(std::max<size_t>(length, 1));
  }
  return out;
}

// What MakeHealthCheck returns: the guarantees of HealthCheck::Measure around a concrete check.
class GuardedCheck final : public HealthCheck {
 public:
  GuardedCheck(std::unique_ptr<HealthCheck> check, const Clock& clock)
      : check_(std::move(check)), clock_(clock) {}

  Measurement Measure(const CheckContext& context) override {
    const TimeMs started = clock_.NowMs();
    Measurement m;
    try {
      m = check_->Measure(context);
    } catch (const std::exception& e) {
      m = Measurement{MeasurementResult::kError, std::nullopt,
                      std::string("internal error: ") + e.what(), 0};
    } catch (...) {
      m = Measurement{MeasurementResult::kError, std::nullopt, "internal error", 0};
    }
    m.at = started;
    m.detail = CleanDetail(m.detail);
    return m;
  }

 private:
  std::unique_ptr<HealthCheck> check_;
  const Clock& clock_;
};

std::unique_ptr<HealthCheck> MakeCheckOfType(const Check& config, ProcessRunner& runner,
                                             HttpClient& http) {
  switch (config.type) {
    case CheckType::kHttp:
      return MakeHttpCheck(config, http);
    case CheckType::kPrometheus:
      return MakePrometheusCheck(config, http);
    case CheckType::kExec:
      return MakeExecCheck(config, runner);
    case CheckType::kTraffic:
      return MakeTrafficCheck(config);
  }
  return nullptr;
}

// Fails when `text` uses a name outside kTemplateVariables or is not a well-formed template.
Status CheckTemplate(std::string_view field, std::string_view text) {
  static const std::map<std::string, std::string> kAllVariables = [] {
    std::map<std::string, std::string> variables;
    for (std::string_view name : kTemplateVariables) variables.emplace(name, "");
    return variables;
  }();
  Result<std::string> rendered = RenderTemplate(text, kAllVariables);
  if (!rendered.ok()) return rendered.error().WithContext(field);
  return Ok();
}

Status Validate(const Check& config) {
  auto invalid = [](std::string message) { return Error(ErrorCode::kInvalid, std::move(message)); };
  if (config.timeout.count() <= 0) return invalid("timeout must be positive");
  if (config.interval.count() <= 0) return invalid("interval must be positive");
  if (config.failure_limit < 1) return invalid("failure_limit must be at least 1");
  if (config.consecutive_error_limit < 1) {
    return invalid("consecutive_error_limit must be at least 1");
  }
  switch (config.type) {
    case CheckType::kHttp:
      if (config.url.empty()) return invalid("type http requires \"url\"");
      SHIPD_RETURN_IF_ERROR(CheckTemplate("url", config.url));
      for (int status : config.expected_status) {
        if (status < 100 || status > 599) {
          return invalid("expected_status " + std::to_string(status) +
                         " is not an HTTP status (100..599)");
        }
      }
      if (config.max_latency && config.max_latency->count() <= 0) {
        return invalid("max_latency must be positive");
      }
      return Ok();
    case CheckType::kPrometheus:
      if (config.address.empty()) return invalid("type prometheus requires \"address\"");
      if (config.query.empty()) return invalid("type prometheus requires \"query\"");
      SHIPD_RETURN_IF_ERROR(CheckTemplate("address", config.address));
      SHIPD_RETURN_IF_ERROR(CheckTemplate("query", config.query));
      if (!config.min && !config.max) return invalid("type prometheus requires \"min\" or \"max\"");
      if (config.min && config.max && *config.min > *config.max) {
        return invalid("max is below min");
      }
      return Ok();
    case CheckType::kExec:
      if (config.command.empty() || config.command[0].empty()) {
        return invalid("type exec requires \"command\" (a list: [program, arguments...])");
      }
      for (size_t i = 0; i < config.command.size(); ++i) {
        SHIPD_RETURN_IF_ERROR(
            CheckTemplate("command[" + std::to_string(i) + "]", config.command[i]));
      }
      return Ok();
    case CheckType::kTraffic:
      if (!config.max_error_rate && !config.max_latency && !config.max_error_rate_increase) {
        return invalid(
            "type traffic requires \"max_error_rate\", \"max_latency\" or "
            "\"max_error_rate_increase\"");
      }
      if (config.max_error_rate && !(*config.max_error_rate >= 0 && *config.max_error_rate <= 1)) {
        return invalid("max_error_rate must be between 0 and 1");
      }
      if (config.max_error_rate_increase &&
          !(*config.max_error_rate_increase >= 0 && *config.max_error_rate_increase <= 1)) {
        return invalid("max_error_rate_increase must be between 0 and 1");
      }
      if (config.min_requests < 1) return invalid("min_requests must be at least 1");
      if (config.max_latency && config.max_latency->count() <= 0) {
        return invalid("max_latency must be positive");
      }
      return Ok();
  }
  return invalid("unknown check type");
}

}  // namespace

std::string_view MeasurementResultName(MeasurementResult result) {
  switch (result) {
    case MeasurementResult::kPass:
      return "pass";
    case MeasurementResult::kFail:
      return "fail";
    case MeasurementResult::kInconclusive:
      return "inconclusive";
    case MeasurementResult::kError:
      return "error";
  }
  return "error";
}

Result<std::unique_ptr<HealthCheck>> MakeHealthCheck(const Check& config, ProcessRunner& runner,
                                                     HttpClient& http, const Clock& clock) {
  if (Status valid = Validate(config); !valid.ok()) {
    return valid.error().WithContext("check \"" + config.name + "\"");
  }
  std::unique_ptr<HealthCheck> check = MakeCheckOfType(config, runner, http);
  if (check == nullptr) return Error(ErrorCode::kInternal, "unknown check type");
  return std::unique_ptr<HealthCheck>(std::make_unique<GuardedCheck>(std::move(check), clock));
}

}  // namespace shipd

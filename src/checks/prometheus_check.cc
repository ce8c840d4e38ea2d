// PrometheusCheck: an instant query (GET {address}/api/v1/query?query=...) that must yield one
// number, compared with min and max. No series or NaN is inconclusive; an answer that is not a
// successful vector/scalar result, or an unreachable server, is an error of the check.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "shipd/checks/health_check.h"
#include "shipd/common/template.h"

namespace shipd {
namespace {

using nlohmann::json;

constexpr size_t kSnippetLimit = 200;

std::string FormatNumber(double value) {
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%g", value);
  return buffer.data();
}

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0x0f];
    }
  }
  return out;
}

std::string Snippet(std::string_view text) {
  std::string out(text.substr(0, kSnippetLimit));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (text.size() > kSnippetLimit) out += "...";
  return out;
}

// A sample value as Prometheus encodes it: [<unix time>, "<number>"].
std::optional<double> SampleValue(const json& sample) {
  if (!sample.is_array() || sample.size() != 2 || !sample[1].is_string()) return std::nullopt;
  const std::string& text = sample[1].get_ref<const std::string&>();
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

class PrometheusCheck final : public HealthCheck {
 public:
  PrometheusCheck(const Check& config, HttpClient& http) : config_(config), http_(http) {}

  Measurement Measure(const CheckContext& context) override {
    Measurement m;
    Run(context, m);
    return m;
  }

 private:
  static void Set(Measurement& m, MeasurementResult result, std::string detail) {
    m.result = result;
    m.detail = std::move(detail);
  }

  void Run(const CheckContext& context, Measurement& m) {
    Result<std::string> address = RenderTemplate(config_.address, context.variables);
    if (!address.ok())
      return Set(m, MeasurementResult::kError, "address: " + address.error().message());
    Result<std::string> query = RenderTemplate(config_.query, context.variables);
    if (!query.ok()) return Set(m, MeasurementResult::kError, "query: " + query.error().message());
    std::string base = *address;
    while (!base.empty() && base.back() == '/') base.pop_back();

    HttpRequest request;
    request.url = base + "/api/v1/query?query=" + PercentEncode(*query);
    request.timeout = config_.timeout;
    request.headers.emplace("Accept", "application/json");
    request.headers.emplace("User-Agent", "shipd-check/" + config_.name);
    Result<HttpResponse> response = http_.Send(request);
    if (!response.ok()) {
      return Set(m, MeasurementResult::kError, "prometheus: " + response.error().message());
    }
    const json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    const std::string http_status = "HTTP " + std::to_string(response->status);
    if (body.is_discarded() || !body.is_object()) {
      return Set(m, MeasurementResult::kError,
                 "prometheus answered " + http_status +
                     " with a body that is not a JSON object: " + Snippet(response->body));
    }
    const auto status = body.find("status");
    if (status == body.end() || !status->is_string() || *status != "success") {
      std::string why = "prometheus answered " + http_status;
      if (auto type = body.find("errorType"); type != body.end() && type->is_string()) {
        why += ": " + type->get<std::string>();
      }
      if (auto error = body.find("error"); error != body.end() && error->is_string()) {
        why += ": " + error->get<std::string>();
      } else {
        why += " without \"status\": \"success\"";
      }
      return Set(m, MeasurementResult::kError, why);
    }
    const auto data = body.find("data");
    if (data == body.end() || !data->is_object()) {
      return Set(m, MeasurementResult::kError, "prometheus answer has no \"data\" object");
    }
    const auto type = data->find("resultType");
    const auto result = data->find("result");
    if (type == data->end() || !type->is_string() || result == data->end()) {
      return Set(m, MeasurementResult::kError,
                 "prometheus answer lacks data.resultType or data.result");
    }
    std::optional<double> value;
    if (*type == "vector") {
      if (!result->is_array()) {
        return Set(m, MeasurementResult::kError, "prometheus vector result is not an array");
      }
      if (result->empty()) {
        return Set(m, MeasurementResult::kInconclusive, "no data: the query returned no series");
      }
      if (result->size() > 1) {
        return Set(m, MeasurementResult::kError,
                   "the query returned " + std::to_string(result->size()) +
                       " series; aggregate it to one (e.g. sum(...) or max(...))");
      }
      const json& series = (*result)[0];
      if (!series.is_object() || !series.contains("value")) {
        return Set(m, MeasurementResult::kError, "prometheus vector sample has no \"value\"");
      }
      value = SampleValue(series["value"]);
    } else if (*type == "scalar") {
      value = SampleValue(*result);
    } else {
      return Set(m, MeasurementResult::kError,
                 "the query returned a " + type->get<std::string>() +
                     "; it must yield one number (an instant vector or a scalar)");
    }
    if (!value) {
      return Set(m, MeasurementResult::kError, "prometheus sample is not [time, \"number\"]");
    }
    if (std::isnan(*value)) {
      return Set(m, MeasurementResult::kInconclusive,
                 "no data: the query returned NaN (e.g. a rate over no requests)");
    }
    m.value = *value;
    const std::string shown = "value " + FormatNumber(*value);
    if (config_.min && *value < *config_.min) {
      return Set(m, MeasurementResult::kFail, shown + " < min " + FormatNumber(*config_.min));
    }
    if (config_.max && *value > *config_.max) {
      return Set(m, MeasurementResult::kFail, shown + " > max " + FormatNumber(*config_.max));
    }
    std::string bounds;
    if (config_.min) bounds += " >= min " + FormatNumber(*config_.min);
    if (config_.max)
      bounds += std::string(config_.min ? " and" : "") + " <= max " + FormatNumber(*config_.max);
    Set(m, MeasurementResult::kPass, shown + bounds);
  }

  const Check config_;
  HttpClient& http_;
};

}  // namespace

std::unique_ptr<HealthCheck> MakePrometheusCheck(const Check& config, HttpClient& http) {
  return std::make_unique<PrometheusCheck>(config, http);
}

}  // namespace shipd

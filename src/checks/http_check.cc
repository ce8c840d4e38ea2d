// HttpCheck: GET the rendered URL; a 2xx answer (within max_latency, when set) passes, anything
// else — another status, a slow answer, no connection — fails. The value is the latency in ms.

#include <cstdio>
#include <string>

#include "shipd/checks/health_check.h"
#include "shipd/common/template.h"

namespace shipd {
namespace {

constexpr size_t kBodySnippetLimit = 200;

// The start of a response body on one line, for the detail of a failed measurement.
std::string Snippet(std::string_view body) {
  std::string out;
  bool space = false;
  for (char c : body) {
    if (out.size() >= kBodySnippetLimit) {
      out += "...";
      break;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

class HttpCheck final : public HealthCheck {
 public:
  HttpCheck(const Check& config, HttpClient& http) : config_(config), http_(http) {}

  Measurement Measure(const CheckContext& context) override {
    Measurement m;
    Run(context, m);
    return m;
  }

 private:
  void Run(const CheckContext& context, Measurement& m) {
    Result<std::string> url = RenderTemplate(config_.url, context.variables);
    if (!url.ok()) {
      m.result = MeasurementResult::kError;
      m.detail = "url: " + url.error().message();
      return;
    }
    HttpRequest request;
    request.url = *url;
    request.timeout = config_.timeout;
    request.headers.emplace("User-Agent", "shipd-check/" + config_.name);
    Result<HttpResponse> response = http_.Send(request);
    if (!response.ok()) {
      // No answer from the canary is the canary's failure, not the check's.
      m.result = response.error().code() == ErrorCode::kUnavailable ? MeasurementResult::kFail
                                                                    : MeasurementResult::kError;
      m.detail = response.error().message();
      return;
    }
    const auto latency_ms = response->latency.count();
    m.value = static_cast<double>(latency_ms);
    m.detail =
        "HTTP " + std::to_string(response->status) + " in " + std::to_string(latency_ms) + " ms";
    if (response->status < 200 || response->status > 299) {
      m.result = MeasurementResult::kFail;
      m.detail += " (expected 2xx)";
      if (std::string snippet = Snippet(response->body); !snippet.empty()) {
        m.detail += ": " + snippet;
      }
      return;
    }
    if (config_.max_latency && response->latency > *config_.max_latency) {
      m.result = MeasurementResult::kFail;
      m.detail += " > max_latency " + std::to_string(config_.max_latency->count()) + " ms";
      return;
    }
    m.result = MeasurementResult::kPass;
  }

  const Check config_;
  HttpClient& http_;
};

}  // namespace

std::unique_ptr<HealthCheck> MakeHttpCheck(const Check& config, HttpClient& http) {
  return std::make_unique<HttpCheck>(config, http);
}

}  // namespace shipd

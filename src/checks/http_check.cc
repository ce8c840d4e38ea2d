// HttpCheck: GET the rendered URL; an answer with a 2xx status (or one of expected_status), whose
// body contains body_contains and that came within max_latency (each when set) passes; anything
// else — another status, another body, a slow answer, no connection — fails. The value is the
// latency in ms.

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

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

// "text" with " and \ escaped, so that the expected text stands out in the detail.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

bool StatusPasses(int status, const std::vector<int>& expected) {
  if (expected.empty()) return status >= 200 && status <= 299;
  return std::find(expected.begin(), expected.end(), status) != expected.end();
}

// "2xx", "200", "200 or 204", "200, 204 or 301".
std::string DescribeExpected(const std::vector<int>& expected) {
  if (expected.empty()) return "2xx";
  std::string out;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (i > 0) out += i + 1 == expected.size() ? " or " : ", ";
    out += std::to_string(expected[i]);
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
    if (!StatusPasses(response->status, config_.expected_status)) {
      m.result = MeasurementResult::kFail;
      m.detail += " (expected " + DescribeExpected(config_.expected_status) + ")";
      if (std::string snippet = Snippet(response->body); !snippet.empty()) {
        m.detail += ": " + snippet;
      }
      return;
    }
    if (!config_.body_contains.empty() &&
        response->body.find(config_.body_contains) == std::string::npos) {
      m.result = MeasurementResult::kFail;
      m.detail += ": the body does not contain " + Quote(config_.body_contains);
      std::string snippet = Snippet(response->body);
      m.detail += snippet.empty() ? " (it is empty)" : " (it starts: " + snippet + ")";
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

#include "shipd/contract/openapi_diff.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "openapi_compare.h"
#include "openapi_normalize.h"

namespace shipd {
namespace {

using openapi::Content;
using openapi::Direction;
using openapi::FindingSink;
using openapi::NormalizedOpenApi;
using openapi::Operation;
using openapi::SchemaComparer;
using openapi::Security;
using openapi::SecurityRequirement;
using Severity = OpenApiDiff::Severity;

Status CheckDocument(const nlohmann::json& doc) {
  if (!doc.is_object()) {
    return Error(
        ErrorCode::kInvalid,
        std::string("not an OpenAPI document: expected an object, got ") + doc.type_name());
  }
  auto version = doc.find("openapi");
  if (version == doc.end()) {
    if (doc.contains("swagger")) {
      return Error(ErrorCode::kInvalid, "Swagger 2.0 is not supported, only OpenAPI 3.x");
    }
    return Error(ErrorCode::kInvalid, "not an OpenAPI document: missing \"openapi\" key");
  }
  // YAML turns `openapi: 3.1` into a number; accept it as well as "3.1.0".
  bool is_3x = (version->is_string() && version->get_ref<const std::string&>().starts_with("3.")) ||
               (version->is_number() && version->get<double>() >= 3 && version->get<double>() < 4);
  if (!is_3x) {
    return Error(ErrorCode::kInvalid,
                 "unsupported \"openapi\" version " + version->dump() + ", expected 3.x");
  }
  return Ok();
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  int64_t era = (year >= 0 ? year : year - 399) / 400;
  int64_t year_of_era = year - era * 400;
  int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// Milliseconds since the epoch for "YYYY-MM-DD" (start of the day, UTC) or an RFC 3339 date-time
// ("2025-06-30T12:00:00Z", "2025-06-30T12:00:00.5+02:00").
std::optional<int64_t> ParseSunset(std::string_view text) {
  auto number = [&](size_t at, size_t length) -> std::optional<int64_t> {
    if (at + length > text.size()) return std::nullopt;
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data() + at, text.data() + at + length, value);
    if (error != std::errc() || end != text.data() + at + length) return std::nullopt;
    return value;
  };
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  if (!year || !month || !day || text[4] != '-' || text[7] != '-' || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31) {
    return std::nullopt;
  }
  int64_t ms = DaysFromCivil(*year, *month, *day) * 86'400'000;
  if (text.size() == 10) return ms;
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return std::nullopt;
  auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!hour || !minute || !second || text[13] != ':' || text[16] != ':' || *hour > 23 ||
      *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  ms += ((*hour * 60 + *minute) * 60 + *second) * 1000;
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
  }
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) return ms;
  if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    auto offset_hours = number(at + 1, 2), offset_minutes = number(at + 4, 2);
    if (!offset_hours || !offset_minutes) return std::nullopt;
    int64_t offset = (*offset_hours * 60 + *offset_minutes) * 60'000;
    return text[at] == '+' ? ms - offset : ms + offset;
  }
  return std::nullopt;
}

std::string FormatRequirement(const SecurityRequirement& requirement) {
  if (requirement.empty()) return "none";
  std::string out;
  for (const auto& [scheme, scopes] : requirement) {
    if (!out.empty()) out += " + ";
    out += scheme;
    if (scopes.empty()) continue;
    out += " [";
    bool first = true;
    for (const std::string& scope : scopes) {
      out += first ? "" : ", ";
      out += scope;
      first = false;
    }
    out += "]";
  }
  return out;
}

std::string FormatSecurity(const std::vector<SecurityRequirement>& alternatives) {
  if (alternatives.empty()) return "none";
  std::string out;
  for (const SecurityRequirement& requirement : alternatives) {
    if (!out.empty()) out += " or ";
    out += FormatRequirement(requirement);
  }
  return out;
}

// A client able to satisfy `held` also satisfies `needed`.
bool Satisfies(const SecurityRequirement& held, const SecurityRequirement& needed) {
  return std::all_of(needed.begin(), needed.end(), [&](const auto& entry) {
    auto it = held.find(entry.first);
    return it != held.end() && std::includes(it->second.begin(), it->second.end(),
                                             entry.second.begin(), entry.second.end());
  });
}

class Differ {
 public:
  Differ(const NormalizedOpenApi& old_doc, const NormalizedOpenApi& new_doc,
         const OpenApiDiffOptions& options, std::vector<OpenApiDiff::Finding>* out)
      : old_(old_doc), new_(new_doc), options_(options), out_(out) {}

  void Run() {
    FindingSink document{"", "", out_};
    if (old_.security || new_.security) {
      CompareSecurity(Alternatives(old_.security), Alternatives(new_.security),
                      new_.security ? new_.security->pointer : "/security", "global security",
                      document);
    }
    auto old_it = old_.operations.begin();
    auto new_it = new_.operations.begin();
    while (old_it != old_.operations.end() || new_it != new_.operations.end()) {
      if (new_it == new_.operations.end() ||
          (old_it != old_.operations.end() && old_it->first < new_it->first)) {
        CheckRemoved(old_it->second);
        ++old_it;
      } else if (old_it == old_.operations.end() || new_it->first < old_it->first) {
        ++new_it;  // a new operation breaks nobody
      } else {
        CompareOperation(old_it->second, new_it->second);
        ++old_it;
        ++new_it;
      }
    }
  }

 private:
  static const std::vector<SecurityRequirement>& Alternatives(
      const std::optional<Security>& security) {
    static const std::vector<SecurityRequirement> kNone;
    return security ? security->alternatives : kNone;
  }

  void CheckRemoved(const Operation& operation) {
    FindingSink sink{Upper(operation.method), operation.path, out_};
    std::string reason;
    if (!operation.deprecated) {
      reason = "operation removed without being deprecated first";
    } else if (!operation.sunset) {
      reason = "deprecated operation removed, but it has no x-sunset date";
    } else if (auto sunset = ParseSunset(*operation.sunset); !sunset) {
      reason = "deprecated operation removed, but its x-sunset \"" + *operation.sunset +
               "\" is not a date (YYYY-MM-DD or RFC 3339)";
    } else if (!options_.now_ms) {
      reason = "deprecated operation removed; x-sunset " + *operation.sunset +
               " cannot be checked without the current time";
    } else if (*sunset > *options_.now_ms) {
      reason = "deprecated operation removed before its x-sunset " + *operation.sunset;
    } else {
      return;  // past its announced sunset: removing it is the plan
    }
    sink.Add(Severity::kBreaking, "operation-removed", operation.pointer, reason);
  }

  void CompareOperation(const Operation& old_op, const Operation& new_op) {
    FindingSink sink{Upper(new_op.method), new_op.path, out_};
    schemas_.BeginOperation();
    CompareParameters(old_op, new_op, sink);
    CompareRequestBody(old_op, new_op, sink);
    CompareResponses(old_op, new_op, sink);
    // When both inherit the document's security, the global comparison has said it all.
    if (old_op.security || new_op.security) {
      const auto& old_security = old_op.security ? old_op.security : old_.security;
      const auto& new_security = new_op.security ? new_op.security : new_.security;
      CompareSecurity(Alternatives(old_security), Alternatives(new_security),
                      new_security ? new_security->pointer : new_op.pointer, "security", sink);
    }
  }

  static std::string DescribeParameter(const openapi::Parameter& parameter) {
    return parameter.in + " parameter '" + parameter.name + "'";
  }

  void CompareParameters(const Operation& old_op, const Operation& new_op,
                         const FindingSink& sink) {
    auto old_it = old_op.parameters.begin();
    auto new_it = new_op.parameters.begin();
    while (old_it != old_op.parameters.end() || new_it != new_op.parameters.end()) {
      if (new_it == new_op.parameters.end() ||
          (old_it != old_op.parameters.end() && old_it->first < new_it->first)) {
        sink.Add(Severity::kWarning, "request-parameter-removed", old_it->second.pointer,
                 DescribeParameter(old_it->second) + " removed");
        ++old_it;
      } else if (old_it == old_op.parameters.end() || new_it->first < old_it->first) {
        if (new_it->second.required) {
          sink.Add(Severity::kBreaking, "request-parameter-required-added", new_it->second.pointer,
                   "new required " + DescribeParameter(new_it->second));
        }
        ++new_it;
      } else {
        const openapi::Parameter& old_p = old_it->second;
        const openapi::Parameter& new_p = new_it->second;
        if (new_p.required && !old_p.required) {
          sink.Add(Severity::kBreaking, "request-parameter-required-added", new_p.pointer,
                   DescribeParameter(new_p) + " is now required");
        }
        schemas_.Compare(old_p.schema, new_p.schema, Direction::kRequest, DescribeParameter(new_p),
                         new_p.pointer, sink);
        ++old_it;
        ++new_it;
      }
    }
  }

  // The new media type that accepts what `media_type` did: the same, or a wildcard over it.
  static const openapi::MediaType* AcceptingMediaType(const Content& content,
                                                      const std::string& media_type) {
    if (auto it = content.find(media_type); it != content.end()) return &it->second;
    std::string wildcard = media_type.substr(0, media_type.find('/')) + "/*";
    if (auto it = content.find(wildcard); it != content.end()) return &it->second;
    if (auto it = content.find("*/*"); it != content.end()) return &it->second;
    return nullptr;
  }

  void CompareRequestBody(const Operation& old_op, const Operation& new_op,
                          const FindingSink& sink) {
    if (!new_op.request_body) return;  // the server ignores what clients still send
    const openapi::RequestBody& new_body = *new_op.request_body;
    if (!old_op.request_body) {
      if (new_body.required) {
        sink.Add(Severity::kBreaking, "request-body-required-added", new_body.pointer,
                 "new required request body");
      }
      return;
    }
    const openapi::RequestBody& old_body = *old_op.request_body;
    if (new_body.required && !old_body.required) {
      sink.Add(Severity::kBreaking, "request-body-required-added", new_body.pointer,
               "request body is now required");
    }
    for (const auto& [media_type, old_type] : old_body.content) {
      const openapi::MediaType* new_type = AcceptingMediaType(new_body.content, media_type);
      if (!new_type) {
        sink.Add(Severity::kBreaking, "request-media-type-removed", old_type.pointer,
                 "request body media type " + media_type + " is no longer accepted");
        continue;
      }
      schemas_.Compare(old_type.schema, new_type->schema, Direction::kRequest,
                       "request body " + media_type, new_type->pointer, sink);
    }
  }

  // Where the new document answers what `status` answered: the same status, the range holding it
  // (200 → 2XX), or for a range every status inside it (2XX → 200, 201).
  static std::vector<std::pair<std::string, const openapi::Response*>> Answering(
      const std::map<std::string, openapi::Response>& responses, const std::string& status) {
    if (auto it = responses.find(status); it != responses.end()) return {{it->first, &it->second}};
    std::vector<std::pair<std::string, const openapi::Response*>> out;
    if (status.size() != 3 || status == "DEFAULT") return out;
    if (status.ends_with("XX")) {
      for (const auto& [code, response] : responses) {
        if (code.size() == 3 && code[0] == status[0]) out.emplace_back(code, &response);
      }
    } else if (auto it = responses.find(status.substr(0, 1) + "XX"); it != responses.end()) {
      out.emplace_back(it->first, &it->second);
    }
    return out;
  }

  void CompareResponses(const Operation& old_op, const Operation& new_op, const FindingSink& sink) {
    for (const auto& [status, old_response] : old_op.responses) {
      auto answering = Answering(new_op.responses, status);
      // Fewer error responses is returning less; a missing success is not.
      if (answering.empty() && status.starts_with('2')) {
        sink.Add(Severity::kBreaking, "response-success-status-removed", old_response.pointer,
                 "success response " + status + " removed");
      }
      for (const auto& [new_status, new_response] : answering) {
        CompareResponse(status, old_response, new_status, *new_response, sink);
      }
    }
  }

  void CompareResponse(const std::string& old_status, const openapi::Response& old_response,
                       const std::string& status, const openapi::Response& new_response,
                       const FindingSink& sink) {
    for (const auto& [media_type, old_type] : old_response.content) {
      auto new_type = new_response.content.find(media_type);
      if (new_type == new_response.content.end()) {
        sink.Add(Severity::kBreaking, "response-media-type-removed", old_type.pointer,
                 "response " + status + " media type " + media_type + " removed" +
                     (old_status == status ? "" : " (was in " + old_status + ")"));
        continue;
      }
      schemas_.Compare(old_type.schema, new_type->second.schema, Direction::kResponse,
                       "response " + status + " " + media_type, new_type->second.pointer, sink);
    }
    for (const auto& [key, old_header] : old_response.headers) {
      auto new_header = new_response.headers.find(key);
      bool present = new_header != new_response.headers.end();
      if (old_header.required && (!present || !new_header->second.required)) {
        sink.Add(Severity::kBreaking, "response-header-removed",
                 present ? new_header->second.pointer : old_header.pointer,
                 "response " + status + " header '" + old_header.name + "' " +
                     (present ? "is no longer required" : "removed"));
      }
      if (present) {
        schemas_.Compare(old_header.schema, new_header->second.schema, Direction::kResponse,
                         "response " + status + " header '" + new_header->second.name + "'",
                         new_header->second.pointer, sink);
      }
    }
  }

  // Each old alternative must still be enough: some new alternative asks for no scheme or scope
  // beyond it. An empty list means no security, which is the empty requirement.
  static void CompareSecurity(const std::vector<SecurityRequirement>& old_alternatives,
                              const std::vector<SecurityRequirement>& new_alternatives,
                              const std::string& pointer, const std::string& what,
                              const FindingSink& sink) {
    static const std::vector<SecurityRequirement> kOpen = {SecurityRequirement{}};
    const auto& old_list = old_alternatives.empty() ? kOpen : old_alternatives;
    const auto& new_list = new_alternatives.empty() ? kOpen : new_alternatives;
    for (const SecurityRequirement& held : old_list) {
      bool satisfied = std::any_of(new_list.begin(), new_list.end(),
                                   [&](const auto& needed) { return Satisfies(held, needed); });
      if (satisfied) continue;
      // Same schemes, more scopes: the tightening is in the scopes.
      auto same_schemes = std::find_if(new_list.begin(), new_list.end(), [&](const auto& needed) {
        return std::equal(held.begin(), held.end(), needed.begin(), needed.end(),
                          [](const auto& a, const auto& b) { return a.first == b.first; });
      });
      std::string change =
          what + " " + FormatSecurity(old_alternatives) + " → " + FormatSecurity(new_alternatives);
      std::string clients = held.empty() ? std::string("clients without credentials")
                                         : "clients holding " + FormatRequirement(held);
      if (same_schemes != new_list.end()) {
        sink.Add(Severity::kBreaking, "security-scopes-added", pointer,
                 change + ": " + clients + " need more scopes");
      } else {
        sink.Add(Severity::kBreaking, "security-requirement-added", pointer,
                 change + ": " + clients + " no longer qualify");
      }
    }
  }

  const NormalizedOpenApi& old_;
  const NormalizedOpenApi& new_;
  const OpenApiDiffOptions& options_;
  std::vector<OpenApiDiff::Finding>* out_;
  SchemaComparer schemas_;  // shared by all operations: each schema pair is compared once
};

}  // namespace

bool OpenApiDiff::breaking() const {
  return std::any_of(findings.begin(), findings.end(), [](const Finding& finding) {
    return finding.severity == Severity::kBreaking;
  });
}

std::string_view OpenApiSeverityName(OpenApiDiff::Severity severity) {
  return severity == OpenApiDiff::Severity::kBreaking ? "breaking" : "warning";
}

Result<OpenApiDiff> DiffOpenApi(const nlohmann::json& old_doc, const nlohmann::json& new_doc,
                                const OpenApiDiffOptions& options) {
  if (Status status = CheckDocument(old_doc); !status.ok()) {
    return status.error().WithContext("old document");
  }
  if (Status status = CheckDocument(new_doc); !status.ok()) {
    return status.error().WithContext("new document");
  }
  OpenApiDiff diff;
  try {
    auto old_normalized = openapi::NormalizeOpenApi(old_doc);
    auto new_normalized = openapi::NormalizeOpenApi(new_doc);
    Differ(*old_normalized, *new_normalized, options, &diff.findings).Run();
  } catch (const nlohmann::json::exception& e) {
    // Every access is type-checked; reaching this is a bug, not bad input.
    return Error(ErrorCode::kInternal, std::string("comparing OpenAPI documents: ") + e.what());
  }
  return diff;
}

nlohmann::json OpenApiDiffToJson(const OpenApiDiff& diff) {
  nlohmann::json findings = nlohmann::json::array();
  for (const OpenApiDiff::Finding& finding : diff.findings) {
    findings.push_back({{"severity", OpenApiSeverityName(finding.severity)},
                        {"rule", finding.rule},
                        {"method", finding.method},
                        {"path", finding.path},
                        {"pointer", finding.pointer},
                        {"message", finding.message}});
  }
  return {{"breaking", diff.breaking()}, {"findings", std::move(findings)}};
}

}  // namespace shipd

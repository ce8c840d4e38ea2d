#include "shipd/contract/openapi_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "shipd/common/yaml_json.h"

namespace shipd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Severity = OpenApiDiff::Severity;
using testing::HasSubstr;

const fs::path kCasesDir = fs::path(SHIPD_SOURCE_DIR) / "tests" / "data" / "openapi";

Result<json> ParseDocument(const std::string& text, bool is_json) {
  if (!is_json) return YamlToJson(text, {.numbers_as_strings = false});
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    return Error(ErrorCode::kBadRequest, e.what());
  }
}

// Reads `<stem>.yaml` or `<stem>.json` from a case directory.
Result<json> LoadDocument(const fs::path& dir, const std::string& stem) {
  for (const char* extension : {".yaml", ".json"}) {
    fs::path file = dir / (stem + extension);
    if (!fs::exists(file)) continue;
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    auto doc = ParseDocument(text.str(), std::string(extension) == ".json");
    if (!doc.ok()) return doc.error().WithContext(file.string());
    return doc;
  }
  return Error(ErrorCode::kNotFound, (dir / stem).string() + ".{yaml,json} is missing");
}

int64_t MsFromDate(const std::string& date) {
  int year = 0;
  unsigned month = 0, day = 0;
  EXPECT_EQ(std::sscanf(date.c_str(), "%d-%u-%u", &year, &month, &day), 3) << date;
  std::chrono::sys_days days{std::chrono::year{year} / std::chrono::month{month} /
                             std::chrono::day{day}};
  return std::chrono::duration_cast<std::chrono::milliseconds>(days.time_since_epoch()).count();
}

std::string Describe(const std::vector<OpenApiDiff::Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += "  " + std::string(OpenApiSeverityName(f.severity)) + " " + f.rule + " " + f.method +
           " " + f.path + " " + f.pointer + "\n      " + f.message + "\n";
  }
  return out.empty() ? "  (none)\n" : out;
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  if (!fs::is_directory(kCasesDir)) return names;
  for (const auto& entry : fs::directory_iterator(kCasesDir)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// One directory of tests/data/openapi: old and new document (YAML or JSON) and expect.yaml:
//   now: 2025-06-01           optional, for x-sunset
//   equivalent: true          optional: the reverse diff must be empty too
//   findings:                 in order; rule and severity required, the rest checked when given
//     - {rule: ..., severity: breaking, method: GET, path: /orders, pointer: /paths/...,
//        message: text the message must contain}
class OpenApiDiffCase : public testing::TestWithParam<std::string> {};

TEST_P(OpenApiDiffCase, FindsExactlyTheExpectedChanges) {
  fs::path dir = kCasesDir / GetParam();
  auto old_doc = LoadDocument(dir, "old");
  auto new_doc = LoadDocument(dir, "new");
  auto expect = LoadDocument(dir, "expect");
  ASSERT_TRUE(old_doc.ok()) << old_doc.error().message();
  ASSERT_TRUE(new_doc.ok()) << new_doc.error().message();
  ASSERT_TRUE(expect.ok()) << expect.error().message();

  OpenApiDiffOptions options;
  if (expect->contains("now")) options.now_ms = MsFromDate((*expect)["now"].get<std::string>());
  auto diff = DiffOpenApi(*old_doc, *new_doc, options);
  ASSERT_TRUE(diff.ok()) << diff.error().message();
  const auto& findings = diff->findings;

  json expected = expect->value("findings", json::array());
  ASSERT_EQ(findings.size(), expected.size()) << "found:\n" << Describe(findings);
  for (size_t i = 0; i < findings.size(); ++i) {
    SCOPED_TRACE("finding " + std::to_string(i) + ":\n" + Describe({findings[i]}));
    const json& want = expected[i];
    EXPECT_EQ(findings[i].rule, want.at("rule").get<std::string>());
    EXPECT_EQ(OpenApiSeverityName(findings[i].severity), want.at("severity").get<std::string>());
    if (want.contains("method")) {
      EXPECT_EQ(findings[i].method, want["method"].get<std::string>());
    }
    if (want.contains("path")) {
      EXPECT_EQ(findings[i].path, want["path"].get<std::string>());
    }
    if (want.contains("pointer")) {
      EXPECT_EQ(findings[i].pointer, want["pointer"].get<std::string>());
    }
    if (want.contains("message")) {
      EXPECT_THAT(findings[i].message, HasSubstr(want["message"].get<std::string>()));
    }
    EXPECT_THAT(findings[i].pointer, testing::StartsWith("/"));
    EXPECT_FALSE(findings[i].message.empty());
  }
  EXPECT_EQ(diff->breaking(), std::any_of(expected.begin(), expected.end(), [](const json& want) {
              return want.at("severity") == "breaking";
            }));

  // Deterministic, and a document never differs from itself.
  auto again = DiffOpenApi(*old_doc, *new_doc, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->findings, findings);
  for (const json* doc : {&*old_doc, &*new_doc}) {
    auto self = DiffOpenApi(*doc, *doc, options);
    ASSERT_TRUE(self.ok());
    EXPECT_TRUE(self->findings.empty()) << "self-diff:\n" << Describe(self->findings);
  }
  if (expect->value("equivalent", false)) {
    auto reverse = DiffOpenApi(*new_doc, *old_doc, options);
    ASSERT_TRUE(reverse.ok());
    EXPECT_TRUE(reverse->findings.empty()) << "reverse diff:\n" << Describe(reverse->findings);
  }
}

std::string CaseTestName(const testing::TestParamInfo<std::string>& case_info) {
  std::string name = case_info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Data, OpenApiDiffCase, testing::ValuesIn(CaseNames()), CaseTestName);

TEST(OpenApiDiffData, CasesArePresent) { EXPECT_GE(CaseNames().size(), 40u) << kCasesDir; }

json Parse(const std::string& yaml) {
  auto doc = YamlToJson(yaml, {.numbers_as_strings = false});
  EXPECT_TRUE(doc.ok()) << doc.error().message();
  return doc.ok() ? *doc : json();
}

const char* const kMinimal = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";

TEST(DiffOpenApi, RejectsADocumentThatIsNotAnObject) {
  auto diff = DiffOpenApi(json::array({1, 2}), Parse(kMinimal));
  ASSERT_FALSE(diff.ok());
  EXPECT_EQ(diff.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(diff.error().message(),
            "old document: not an OpenAPI document: expected an object, got array");
}

TEST(DiffOpenApi, RejectsADocumentWithoutOpenapiKey) {
  auto diff = DiffOpenApi(Parse(kMinimal), Parse("info: {title: t}\npaths: {}\n"));
  ASSERT_FALSE(diff.ok());
  EXPECT_EQ(diff.error().code(), ErrorCode::kInvalid);
  EXPECT_EQ(diff.error().message(),
            "new document: not an OpenAPI document: missing \"openapi\" key");
}

TEST(DiffOpenApi, RejectsSwaggerAndOtherVersions) {
  auto swagger = DiffOpenApi(Parse("swagger: '2.0'\npaths: {}\n"), Parse(kMinimal));
  ASSERT_FALSE(swagger.ok());
  EXPECT_THAT(swagger.error().message(), HasSubstr("Swagger 2.0 is not supported"));
  auto four = DiffOpenApi(Parse(kMinimal), Parse("openapi: 4.0.0\n"));
  ASSERT_FALSE(four.ok());
  EXPECT_EQ(four.error().message(),
            "new document: unsupported \"openapi\" version \"4.0.0\", expected 3.x");
  auto scalar = DiffOpenApi(json("openapi"), Parse(kMinimal));
  ASSERT_FALSE(scalar.ok());
  EXPECT_THAT(scalar.error().message(), HasSubstr("expected an object, got string"));
}

TEST(DiffOpenApi, AcceptsAVersionThatYamlReadAsANumber) {
  json doc = Parse("openapi: 3.1\npaths: {}\n");
  ASSERT_TRUE(doc["openapi"].is_number());
  auto diff = DiffOpenApi(doc, doc);
  ASSERT_TRUE(diff.ok()) << diff.error().message();
  EXPECT_TRUE(diff->findings.empty());
}

TEST(DiffOpenApi, IgnoresMalformedSectionsInsteadOfFailing) {
  json odd = Parse(R"(
openapi: 3.0.3
paths:
  /a: 7
  /b:
    parameters: {not: a list}
    get:
      parameters: [1, {in: query}, {$ref: '#/nowhere'}]
      requestBody: {$ref: 'other.yaml#/x'}
      responses:
        '200':
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Missing'}
  /c:
    get: {responses: []}
security: {}
components: {schemas: {Loop: {$ref: '#/components/schemas/Loop'}}}
)");
  auto diff = DiffOpenApi(odd, Parse(kMinimal));
  ASSERT_TRUE(diff.ok()) << diff.error().message();
  EXPECT_EQ(diff->findings.size(), 2u);  // GET /b and GET /c removed
}

json SunsetDoc(const std::string& sunset) {
  return Parse(R"(
openapi: 3.0.3
paths:
  /old:
    get:
      deprecated: true
      x-sunset: )" +
               sunset + R"(
      responses: {'200': {description: ok}}
)");
}

TEST(DiffOpenApi, SunsetNeedsTheCurrentTime) {
  json without = Parse(kMinimal);
  auto no_clock = DiffOpenApi(SunsetDoc("2020-01-01"), without);
  ASSERT_TRUE(no_clock.ok());
  ASSERT_EQ(no_clock->findings.size(), 1u);
  EXPECT_THAT(no_clock->findings[0].message, HasSubstr("without the current time"));

  int64_t now = MsFromDate("2025-06-01");
  auto past = DiffOpenApi(SunsetDoc("2020-01-01"), without, {.now_ms = now});
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->findings.empty());
}

TEST(DiffOpenApi, SunsetIsComparedAtItsInstant) {
  json without = Parse(kMinimal);
  int64_t noon_utc = MsFromDate("2025-06-01") + 12 * 3'600'000;
  auto removed_at = [&](const std::string& sunset) {
    auto diff = DiffOpenApi(SunsetDoc(sunset), without, {.now_ms = noon_utc});
    EXPECT_TRUE(diff.ok());
    return diff.ok() && diff->findings.empty();
  };
  EXPECT_TRUE(removed_at("2025-06-01"));  // midnight UTC that day
  EXPECT_FALSE(removed_at("2025-06-02"));
  EXPECT_TRUE(removed_at("'2025-06-01T11:59:59Z'"));
  EXPECT_FALSE(removed_at("'2025-06-01T12:00:01Z'"));
  EXPECT_TRUE(removed_at("'2025-06-01T13:30:00+02:00'"));       // 11:30 UTC
  EXPECT_FALSE(removed_at("'2025-06-01T11:30:00.250-02:00'"));  // 13:30 UTC
  EXPECT_FALSE(removed_at("next tuesday"));
}

TEST(DiffOpenApi, NonDeprecatedRemovalIgnoresSunset) {
  json doc = SunsetDoc("2020-01-01");
  doc["paths"]["/old"]["get"].erase("deprecated");
  auto diff = DiffOpenApi(doc, Parse(kMinimal), {.now_ms = MsFromDate("2025-06-01")});
  ASSERT_TRUE(diff.ok());
  ASSERT_EQ(diff->findings.size(), 1u);
  EXPECT_EQ(diff->findings[0].rule, "operation-removed");
}

TEST(DiffOpenApi, BreakingOnlyWithABreakingFinding) {
  OpenApiDiff diff;
  EXPECT_FALSE(diff.breaking());
  diff.findings.push_back(
      {Severity::kWarning, "request-property-removed", "POST", "/a", "/x", "m"});
  EXPECT_FALSE(diff.breaking());
  diff.findings.push_back({Severity::kBreaking, "operation-removed", "GET", "/a", "/y", "m"});
  EXPECT_TRUE(diff.breaking());
}

TEST(OpenApiDiffToJson, ListsFindingsWithTheirSeverity) {
  OpenApiDiff diff;
  diff.findings.push_back({Severity::kWarning, "response-enum-value-added", "GET", "/orders/{id}",
                           "/components/schemas/Order/properties/status",
                           "response 200 application/json at 'status': enum values added: "
                           "\"archived\""});
  json out = OpenApiDiffToJson(diff);
  EXPECT_EQ(out, json::parse(R"({"breaking": false, "findings": [{"severity": "warning",
      "rule": "response-enum-value-added", "method": "GET", "path": "/orders/{id}",
      "pointer": "/components/schemas/Order/properties/status",
      "message": "response 200 application/json at 'status': enum values added: \"archived\""}]})"));
}

// A schema recursive through allOf, oneOf, items and additionalProperties at once, changed deep
// inside: the comparison must terminate and report the change.
TEST(DiffOpenApi, TerminatesOnMutuallyRecursiveSchemas) {
  auto doc = [](const std::string& leaf_max) {
    return Parse(R"(
openapi: 3.1.0
paths:
  /graph:
    put:
      requestBody:
        content:
          application/json: {schema: {$ref: '#/components/schemas/A'}}
      responses:
        '200':
          content:
            application/json: {schema: {$ref: '#/components/schemas/B'}}
components:
  schemas:
    A:
      allOf:
        - $ref: '#/components/schemas/B'
        - {type: object, properties: {next: {$ref: '#/components/schemas/A'}}}
    B:
      type: object
      properties:
        children: {type: array, items: {$ref: '#/components/schemas/A'}}
        map: {type: object, additionalProperties: {$ref: '#/components/schemas/B'}}
        either:
          oneOf:
            - $ref: '#/components/schemas/A'
            - {type: string, maxLength: )" +
                 leaf_max + R"(}
)");
  };
  auto diff = DiffOpenApi(doc("10"), doc("5"));
  ASSERT_TRUE(diff.ok()) << diff.error().message();
  ASSERT_FALSE(diff->findings.empty());
  EXPECT_EQ(diff->findings[0].rule, "request-constraint-tightened");
  EXPECT_THAT(diff->findings[0].message, HasSubstr("maxLength 10 → 5"));
  EXPECT_TRUE(diff->breaking());
}

// A hostile document: a $ref chain far deeper than any real schema must neither exhaust the stack
// nor fail; what lies beyond the depth limit is compared as "anything".
TEST(DiffOpenApi, SurvivesAnAbsurdlyDeepReferenceChain) {
  auto doc = [](int depth, const std::string& leaf_type) {
    json schemas = json::object();
    for (int i = 0; i < depth; ++i) {
      schemas["S" + std::to_string(i)] = {
          {"type", "object"},
          {"properties", {{"next", {{"$ref", "#/components/schemas/S" + std::to_string(i + 1)}}}}}};
    }
    schemas["S" + std::to_string(depth)] = {{"type", leaf_type}};
    json body = {
        {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/S0"}}}}}}}};
    return json{{"openapi", "3.1.0"},
                {"paths", {{"/deep", {{"post", {{"requestBody", body}}}}}}},
                {"components", {{"schemas", schemas}}}};
  };
  auto shallow = DiffOpenApi(doc(100, "string"), doc(100, "integer"));
  ASSERT_TRUE(shallow.ok());
  ASSERT_EQ(shallow->findings.size(), 1u);
  EXPECT_EQ(shallow->findings[0].rule, "request-type-narrowed");
  EXPECT_EQ(shallow->findings[0].pointer, "/components/schemas/S100");

  auto deep = DiffOpenApi(doc(5000, "string"), doc(5000, "integer"));
  ASSERT_TRUE(deep.ok());
  EXPECT_TRUE(deep->findings.empty());
}

// The registry keeps specs as read by ParseJsonOrYaml, where YAML numbers stay strings
// ("minimum: '5'"): they must compare as the numbers they spell.
TEST(DiffOpenApi, ReadsNumbersThatYamlKeptAsStrings) {
  auto doc = [](const std::string& maximum) {
    return R"(
openapi: 3.0.3
paths:
  /orders:
    get:
      parameters:
        - name: limit
          in: query
          schema: {type: integer, minimum: 1, maximum: )" +
           maximum + R"(, enum: [1, 10, 100.0]}
      responses: {'200': {description: ok}}
)";
  };
  auto as_strings = YamlToJson(doc("100"));
  ASSERT_TRUE(as_strings.ok());
  ASSERT_EQ((*as_strings)["paths"]["/orders"]["get"]["parameters"][0]["schema"]["minimum"], "1");
  json as_numbers = Parse(doc("100"));

  auto same = DiffOpenApi(as_numbers, *as_strings);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->findings.empty()) << Describe(same->findings);

  auto tighter = YamlToJson(doc("50"));
  ASSERT_TRUE(tighter.ok());
  auto changed = DiffOpenApi(*as_strings, *tighter);
  ASSERT_TRUE(changed.ok());
  ASSERT_EQ(changed->findings.size(), 1u) << Describe(changed->findings);
  EXPECT_THAT(changed->findings[0].message, HasSubstr("maximum 100 → 50"));
}

}  // namespace
}  // namespace shipd

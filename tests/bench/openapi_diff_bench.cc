// openapi_diff_bench: generates two OpenAPI 3.0 documents of about 5,000 YAML lines each (hundreds
// of paths over shared component schemas with $refs, allOf and a recursive schema) that differ in
// a few places, parses them once, and times DiffOpenApi over several runs. Prints one figure per
// line ("name value") on stdout. Exit status: 0 when the expected findings were found, 1 otherwise,
// 2 for bad usage. Not part of the tests; the target is a median under 50 ms.
//
//   openapi_diff_bench [--resources N] [--runs N]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/yaml_json.h"
#include "shipd/contract/openapi_diff.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kEntities = 40;

struct Options {
  int resources = 100;  // each gives two paths and five operations
  int runs = 15;
};

// The changes between the two documents, all switched on in the new one.
struct Variant {
  bool entity_required_added = false;  // Entity3 gains a required property
  bool operation_removed = false;      // DELETE /resources7/{id} disappears
  bool limit_tightened = false;        // GET /resources11 limit maximum 100 → 50
  bool enum_value_added = false;       // Entity5.status gains "archived"
  bool parameter_renamed = false;      // {id} → {resourceId} everywhere (no finding)
};

std::string Entity(int index, const Variant& variant) {
  std::string name = "Entity" + std::to_string(index);
  std::string next = "Entity" + std::to_string((index + 1) % kEntities);
  std::string required = "[name, status";
  if (variant.entity_required_added && index == 3) required += ", region";
  required += "]";
  std::string statuses = "[draft, active, closed";
  if (variant.enum_value_added && index == 5) statuses += ", archived";
  statuses += "]";
  std::string out = "    " + name + R"(:
      description: Entity number )" +
                    std::to_string(index) + R"(
      allOf:
        - $ref: '#/components/schemas/Resource'
        - type: object
          required: )" +
                    required + R"(
          properties:
            name: {type: string, minLength: 1, maxLength: 120}
            status: {type: string, enum: )" +
                    statuses + R"(}
            amount: {$ref: '#/components/schemas/Money'}
            quantity: {type: integer, minimum: 0, maximum: 10000}
            tags:
              type: array
              maxItems: 20
              items: {type: string, pattern: '^[a-z0-9-]+$'}
            address: {$ref: '#/components/schemas/Address'}
            related: {$ref: '#/components/schemas/)" +
                    next + R"('}
            tree: {$ref: '#/components/schemas/TreeNode'}
            note: {type: string, nullable: true}
)";
  if (variant.entity_required_added && index == 3) {
    out += "            region: {type: string}\n";
  }
  return out;
}

std::string Resource(int index, const Variant& variant) {
  std::string name = "resources" + std::to_string(index);
  std::string ref =
      "{$ref: '#/components/schemas/Entity" + std::to_string(index % kEntities) + "'}";
  std::string id = variant.parameter_renamed ? "resourceId" : "id";
  std::string limit_max = variant.limit_tightened && index == 11 ? "50" : "100";
  std::string out = "  /" + name + R"(:
    get:
      operationId: list)" +
                    std::to_string(index) + R"(
      parameters:
        - $ref: '#/components/parameters/Offset'
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: )" +
                    limit_max +
                    R"(}}
        - {name: sort, in: query, schema: {type: string, enum: [name, created]}}
      responses:
        '200':
          description: ok
          headers:
            X-Total-Count: {required: true, schema: {type: integer}}
          content:
            application/json:
              schema: {type: array, items: )" +
                    ref + R"(}
        default: {$ref: '#/components/responses/Problem'}
    post:
      operationId: create)" +
                    std::to_string(index) + R"(
      requestBody:
        required: true
        content:
          application/json: {schema: )" +
                    ref + R"(}
      responses:
        '201':
          description: created
          content:
            application/json: {schema: )" +
                    ref + R"(}
        default: {$ref: '#/components/responses/Problem'}
  /)" + name + "/{" +
                    id + R"(}:
    parameters:
      - {name: )" + id +
                    R"(, in: path, required: true, schema: {type: string, format: uuid}}
    get:
      responses:
        '200':
          description: ok
          content:
            application/json: {schema: )" +
                    ref + R"(}
        default: {$ref: '#/components/responses/Problem'}
    put:
      requestBody:
        content:
          application/json: {schema: )" +
                    ref + R"(}
      responses:
        '200':
          description: ok
          content:
            application/json: {schema: )" +
                    ref + R"(}
)";
  if (!(variant.operation_removed && index == 7)) {
    out += "    delete:\n      responses:\n        '204': {description: deleted}\n";
  }
  return out;
}

std::string Document(const Options& options, const Variant& variant) {
  std::string out = R"(openapi: 3.0.3
info:
  title: bench
  version: 1.0.0
security:
  - bearer: []
paths:
)";
  for (int i = 0; i < options.resources; ++i) out += Resource(i, variant);
  out += R"(components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
  parameters:
    Offset:
      name: offset
      in: query
      schema:
        type: integer
        minimum: 0
  responses:
    Problem:
      description: error
      content:
        application/problem+json:
          schema:
            $ref: '#/components/schemas/Problem'
  schemas:
    Problem:
      type: object
      required: [title]
      properties:
        title:
          type: string
        detail:
          type: string
    Resource:
      type: object
      required: [id]
      properties:
        id:
          type: string
          format: uuid
          readOnly: true
        createdAt:
          type: string
          format: date-time
          readOnly: true
    Money:
      type: object
      required: [currency, value]
      properties:
        currency:
          type: string
          pattern: '^[A-Z]{3}$'
        value:
          type: number
    Address:
      type: object
      properties:
        lines:
          type: array
          items:
            type: string
        city:
          type: string
        country:
          type: string
          minLength: 2
          maxLength: 2
    TreeNode:
      type: object
      properties:
        label:
          type: string
        children:
          type: array
          items:
            $ref: '#/components/schemas/TreeNode'
)";
  for (int i = 0; i < kEntities; ++i) out += Entity(i, variant);
  return out;
}

size_t Lines(std::string_view text) { return std::count(text.begin(), text.end(), '\n'); }

double Milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return false;
    int value = std::atoi(argv[++i]);
    if (value <= 0) return false;
    if (arg == "--resources") {
      options->resources = value;
    } else if (arg == "--runs") {
      options->runs = value;
    } else {
      return false;
    }
  }
  return options->resources > 11;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseArgs(argc, argv, &options)) {
    std::fprintf(stderr, "usage: openapi_diff_bench [--resources N (>11)] [--runs N]\n");
    return 2;
  }
  Variant changed{.entity_required_added = true,
                  .operation_removed = true,
                  .limit_tightened = true,
                  .enum_value_added = true,
                  .parameter_renamed = true};
  std::string old_text = Document(options, {});
  std::string new_text = Document(options, changed);

  Clock::time_point parse_start = Clock::now();
  auto old_doc = shipd::YamlToJson(old_text, {.numbers_as_strings = false});
  auto new_doc = shipd::YamlToJson(new_text, {.numbers_as_strings = false});
  double parse_ms = Milliseconds(Clock::now() - parse_start);
  if (!old_doc.ok() || !new_doc.ok()) {
    std::fprintf(stderr, "generated YAML does not parse: %s\n",
                 (old_doc.ok() ? new_doc.error() : old_doc.error()).message().c_str());
    return 1;
  }

  std::vector<double> runs;
  std::map<std::string, int> by_rule;
  size_t breaking = 0;
  for (int run = 0; run < options.runs; ++run) {
    Clock::time_point start = Clock::now();
    auto diff = shipd::DiffOpenApi(*old_doc, *new_doc);
    runs.push_back(Milliseconds(Clock::now() - start));
    if (!diff.ok()) {
      std::fprintf(stderr, "diff failed: %s\n", diff.error().message().c_str());
      return 1;
    }
    by_rule.clear();
    breaking = 0;
    for (const auto& finding : diff->findings) {
      ++by_rule[finding.rule];
      if (finding.severity == shipd::OpenApiDiff::Severity::kBreaking) ++breaking;
    }
  }
  std::sort(runs.begin(), runs.end());

  std::printf("old_document_lines %zu\n", Lines(old_text));
  std::printf("new_document_lines %zu\n", Lines(new_text));
  std::printf("paths %d\n", options.resources * 2);
  std::printf("operations %d\n", options.resources * 5);
  std::printf("yaml_parse_ms_both %.1f\n", parse_ms);
  for (const auto& [rule, count] : by_rule) std::printf("findings_%s %d\n", rule.c_str(), count);
  std::printf("breaking_findings %zu\n", breaking);
  std::printf("runs %d\n", options.runs);
  std::printf("diff_ms_min %.2f\n", runs.front());
  std::printf("diff_ms_median %.2f\n", runs[runs.size() / 2]);
  std::printf("diff_ms_max %.2f\n", runs.back());
  // Each planted change must show up.
  bool complete = by_rule.count("operation-removed") &&
                  by_rule.count("request-constraint-tightened") &&
                  by_rule.count("request-property-required-added") &&
                  by_rule.count("response-enum-value-added");
  return complete ? 0 : 1;
}

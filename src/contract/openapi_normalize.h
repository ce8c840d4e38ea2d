// The normalised form of an OpenAPI 3.0 / 3.1 document that the differ compares: local $refs
// resolved (schemas form a graph that may contain cycles), allOf merged, the ways of saying
// "nullable" folded into one flag, operations keyed by method and path with parameter names
// erased, path-level parameters merged in, media types without parameters. A NormalizedOpenApi
// owns every Schema it points to and is immutable once built; safe to read from several threads.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace shipd::openapi {

struct Schema;

struct Property {
  const Schema* schema = nullptr;  // never null
  std::string pointer;             // where the property is declared
};

// A lower or upper numeric bound ("minimum" / "exclusiveMinimum" in either dialect).
struct Bound {
  double value = 0;
  bool exclusive = false;
};

struct Schema {
  enum class Additional { kAny, kNone, kSchema };
  enum class Choice { kNone, kOneOf, kAnyOf };

  std::string pointer;  // the schema object, after following $ref; empty for the implicit {}

  std::optional<std::set<std::string>> types;  // nullopt: any type; never contains "null"
  bool nullable = false;
  bool declares_nullability = false;  // said something about types or null (for allOf merging)
  std::optional<std::set<std::string>> enum_values;  // canonical JSON text; null is `nullable`

  std::optional<Bound> minimum;
  std::optional<Bound> maximum;
  std::optional<double> multiple_of;
  std::optional<double> min_length;
  std::optional<double> max_length;
  std::optional<double> min_items;
  std::optional<double> max_items;
  std::optional<double> min_properties;
  std::optional<double> max_properties;
  bool unique_items = false;
  std::optional<std::string> pattern;
  std::optional<std::string> format;

  std::map<std::string, Property> properties;
  std::set<std::string> required;
  Additional additional = Additional::kAny;
  const Schema* additional_schema = nullptr;  // set when additional == kSchema
  const Schema* items = nullptr;

  // oneOf / anyOf with two or more non-null branches (null branches become `nullable`, a single
  // remaining branch is merged into this schema).
  Choice choice = Choice::kNone;
  std::vector<const Schema*> branches;

  bool read_only = false;
  bool write_only = false;
};

struct MediaType {
  std::string pointer;
  const Schema* schema = nullptr;  // null when the document gives none (any content)
};

// Keyed by the lower-cased media type without parameters ("application/json").
using Content = std::map<std::string, MediaType>;

struct Parameter {
  std::string in;  // "query", "header", "path", "cookie"
  std::string name;
  bool required = false;
  const Schema* schema = nullptr;
  std::string pointer;
};

struct RequestBody {
  bool required = false;
  Content content;
  std::string pointer;
};

struct Header {
  std::string name;  // as written
  bool required = false;
  const Schema* schema = nullptr;
  std::string pointer;
};

struct Response {
  std::string pointer;
  Content content;
  std::map<std::string, Header> headers;  // keyed by lower-cased name
};

// Alternatives (any one suffices), each a set of schemes that must all be satisfied, with the
// scopes each needs. An empty list means no security.
using SecurityRequirement = std::map<std::string, std::set<std::string>>;
struct Security {
  std::vector<SecurityRequirement> alternatives;
  std::string pointer;
};

struct Operation {
  std::string method;  // lower case, as in the document
  std::string path;    // as written
  std::string pointer;
  bool deprecated = false;
  std::optional<std::string> sunset;  // x-sunset as written

  // Keyed by "query:limit", "header:x-request-id" (lower case), "cookie:session", and
  // "path:00", "path:01"... by position in the path template, so renaming is not a change.
  std::map<std::string, Parameter> parameters;
  std::optional<RequestBody> request_body;
  std::map<std::string, Response> responses;  // keyed by status, upper case ("200", "2XX")
  std::optional<Security> security;           // nullopt: the document's applies
};

struct NormalizedOpenApi {
  NormalizedOpenApi() = default;
  NormalizedOpenApi(const NormalizedOpenApi&) = delete;
  NormalizedOpenApi& operator=(const NormalizedOpenApi&) = delete;

  // Keyed by the path with parameter names erased, then the method: "/orders/{} get".
  std::map<std::string, Operation> operations;
  std::optional<Security> security;
  std::deque<Schema> schemas;  // owns every Schema above; addresses are stable
};

// Schemas nested deeper than this (through properties, items or $ref chains) are read and
// compared as "anything", so that a hostile document cannot exhaust the stack.
inline constexpr int kMaxSchemaDepth = 256;

// `doc` must be a JSON object; everything else is checked while reading and skipped when
// malformed.
std::unique_ptr<const NormalizedOpenApi> NormalizeOpenApi(const nlohmann::json& doc);

// "application/json; charset=utf-8" → "application/json".
std::string NormalizeMediaType(std::string_view media_type);

// "/orders/{orderId}/items" → "/orders/{}/items".
std::string ErasePathParameterNames(std::string_view path);

// Appends one reference token to a JSON pointer, escaping "~" and "/".
std::string JoinPointer(std::string_view pointer, std::string_view token);

}  // namespace shipd::openapi

#include "openapi_normalize.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace shipd::openapi {
namespace {

using nlohmann::json;

constexpr const char* kMethods[] = {"get",     "put",  "post",  "delete",
                                    "options", "head", "patch", "trace"};

// Longest chain of $ref → $ref followed before giving up (a loop of references).
constexpr int kMaxRefHops = 32;

// Keywords next to a $ref that do not change what the schema accepts.
bool IsAnnotation(std::string_view key) {
  static const std::set<std::string_view> kAnnotations = {
      "$ref",     "description", "summary",      "title", "example", "examples",
      "$comment", "deprecated",  "externalDocs", "xml",   "default", "discriminator"};
  return kAnnotations.count(key) > 0 || key.starts_with("x-");
}

const json* Member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const std::string* StringMember(const json& object, std::string_view key) {
  const json* value = Member(object, key);
  return value && value->is_string() ? &value->get_ref<const std::string&>() : nullptr;
}

bool FlagMember(const json& object, std::string_view key) {
  const json* value = Member(object, key);
  return value && value->is_boolean() && value->get<bool>();
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      auto hex = [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10;
      };
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string UnescapeToken(std::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out.push_back(token[i + 1] == '0' ? '~' : '/');
      ++i;
    } else {
      out.push_back(token[i]);
    }
  }
  return out;
}

// The names of a path template's parameters, in order: "/a/{x}/b/{y}" → {x, y}.
std::vector<std::string> TemplateNames(std::string_view path) {
  std::vector<std::string> names;
  size_t open = path.find('{');
  while (open != std::string_view::npos) {
    size_t close = path.find('}', open);
    if (close == std::string_view::npos) break;
    names.emplace_back(path.substr(open + 1, close - open - 1));
    open = path.find('{', close);
  }
  return names;
}

std::optional<Bound> TighterLower(const std::optional<Bound>& a, const std::optional<Bound>& b) {
  if (!a) return b;
  if (!b) return a;
  if (a->value != b->value) return a->value > b->value ? a : b;
  return Bound{a->value, a->exclusive || b->exclusive};
}

std::optional<Bound> TighterUpper(const std::optional<Bound>& a, const std::optional<Bound>& b) {
  if (!a) return b;
  if (!b) return a;
  if (a->value != b->value) return a->value < b->value ? a : b;
  return Bound{a->value, a->exclusive || b->exclusive};
}

std::optional<double> Max(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

std::optional<double> Min(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// Type intersection for allOf, where "integer" is a subset of "number".
std::set<std::string> IntersectTypes(const std::set<std::string>& a,
                                     const std::set<std::string>& b) {
  std::set<std::string> out;
  for (const std::string& type : a) {
    if (b.count(type)) {
      out.insert(type);
    } else if ((type == "integer" && b.count("number")) ||
               (type == "number" && b.count("integer"))) {
      out.insert("integer");
    }
  }
  return out;
}

// The schema keywords the differ reads, found in one pass over an object's members.
struct Keywords {
  const json* ref = nullptr;
  const json* type = nullptr;
  const json* nullable = nullptr;
  const json* enum_values = nullptr;
  const json* constant = nullptr;
  const json* minimum = nullptr;
  const json* exclusive_minimum = nullptr;
  const json* maximum = nullptr;
  const json* exclusive_maximum = nullptr;
  const json* multiple_of = nullptr;
  const json* min_length = nullptr;
  const json* max_length = nullptr;
  const json* min_items = nullptr;
  const json* max_items = nullptr;
  const json* min_properties = nullptr;
  const json* max_properties = nullptr;
  const json* unique_items = nullptr;
  const json* pattern = nullptr;
  const json* format = nullptr;
  const json* read_only = nullptr;
  const json* write_only = nullptr;
  const json* properties = nullptr;
  const json* required = nullptr;
  const json* additional_properties = nullptr;
  const json* items = nullptr;
  const json* all_of = nullptr;
  const json* one_of = nullptr;
  const json* any_of = nullptr;
};

Keywords ScanKeywords(const json& object) {
  using Slot = const json* Keywords::*;
  static const std::unordered_map<std::string_view, Slot> kSlots = {
      {"$ref", &Keywords::ref},
      {"type", &Keywords::type},
      {"nullable", &Keywords::nullable},
      {"enum", &Keywords::enum_values},
      {"const", &Keywords::constant},
      {"minimum", &Keywords::minimum},
      {"exclusiveMinimum", &Keywords::exclusive_minimum},
      {"maximum", &Keywords::maximum},
      {"exclusiveMaximum", &Keywords::exclusive_maximum},
      {"multipleOf", &Keywords::multiple_of},
      {"minLength", &Keywords::min_length},
      {"maxLength", &Keywords::max_length},
      {"minItems", &Keywords::min_items},
      {"maxItems", &Keywords::max_items},
      {"minProperties", &Keywords::min_properties},
      {"maxProperties", &Keywords::max_properties},
      {"uniqueItems", &Keywords::unique_items},
      {"pattern", &Keywords::pattern},
      {"format", &Keywords::format},
      {"readOnly", &Keywords::read_only},
      {"writeOnly", &Keywords::write_only},
      {"properties", &Keywords::properties},
      {"required", &Keywords::required},
      {"additionalProperties", &Keywords::additional_properties},
      {"items", &Keywords::items},
      {"allOf", &Keywords::all_of},
      {"oneOf", &Keywords::one_of},
      {"anyOf", &Keywords::any_of},
  };
  Keywords keywords;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (auto slot = kSlots.find(it.key()); slot != kSlots.end()) keywords.*(slot->second) = &*it;
  }
  return keywords;
}

bool IsTrue(const json* value) { return value && value->is_boolean() && value->get<bool>(); }

// A number, or a string holding one: documents read from YAML with numbers kept as strings (as
// the registry stores them) say `minimum: "5"`.
std::optional<double> AsNumber(const json* value) {
  if (!value) return std::nullopt;
  if (value->is_number()) return value->get<double>();
  if (!value->is_string()) return std::nullopt;
  const std::string& text = value->get_ref<const std::string&>();
  const char* begin = text.data() + (text.starts_with('+') ? 1 : 0);
  double number = 0;
  auto [end, error] = std::from_chars(begin, text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size() || begin == end) {
    return std::nullopt;
  }
  return number;
}

class Normalizer {
 public:
  Normalizer(const json& doc, NormalizedOpenApi& out) : doc_(doc), out_(out) {}

  void Run() {
    if (const json* paths = Member(doc_, "paths"); paths && paths->is_object()) {
      for (const auto& [path, item] : paths->items()) ReadPathItem(path, item);
    }
    out_.security = ReadSecurity(doc_, "");
  }

 private:
  struct Located {
    const json* value = nullptr;  // null when a $ref could not be resolved
    std::string pointer;
  };

  Schema& NewSchema(std::string pointer) {
    Schema& schema = out_.schemas.emplace_back();
    schema.pointer = std::move(pointer);
    return schema;
  }

  // Resolves a local reference ("#/components/schemas/Order"); sets `pointer` to the canonical
  // JSON pointer of the target. Null for external or dangling references.
  const json* Resolve(std::string_view ref, std::string* pointer) const {
    if (!ref.starts_with('#')) return nullptr;
    std::string fragment = PercentDecode(ref.substr(1));
    if (!fragment.empty() && fragment[0] != '/') return nullptr;
    const json* current = &doc_;
    pointer->clear();
    size_t start = 1;
    while (start <= fragment.size() && !fragment.empty()) {
      size_t end = fragment.find('/', start);
      if (end == std::string::npos) end = fragment.size();
      std::string token = UnescapeToken(std::string_view(fragment).substr(start, end - start));
      if (current->is_object()) {
        auto it = current->find(token);
        if (it == current->end()) return nullptr;
        current = &*it;
      } else if (current->is_array() && !token.empty() && token.size() < 10 &&
                 std::all_of(token.begin(), token.end(),
                             [](unsigned char c) { return std::isdigit(c) != 0; })) {
        size_t index = std::stoul(token);
        if (index >= current->size()) return nullptr;
        current = &(*current)[index];
      } else {
        return nullptr;
      }
      *pointer = JoinPointer(*pointer, token);
      start = end + 1;
    }
    return current;
  }

  // Follows $ref until a non-reference object (parameters, responses, headers, path items).
  Located Follow(const json& value, std::string pointer) const {
    Located located{&value, std::move(pointer)};
    for (int hop = 0; hop < kMaxRefHops; ++hop) {
      const std::string* ref = StringMember(*located.value, "$ref");
      if (!ref) return located;
      located.value = Resolve(*ref, &located.pointer);
      if (!located.value) return located;
    }
    located.value = nullptr;
    return located;
  }

  static bool IsPureRef(const json& value) {
    if (!StringMember(value, "$ref")) return false;
    return std::all_of(value.items().begin(), value.items().end(),
                       [](const auto& item) { return IsAnnotation(item.key()); });
  }

  const Schema* SchemaAt(const json& value, const std::string& pointer) {
    if (IsPureRef(value)) return SchemaForRef(*StringMember(value, "$ref"));
    Schema& schema = NewSchema(pointer);
    Fill(schema, value, pointer);
    return &schema;
  }

  // One node per referenced schema, so references to it share it and recursion becomes a cycle.
  const Schema* SchemaForRef(const std::string& ref) {
    if (auto it = by_ref_.find(ref); it != by_ref_.end()) return it->second;
    std::string pointer;
    const json* target = Resolve(ref, &pointer);
    const std::string& key = target ? pointer : ref;
    if (auto it = by_pointer_.find(key); it != by_pointer_.end()) {
      by_ref_.emplace(ref, it->second);
      return it->second;
    }
    Schema& schema = NewSchema(target ? pointer : std::string());
    by_pointer_.emplace(key, &schema);
    by_ref_.emplace(ref, &schema);
    if (target) {
      building_.insert(&schema);
      Fill(schema, *target, pointer);
      building_.erase(&schema);
    }
    return &schema;
  }

  void Fill(Schema& schema, const json& value, const std::string& pointer) {
    if (value.is_boolean()) {  // 3.1: `false` accepts nothing, `true` anything
      if (!value.get<bool>()) {
        schema.types.emplace();
        schema.declares_nullability = true;
      }
      return;
    }
    if (!value.is_object() || depth_ >= kMaxSchemaDepth) return;
    ++depth_;
    FillObject(schema, value, pointer);
    --depth_;
  }

  void FillObject(Schema& schema, const json& value, const std::string& pointer) {
    Keywords keywords = ScanKeywords(value);
    bool explicit_null = false;
    ReadTypes(schema, keywords, &explicit_null);
    ReadConstraints(schema, keywords);
    ReadStructure(schema, keywords, pointer);

    std::vector<const Schema*> parts;
    if (keywords.ref && keywords.ref->is_string()) {
      parts.push_back(SchemaForRef(keywords.ref->get_ref<const std::string&>()));
    }
    if (keywords.all_of && keywords.all_of->is_array()) {
      std::string base = JoinPointer(pointer, "allOf");
      for (size_t i = 0; i < keywords.all_of->size(); ++i) {
        parts.push_back(SchemaAt((*keywords.all_of)[i], JoinPointer(base, std::to_string(i))));
      }
    }
    for (const Schema* part : parts) Merge(schema, *part);
    ReadChoice(schema, keywords, pointer, &explicit_null);

    // A null stated at this level wins over what the merged parts say (`allOf: [$ref]` with
    // `nullable: true` next to it is how 3.0 documents make a reference nullable).
    if (explicit_null) {
      schema.nullable = true;
      schema.declares_nullability = true;
    }
  }

  static void ReadTypes(Schema& schema, const Keywords& keywords, bool* explicit_null) {
    if (const json* type = keywords.type) {
      std::set<std::string> types;
      auto add = [&](const json& item) {
        if (!item.is_string()) return;
        if (item == "null") {
          *explicit_null = true;
        } else {
          types.insert(item.get<std::string>());
        }
      };
      if (type->is_array()) {
        for (const json& item : *type) add(item);
      } else {
        add(*type);
      }
      schema.types = std::move(types);
      schema.declares_nullability = true;
    }
    if (keywords.nullable && keywords.nullable->is_boolean()) {
      schema.declares_nullability = true;
      if (keywords.nullable->get<bool>()) *explicit_null = true;
    }
    // Values of a numeric schema written as strings are the numbers they spell.
    bool numeric = schema.types && !schema.types->empty() &&
                   std::all_of(schema.types->begin(), schema.types->end(), [](const auto& type) {
                     return type == "integer" || type == "number";
                   });
    auto read_enum = [&](const json& values) {
      std::set<std::string> out;
      for (const json& item : values) {
        if (item.is_null()) {
          *explicit_null = true;
        } else if (auto number = numeric ? AsNumber(&item) : std::nullopt) {
          out.insert(json(*number).dump());
        } else {
          out.insert(item.dump());
        }
      }
      schema.enum_values = std::move(out);
    };
    if (keywords.enum_values && keywords.enum_values->is_array()) {
      read_enum(*keywords.enum_values);
    } else if (keywords.constant) {
      read_enum(json::array({*keywords.constant}));
    }
  }

  static void ReadConstraints(Schema& schema, const Keywords& keywords) {
    // 3.0: `exclusiveMinimum: true` qualifies `minimum`; 3.1: `exclusiveMinimum: 5` is the bound.
    if (auto minimum = AsNumber(keywords.minimum)) {
      schema.minimum = Bound{*minimum, IsTrue(keywords.exclusive_minimum)};
    }
    if (auto exclusive = AsNumber(keywords.exclusive_minimum)) {
      schema.minimum = TighterLower(schema.minimum, Bound{*exclusive, true});
    }
    if (auto maximum = AsNumber(keywords.maximum)) {
      schema.maximum = Bound{*maximum, IsTrue(keywords.exclusive_maximum)};
    }
    if (auto exclusive = AsNumber(keywords.exclusive_maximum)) {
      schema.maximum = TighterUpper(schema.maximum, Bound{*exclusive, true});
    }
    if (auto multiple = AsNumber(keywords.multiple_of); multiple && *multiple > 0) {
      schema.multiple_of = multiple;
    }
    schema.min_length = AsNumber(keywords.min_length);
    schema.max_length = AsNumber(keywords.max_length);
    schema.min_items = AsNumber(keywords.min_items);
    schema.max_items = AsNumber(keywords.max_items);
    schema.min_properties = AsNumber(keywords.min_properties);
    schema.max_properties = AsNumber(keywords.max_properties);
    schema.unique_items = IsTrue(keywords.unique_items);
    if (keywords.pattern && keywords.pattern->is_string()) {
      schema.pattern = keywords.pattern->get<std::string>();
    }
    if (keywords.format && keywords.format->is_string()) {
      schema.format = keywords.format->get<std::string>();
    }
    schema.read_only = IsTrue(keywords.read_only);
    schema.write_only = IsTrue(keywords.write_only);
  }

  void ReadStructure(Schema& schema, const Keywords& keywords, const std::string& pointer) {
    if (keywords.properties && keywords.properties->is_object()) {
      std::string base = JoinPointer(pointer, "properties");
      for (const auto& [name, property] : keywords.properties->items()) {
        std::string property_pointer = JoinPointer(base, name);
        const Schema* property_schema = SchemaAt(property, property_pointer);
        schema.properties[name] = Property{property_schema, std::move(property_pointer)};
      }
    }
    if (keywords.required && keywords.required->is_array()) {
      for (const json& name : *keywords.required) {
        if (name.is_string()) schema.required.insert(name.get<std::string>());
      }
    }
    if (const json* additional = keywords.additional_properties) {
      if (additional->is_boolean()) {
        schema.additional =
            additional->get<bool>() ? Schema::Additional::kAny : Schema::Additional::kNone;
      } else if (additional->is_object()) {
        schema.additional = Schema::Additional::kSchema;
        schema.additional_schema =
            SchemaAt(*additional, JoinPointer(pointer, "additionalProperties"));
      }
    }
    if (const json* items = keywords.items; items && (items->is_object() || items->is_boolean())) {
      schema.items = SchemaAt(*items, JoinPointer(pointer, "items"));
    }
  }

  void ReadChoice(Schema& schema, const Keywords& keywords, const std::string& pointer,
                  bool* explicit_null) {
    Schema::Choice kind = Schema::Choice::kOneOf;
    const json* alternatives = keywords.one_of;
    std::string keyword = "oneOf";
    if (!alternatives || !alternatives->is_array()) {
      alternatives = keywords.any_of;
      kind = Schema::Choice::kAnyOf;
      keyword = "anyOf";
    }
    if (!alternatives || !alternatives->is_array()) return;
    std::string base = JoinPointer(pointer, keyword);
    std::vector<const Schema*> rest;
    bool null_branch = false;
    for (size_t i = 0; i < alternatives->size(); ++i) {
      const Schema* branch = SchemaAt((*alternatives)[i], JoinPointer(base, std::to_string(i)));
      bool null_only =
          !building_.count(branch) && branch->types && branch->types->empty() && branch->nullable;
      if (null_only) {
        null_branch = true;
      } else {
        rest.push_back(branch);
      }
    }
    if (null_branch) *explicit_null = true;
    if (rest.empty()) {
      if (null_branch) schema.types.emplace();
    } else if (rest.size() == 1 && !building_.count(rest[0])) {
      Merge(schema, *rest[0]);
    } else if (schema.choice == Schema::Choice::kNone) {
      schema.choice = kind;
      schema.branches = std::move(rest);
    }
  }

  // allOf: what `from` requires is added to `into`.
  void Merge(Schema& into, const Schema& from) {
    if (building_.count(&from)) return;  // a cycle through allOf adds nothing
    if (from.types) into.types = into.types ? IntersectTypes(*into.types, *from.types) : from.types;
    if (from.declares_nullability) {
      into.nullable = into.declares_nullability ? into.nullable && from.nullable : from.nullable;
      into.declares_nullability = true;
    }
    if (from.enum_values) {
      if (into.enum_values) {
        std::set<std::string> both;
        std::set_intersection(into.enum_values->begin(), into.enum_values->end(),
                              from.enum_values->begin(), from.enum_values->end(),
                              std::inserter(both, both.end()));
        into.enum_values = std::move(both);
      } else {
        into.enum_values = from.enum_values;
      }
    }
    into.minimum = TighterLower(into.minimum, from.minimum);
    into.maximum = TighterUpper(into.maximum, from.maximum);
    if (!into.multiple_of) into.multiple_of = from.multiple_of;
    into.min_length = Max(into.min_length, from.min_length);
    into.max_length = Min(into.max_length, from.max_length);
    into.min_items = Max(into.min_items, from.min_items);
    into.max_items = Min(into.max_items, from.max_items);
    into.min_properties = Max(into.min_properties, from.min_properties);
    into.max_properties = Min(into.max_properties, from.max_properties);
    into.unique_items = into.unique_items || from.unique_items;
    if (!into.pattern) into.pattern = from.pattern;
    if (!into.format) into.format = from.format;
    for (const auto& [name, property] : from.properties) {
      auto [it, inserted] = into.properties.emplace(name, property);
      if (!inserted) {
        it->second.schema = MergedCopy(it->second.schema, property.schema);
      }
    }
    into.required.insert(from.required.begin(), from.required.end());
    if (from.additional == Schema::Additional::kNone) {
      into.additional = Schema::Additional::kNone;
      into.additional_schema = nullptr;
    } else if (from.additional == Schema::Additional::kSchema) {
      if (into.additional == Schema::Additional::kAny) {
        into.additional = Schema::Additional::kSchema;
        into.additional_schema = from.additional_schema;
      } else if (into.additional == Schema::Additional::kSchema) {
        into.additional_schema = MergedCopy(into.additional_schema, from.additional_schema);
      }
    }
    if (from.items) into.items = into.items ? MergedCopy(into.items, from.items) : from.items;
    if (into.choice == Schema::Choice::kNone && from.choice != Schema::Choice::kNone) {
      into.choice = from.choice;
      into.branches = from.branches;
    }
    into.read_only = into.read_only || from.read_only;
    into.write_only = into.write_only || from.write_only;
  }

  // A new node accepting what both accept; memoised so recursive schemas terminate.
  const Schema* MergedCopy(const Schema* a, const Schema* b) {
    if (a == b || building_.count(b) || depth_ >= kMaxSchemaDepth) return a;
    if (building_.count(a)) return b;
    auto key = std::make_pair(a, b);
    if (auto it = merged_.find(key); it != merged_.end()) return it->second;
    Schema& merged = NewSchema(a->pointer);
    merged = *a;
    merged_.emplace(key, &merged);
    building_.insert(&merged);
    ++depth_;
    Merge(merged, *b);
    --depth_;
    building_.erase(&merged);
    return &merged;
  }

  void ReadPathItem(const std::string& path, const json& raw) {
    Located item = Follow(raw, JoinPointer("/paths", path));
    if (!item.value || !item.value->is_object()) return;
    std::vector<std::string> names = TemplateNames(path);
    std::map<std::string, Parameter> shared;
    ReadParameters(*item.value, item.pointer, names, shared);
    std::string erased = ErasePathParameterNames(path);
    for (const char* method : kMethods) {
      const json* raw_operation = Member(*item.value, method);
      if (!raw_operation || !raw_operation->is_object()) continue;
      std::string key = erased + " " + method;
      if (out_.operations.count(key)) continue;  // "/a/{x}" and "/a/{y}": the first one counts
      Operation operation;
      operation.method = method;
      operation.path = path;
      operation.pointer = JoinPointer(item.pointer, method);
      ReadOperation(*raw_operation, names, shared, operation);
      out_.operations.emplace(std::move(key), std::move(operation));
    }
  }

  void ReadOperation(const json& value, const std::vector<std::string>& names,
                     const std::map<std::string, Parameter>& shared, Operation& operation) {
    const std::string& pointer = operation.pointer;
    operation.deprecated = FlagMember(value, "deprecated");
    if (const json* sunset = Member(value, "x-sunset"); sunset && !sunset->is_null()) {
      operation.sunset = sunset->is_string() ? sunset->get<std::string>() : sunset->dump();
    }
    operation.parameters = shared;
    ReadParameters(value, pointer, names, operation.parameters);
    if (const json* raw_body = Member(value, "requestBody")) {
      Located body = Follow(*raw_body, JoinPointer(pointer, "requestBody"));
      if (body.value && body.value->is_object()) {
        RequestBody out;
        out.required = FlagMember(*body.value, "required");
        out.pointer = body.pointer;
        out.content = ReadContent(*body.value, body.pointer);
        operation.request_body = std::move(out);
      }
    }
    if (const json* responses = Member(value, "responses"); responses && responses->is_object()) {
      std::string base = JoinPointer(pointer, "responses");
      for (const auto& [status, raw_response] : responses->items()) {
        Located response = Follow(raw_response, JoinPointer(base, status));
        if (!response.value || !response.value->is_object()) continue;
        operation.responses.emplace(Upper(status), ReadResponse(response));
      }
    }
    operation.security = ReadSecurity(value, pointer);
  }

  // Parameters of `parent`, replacing those of `out` with the same location and name.
  void ReadParameters(const json& parent, const std::string& parent_pointer,
                      const std::vector<std::string>& names,
                      std::map<std::string, Parameter>& out) {
    const json* list = Member(parent, "parameters");
    if (!list || !list->is_array()) return;
    std::string base = JoinPointer(parent_pointer, "parameters");
    for (size_t i = 0; i < list->size(); ++i) {
      Located located = Follow((*list)[i], JoinPointer(base, std::to_string(i)));
      if (!located.value) continue;
      const std::string* in = StringMember(*located.value, "in");
      const std::string* name = StringMember(*located.value, "name");
      if (!in || !name) continue;
      std::string key;
      if (*in == "path") {
        auto it = std::find(names.begin(), names.end(), *name);
        char position[8];
        std::snprintf(position, sizeof position, "%02d", static_cast<int>(it - names.begin()));
        key = it == names.end() ? "path:?" + *name : std::string("path:") + position;
      } else if (*in == "header") {
        std::string lower = Lower(*name);
        // OpenAPI ignores these three as parameters; they are described elsewhere.
        if (lower == "accept" || lower == "content-type" || lower == "authorization") continue;
        key = "header:" + lower;
      } else {
        key = *in + ":" + *name;
      }
      Parameter parameter;
      parameter.in = *in;
      parameter.name = *name;
      parameter.required = *in == "path" || FlagMember(*located.value, "required");
      parameter.pointer = located.pointer;
      parameter.schema = ValueSchema(*located.value, located.pointer);
      out[key] = std::move(parameter);
    }
  }

  // The schema of a parameter or header: `schema`, or the schema of its one `content` entry.
  const Schema* ValueSchema(const json& value, const std::string& pointer) {
    if (const json* schema = Member(value, "schema")) {
      return SchemaAt(*schema, JoinPointer(pointer, "schema"));
    }
    if (const json* content = Member(value, "content"); content && content->is_object()) {
      for (const auto& [media_type, entry] : content->items()) {
        if (const json* schema = Member(entry, "schema")) {
          return SchemaAt(
              *schema,
              JoinPointer(JoinPointer(JoinPointer(pointer, "content"), media_type), "schema"));
        }
      }
    }
    return nullptr;
  }

  Content ReadContent(const json& parent, const std::string& parent_pointer) {
    Content out;
    const json* content = Member(parent, "content");
    if (!content || !content->is_object()) return out;
    std::string base = JoinPointer(parent_pointer, "content");
    for (const auto& [media_type, entry] : content->items()) {
      std::string key = NormalizeMediaType(media_type);
      if (key.empty() || out.count(key)) continue;
      MediaType type;
      type.pointer = JoinPointer(base, media_type);
      if (const json* schema = Member(entry, "schema")) {
        type.schema = SchemaAt(*schema, JoinPointer(type.pointer, "schema"));
      }
      out.emplace(std::move(key), std::move(type));
    }
    return out;
  }

  Response ReadResponse(const Located& response) {
    Response out;
    out.pointer = response.pointer;
    out.content = ReadContent(*response.value, response.pointer);
    const json* headers = Member(*response.value, "headers");
    if (!headers || !headers->is_object()) return out;
    std::string base = JoinPointer(response.pointer, "headers");
    for (const auto& [name, raw_header] : headers->items()) {
      std::string key = Lower(name);
      if (key == "content-type" || out.headers.count(key)) continue;  // ignored by OpenAPI
      Located header = Follow(raw_header, JoinPointer(base, name));
      if (!header.value || !header.value->is_object()) continue;
      Header out_header;
      out_header.name = name;
      out_header.required = FlagMember(*header.value, "required");
      out_header.pointer = header.pointer;
      out_header.schema = ValueSchema(*header.value, header.pointer);
      out.headers.emplace(std::move(key), std::move(out_header));
    }
    return out;
  }

  static std::optional<Security> ReadSecurity(const json& parent, const std::string& pointer) {
    const json* list = Member(parent, "security");
    if (!list || !list->is_array()) return std::nullopt;
    Security security;
    security.pointer = JoinPointer(pointer, "security");
    for (const json& requirement : *list) {
      if (!requirement.is_object()) continue;
      SecurityRequirement out;
      for (const auto& [scheme, scopes] : requirement.items()) {
        std::set<std::string>& names = out[scheme];
        if (!scopes.is_array()) continue;
        for (const json& scope : scopes) {
          if (scope.is_string()) names.insert(scope.get<std::string>());
        }
      }
      security.alternatives.push_back(std::move(out));
    }
    return security;
  }

  const json& doc_;
  NormalizedOpenApi& out_;
  std::unordered_map<std::string, const Schema*> by_pointer_;  // by canonical target pointer
  std::unordered_map<std::string, const Schema*> by_ref_;      // by $ref text as written
  std::unordered_set<const Schema*> building_;  // nodes whose content is still being read
  std::map<std::pair<const Schema*, const Schema*>, const Schema*> merged_;
  int depth_ = 0;  // of Fill recursion
};

}  // namespace

std::unique_ptr<const NormalizedOpenApi> NormalizeOpenApi(const nlohmann::json& doc) {
  auto out = std::make_unique<NormalizedOpenApi>();
  Normalizer(doc, *out).Run();
  return out;
}

std::string NormalizeMediaType(std::string_view media_type) {
  std::string_view type = media_type.substr(0, media_type.find(';'));
  size_t first = type.find_first_not_of(" \t");
  if (first == std::string_view::npos) return "";
  size_t last = type.find_last_not_of(" \t");
  return Lower(type.substr(first, last - first + 1));
}

std::string ErasePathParameterNames(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  bool in_name = false;
  for (char c : path) {
    if (c == '{') {
      in_name = true;
      out += "{}";
    } else if (c == '}') {
      in_name = false;
    } else if (!in_name) {
      out.push_back(c);
    }
  }
  return out;
}

std::string JoinPointer(std::string_view pointer, std::string_view token) {
  std::string out(pointer);
  out.push_back('/');
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace shipd::openapi

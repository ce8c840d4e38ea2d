#include "openapi_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <utility>

namespace shipd::openapi {
namespace {

using Severity = OpenApiDiff::Severity;

const Schema& AnySchema() {
  static const Schema any;
  return any;
}

std::string FormatNumber(double value) {
  char buffer[32];
  if (std::abs(value) < 1e15 && value == std::floor(value)) {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(buffer, sizeof buffer, "%g", value);
  }
  return buffer;
}

std::string FormatTypes(const std::optional<std::set<std::string>>& types) {
  if (!types) return "any";
  if (types->empty()) return "null";
  std::string out;
  for (const std::string& type : *types) {
    if (!out.empty()) out += "|";
    out += type;
  }
  return out;
}

// At most ten values, each as JSON text.
std::string FormatValues(const std::vector<std::string>& values) {
  std::string out;
  size_t shown = std::min<size_t>(values.size(), 10);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    out += values[i];
  }
  if (shown < values.size()) out += ", … (" + std::to_string(values.size() - shown) + " more)";
  return out;
}

std::string FormatText(const std::optional<std::string>& text) {
  return text ? "'" + *text + "'" : "none";
}

// "minimum 5", "exclusiveMinimum 5" or "minimum none".
std::string FormatBound(std::string_view name, std::string_view exclusive_name,
                        const std::optional<Bound>& bound) {
  if (!bound) return std::string(name) + " none";
  return std::string(bound->exclusive ? exclusive_name : name) + " " + FormatNumber(bound->value);
}

// "maxLength 100 → 50", or both names in full when they differ.
std::string FormatBoundChange(std::string_view name, std::string_view exclusive_name,
                              const std::optional<Bound>& from, const std::optional<Bound>& to) {
  std::string before = FormatBound(name, exclusive_name, from);
  std::string after = FormatBound(name, exclusive_name, to);
  size_t space = before.find(' ');
  if (after.compare(0, space + 1, before, 0, space + 1) == 0) after.erase(0, space + 1);
  return before + " → " + after;
}

// True when a value satisfying `from` satisfies `to` for a lower bound.
bool LowerCovers(const std::optional<Bound>& to, const std::optional<Bound>& from) {
  if (!to) return true;
  if (!from) return false;
  if (from->value != to->value) return from->value > to->value;
  return from->exclusive || !to->exclusive;
}

bool UpperCovers(const std::optional<Bound>& to, const std::optional<Bound>& from) {
  if (!to) return true;
  if (!from) return false;
  if (from->value != to->value) return from->value < to->value;
  return from->exclusive || !to->exclusive;
}

std::optional<Bound> AsBound(const std::optional<double>& value) {
  if (!value) return std::nullopt;
  return Bound{*value, false};
}

// Every multiple of `value` is a multiple of `of` (a missing multipleOf allows everything).
bool MultipleCovers(const std::optional<double>& of, const std::optional<double>& value) {
  if (!of) return true;
  if (!value) return false;
  double ratio = *value / *of;
  return std::abs(ratio - std::round(ratio)) < 1e-9;
}

// The type set `inner` is contained in `outer`; "integer" is contained in "number".
bool TypesCover(const std::optional<std::set<std::string>>& outer,
                const std::optional<std::set<std::string>>& inner) {
  if (!outer) return true;
  if (!inner) return false;
  return std::all_of(inner->begin(), inner->end(), [&](const std::string& type) {
    return outer->count(type) || (type == "integer" && outer->count("number"));
  });
}

bool CouldBe(const Schema& schema, const char* type) {
  return !schema.types || schema.types->count(type) ||
         (std::string_view(type) == "number" && schema.types->count("integer"));
}

// Formats that accept every value of the other one: a request may widen to them.
bool FormatWidens(const std::optional<std::string>& from, const std::optional<std::string>& to) {
  return from && to &&
         ((*from == "int32" && *to == "int64") || (*from == "float" && *to == "double"));
}

// "Cat" for a branch defined in components/schemas, else its position ("#2").
std::string BranchLabel(const std::vector<const Schema*>& branches, size_t index) {
  static constexpr std::string_view kComponents = "/components/schemas/";
  const std::string& pointer = branches[index]->pointer;
  if (pointer.starts_with(kComponents) &&
      pointer.find('/', kComponents.size()) == std::string::npos) {
    return pointer.substr(kComponents.size());
  }
  return "#" + std::to_string(index + 1);
}

// Branches defined as components are matched by name before anything else.
std::string BranchKey(const Schema* branch) {
  return branch->pointer.starts_with("/components/") ? branch->pointer : std::string();
}

}  // namespace

struct SchemaComparer::Pair {
  // One finding of this pair, or a pair below it reached through `label` (".name", "[]", ".*",
  // "(oneOf Cat)"). Kept in report order.
  struct Step {
    Severity severity = Severity::kBreaking;
    std::string rule;
    std::string pointer;  // empty: the schema is implicit, use the caller's fallback
    std::string text;
    Pair* child = nullptr;
    std::string label;
  };

  Key key;
  std::vector<Step> steps;
  bool classified = false;
  bool dirty = false;     // some finding in the closure
  bool breaking = false;  // some breaking finding in the closure

  void Add(Severity severity, std::string_view rule, const std::string& pointer, std::string text) {
    steps.push_back(Step{severity, std::string(rule), pointer, std::move(text), nullptr, {}});
  }
  void AddChild(Pair* pair, std::string label) {
    steps.push_back(Step{Severity::kBreaking, {}, {}, {}, pair, std::move(label)});
  }
};

void FindingSink::Add(Severity severity, std::string_view rule, std::string pointer,
                      std::string message) const {
  out->push_back(OpenApiDiff::Finding{severity, std::string(rule), method, path, std::move(pointer),
                                      std::move(message)});
}

size_t SchemaComparer::KeyHash::operator()(const Key& key) const {
  size_t hash = std::hash<const void*>()(key.old_schema);
  hash = hash * 1'000'003 ^ std::hash<const void*>()(key.new_schema);
  return hash * 4 + static_cast<size_t>(key.direction) * 2 + (key.body_only ? 1 : 0);
}

SchemaComparer::SchemaComparer() = default;
SchemaComparer::~SchemaComparer() = default;

void SchemaComparer::BeginOperation() { reported_.clear(); }

void SchemaComparer::Compare(const Schema* old_schema, const Schema* new_schema,
                             Direction direction, std::string_view context,
                             std::string_view fallback_pointer, const FindingSink& sink) {
  Pair* root = Get(old_schema, new_schema, direction, false);
  Classify();
  std::string field;
  Replay(*root, field, context, fallback_pointer, sink);
}

SchemaComparer::Pair* SchemaComparer::Get(const Schema* old_schema, const Schema* new_schema,
                                          Direction direction, bool body_only) {
  Key key{old_schema ? old_schema : &AnySchema(), new_schema ? new_schema : &AnySchema(), direction,
          body_only};
  auto [it, inserted] = pairs_.try_emplace(key);
  if (!inserted) return it->second.get();  // done, or on the stack: a cycle ends here
  it->second = std::make_unique<Pair>();
  Pair* pair = it->second.get();
  pair->key = key;
  // Deeper than any real document: left uncompared rather than risking the stack.
  if (depth_ < kMaxSchemaDepth) {
    ++depth_;
    Build(*pair);
    --depth_;
  }
  unclassified_.push_back(pair);
  return pair;
}

void SchemaComparer::Build(Pair& pair) {
  const Schema& old_s = *pair.key.old_schema;
  const Schema& new_s = *pair.key.new_schema;
  if (!pair.key.body_only) CompareNullability(pair, old_s, new_s);
  bool old_choice = !old_s.branches.empty();
  bool new_choice = !new_s.branches.empty();
  std::string_view keyword =
      (new_choice ? new_s.choice : old_s.choice) == Schema::Choice::kAnyOf ? "anyOf" : "oneOf";
  if (!pair.key.body_only && old_choice != new_choice) {
    CompareBranches(pair, old_choice ? old_s.branches : std::vector<const Schema*>{&old_s},
                    new_choice ? new_s.branches : std::vector<const Schema*>{&new_s},
                    old_choice ? nullptr : &old_s, new_choice ? nullptr : &new_s, keyword);
    return;
  }
  CompareTypes(pair, old_s, new_s);
  CompareEnums(pair, old_s, new_s);
  CompareLimits(pair, old_s, new_s);
  CompareText(pair, old_s, new_s);
  if (CouldBe(old_s, "object") && CouldBe(new_s, "object")) {
    CompareAdditional(pair, old_s, new_s);
    CompareProperties(pair, old_s, new_s);
  }
  if ((old_s.items || new_s.items) && CouldBe(old_s, "array") && CouldBe(new_s, "array")) {
    pair.AddChild(Get(old_s.items, new_s.items, pair.key.direction, false), "[]");
  }
  if (!pair.key.body_only && old_choice) {
    CompareBranches(pair, old_s.branches, new_s.branches, nullptr, nullptr, keyword);
  }
}

// Marks the pairs built since the last call: a pair is dirty when it or a pair below it has a
// finding. Pairs built earlier never point to newer ones, so their marks are final.
void SchemaComparer::Classify() {
  std::unordered_map<const Pair*, std::vector<Pair*>> parents;
  std::vector<Pair*> dirty;
  std::vector<Pair*> breaking;
  for (Pair* pair : unclassified_) {
    for (const Pair::Step& step : pair->steps) {
      if (!step.child) {
        pair->dirty = true;
        pair->breaking = pair->breaking || step.severity == Severity::kBreaking;
      } else if (step.child->classified) {
        pair->dirty = pair->dirty || step.child->dirty;
        pair->breaking = pair->breaking || step.child->breaking;
      } else {
        parents[step.child].push_back(pair);
      }
    }
    if (pair->dirty) dirty.push_back(pair);
    if (pair->breaking) breaking.push_back(pair);
  }
  auto propagate = [&](std::vector<Pair*>& work, bool Pair::*flag) {
    while (!work.empty()) {
      Pair* pair = work.back();
      work.pop_back();
      auto it = parents.find(pair);
      if (it == parents.end()) continue;
      for (Pair* parent : it->second) {
        if (parent->*flag) continue;
        parent->*flag = true;
        work.push_back(parent);
      }
    }
  };
  propagate(dirty, &Pair::dirty);
  propagate(breaking, &Pair::breaking);
  for (Pair* pair : unclassified_) pair->classified = true;
  unclassified_.clear();
}

// During a build, before Classify(): whether a breaking finding is reachable from `pair`. Pairs
// still being built count with what they have so far.
bool SchemaComparer::BreaksInClosure(const Pair* pair) const {
  std::unordered_set<const Pair*> seen;
  std::vector<const Pair*> work = {pair};
  while (!work.empty()) {
    const Pair* current = work.back();
    work.pop_back();
    if (!seen.insert(current).second) continue;
    if (current->classified) {
      if (current->breaking) return true;
      continue;
    }
    for (const Pair::Step& step : current->steps) {
      if (step.child) {
        work.push_back(step.child);
      } else if (step.severity == Severity::kBreaking) {
        return true;
      }
    }
  }
  return false;
}

void SchemaComparer::Replay(const Pair& pair, std::string& field, std::string_view context,
                            std::string_view fallback_pointer, const FindingSink& sink) {
  if (!pair.dirty || !reported_.insert(&pair).second) return;
  for (const Pair::Step& step : pair.steps) {
    if (step.child) {
      if (!step.child->dirty || depth_ >= kMaxSchemaDepth) continue;
      size_t length = field.size();
      field += length == 0 && step.label.starts_with('.') ? step.label.substr(1) : step.label;
      ++depth_;
      Replay(*step.child, field, context, fallback_pointer, sink);
      --depth_;
      field.resize(length);
      continue;
    }
    std::string message(context);
    if (!field.empty()) message += " at '" + field + "'";
    message += ": " + step.text;
    sink.Add(step.severity, step.rule,
             step.pointer.empty() ? std::string(fallback_pointer) : step.pointer,
             std::move(message));
  }
}

void SchemaComparer::CompareNullability(Pair& pair, const Schema& old_s, const Schema& new_s) {
  // A schema that constrains nothing ({} or no schema) accepts null too, but when one side is
  // such a schema the type comparison already says what changed.
  auto unconstrained = [](const Schema& schema) {
    return !schema.types && schema.branches.empty() && !schema.declares_nullability;
  };
  if (unconstrained(old_s) || unconstrained(new_s)) return;
  if (pair.key.direction == Direction::kRequest && old_s.nullable && !new_s.nullable) {
    pair.Add(Severity::kBreaking, "request-type-narrowed", new_s.pointer,
             "null is no longer accepted");
  } else if (pair.key.direction == Direction::kResponse && !old_s.nullable && new_s.nullable) {
    pair.Add(Severity::kBreaking, "response-nullable-added", new_s.pointer, "may now be null");
  }
}

void SchemaComparer::CompareTypes(Pair& pair, const Schema& old_s, const Schema& new_s) {
  auto change = [&] {
    return "type " + FormatTypes(old_s.types) + " → " + FormatTypes(new_s.types);
  };
  if (pair.key.direction == Direction::kRequest && !TypesCover(new_s.types, old_s.types)) {
    pair.Add(Severity::kBreaking, "request-type-narrowed", new_s.pointer, change());
  } else if (pair.key.direction == Direction::kResponse && !TypesCover(old_s.types, new_s.types)) {
    pair.Add(Severity::kBreaking, "response-type-widened", new_s.pointer, change());
  }
}

void SchemaComparer::CompareEnums(Pair& pair, const Schema& old_s, const Schema& new_s) {
  // The side that must not grow, and the other: values a request no longer accepts or a response
  // may now return are in `wide` and not in `narrow`.
  bool request = pair.key.direction == Direction::kRequest;
  const Schema& narrow = request ? new_s : old_s;
  const Schema& wide = request ? old_s : new_s;
  if (!narrow.enum_values) return;
  std::string text;
  if (!wide.enum_values) {
    const std::set<std::string>& values = *narrow.enum_values;
    text = (request ? "now restricted to the values " : "no longer restricted to the values ") +
           FormatValues({values.begin(), values.end()});
  } else {
    std::vector<std::string> extra;
    std::set_difference(wide.enum_values->begin(), wide.enum_values->end(),
                        narrow.enum_values->begin(), narrow.enum_values->end(),
                        std::back_inserter(extra));
    if (extra.empty()) return;
    text = (request ? "enum values removed: " : "enum values added: ") + FormatValues(extra);
  }
  if (request) {
    pair.Add(Severity::kBreaking, "request-enum-narrowed", new_s.pointer, std::move(text));
  } else {
    pair.Add(Severity::kWarning, "response-enum-value-added", new_s.pointer, std::move(text));
  }
}

void SchemaComparer::CompareLimits(Pair& pair, const Schema& old_s, const Schema& new_s) {
  bool request = pair.key.direction == Direction::kRequest;
  // A request must keep accepting the old values, a response must stay within them.
  auto tightened = [&](std::string text) {
    pair.Add(Severity::kBreaking, "request-constraint-tightened", new_s.pointer, std::move(text));
  };
  auto loosened = [&](std::string text) {
    pair.Add(Severity::kWarning, "response-constraint-loosened", new_s.pointer, std::move(text));
  };
  auto bound = [&](bool lower, std::string_view name, std::string_view exclusive_name,
                   const std::optional<Bound>& from, const std::optional<Bound>& to) {
    auto covers = lower ? LowerCovers : UpperCovers;
    if (request && !covers(to, from)) {
      tightened(FormatBoundChange(name, exclusive_name, from, to));
    } else if (!request && !covers(from, to)) {
      loosened(FormatBoundChange(name, exclusive_name, from, to));
    }
  };
  bound(true, "minimum", "exclusiveMinimum", old_s.minimum, new_s.minimum);
  bound(false, "maximum", "exclusiveMaximum", old_s.maximum, new_s.maximum);
  bound(true, "minLength", "minLength", AsBound(old_s.min_length), AsBound(new_s.min_length));
  bound(false, "maxLength", "maxLength", AsBound(old_s.max_length), AsBound(new_s.max_length));
  bound(true, "minItems", "minItems", AsBound(old_s.min_items), AsBound(new_s.min_items));
  bound(false, "maxItems", "maxItems", AsBound(old_s.max_items), AsBound(new_s.max_items));
  bound(true, "minProperties", "minProperties", AsBound(old_s.min_properties),
        AsBound(new_s.min_properties));
  bound(false, "maxProperties", "maxProperties", AsBound(old_s.max_properties),
        AsBound(new_s.max_properties));

  auto multiple_change = [&] {
    auto text = [](const std::optional<double>& value) {
      return value ? FormatNumber(*value) : std::string("none");
    };
    return "multipleOf " + text(old_s.multiple_of) + " → " + text(new_s.multiple_of);
  };
  auto unique_change = [&] {
    return std::string("uniqueItems ") + (old_s.unique_items ? "true" : "false") + " → " +
           (new_s.unique_items ? "true" : "false");
  };
  if (request) {
    if (!MultipleCovers(new_s.multiple_of, old_s.multiple_of)) tightened(multiple_change());
    if (!old_s.unique_items && new_s.unique_items) tightened(unique_change());
  } else {
    if (!MultipleCovers(old_s.multiple_of, new_s.multiple_of)) loosened(multiple_change());
    if (old_s.unique_items && !new_s.unique_items) loosened(unique_change());
  }
}

void SchemaComparer::CompareText(Pair& pair, const Schema& old_s, const Schema& new_s) {
  auto pattern_change = [&] {
    return "pattern " + FormatText(old_s.pattern) + " → " + FormatText(new_s.pattern);
  };
  auto format_change = [&] {
    return "format " + FormatText(old_s.format) + " → " + FormatText(new_s.format);
  };
  if (pair.key.direction == Direction::kRequest) {
    // Whether one regular expression accepts everything another does is not decided here, so any
    // new or different pattern counts.
    if (new_s.pattern && new_s.pattern != old_s.pattern) {
      pair.Add(Severity::kBreaking, "request-pattern-changed", new_s.pointer, pattern_change());
    }
    if (new_s.format && new_s.format != old_s.format && !FormatWidens(old_s.format, new_s.format)) {
      pair.Add(Severity::kBreaking, "request-format-changed", new_s.pointer, format_change());
    }
  } else {
    if (old_s.pattern && new_s.pattern != old_s.pattern) {
      pair.Add(Severity::kWarning, "response-pattern-changed", new_s.pointer, pattern_change());
    }
    if (old_s.format && new_s.format != old_s.format && !FormatWidens(new_s.format, old_s.format)) {
      pair.Add(Severity::kWarning, "response-format-changed", new_s.pointer, format_change());
    }
  }
}

void SchemaComparer::CompareAdditional(Pair& pair, const Schema& old_s, const Schema& new_s) {
  using Additional = Schema::Additional;
  auto name = [](Additional additional) {
    switch (additional) {
      case Additional::kAny:
        return "true";
      case Additional::kNone:
        return "false";
      case Additional::kSchema:
        return "a schema";
    }
    return "";
  };
  if (pair.key.direction == Direction::kRequest &&
      ((old_s.additional != Additional::kNone && new_s.additional == Additional::kNone) ||
       (old_s.additional == Additional::kAny && new_s.additional == Additional::kSchema))) {
    pair.Add(Severity::kBreaking, "request-constraint-tightened", new_s.pointer,
             std::string("additionalProperties ") + name(old_s.additional) + " → " +
                 name(new_s.additional));
  }
  if (old_s.additional == Additional::kSchema && new_s.additional == Additional::kSchema) {
    pair.AddChild(Get(old_s.additional_schema, new_s.additional_schema, pair.key.direction, false),
                  ".*");
  }
}

void SchemaComparer::CompareProperties(Pair& pair, const Schema& old_s, const Schema& new_s) {
  Direction direction = pair.key.direction;
  // A request never carries readOnly properties, a response never carries writeOnly ones.
  auto visible = [direction](const Schema& schema, const std::string& name) -> const Property* {
    auto it = schema.properties.find(name);
    if (it == schema.properties.end()) return nullptr;
    const Schema& property = *it->second.schema;
    bool hidden = direction == Direction::kRequest ? property.read_only : property.write_only;
    return hidden ? nullptr : &it->second;
  };
  // Required and carried; a required name without a declared property counts too.
  auto required = [](const Schema& schema, const std::string& name, const Property* property) {
    return schema.required.count(name) && (property || !schema.properties.count(name));
  };
  std::set<std::string> names(old_s.required.begin(), old_s.required.end());
  names.insert(new_s.required.begin(), new_s.required.end());
  for (const auto& [name, property] : old_s.properties) names.insert(name);
  for (const auto& [name, property] : new_s.properties) names.insert(name);

  for (const std::string& name : names) {
    const Property* old_p = visible(old_s, name);
    const Property* new_p = visible(new_s, name);
    bool old_required = required(old_s, name, old_p);
    bool new_required = required(new_s, name, new_p);
    std::string quoted = "'" + name + "'";
    if (direction == Direction::kRequest) {
      if (new_required && !old_required) {
        pair.Add(
            Severity::kBreaking, "request-property-required-added",
            new_p ? new_p->pointer : new_s.pointer,
            old_p ? "property " + quoted + " is now required" : "new required property " + quoted);
      } else if (old_p && !new_p && !new_required) {
        pair.Add(Severity::kWarning, "request-property-removed", old_p->pointer,
                 "property " + quoted + " removed");
      }
    } else if (old_p && !new_p && !new_required) {
      if (old_required) {
        pair.Add(Severity::kBreaking, "response-property-removed", old_p->pointer,
                 "required property " + quoted + " removed");
      } else {
        pair.Add(Severity::kWarning, "response-optional-property-removed", old_p->pointer,
                 "optional property " + quoted + " removed");
      }
    } else if (old_required && !new_required) {
      pair.Add(Severity::kBreaking, "response-property-became-optional",
               new_p ? new_p->pointer : new_s.pointer,
               "property " + quoted + " is no longer required");
    }
    if (old_p && new_p)
      pair.AddChild(Get(old_p->schema, new_p->schema, direction, false), "." + name);
  }
}

void SchemaComparer::CompareBranches(Pair& pair, const std::vector<const Schema*>& old_branches,
                                     const std::vector<const Schema*>& new_branches,
                                     const Schema* plain_old, const Schema* plain_new,
                                     std::string_view keyword) {
  Direction direction = pair.key.direction;
  auto candidate = [&](size_t i, size_t j) {
    bool body_only = old_branches[i] == plain_old || new_branches[j] == plain_new;
    return Get(old_branches[i], new_branches[j], direction, body_only);
  };
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<size_t> match(old_branches.size(), kNone);
  std::vector<bool> used(new_branches.size(), false);
  auto take = [&](size_t i, size_t j) {
    match[i] = j;
    used[j] = true;
  };
  // 1. The same component on both sides.
  for (size_t i = 0; i < old_branches.size(); ++i) {
    std::string key = BranchKey(old_branches[i]);
    if (key.empty()) continue;
    for (size_t j = 0; j < new_branches.size(); ++j) {
      if (!used[j] && BranchKey(new_branches[j]) == key) {
        take(i, j);
        break;
      }
    }
  }
  // 2. A branch that covers the old one without a breaking change (an inline branch moved to a
  // component, a renamed component).
  for (size_t i = 0; i < old_branches.size(); ++i) {
    for (size_t j = 0; match[i] == kNone && j < new_branches.size(); ++j) {
      if (!used[j] && !BreaksInClosure(candidate(i, j))) take(i, j);
    }
  }
  // 3. What is left is taken as changed branches, in order.
  size_t next = 0;
  for (size_t i = 0; i < old_branches.size(); ++i) {
    if (match[i] != kNone) continue;
    while (next < new_branches.size() && used[next]) ++next;
    if (next == new_branches.size()) break;
    take(i, next);
  }

  for (size_t i = 0; i < old_branches.size(); ++i) {
    if (match[i] != kNone) {
      std::string label =
          plain_new ? std::string()
                    : "(" + std::string(keyword) + " " + BranchLabel(new_branches, match[i]) + ")";
      pair.AddChild(candidate(i, match[i]), std::move(label));
    } else if (direction == Direction::kRequest) {
      pair.Add(Severity::kBreaking, "request-one-of-branch-removed", old_branches[i]->pointer,
               std::string(keyword) + " branch " + BranchLabel(old_branches, i) +
                   " is no longer accepted");
    }
  }
  if (direction == Direction::kResponse) {
    for (size_t j = 0; j < new_branches.size(); ++j) {
      if (used[j]) continue;
      pair.Add(Severity::kBreaking, "response-one-of-branch-added", new_branches[j]->pointer,
               std::string(keyword) + " branch " + BranchLabel(new_branches, j) +
                   " may now be returned");
    }
  }
}

}  // namespace shipd::openapi

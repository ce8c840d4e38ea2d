// Compares normalised schemas in one direction: a request schema must accept at least what it
// accepted, a response schema must return at most what it returned. Each (old schema, new schema,
// direction) pair is compared once per SchemaComparer and kept with its own findings and the pairs
// below it, so recursive schemas terminate, schemas shared by many operations cost one comparison,
// and each operation only walks the pairs that have findings. One SchemaComparer serves one pair
// of documents and must not outlive their NormalizedOpenApi; not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "openapi_normalize.h"
#include "shipd/contract/openapi_diff.h"

namespace shipd::openapi {

enum class Direction { kRequest, kResponse };

// Appends findings for one operation (or the document, with an empty method and path).
struct FindingSink {
  std::string method;
  std::string path;
  std::vector<OpenApiDiff::Finding>* out = nullptr;

  void Add(OpenApiDiff::Severity severity, std::string_view rule, std::string pointer,
           std::string message) const;
};

class SchemaComparer {
 public:
  SchemaComparer();
  ~SchemaComparer();
  SchemaComparer(const SchemaComparer&) = delete;
  SchemaComparer& operator=(const SchemaComparer&) = delete;

  // Starts another operation: what was reported for the previous one is reported again.
  void BeginOperation();

  // Reports to `sink` what changed between the schemas (null means "anything"). Messages start
  // with `context` ("request body application/json"); `fallback_pointer` locates findings on a
  // schema the document does not spell out. Within one operation each change is reported once,
  // at the first place it is reached.
  void Compare(const Schema* old_schema, const Schema* new_schema, Direction direction,
               std::string_view context, std::string_view fallback_pointer,
               const FindingSink& sink);

 private:
  struct Pair;
  struct Key {
    const Schema* old_schema;
    const Schema* new_schema;
    Direction direction;
    bool body_only;  // a schema compared with one oneOf branch: nullability is judged above
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const;
  };

  Pair* Get(const Schema* old_schema, const Schema* new_schema, Direction direction,
            bool body_only);
  void Build(Pair& pair);
  void Classify();
  bool BreaksInClosure(const Pair* pair) const;
  // `field` is the path from the root ("items[].sku"), extended and restored on the way down.
  void Replay(const Pair& pair, std::string& field, std::string_view context,
              std::string_view fallback_pointer, const FindingSink& sink);

  // The comparisons; each adds findings and child pairs to `pair`, in report order.
  void CompareNullability(Pair& pair, const Schema& old_s, const Schema& new_s);
  void CompareTypes(Pair& pair, const Schema& old_s, const Schema& new_s);
  void CompareEnums(Pair& pair, const Schema& old_s, const Schema& new_s);
  void CompareLimits(Pair& pair, const Schema& old_s, const Schema& new_s);
  void CompareText(Pair& pair, const Schema& old_s, const Schema& new_s);
  void CompareAdditional(Pair& pair, const Schema& old_s, const Schema& new_s);
  void CompareProperties(Pair& pair, const Schema& old_s, const Schema& new_s);
  // oneOf / anyOf. A schema without branches takes part as its own single branch (`plain_old` or
  // `plain_new`), compared body-only.
  void CompareBranches(Pair& pair, const std::vector<const Schema*>& old_branches,
                       const std::vector<const Schema*>& new_branches, const Schema* plain_old,
                       const Schema* plain_new, std::string_view keyword);

  std::unordered_map<Key, std::unique_ptr<Pair>, KeyHash> pairs_;
  std::vector<Pair*> unclassified_;           // built since the last Classify()
  std::unordered_set<const Pair*> reported_;  // in the current operation
  int depth_ = 0;                             // of Build or Replay recursion
};

}  // namespace shipd::openapi

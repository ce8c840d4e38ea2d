// Range: a node-semver range ("^2.1", ">=1.4.0 <3.0.0", "1.x || >=2.5.0", "1.2 - 2.3.4").
// Parsed into a disjunction of comparator sets; Satisfies follows node-semver, including the
// rule that a prerelease version only matches when some comparator in the same set names a
// prerelease of the same major.minor.patch. Immutable value type; safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/model/semver.h"

namespace shipd {

class Range {
 public:
  enum class Op { kLess, kLessEqual, kGreater, kGreaterEqual, kEqual };
  struct Comparator {
    Op op;
    Semver version;
  };
  // All comparators must hold (AND). An empty set matches every non-prerelease version.
  using ComparatorSet = std::vector<Comparator>;

  Range() = default;

  // Errors are kInvalid and quote the offending text.
  static Result<Range> Parse(std::string_view text);

  bool Satisfies(const Semver& version) const;

  // The text as given by the user (trimmed).
  const std::string& text() const { return data_->text; }
  // The normalised form, e.g. "^2.1" -> ">=2.1.0 <3.0.0-0". A default Range matches nothing.
  std::string Normalized() const;
  const std::vector<ComparatorSet>& sets() const { return data_->sets; }

 private:
  // Immutable once parsed and shared by copies: a fleet repeats the same few ranges
  // ("^2.1") across thousands of versions, so a copy costs a reference, not a parse tree.
  struct Data {
    std::string text;
    std::vector<ComparatorSet> sets;  // OR of ANDs
  };
  static const std::shared_ptr<const Data>& Empty();

  std::shared_ptr<const Data> data_ = Empty();
};

}  // namespace shipd

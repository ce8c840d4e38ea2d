// StoreSpecDiffer: the gate's SpecDiffer over the store. Loads both OpenAPI documents (they are
// kept out of memory), diffs them and remembers the answer: versions are immutable, so a pair's
// findings never change. Thread-safe.
#pragma once

#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "shipd/common/clock.h"
#include "shipd/contract/gate.h"
#include "shipd/store/store.h"

namespace shipd {

class StoreSpecDiffer final : public SpecDiffer {
 public:
  StoreSpecDiffer(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Result<std::vector<SpecFinding>> BreakingChanges(const Version& live, const Version& candidate,
                                                   std::string_view api) const override;

 private:
  static constexpr size_t kCacheEntries = 4096;

  Store& store_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  mutable std::list<std::string> order_;  // least recently added first
  mutable std::unordered_map<std::string, std::vector<SpecFinding>> cache_;
};

}  // namespace shipd

// CowHashMap: a persistent map from string keys to values for the contract indexes. A fixed
// two-level trie of 64-way nodes over small sorted leaves: a copy shares every node, and Put/Erase
// copy only the root, one inner node and one leaf (nodes this map alone holds are edited in
// place). Reads are thread-safe; a map is modified only by its one owner, before it is shared.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shipd {

template <typename V>
class CowHashMap {
 public:
  const V* Find(std::string_view key) const {
    if (!root_) return nullptr;
    const size_t hash = Hash(key);
    const auto& inner = root_->inners[hash % kFanout];
    if (!inner) return nullptr;
    const auto& leaf = inner->leaves[(hash / kFanout) % kFanout];
    if (!leaf) return nullptr;
    auto it = LowerBound(leaf->entries, key);
    return it != leaf->entries.end() && it->first == key ? &it->second : nullptr;
  }

  void Put(std::string_view key, V value) {
    Leaf& leaf = MutableLeaf(key);
    auto it = LowerBound(leaf.entries, key);
    if (it != leaf.entries.end() && it->first == key) {
      it->second = std::move(value);
    } else {
      leaf.entries.emplace(it, std::string(key), std::move(value));
      ++size_;
    }
  }

  void Erase(std::string_view key) {
    if (Find(key) == nullptr) return;
    Leaf& leaf = MutableLeaf(key);
    leaf.entries.erase(LowerBound(leaf.entries, key));
    --size_;
  }

  size_t size() const { return size_; }

  // Calls fn(key, value) for every entry, in no particular order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    if (!root_) return;
    for (const auto& inner : root_->inners) {
      if (!inner) continue;
      for (const auto& leaf : inner->leaves) {
        if (!leaf) continue;
        for (const auto& [key, value] : leaf->entries) fn(key, value);
      }
    }
  }

 private:
  static constexpr size_t kFanout = 64;
  using Entry = std::pair<std::string, V>;
  struct Leaf {
    std::vector<Entry> entries;  // by key
  };
  struct Inner {
    std::array<std::shared_ptr<const Leaf>, kFanout> leaves;
  };
  struct Root {
    std::array<std::shared_ptr<const Inner>, kFanout> inners;
  };

  static size_t Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }

  template <typename Entries>
  static auto LowerBound(Entries& entries, std::string_view key) {
    return std::lower_bound(entries.begin(), entries.end(), key,
                            [](const Entry& e, std::string_view k) { return e.first < k; });
  }

  // The node `slot` points to, made private to this map: edited in place when no other map can
  // see it (this map holds the only reference), copied otherwise.
  template <typename Node>
  static Node& Own(std::shared_ptr<const Node>& slot) {
    if (!slot) {
      slot = std::make_shared<Node>();
    } else if (slot.use_count() != 1) {
      slot = std::make_shared<Node>(*slot);
    }
    return const_cast<Node&>(*slot);
  }

  Leaf& MutableLeaf(std::string_view key) {
    const size_t hash = Hash(key);
    Root& root = Own(root_);
    Inner& inner = Own(root.inners[hash % kFanout]);
    return Own(inner.leaves[(hash / kFanout) % kFanout]);
  }

  std::shared_ptr<const Root> root_;
  size_t size_ = 0;
};

}  // namespace shipd

#include "store_spec_differ.h"

#include <nlohmann/json.hpp>

#include "shipd/contract/openapi_diff.h"

namespace shipd {

Result<std::vector<SpecFinding>> StoreSpecDiffer::BreakingChanges(const Version& live,
                                                                  const Version& candidate,
                                                                  std::string_view api) const {
  const std::string live_label = live.service + "@" + live.version.ToString();
  const std::string candidate_label = candidate.service + "@" + candidate.version.ToString();
  // A removed operation stops counting once its x-sunset date passes: answers keep for a day.
  const std::string key = live_label + "|" + candidate_label + "|" + std::string(api) + "|" +
                          std::to_string(clock_.NowMs() / (24 * 3600 * 1000));
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  auto old_text = store_.LoadSpec(live.service, live.version.ToString(), std::string(api));
  if (!old_text.ok()) return old_text.error();
  auto new_text =
      store_.LoadSpec(candidate.service, candidate.version.ToString(), std::string(api));
  if (!new_text.ok()) return new_text.error();
  std::vector<SpecFinding> findings;
  if (!old_text->empty() && !new_text->empty()) {
    auto old_doc = nlohmann::json::parse(*old_text, nullptr, false);
    auto new_doc = nlohmann::json::parse(*new_text, nullptr, false);
    if (old_doc.is_discarded() || new_doc.is_discarded()) {
      return Error(ErrorCode::kInternal, "stored OpenAPI document of " + std::string(api) +
                                             " is not JSON (" + live_label + " or " +
                                             candidate_label + ")");
    }
    auto diff = DiffOpenApi(old_doc, new_doc, {.now_ms = clock_.NowMs()});
    if (!diff.ok()) {
      return diff.error().WithContext("comparing " + std::string(api) + " of " + live_label +
                                      " and " + candidate_label);
    }
    for (const auto& finding : diff->findings) {
      if (finding.severity != OpenApiDiff::Severity::kBreaking) continue;
      std::string where =
          finding.method.empty() ? finding.pointer : finding.method + " " + finding.path;
      findings.push_back({std::move(where), finding.rule + ": " + finding.message});
    }
  }
  std::lock_guard lock(mutex_);
  if (cache_.emplace(key, findings).second) {
    order_.push_back(key);
    if (order_.size() > kCacheEntries) {
      cache_.erase(order_.front());
      order_.pop_front();
    }
  }
  return findings;
}

}  // namespace shipd

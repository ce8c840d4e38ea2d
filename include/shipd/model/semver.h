// Semver: a SemVer 2.0.0 version (https://semver.org). Parse accepts an optional leading "v" or
// "V". Build metadata is kept for printing but ignored for precedence and equality of precedence.
// Immutable value type; safe to share between threads.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"

namespace shipd {

class Semver {
 public:
  Semver() = default;
  Semver(uint64_t major, uint64_t minor, uint64_t patch)
      : major_(major), minor_(minor), patch_(patch) {}

  // Strict SemVer 2.0.0 (plus an optional leading 'v'); errors are kInvalid and quote the text.
  static Result<Semver> Parse(std::string_view text);

  uint64_t major() const { return major_; }
  uint64_t minor() const { return minor_; }
  uint64_t patch() const { return patch_; }
  const std::vector<std::string>& prerelease() const { return prerelease_; }
  const std::vector<std::string>& build() const { return build_; }
  bool is_prerelease() const { return !prerelease_.empty(); }

  // Canonical text without a leading 'v': "1.2.3-rc.1+build.5".
  std::string ToString() const;

  // Precedence per SemVer §11; build metadata is ignored.
  friend std::weak_ordering operator<=>(const Semver& a, const Semver& b);
  friend bool operator==(const Semver& a, const Semver& b) { return (a <=> b) == 0; }

 private:
  uint64_t major_ = 0;
  uint64_t minor_ = 0;
  uint64_t patch_ = 0;
  std::vector<std::string> prerelease_;
  std::vector<std::string> build_;
};

}  // namespace shipd
